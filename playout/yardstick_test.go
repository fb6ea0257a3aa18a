package playout

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/posting"
)

// The yardstick of issue 20: packets every 20 ms for 120 s; one-way delay
// 20 ms plus Pareto jitter (shape 2, scale 5 ms, capped at 200 ms), the
// scale doubled for one second every ten; 2 % i.i.d. loss; at t = 60 s a
// spike raising the delay linearly by 300 ms over 0.5 s and back over
// 0.5 s; the sender's clock 100 ppm fast.

type tpkt struct {
	seq  uint64
	t    time.Duration // true send time since the start
	d    time.Duration // one-way delay
	lost bool
	sent time.Time // in the sender's clock
	arr  time.Time // in the receiver's clock
}

// traceCfg describes one stream of a trace.
type traceCfg struct {
	period   time.Duration
	dur      time.Duration
	ppm      float64       // sender clock rate error
	base     time.Duration // fixed delay
	extra    func(t time.Duration) time.Duration
	burstSec int // the second of each burst period when the jitter scale doubles (-1: from the seed)
	// burstEvery is the burst period in seconds (0: the yardstick's 10).
	burstEvery int
}

var (
	recvEpoch = time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	sendEpoch = recvEpoch.Add(-37*time.Minute + 123456789*time.Nanosecond) // the sender's clock is off
)

// spike is the yardstick's delay spike at 60 s.
func spike(t time.Duration) time.Duration {
	const at, half, height = 60 * time.Second, 500 * time.Millisecond, 300 * time.Millisecond
	switch {
	case t >= at && t < at+half:
		return time.Duration(float64(height) * float64(t-at) / float64(half))
	case t >= at+half && t < at+2*half:
		return time.Duration(float64(height) * float64(at+2*half-t) / float64(half))
	}
	return 0
}

func genTrace(seed uint64, c traceCfg) []tpkt {
	r := rand.New(rand.NewPCG(seed, 0x20))
	every := c.burstEvery
	if every <= 0 {
		every = 10
	}
	burst := c.burstSec
	if burst < 0 {
		burst = r.IntN(every)
	}
	var ps []tpkt
	for i := 0; ; i++ {
		t := time.Duration(i) * c.period
		if t >= c.dur {
			break
		}
		scale := 5.0
		if int(t/time.Second)%every == burst {
			scale = 10
		}
		u := 1 - r.Float64() // (0, 1]
		j := math.Min(scale/math.Sqrt(u), 200)
		d := c.base + time.Duration(j*float64(time.Millisecond))
		if c.extra != nil {
			d += c.extra(t)
		}
		lost := r.Float64() < 0.02
		sent := sendEpoch.Add(t + time.Duration(float64(t)*c.ppm*1e-6))
		ps = append(ps, tpkt{seq: uint64(i + 1), t: t, d: d, lost: lost, sent: sent, arr: recvEpoch.Add(t + d)})
	}
	return ps
}

func yardstick(seed uint64) []tpkt {
	return genTrace(seed, traceCfg{period: 20 * time.Millisecond, dur: 120 * time.Second, ppm: 100,
		base: 20 * time.Millisecond, extra: spike, burstSec: -1})
}

// stallSlack is how much later than its neighbours a packet after a loss
// may play: the few milliseconds the floor moves the delay by, less than the
// packet interval (the lost packet was due one interval before it, so a
// buffer waiting for it would hold the next one at least that long).
const stallSlack = 20 * time.Millisecond

// stallFree says whether packet i, after a loss, played no later than the
// playout delay of the packets played just before and after it (the larger)
// plus stallSlack: it did not wait for the lost one.
func stallFree(ps []tpkt, out []outcome, i int) bool {
	delay := func(j int) (time.Duration, bool) {
		if j < 0 || j >= len(ps) || ps[j].lost || out[j].late || out[j].at.IsZero() {
			return 0, false
		}
		return out[j].at.Sub(recvEpoch) - ps[j].t, true
	}
	limit, ok := time.Duration(0), false
	for j := i - 2; j >= 0 && j >= i-10; j-- {
		if d, has := delay(j); has {
			limit, ok = d, true
			break
		}
	}
	for j := i + 1; j < len(ps) && j <= i+10; j++ {
		if d, has := delay(j); has {
			limit, ok = max(limit, d), true
			break
		}
	}
	d, _ := delay(i)
	return !ok || d < limit+stallSlack
}

