package replay

// Window remembers which counters near the highest one have been seen.
// The zero value is not usable; make one with [New]. Not safe for
// concurrent use.
type Window struct {
	top  uint64
	bits []uint64 // len a power of two
	size uint64   // counters size or more below top are too old
}

// New returns a window that accepts counters up to at least n below the
// highest seen (rounded up to a power of two words, less one word).
func New(n int) Window {
	words := 2
	for words*64 < n+64 {
		words *= 2
	}
	return Window{bits: make([]uint64, words), size: uint64(words-1) * 64}
}

// Top is the highest counter marked (0: none).
func (w *Window) Top() uint64 { return w.top }

// Size is how far below the highest counter seen a counter may be.
func (w *Window) Size() uint64 { return w.size }

// Fresh says whether counter c (never 0) has not been seen and is not too
// old. It changes nothing: call [Window.Mark] once c's packet is
// authenticated, so forgeries cannot move the window.
func (w *Window) Fresh(c uint64) bool {
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

// Mark records counter c as seen; c must have passed Fresh.
func (w *Window) Mark(c uint64) {
	mask := uint64(len(w.bits) - 1)
	if c > w.top {
		cur, next := w.top>>6, c>>6
		d := min(next-cur, uint64(len(w.bits)))
		for i := uint64(1); i <= d; i++ {
			w.bits[(cur+i)&mask] = 0
		}
		w.top = c
	}
	w.bits[(c>>6)&mask] |= 1 << (c & 63)
}
