package playout

import "time"

// offsetEpoch is how long each of the two epochs of the offset minimum
// lasts: the channel's own rule (channel.Channel.ClockOffset), so a buffer
// without the channel's estimate follows a drifting clock the same way.
const offsetEpoch = 10 * time.Second

// minOffset is the smallest (arrival − send time) seen over two epochs: the
// sender's clock offset plus the shortest one-way delay. A fast sender clock
// lowers it at once; a slow one is followed as the epochs roll over.
type minOffset struct {
	cur, prev time.Duration
	epoch     time.Time
	have      bool
}

func (e *minOffset) add(arrival time.Time, off time.Duration) {
	if !e.have || arrival.Sub(e.epoch) >= offsetEpoch || arrival.Before(e.epoch) {
		if e.have {
			e.prev = e.cur
		} else {
			e.prev = off
		}
		e.cur, e.epoch, e.have = off, arrival, true
	}
	e.cur = min(e.cur, off)
}

func (e *minOffset) get() (time.Duration, bool) { return min(e.cur, e.prev), e.have }

// driftFit estimates the sender's clock drift from the minima of
// (arrival − send time) over successive one-second spans of arrival time:
// the slope, in parts per million, of a least-squares line through the
// last driftSpans minima. The minima lie on the floor of the delay, so
// jitter barely moves them; a delay spike raises a span's minimum, and the
// fit ignores spans whose minimum stands far above the line's floor.
type driftFit struct {
	t0        time.Time
	spanStart time.Time
	spanMin   time.Duration
	inSpan    bool
	pts       []driftPoint // ring of the last driftSpans
	next      int
	ppm       float64
}

type driftPoint struct {
	at  float64 // seconds since t0
	off float64 // microseconds
}

const (
	driftSpan  = time.Second
	driftSpans = 60
)

func (d *driftFit) add(arrival time.Time, off time.Duration) {
	if d.t0.IsZero() {
		d.t0 = arrival
	}
	if d.inSpan && arrival.Sub(d.spanStart) < driftSpan && !arrival.Before(d.spanStart) {
		d.spanMin = min(d.spanMin, off)
		return
	}
	if d.inSpan {
		p := driftPoint{at: d.spanStart.Sub(d.t0).Seconds(), off: float64(d.spanMin) / 1e3}
		if len(d.pts) < driftSpans {
			d.pts = append(d.pts, p)
		} else {
			d.pts[d.next] = p
			d.next = (d.next + 1) % driftSpans
		}
		d.fit()
	}
	d.spanStart, d.spanMin, d.inSpan = arrival, off, true
}

// fit refits the slope: least squares, then again without the points more
// than 2 ms above the first line (spans inside a delay spike).
func (d *driftFit) fit() {
	if len(d.pts) < 10 {
		return
	}
	slope, icpt, ok := lsq(d.pts, nil)
	if !ok {
		return
	}
	keep := func(p driftPoint) bool { return p.off-(icpt+slope*p.at) < 2000 }
	if s, _, ok := lsq(d.pts, keep); ok {
		slope = s
	}
	d.ppm = -slope // µs per s = ppm; a fast sender clock lowers arrival − send
}

// lsq fits a line to the points keep accepts (nil: all), centred first so
// that hours of offset and seconds of history lose no precision.
func lsq(pts []driftPoint, keep func(driftPoint) bool) (slope, icpt float64, ok bool) {
	var n, mx, my float64
	for _, p := range pts {
		if keep == nil || keep(p) {
			n++
			mx += p.at
			my += p.off
		}
	}
	if n < 5 {
		return 0, 0, false
	}
	mx, my = mx/n, my/n
	var sxx, sxy float64
	for _, p := range pts {
		if keep == nil || keep(p) {
			sxx += (p.at - mx) * (p.at - mx)
			sxy += (p.at - mx) * (p.off - my)
		}
	}
	if sxx == 0 {
		return 0, 0, false
	}
	slope = sxy / sxx
	return slope, my - slope*mx, true
}
