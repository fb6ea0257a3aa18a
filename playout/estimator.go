package playout

import (
	"time"
)

// histogram holds delays in binWidth bins with exponential forgetting: a
// sample n samples old weighs forget^n as much as the newest. It starts
// fast: until 1/(1−forget) samples are in, all weigh the same (each new one
// gets the share 1/n of the normalised histogram, then 1−forget). Sums per
// block of blockBins bins let a quantile skip the empty top quickly.
type histogram struct {
	bins   []float64
	blocks []float64 // sums of blockBins bins
	total  float64
	forget float64
	n      int
}

const (
	binWidth  = 500 * time.Microsecond
	blockBins = 64
)

func newHistogram(max time.Duration, forget float64) *histogram {
	n := int(max/binWidth) + 1
	return &histogram{bins: make([]float64, n), blocks: make([]float64, (n+blockBins-1)/blockBins), forget: forget}
}

func (h *histogram) add(v time.Duration) {
	i := max(0, min(int(v/binWidth), len(h.bins)-1))
	h.n++
	w := 1.0
	if h.n > 1 {
		// The share 1−f of the normalised histogram, f = min(forget, (n−1)/n).
		f := min(h.forget, float64(h.n-1)/float64(h.n))
		w = h.total * (1 - f) / f
	}
	h.bins[i] += w
	h.blocks[i/blockBins] += w
	h.total += w
	if h.total > 1e100 { // rescale long before float64 overflows
		for j := range h.bins {
			h.bins[j] /= h.total
		}
		for j := range h.blocks {
			h.blocks[j] /= h.total
		}
		h.total = 1
	}
}

// quantile returns the delay below which a fraction q of the weight lies
// (the upper edge of its bin).
func (h *histogram) quantile(q float64) time.Duration {
	above := (1 - q) * h.total
	var acc float64
	for b := len(h.blocks) - 1; b >= 0; b-- {
		if acc+h.blocks[b] <= above {
			acc += h.blocks[b]
			continue
		}
		for i := min(len(h.bins), (b+1)*blockBins) - 1; i >= b*blockBins; i-- {
			acc += h.bins[i]
			if acc > above {
				return time.Duration(i+1) * binWidth
			}
		}
		return time.Duration(b*blockBins) * binWidth // rounding: the block's sum said more
	}
	return 0
}

// delayEstimator turns relative delays (arrival − send time − clock
// offset, so with the drift removed) into the delay to play at:
//
//	delay = floor + jitter quantile × (1 + boost)
//
// The floor is the smallest of the last floorK delays: it follows a delay
// step or spike within a few postings (and a fall at once), so the jitter
// histogram, of each posting's delay above the floor before it, stays
// stationary through them and can have a long memory. The quantile's level
// is 1 − 0.7 × TargetLate, raised while the histogram holds few samples.
// The boost is the late-ratio feedback: it grows with the share of the late
// budget (TargetLate of the postings of the last lateSpan) already spent
// by postings that came late for jitter, so the late ratio stays under the
// target over any span, not only on average. For the first fastN postings
// the delay is at least a falling share of the initial delay (fast start).
type delayEstimator struct {
	target  float64
	initial time.Duration
	max     time.Duration
	h       *histogram
	n       int
	recent  [floorK]time.Duration // ring
	ri      int
	floor   time.Duration
	jit     time.Duration // the jitter quantile, as last computed
	lates   []time.Time   // jitter-lates within lateSpan
	lastAt  time.Time
	gap     float64 // mean time between samples, ns
	boost   float64
}

const (
	forget   = 0.9995 // per sample: a memory of 2000 samples (40 s of 20-ms audio)
	floorK   = 5
	lateSpan = 10 * time.Second
	fastN    = 250 // samples of fast start
)

// boosts maps the share of the late budget spent to the boost.
var boosts = [...]struct{ spent, boost float64 }{{0.3, 0.1}, {0.5, 0.35}, {0.7, 1.2}}

func newDelayEstimator(cfg Config) *delayEstimator {
	return &delayEstimator{target: cfg.TargetLate, initial: cfg.InitialDelay, max: cfg.MaxDelay,
		h: newHistogram(cfg.MaxDelay, forget)}
}

// add folds in the relative delay v of a posting that arrived at now, and
// whether it came late.
func (e *delayEstimator) add(now time.Time, v time.Duration, late bool) {
	if e.n > 0 {
		dt := float64(now.Sub(e.lastAt))
		if e.gap == 0 {
			e.gap = dt
		}
		e.gap += (dt - e.gap) / 32
	}
	e.lastAt = now
	// The jitter is measured against the floor the delay was set from
	// before this posting came (the floor of the ones before it), which is
	// what made it late or not.
	above := time.Duration(0)
	if e.n > 0 {
		above = max(v-e.floor, 0)
	}
	e.recent[e.ri%floorK] = v
	e.ri++
	e.n++
	e.floor = v
	for _, r := range e.recent[:min(e.n, floorK)] {
		e.floor = min(e.floor, r)
	}
	e.h.add(above)
	// Late for jitter, not because the floor rose under it (a spike).
	if late && above > e.jit {
		e.lates = append(e.lates, now)
	}
	i := 0
	for i < len(e.lates) && now.Sub(e.lates[i]) >= lateSpan {
		i++
	}
	e.lates = e.lates[i:]
	e.boost = 0
	if k := len(e.lates); k > 0 && e.gap > 0 {
		spent := float64(k) / (e.target * float64(lateSpan) / e.gap)
		for _, b := range boosts {
			if spent >= b.spent {
				e.boost = b.boost
			}
		}
	}
	e.jit = e.quantile()
}

// quantile returns the jitter quantile: at level 1 − 0.7 × target, raised
// while the histogram's samples are few: with n of them the tail share is
// scaled by n/(n + 1/tail), so until 1/tail samples are in (143 at 1 %) it
// is less than half, and a tail the samples barely show is not trusted.
func (e *delayEstimator) quantile() time.Duration {
	tail := 0.7 * e.target
	n := min(float64(e.n), 1/(1-forget))
	return e.h.quantile(1 - tail*n/(n+1/tail))
}

func (e *delayEstimator) delay() time.Duration {
	if e.n == 0 {
		return e.initial
	}
	d := e.floor + time.Duration(float64(e.jit)*(1+e.boost))
	if e.n < fastN {
		// Fast start: before the histogram says anything, the initial
		// delay; it gives way to the estimate over fastN samples.
		d = max(d, time.Duration(float64(e.initial)*(1-float64(e.n)/fastN)))
	}
	return min(d, e.max)
}
