package playout

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/posting"
)

// synth returns n packets sent every period from the start, delayed by
// delay(i) (i from 0), lost where lost(i) (nil: none), on clocks that read
// the same.
func synth(n int, period time.Duration, delay func(i int) time.Duration, lost func(i int) bool) []tpkt {
	ps := make([]tpkt, n)
	for i := range ps {
		t := time.Duration(i) * period
		d := delay(i)
		ps[i] = tpkt{seq: uint64(i + 1), t: t, d: d, lost: lost != nil && lost(i), sent: recvEpoch.Add(t), arr: recvEpoch.Add(t + d)}
	}
	return ps
}

func constDelay(d time.Duration) func(int) time.Duration { return func(int) time.Duration { return d } }

// delayOf returns packet i's playout delay (zero when not played).
func delayOf(ps []tpkt, out []outcome, i int) time.Duration {
	if out[i].at.IsZero() {
		return 0
	}
	return out[i].at.Sub(ps[i].sent)
}

func lateCount(out []outcome) (n int) {
	for _, o := range out {
		if o.late {
			n++
		}
	}
	return n
}

// TestNoStallAfterLoss: with a posting lost, the next one plays at its own
// playout time, at the delay of those before it (nothing waits for the lost
// one); so after ten lost in a row; and the lost posting, coming 2 s late,
// is refused as late.
func TestNoStallAfterLoss(t *testing.T) {
	lost := func(i int) bool { return i == 299 || i >= 400 && i < 410 }
	ps := synth(600, 20*time.Millisecond, constDelay(30*time.Millisecond), lost)
	b := New(Config{})
	out := simulate([]*Buffer{b}, [][]tpkt{ps})[0]
	for _, c := range [][2]int{{298, 300}, {399, 410}} {
		if before, after := delayOf(ps, out, c[0]), delayOf(ps, out, c[1]); after == 0 || after > before {
			t.Fatalf("packet %d after a loss: delay %v, %d before it %v", c[1], after, c[0], before)
		}
	}
	if st := b.Stats(); st.Played != 589 || st.Skipped != 11 || st.Late != 0 || st.Queued != 0 {
		t.Fatalf("stats %+v", st)
	}
	if b.Push(&posting.Posting{Seq: 300, Sent: ps[299].sent}, ps[299].sent.Add(2*time.Second)) || b.Stats().Late != 1 {
		t.Fatal("the lost posting, come 2 s late, was not refused as late")
	}
}

// TestSeqRestart: a stream the sender reopens numbers its postings from 1
// again; they play (sequence numbers only break ties of send time).
func TestSeqRestart(t *testing.T) {
	ps := synth(400, 20*time.Millisecond, constDelay(20*time.Millisecond), nil)
	for i := 200; i < len(ps); i++ {
		ps[i].seq = uint64(i - 199)
	}
	b := New(Config{})
	out := simulate([]*Buffer{b}, [][]tpkt{ps[:200]})[0]
	for i := 200; i < len(ps); i++ {
		if !b.Push(&posting.Posting{Seq: ps[i].seq, Sent: ps[i].sent}, ps[i].arr) {
			t.Fatalf("posting %d (seq %d) refused", i, ps[i].seq)
		}
		due, _ := b.Due()
		if p := b.Next(due); p == nil || p.Seq != ps[i].seq {
			t.Fatalf("posting %d: released %v", i, p)
		}
	}
	if n := lateCount(out); n != 0 {
		t.Fatalf("%d late", n)
	}
}