// optimum is the offline optimum: the smallest constant delay (the drift
// removed: true one-way delays) at which at most 1 % of the packets
// received after from are late.
func optimum(ps []tpkt, from time.Duration) time.Duration {
	var ds []time.Duration
	for _, p := range ps {
		if !p.lost && p.arr.Sub(recvEpoch) >= from {
			ds = append(ds, p.d)
		}
	}
	slices.Sort(ds)
	return ds[len(ds)-len(ds)/100-1]
}

// outcome is what became of one packet.
type outcome struct {
	late bool
	at   time.Time // release instant (receiver clock) when played
}

// simulate plays the streams' traces through the buffers, calling Next at
// each due time and Push at each arrival, in time order.
func simulate(bufs []*Buffer, traces [][]tpkt) [][]outcome {
	type ev struct {
		s int
		p *tpkt
	}
	var evs []ev
	out := make([][]outcome, len(traces))
	for s, tr := range traces {
		out[s] = make([]outcome, len(tr))
		for i := range tr {
			if !tr[i].lost {
				evs = append(evs, ev{s, &tr[i]})
			}
		}
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].p.arr.Before(evs[j].p.arr) })
	release := func(until time.Time, inclusive bool) {
		for {
			best, bs := time.Time{}, -1
			for s, b := range bufs {
				if d, ok := b.Due(); ok && (bs < 0 || d.Before(best)) {
					best, bs = d, s
				}
			}
			if bs < 0 || best.After(until) || !inclusive && best.Equal(until) {
				return
			}
			p := bufs[bs].Next(best)
			if p == nil {
				panic(fmt.Sprintf("due at %v but nothing released", best))
			}
			out[bs][p.Seq-1].at = best
		}
	}
	for _, e := range evs {
		release(e.p.arr, false)
		p := &posting.Posting{Seq: e.p.seq, Sent: e.p.sent}
		if !bufs[e.s].Push(p, e.p.arr) {
			out[e.s][e.p.seq-1].late = true
		}
	}
	release(recvEpoch.Add(time.Hour), true)
	return out
}

// audioFigures are one seed's figures for the yardstick.
type audioFigures struct {
	opt        time.Duration
	lateAfter5 float64
	meanDelay  time.Duration
	windows    []float64 // late ratio by 10-s window of arrival
	lates      []int
	recovery   float64 // late ratio in [63 s, 73 s)
	spikeLate  int     // late packets sent during the spike
	unplayed   int     // received, neither late nor played (a stall)
	afterLoss  int     // packets after a loss played later than their neighbours' delay allows
}

func figures(ps []tpkt, out []outcome) audioFigures {
	f := audioFigures{opt: optimum(ps, 5*time.Second), windows: make([]float64, 12), lates: make([]int, 12)}
	var n, late, nplayed int
	var sum time.Duration
	var wn [12]int
	var rn, rl int
	for i, p := range ps {
		if p.lost {
			continue
		}
		o := out[i]
		a := p.arr.Sub(recvEpoch)
		if !o.late && o.at.IsZero() {
			f.unplayed++
			continue
		}
		if w := int(a / (10 * time.Second)); w < 12 {
			wn[w]++
			if o.late {
				f.lates[w]++
			}
		}
		if a >= 63*time.Second && a < 73*time.Second {
			rn++
			if o.late {
				rl++
			}
		}
		if o.late && spike(p.t) > 0 {
			f.spikeLate++
		}
		if i > 0 && ps[i-1].lost && !o.late && !stallFree(ps, out, i) {
			f.afterLoss++
		}
		if a < 5*time.Second {
			continue
		}
		n++
		if o.late {
			late++
			continue
		}
		nplayed++
		sum += o.at.Sub(recvEpoch) - p.t
	}
	f.lateAfter5 = float64(late) / float64(n)
	f.meanDelay = sum / time.Duration(nplayed)
	for w := range wn {
		f.windows[w] = float64(f.lates[w]) / float64(wn[w])
	}
	f.recovery = float64(rl) / float64(rn)
	return f
}

// yardstickSeeds are the seeds the yardstick tests run: 1–20. The
// estimator's constants were chosen by sweeps over seeds 1–160, these
// included, so the 20 are no held-out sample: TestYardstickSurvey runs
// others (bench/RESULTS.md). Under the race detector too: the package's
// tests take about half a minute there.
func yardstickSeeds() []uint64 {
	var seeds []uint64
	for s := uint64(1); s <= 20; s++ {
		seeds = append(seeds, s)
	}
	return seeds
}

