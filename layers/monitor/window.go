package monitor

import "time"

// rateWindow keeps the times and sizes of the last k packets, to measure
// the rate over them.
type rateWindow struct {
	at   []int64 // Unix nanoseconds, a ring
	size []int32
	head int // the oldest entry
	n    int
	sum  int64 // bytes of the n entries
}

func newRateWindow(k int) rateWindow {
	return rateWindow{at: make([]int64, k), size: make([]int32, k)}
}

// add records a packet of size bytes at t.
func (w *rateWindow) add(t time.Time, size int) {
	k := len(w.at)
	if w.n == k {
		w.sum -= int64(w.size[w.head])
		w.at[w.head], w.size[w.head] = t.UnixNano(), int32(min(size, 1<<31-1))
		w.head = (w.head + 1) % k
	} else {
		i := (w.head + w.n) % k
		w.at[i], w.size[i] = t.UnixNano(), int32(min(size, 1<<31-1))
		w.n++
	}
	w.sum += int64(min(size, 1<<31-1))
}

// rates returns bytes and packets per second over the window, read at
// now: the bytes of every packet but the oldest, over the time from the
// oldest to the newest. A silence longer than the mean gap between the
// packets counts in (less one mean gap), so the rate of a flow that
// stopped decays toward zero. Both are 0 with fewer than two packets or
// when the window spans no time.
func (w *rateWindow) rates(now time.Time) (bps, pps float64) {
	if w.n < 2 {
		return 0, 0
	}
	k := len(w.at)
	first := w.at[w.head]
	last := w.at[(w.head+w.n-1)%k]
	gap := (last - first) / int64(w.n-1)
	end := last
	if t := now.UnixNano(); t-last > gap {
		end = t - gap
	}
	span := end - first
	if span <= 0 {
		return 0, 0
	}
	bytes := w.sum - int64(w.size[w.head])
	return float64(bytes) * 1e9 / float64(span), float64(w.n-1) * 1e9 / float64(span)
}
