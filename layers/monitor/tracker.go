package monitor

// maxJump is the largest step ahead a sequence number may take and still be
// believed at once; a larger one (or one from far behind) must be
// confirmed by its successor, as in RFC 3550's probation, before the
// tracker restarts from it.
const maxJump = 1 << 15

// maxSeq bounds the sequence numbers believed: a sender counts from 0 and
// never gets near it, so a larger number is garbage, and the arithmetic
// below never overflows.
const maxSeq = 1 << 62

// Arrival classes, from tracker.add.
const (
	arrNew     = iota // in order or filling a gap within the allowance
	arrLate           // a number already counted lost: counted back
	arrDup            // a number already received
	arrStale          // from before the first number received
	arrProbe          // out of range, ahead or behind: not believed (yet)
	arrRestart        // confirmed a jump: the tracker restarted from it
)

// tracker follows a flow's sequence numbers: what arrived, what is counted
// lost, and, for the recent loss, which of the last numbers arrived.
type tracker struct {
	started   bool
	base      uint64 // the first number received (since the last restart)
	high      uint64 // the highest received
	confirmed uint64 // every number below it is settled: received or lost
	lost      uint64 // numbers in [base, confirmed) counted lost
	reorder   uint64
	bits      []uint64 // received flags for (high−len(bits)·64, high], a ring
	mask      uint64
	probe     uint64 // the number that would confirm an out-of-range one
	probing   bool

	late, dup, stale, outOfRange, restarts uint64
}

func newTracker(k, reorder int) tracker {
	w := 1024
	for w < k+reorder+64 {
		w *= 2
	}
	return tracker{reorder: uint64(reorder), bits: make([]uint64, w/64), mask: uint64(w - 1)}
}

func (t *tracker) seen(s uint64) bool { return t.bits[(s&t.mask)>>6]&(1<<(s&63)) != 0 }
func (t *tracker) set(s uint64)       { t.bits[(s&t.mask)>>6] |= 1 << (s & 63) }
func (t *tracker) clearBit(s uint64)  { t.bits[(s&t.mask)>>6] &^= 1 << (s & 63) }

// span is how many numbers the ring remembers.
func (t *tracker) span() uint64 { return t.mask + 1 }

// restart starts the tracker over at s.
func (t *tracker) restart(s uint64) {
	clear(t.bits)
	t.started, t.probing = true, false
	t.base, t.high, t.confirmed, t.lost = s, s, s, 0
	t.set(s)
}

// add records the arrival of number s.
func (t *tracker) add(s uint64) int {
	if s >= maxSeq {
		t.outOfRange++
		return arrProbe
	}
	if !t.started {
		t.restart(s)
		return arrNew
	}
	switch {
	case s > t.high && s-t.high <= maxJump:
		t.advance(s)
		t.probing = false
		return arrNew
	case s <= t.high && t.high-s < t.span():
		t.probing = false
		if s < t.base {
			t.stale++
			return arrStale
		}
		if t.seen(s) {
			t.dup++
			return arrDup
		}
		t.set(s)
		if s < t.confirmed {
			t.lost--
			t.late++
			return arrLate
		}
		return arrNew
	}
	// Out of range: far ahead, or further behind than the ring reaches.
	if t.probing && s == t.probe {
		t.restarts++
		t.restart(s)
		return arrRestart
	}
	t.probing, t.probe = true, s+1
	t.outOfRange++
	return arrProbe
}

// advance moves the highest number to s (> high): the numbers that fall
// out of the reorder allowance are settled first, while the ring still
// holds them, then the ring is cleared up to s.
func (t *tracker) advance(s uint64) {
	if s >= t.reorder {
		if limit := s - t.reorder; limit >= t.confirmed {
			for x := t.confirmed; x <= limit && x <= t.high; x++ {
				if !t.seen(x) {
					t.lost++
				}
			}
			if limit > t.high {
				// Numbers above the old highest never arrived (s itself is
				// above limit unless the allowance is 0).
				from := max(t.high+1, t.confirmed)
				n := limit - from + 1
				if t.reorder == 0 {
					n-- // s itself
				}
				t.lost += n
			}
			t.confirmed = limit + 1
		}
	}
	if s-t.high >= t.span() {
		clear(t.bits)
	} else {
		for x := t.high + 1; x <= s; x++ {
			t.clearBit(x)
		}
	}
	t.high = s
	t.set(s)
}

// expected is how many numbers are settled.
func (t *tracker) expected() uint64 {
	if !t.started {
		return 0
	}
	return t.confirmed - t.base
}

// recent returns how many of the last k settled numbers were lost, and
// how many that is (fewer than k early on).
func (t *tracker) recent(k int) (lost, of uint64) {
	if !t.started {
		return 0, 0
	}
	from := t.base
	if t.confirmed-t.base > uint64(k) {
		from = t.confirmed - uint64(k)
	}
	for x := from; x < t.confirmed; x++ {
		if !t.seen(x) {
			lost++
		}
	}
	return lost, t.confirmed - from
}
