package encrypt

// replayWindow remembers which counters near the highest one have been
// seen, in a ring of 64-bit words (the scheme of RFC 6479 and WireGuard).
type replayWindow struct {
	top  uint64   // highest counter marked
	bits []uint64 // len a power of two
	size uint64   // counters more than size below top are too old
}

func newReplayWindow(n int) replayWindow {
	words := 2
	for words*64 < n+64 {
		words *= 2
	}
	return replayWindow{bits: make([]uint64, words), size: uint64(words-1) * 64}
}

// fresh says whether counter c has not been seen and is not too old.
func (w *replayWindow) fresh(c uint64) bool {
	if c == 0 {
		return false
	}
	if c > w.top {
		return true
	}
	if w.top-c >= w.size {
		return false
	}
	mask := uint64(len(w.bits) - 1)
	return w.bits[(c>>6)&mask]&(1<<(c&63)) == 0
}

// mark records counter c as seen; c must have passed fresh.
func (w *replayWindow) mark(c uint64) {
	mask := uint64(len(w.bits) - 1)
	if c > w.top {
		cur, next := w.top>>6, c>>6
		d := next - cur
		if d > uint64(len(w.bits)) {
			d = uint64(len(w.bits))
		}
		for i := uint64(1); i <= d; i++ {
			w.bits[(cur+i)&mask] = 0
		}
		w.top = c
	}
	w.bits[(c>>6)&mask] |= 1 << (c & 63)
}