// TestReorderedPlayedInOrder: postings arriving out of order within the
// playout delay are played in send order; copies (of one queued, of the
// last played) and a posting with no send time are refused.
func TestReorderedPlayedInOrder(t *testing.T) {
	// 0–40 ms of jitter: one posting in four overtakes the one before.
	jitter := [...]time.Duration{0, 40 * time.Millisecond, 10 * time.Millisecond, 30 * time.Millisecond}
	ps := synth(600, 20*time.Millisecond, func(i int) time.Duration { return 20*time.Millisecond + jitter[i%4] }, nil)
	swaps := 0
	for i := 1; i < len(ps); i++ {
		if ps[i].arr.Before(ps[i-1].arr) {
			swaps++
		}
	}
	b := New(Config{})
	out := simulate([]*Buffer{b}, [][]tpkt{ps})[0]
	if n := lateCount(out[300:]); n != 0 {
		t.Fatalf("%d late after the first 300", n)
	}
	for i := 301; i < len(ps); i++ {
		if !out[i].at.After(out[i-1].at) {
			t.Fatalf("%d played at %v, %d at %v", i-1, out[i-1].at, i, out[i].at)
		}
	}
	if swaps == 0 {
		t.Fatal("no reordering to test")
	}
	last := ps[len(ps)-1]
	if b.Push(&posting.Posting{Seq: last.seq, Sent: last.sent}, last.arr) {
		t.Fatal("a posting played was queued again")
	}
	next := &posting.Posting{Seq: last.seq + 1, Sent: last.sent.Add(20 * time.Millisecond)}
	at := next.Sent.Add(20 * time.Millisecond)
	if !b.Push(next, at) || b.Push(next, at) {
		t.Fatal("a posting was not queued, or was queued twice")
	}
	if b.Push(&posting.Posting{Seq: last.seq + 2}, at) {
		t.Fatal("a posting with no send time was queued")
	}
	if st := b.Stats(); st.Refused != 3 || st.Late != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestDelayFollowsJitter: when the jitter grows (every tenth posting 60 ms
// later than the rest), a few postings are late and the delay then covers
// the new jitter.
func TestDelayFollowsJitter(t *testing.T) {
	ps := synth(1500, 20*time.Millisecond, func(i int) time.Duration {
		if i >= 500 && i%10 == 0 {
			return 80 * time.Millisecond
		}
		return 20 * time.Millisecond
	}, nil)
	b := New(Config{})
	out := simulate([]*Buffer{b}, [][]tpkt{ps})[0]
	early, after := lateCount(out[500:700]), lateCount(out[700:])
	if early == 0 || early > 5 || after != 0 {
		t.Fatalf("late: %d in the 4 s after the jitter grew, %d after that", early, after)
	}
	if st := b.Stats(); st.Target < 60*time.Millisecond {
		t.Fatalf("target %v with 60 ms of jitter", st.Target)
	}
}

// TestFastStart: the delay starts at InitialDelay and comes down to what
// the jitter needs over the first 250 postings.
func TestFastStart(t *testing.T) {
	ps := synth(400, 20*time.Millisecond, func(i int) time.Duration { return 20*time.Millisecond + time.Duration(i%5)*time.Millisecond }, nil)
	b := New(Config{InitialDelay: 200 * time.Millisecond})
	out := simulate([]*Buffer{b}, [][]tpkt{ps})[0]
	if d := delayOf(ps, out, 0); d < 190*time.Millisecond+20*time.Millisecond {
		t.Fatalf("first delay %v (InitialDelay 200 ms, one-way delay 20 ms)", d)
	}
	if d := delayOf(ps, out, 399); d > 20*time.Millisecond+10*time.Millisecond {
		t.Fatalf("after 400 postings of 0–4 ms jitter the delay is %v", d)
	}
	if n := lateCount(out); n != 0 {
		t.Fatalf("%d late", n)
	}
}

// TestPauseAndSpeedup: after a delay step up of 200 ms the playout clock
// pauses so the delay covers it (at most the postings sent before the floor
// rose, 5 postings into the step, plus its 200 ms, are late: their playout
// times passed before they arrived unless the first lates, spending the late
// budget, raised the delay sooner); when the delay
// comes back down (over a second) the playout delay falls by at most
// MaxSpeedup of the time passed, and postings play in order.
func TestPauseAndSpeedup(t *testing.T) {
	const step = 2500 // 50 s in: the jitter histogram is full
	ps := synth(step+600, 20*time.Millisecond, func(i int) time.Duration {
		switch {
		case i >= step && i < step+50:
			return 205 * time.Millisecond
		case i >= step+50 && i < step+100:
			return 205*time.Millisecond - time.Duration(i-step-50)*4*time.Millisecond
		}
		return 5 * time.Millisecond
	}, nil)
	b := New(Config{InitialDelay: 10 * time.Millisecond, MaxSpeedup: 0.25})
	out := simulate([]*Buffer{b}, [][]tpkt{ps})[0]
	if n, most := lateCount(out), (5*20+200)/20; n < 1 || n > most+1 {
		t.Fatalf("%d late, want 1…%d", n, most)
	}
	high := delayOf(ps, out, step+49)
	if high < 205*time.Millisecond {
		t.Fatalf("at the end of the step the delay is %v", high)
	}
	for i := step + 51; i < len(ps); i++ {
		if fall := delayOf(ps, out, i-1) - delayOf(ps, out, i); fall > 20*time.Millisecond/4+time.Microsecond {
			t.Fatalf("the delay fell %v in one 20-ms period (MaxSpeedup 0.25)", fall)
		}
		if !out[i].at.After(out[i-1].at) {
			t.Fatal("played out of order")
		}
	}
	if low := delayOf(ps, out, len(ps)-1); low > 20*time.Millisecond {
		t.Fatalf("9 s after the step the delay is still %v", low)
	}
}

// TestGroupDelaysTheLeader: in a group the stream with the smaller delay
// plays at the larger one's (the leader is delayed), and the stream with
// the larger delay plays exactly as it would alone (never hurried).
func TestGroupDelaysTheLeader(t *testing.T) {
	fast := synth(1500, 20*time.Millisecond, func(i int) time.Duration { return 10*time.Millisecond + time.Duration(i%3)*time.Millisecond }, nil)
	slow := synth(750, 40*time.Millisecond, func(i int) time.Duration { return 80*time.Millisecond + time.Duration(i%7)*time.Millisecond }, nil)
	g := NewGroup(Config{})
	grouped := simulate([]*Buffer{g.Stream(Config{}), g.Stream(Config{})}, [][]tpkt{fast, slow})
	apart := simulate([]*Buffer{New(Config{}), New(Config{})}, [][]tpkt{fast, slow})
	for _, i := range []int{400, 500, 749} {
		j := i * 2 // the fast packet sent with slow packet i
		if skew := grouped[1][i].at.Sub(grouped[0][j].at); skew < -time.Millisecond || skew > time.Millisecond {
			t.Errorf("grouped: capture %v plays %v apart", slow[i].t, skew)
		}
		if !grouped[1][i].at.Equal(apart[1][i].at) {
			t.Errorf("the lagging stream plays %d at %v in the group, %v alone", i, grouped[1][i].at, apart[1][i].at)
		}
		if !grouped[0][j].at.After(apart[0][j].at.Add(50 * time.Millisecond)) {
			t.Errorf("the leading stream plays %d at %v in the group, %v alone: not delayed", j, grouped[0][j].at, apart[0][j].at)
		}
	}
	if n := lateCount(grouped[0]) + lateCount(grouped[1]); n != 0 {
		t.Fatalf("%d late", n)
	}
}

// TestGroupIdleStream: a stream not pushed to for Idle stops holding the
// group's delay up.
func TestGroupIdleStream(t *testing.T) {
	fast := synth(600, 20*time.Millisecond, constDelay(10*time.Millisecond), nil)
	slow := synth(600, 20*time.Millisecond, constDelay(200*time.Millisecond), func(i int) bool { return i >= 150 }) // stops at 3 s
	g := NewGroup(Config{Idle: time.Second})
	a := g.Stream(Config{})
	out := simulate([]*Buffer{a, g.Stream(Config{})}, [][]tpkt{fast, slow})
	if d := delayOf(fast, out[0], 100); d < 200*time.Millisecond {
		t.Fatalf("while the slow stream plays the fast one's delay is %v", d)
	}
	if d := delayOf(fast, out[0], 599); d > 20*time.Millisecond {
		t.Fatalf("9 s after the slow stream stopped the fast one's delay is %v", d)
	}
}

// TestOffsetSource: with the channel's offset known, a stream whose first
// posting came 150 ms late starts from the sender's known offset, not from
// that posting: its delay covers the 150 ms from the first posting on.
func TestOffsetSource(t *testing.T) {
	known := 20 * time.Millisecond // arrival − send of the fastest posting
	b := New(Config{Offset: func() (time.Duration, bool) { return known, true }})
	b.Push(&posting.Posting{Seq: 1, Sent: recvEpoch}, recvEpoch.Add(170*time.Millisecond))
	if st := b.Stats(); st.Offset != known || st.Delay < 150*time.Millisecond {
		t.Fatalf("with the offset known: %+v", st)
	}
	alone := New(Config{})
	alone.Push(&posting.Posting{Seq: 1, Sent: recvEpoch}, recvEpoch.Add(170*time.Millisecond))
	if st := alone.Stats(); st.Offset != 170*time.Millisecond {
		t.Fatalf("without: %+v", st)
	}
}

// TestPlayoutTimeAndGroupNext: PlayoutTime says when a posting will play;
// Group.Next releases the streams' postings in playout order and nothing
// before its time.
func TestPlayoutTimeAndGroupNext(t *testing.T) {
	g := NewGroup(Config{InitialDelay: 50 * time.Millisecond})
	a, v := g.Stream(Config{}), g.Stream(Config{})
	t0 := recvEpoch
	a.Push(&posting.Posting{Stream: "a", Seq: 1, Sent: t0}, t0.Add(5*time.Millisecond))
	v.Push(&posting.Posting{Stream: "v", Seq: 1, Sent: t0.Add(-10 * time.Millisecond)}, t0.Add(6*time.Millisecond))
	want := v.PlayoutTime(t0.Add(-10 * time.Millisecond))
	if d, ok := g.Due(); !ok || !d.Equal(want) {
		t.Fatalf("group due %v, want %v", d, want)
	}
	if p := g.Next(want.Add(-time.Nanosecond)); p != nil {
		t.Fatal("released before its time")
	}
	if p := g.Next(want); p == nil || p.Stream != "v" {
		t.Fatalf("first released: %v", p)
	}
	if p := g.Next(a.PlayoutTime(t0)); p == nil || p.Stream != "a" {
		t.Fatalf("second released: %v", p)
	}
	if _, ok := g.Due(); ok {
		t.Fatal("something left")
	}
}

// TestHistogramQuantile: the block-skipping quantile agrees with a scan of
// every bin, through forgetting and rescaling.
func TestHistogramQuantile(t *testing.T) {
	h := newHistogram(2*time.Second, 2*time.Second)
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 200000 {
		h.add(time.Duration(r.ExpFloat64()*float64(30*time.Millisecond)), 20*time.Millisecond)
		if n%997 != 0 {
			continue
		}
		for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
			above := (1 - q) * h.total
			var acc float64
			want := time.Duration(0)
			for i := len(h.bins) - 1; i >= 0; i-- {
				if acc += h.bins[i]; acc > above {
					want = time.Duration(i+1) * binWidth
					break
				}
			}
			if got := h.quantile(q); got != want {
				t.Fatalf("after %d samples: quantile %v is %v, a scan says %v", n+1, q, got, want)
			}
		}
	}
}

// TestHistogramSilence: after a silence long enough that forgetting leaves
// the old samples no weight, the histogram starts again and its quantiles
// stay finite.
func TestHistogramSilence(t *testing.T) {
	h := newHistogram(2*time.Second, 20*time.Second)
	for range 1000 {
		h.add(300*time.Millisecond, 20*time.Millisecond)
	}
	h.add(10*time.Millisecond, time.Hour)
	for range 10 {
		h.add(10*time.Millisecond, 20*time.Millisecond)
	}
	if q := h.quantile(0.99); q != 10*time.Millisecond+binWidth || math.IsNaN(h.total) || math.IsInf(h.total, 0) {
		t.Fatalf("after an hour's silence: 99th percentile %v, total weight %v", q, h.total)
	}
}

// TestPoissonMean: the Poisson mean at which P(N > k) = eps, against the
// closed forms for k = 0 and 1, and for a budget of thousands of lates (a
// stream of thousands of postings a second, where the terms underflow
// unless taken in logs) against the normal approximation.
func TestPoissonMean(t *testing.T) {
	if m := poissonMean(0, 0.01); math.Abs(-math.Expm1(-m)-0.01) > 1e-9 {
		t.Errorf("k 0: mean %v, P(N > 0) %v", m, -math.Expm1(-m))
	}
	if m := poissonMean(1, 0.07); math.Abs(1-math.Exp(-m)*(1+m)-0.07) > 1e-9 {
		t.Errorf("k 1: mean %v, P(N > 1) %v", m, 1-math.Exp(-m)*(1+m))
	}
	// P(N > 3000) = 0.3: (3000.5 − m)/√m = 0.5244 (the normal's 70th
	// percentile), m ≈ 2971.9.
	if m := poissonMean(3000, 0.3); math.Abs(m-2971.9) > 1 {
		t.Errorf("k 3000: mean %v, want about 2971.9", m)
	}
}
