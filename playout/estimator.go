package playout

import (
	"math"
	"time"
)

// histogram holds delays in binWidth bins with exponential forgetting in
// time: a sample that came a time d before the newest weighs e^(−d/tau) as
// much. It starts fast: while forgetting would give a new sample less than
// the share 1/n (n samples in, until about tau's worth), all weigh the
// same. Sums per block of blockBins bins let a quantile skip the empty top
// quickly.
type histogram struct {
	bins   []float64
	blocks []float64 // sums of blockBins bins
	total  float64
	tau    time.Duration
	n      int
}

const (
	binWidth  = 500 * time.Microsecond
	blockBins = 64
)

func newHistogram(max, tau time.Duration) *histogram {
	n := int(max/binWidth) + 1
	return &histogram{bins: make([]float64, n), blocks: make([]float64, (n+blockBins-1)/blockBins), tau: tau}
}

// add folds in v, which came dt after the sample before it.
func (h *histogram) add(v, dt time.Duration) {
	i := max(0, min(int(v/binWidth), len(h.bins)-1))
	h.n++
	w := 1.0
	if h.n > 1 {
		// The new sample's share of the normalised histogram: what the
		// others lose to forgetting over dt, at least 1/n.
		s := max(-math.Expm1(-float64(max(dt, 0))/float64(h.tau)), 1/float64(h.n))
		if s > 1-1e-9 {
			// After a silence of many taus the old samples weigh
			// nothing: start again.
			clear(h.bins)
			clear(h.blocks)
			h.total, h.n = 0, 1
		} else {
			w = h.total * s / (1 - s)
		}
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
//	delay = floor + jitter allowance
//
// The floor is the smallest of the last floorK delays: it follows a delay
// step or spike within a few postings (and a fall at once), so the jitter,
// each posting's delay above the floor before it, stays stationary through
// them and can be remembered long. Its distribution is held twice, with
// forgetting in time: over bodyTau (the body, which follows a change in
// the jitter quickly) and over tailTau (the upper tail, where a 1 % target
// lives and a quiet stretch must not make the player forget a burst). The
// tail share above a jitter y is read as the larger of the two, the long
// memory counting only below tailLevel.
//
// The allowance is the jitter whose tail share p keeps the late budget of
// every lateSpan (TargetLate of its postings, strictly fewer lates than
// that) safe: with k postings late for jitter in the last lateSpan, the
// lates to come over the time until the oldest of them leaves the span are
// taken as Poisson with mean p × postings in that time, and p is the
// largest for which the chance of spending more than the budget left is at
// most risks[left] (for each of the k+1 horizons: until the first, second,
// … late leaves, and the full span). So a span without lates plays near the
// budget's quantile, and each late raises the delay — when the budget is
// nearly spent, to the deep tail: the height of the peaks the long memory
// holds. While the samples are few, p is scaled down (fewScale). For the
// first fastN postings the delay is at least a falling share of the
// initial delay (fast start).
type delayEstimator struct {
	target  float64
	initial time.Duration
	max     time.Duration
	body    *histogram
	tail    *histogram
	n       int
	recent  [floorK]time.Duration // ring
	ri      int
	floor   time.Duration
	jit     time.Duration // the jitter allowance, as last computed
	lates   []time.Time   // jitter-lates within lateSpan
	lastAt  time.Time
	gap     float64   // mean time between samples, ns
	lambdas []float64 // lambda's cache, by lates left
}

const (
	floorK    = 5
	lateSpan  = 10 * time.Second
	fastN     = 250               // samples of fast start
	bodyTau   = 20 * time.Second  // memory of the jitter's body
	tailTau   = 120 * time.Second // memory of its upper tail
	tailLevel = 0.01              // tail shares below it are read from both memories
	fewScale  = 0.5               // distrust of a tail the samples barely show
)

// risks[left] is the chance the budget of a span may be overspent with
// left lates still allowed (the last entry for more): low when one more
// late would overspend it (the delay goes to the peaks the tail memory
// holds), higher while that is far (a few lates are then cheap to absorb).
// Chosen by a sweep over the yardstick's seeds 1–160 (bench/RESULTS.md).
var risks = [...]float64{0.01, 0.07, 0.2, 0.3}

func newDelayEstimator(cfg Config) *delayEstimator {
	return &delayEstimator{target: cfg.TargetLate, initial: cfg.InitialDelay, max: cfg.MaxDelay,
		body: newHistogram(cfg.MaxDelay, bodyTau), tail: newHistogram(cfg.MaxDelay, tailTau)}
}

// add folds in the relative delay v of a posting that arrived at now, and
// whether it came late.
func (e *delayEstimator) add(now time.Time, v time.Duration, late bool) {
	var dt time.Duration
	if e.n > 0 {
		dt = now.Sub(e.lastAt)
		if e.gap == 0 {
			e.gap = float64(dt)
		}
		e.gap += (float64(dt) - e.gap) / 32
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
	e.body.add(above, dt)
	e.tail.add(above, dt)
	// Late for jitter, not because the floor rose under it (a spike).
	if late && above > e.jit {
		e.lates = append(e.lates, now)
	}
	i := 0
	for i < len(e.lates) && now.Sub(e.lates[i]) >= lateSpan {
		i++
	}
	e.lates = e.lates[i:]
	e.jit = e.allowance(now)
}

// allowance returns the jitter allowance: see delayEstimator.
func (e *delayEstimator) allowance(now time.Time) time.Duration {
	if e.gap <= 0 {
		return e.body.quantile(1 - e.target)
	}
	perSpan := float64(lateSpan) / e.gap
	budget := int(math.Ceil(e.target*perSpan)) - 1 // lates allowed per span
	k := len(e.lates)
	p := 1.0
	for j := 0; j <= k; j++ {
		// Until lates[j] leaves the span, k−j of the lates are in it.
		h := float64(lateSpan)
		if j < k {
			h = float64(lateSpan - now.Sub(e.lates[j]))
		}
		left := budget - (k - j)
		if left < 0 {
			left = 0
		}
		p = min(p, e.lambda(left)/(h/e.gap))
	}
	// A tail the samples barely show is not trusted: with n samples the
	// share is scaled by n/(n + fewScale/p).
	n := float64(e.n)
	p *= n / (n + fewScale/p)
	return e.quantile(p)
}

// quantile returns the smallest jitter whose tail share, the larger of
// the body's and (below tailLevel) the tail memory's, is at most p.
func (e *delayEstimator) quantile(p float64) time.Duration {
	y := e.body.quantile(1 - p)
	if p < tailLevel {
		y = max(y, e.tail.quantile(1-p))
	}
	return y
}

// lambda returns the largest Poisson mean whose chance of more than left
// events is at most risks[left] (the last entry for more).
func (e *delayEstimator) lambda(left int) float64 {
	for len(e.lambdas) <= left {
		e.lambdas = append(e.lambdas, poissonMean(len(e.lambdas), risks[min(len(e.lambdas), len(risks)-1)]))
	}
	return e.lambdas[left]
}

// poissonMean returns the Poisson mean at which P(N > k) = eps.
func poissonMean(k int, eps float64) float64 {
	over := func(m float64) float64 { // P(N > k), its terms in logs (no underflow for large k)
		cdf := 0.0
		for i := 0; i <= k; i++ {
			lg, _ := math.Lgamma(float64(i + 1))
			cdf += math.Exp(float64(i)*math.Log(m) - m - lg)
		}
		return 1 - cdf
	}
	lo, hi := 0.0, float64(k+1)
	for over(hi) < eps {
		hi *= 2
	}
	for range 60 {
		mid := (lo + hi) / 2
		if over(mid) < eps {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

func (e *delayEstimator) delay() time.Duration {
	if e.n == 0 {
		return e.initial
	}
	d := e.floor + e.jit
	if e.n < fastN {
		// Fast start: before the histogram says anything, the initial
		// delay; it gives way to the estimate over fastN samples.
		d = max(d, time.Duration(float64(e.initial)*(1-float64(e.n)/fastN)))
	}
	return min(d, e.max)
}