// TestYardstick runs issue 20's yardstick over 20 seeds and checks its
// targets: after 5 s at most 1 % late at a mean playout delay at most 1.1×
// the offline optimum; at most 1 % late in every 10-s window but the
// spike's (60–70 s), and in the window starting 2 s after the spike ends
// (63–73 s); no stall after a loss (every packet received is played or
// late, and a packet after a loss plays at the delay of its neighbours);
// the drift estimated within 5 ppm.
func TestYardstick(t *testing.T) {
	misses := 0
	var worst float64
	for _, seed := range yardstickSeeds() {
		ps := yardstick(seed)
		b := New(Config{})
		out := simulate([]*Buffer{b}, [][]tpkt{ps})
		f := figures(ps, out[0])
		st := b.Stats()
		ratio := float64(f.meanDelay) / float64(f.opt)
		worst = max(worst, ratio)
		t.Logf("seed %2d: optimum %5.1f ms, mean delay %5.1f ms (%.3f×), late after 5 s %.2f%%, by window %v (spike's: %d late, %d of them sent in the spike), 63–73 s %.2f%%, drift %.1f ppm",
			seed, ms(f.opt), ms(f.meanDelay), ratio, 100*f.lateAfter5, f.lates, f.lates[6], f.spikeLate, 100*f.recovery, st.DriftPPM)
		if f.lateAfter5 > 0.01 || ratio > 1.1 {
			t.Errorf("seed %d: late after 5 s %.2f%% at %.3f× the optimum (targets 1 %%, 1.1×)", seed, 100*f.lateAfter5, ratio)
		}
		for w, r := range f.windows {
			if w == 6 {
				continue
			}
			if r > 0.01 {
				misses++
				t.Errorf("seed %d: window %d–%d s has %d late (%.2f%%)", seed, 10*w, 10*w+10, f.lates[w], 100*r)
			}
		}
		if f.recovery > 0.01 {
			t.Errorf("seed %d: %.2f%% late in 63–73 s", seed, 100*f.recovery)
		}
		if f.unplayed != 0 {
			t.Errorf("seed %d: %d packets neither played nor late (a stall)", seed, f.unplayed)
		}
		if f.afterLoss > 0 {
			t.Errorf("seed %d: %d packets after a loss played later than their neighbours allow", seed, f.afterLoss)
		}
		if math.Abs(st.DriftPPM-100) > 5 {
			t.Errorf("seed %d: drift %.1f ppm, the sender's clock runs 100 ppm fast", seed, st.DriftPPM)
		}
	}
	t.Logf("worst mean delay %.3f× the optimum; %d windows of %d over 1 %% late", worst, misses, 11*len(yardstickSeeds()))
}

// TestYardstickSurvey runs the yardstick over the seeds named by
// RWANDA_PLAYOUT_SURVEY (lo-hi; skipped without it) and logs how many meet
// each target: the figures in bench/RESULTS.md beside the 20 seeds of
// TestYardstick. RWANDA_PLAYOUT_BURST=n makes the jitter bursts recur every
// n seconds instead of ten (a variant the constants were not chosen on).
func TestYardstickSurvey(t *testing.T) {
	var lo, hi uint64
	if _, err := fmt.Sscanf(os.Getenv("RWANDA_PLAYOUT_SURVEY"), "%d-%d", &lo, &hi); err != nil {
		t.Skip("RWANDA_PLAYOUT_SURVEY=lo-hi names the seeds")
	}
	every := 10
	if v := os.Getenv("RWANDA_PLAYOUT_BURST"); v != "" {
		if _, err := fmt.Sscanf(v, "%d", &every); err != nil || every <= 0 {
			t.Fatalf("RWANDA_PLAYOUT_BURST=%q: want a number of seconds", v)
		}
	}
	var all, late5, ratio, windows, recovery, optWindows, winMiss, maxLate int
	var sum, worst float64
	for seed := lo; seed <= hi; seed++ {
		ps := genTrace(seed, traceCfg{period: 20 * time.Millisecond, dur: 120 * time.Second, ppm: 100,
			base: 20 * time.Millisecond, extra: spike, burstSec: -1, burstEvery: every})
		f := figures(ps, simulate([]*Buffer{New(Config{})}, [][]tpkt{ps})[0])
		r := float64(f.meanDelay) / float64(f.opt)
		sum, worst = sum+r, max(worst, r)
		ok := true
		if f.lateAfter5 > 0.01 {
			late5++
			ok = false
		}
		if r > 1.1 {
			ratio++
			ok = false
		}
		miss := 0
		for w, x := range f.windows {
			if w != 6 {
				maxLate = max(maxLate, f.lates[w])
				if x > 0.01 {
					miss++
				}
			}
		}
		if miss > 0 {
			windows++
			winMiss += miss
			ok = false
		}
		if f.recovery > 0.01 {
			recovery++
			ok = false
		}
		if ok {
			all++
		}
		opt := f.opt
		var n, late [12]int
		for _, p := range ps {
			if w := int(p.arr.Sub(recvEpoch) / (10 * time.Second)); !p.lost && w < 12 {
				n[w]++
				if p.d > opt {
					late[w]++
				}
			}
		}
		for w := range n {
			if w != 6 && float64(late[w]) > 0.01*float64(n[w]) {
				optWindows++
			}
		}
	}
	seeds := int(hi - lo + 1)
	t.Logf("seeds %d–%d, bursts every %d s: all targets met on %d of %d; late after 5 s over 1 %% on %d; mean delay over 1.1× on %d (mean %.3f×, worst %.3f×); a window over 1 %% on %d seeds (%d windows of %d, at most %d late in one; the optimum's constant delay: %d windows); 63–73 s over 1 %% on %d",
		lo, hi, every, all, seeds, late5, ratio, sum/float64(seeds), worst, windows, winMiss, 11*seeds, maxLate, optWindows, recovery)
}

// TestYardstickDrift: the figures do not depend on the sender's clock rate
// (the floor follows it), and the drift is estimated within 5 ppm and 1 %.
func TestYardstickDrift(t *testing.T) {
	seeds := yardstickSeeds()[:3]
	for _, ppm := range []float64{-100, 0, 1000} {
		for _, seed := range seeds {
			c := traceCfg{period: 20 * time.Millisecond, dur: 120 * time.Second, base: 20 * time.Millisecond, extra: spike, burstSec: -1}
			ref := genTrace(seed, c)
			c.ppm = ppm
			ps := genTrace(seed, c)
			b, rb := New(Config{}), New(Config{})
			f := figures(ps, simulate([]*Buffer{b}, [][]tpkt{ps})[0])
			rf := figures(ref, simulate([]*Buffer{rb}, [][]tpkt{ref})[0])
			d := b.Stats().DriftPPM
			t.Logf("%+5.0f ppm seed %d: mean delay %5.1f ms (%5.1f ms at 0 ppm), late after 5 s %.2f%% (%.2f%%), drift %.1f ppm",
				ppm, seed, ms(f.meanDelay), ms(rf.meanDelay), 100*f.lateAfter5, 100*rf.lateAfter5, d)
			if math.Abs(d-ppm) > 5+math.Abs(ppm)/100 || absDur(f.meanDelay-rf.meanDelay) > time.Millisecond || math.Abs(f.lateAfter5-rf.lateAfter5) > 0.001 {
				t.Errorf("%+.0f ppm seed %d: drift %.1f ppm, mean delay %v against %v, late %.2f%% against %.2f%%",
					ppm, seed, d, f.meanDelay, rf.meanDelay, 100*f.lateAfter5, 100*rf.lateAfter5)
			}
		}
	}
}

// TestConstantOptimumWindows: the offline optimum, a constant delay,
// misses the per-window target on some seeds (8 windows of the 220): the
// per-window target needs a delay that moves with the lates of each span.
func TestConstantOptimumWindows(t *testing.T) {
	misses := 0
	for _, seed := range yardstickSeeds() {
		ps := yardstick(seed)
		opt := optimum(ps, 5*time.Second)
		var n, late [12]int
		for _, p := range ps {
			if w := int(p.arr.Sub(recvEpoch) / (10 * time.Second)); !p.lost && w < 12 {
				n[w]++
				if p.d > opt {
					late[w]++
				}
			}
		}
		for w := range n {
			if w != 6 && float64(late[w]) > 0.01*float64(n[w]) {
				misses++
			}
		}
		t.Logf("seed %2d: constant %5.1f ms, late by window %v", seed, ms(opt), late)
	}
	t.Logf("the optimum's constant delay: %d windows of %d over 1 %% late", misses, 11*len(yardstickSeeds()))
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }
