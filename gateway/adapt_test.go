package gateway

import (
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/internal/gwire"
)

// run feeds an Adapter one judgement per period for n periods, with the
// loss the rate meets on a path of capacity capB (loss = the excess), and
// returns the rates it set.
func runAdapter(a *Adapter, start time.Time, n int, capB float64, offered float64) (rates []float64, end time.Time) {
	now := start
	a.Update(now, 0, 0)
	for range n {
		now = now.Add(a.cfg.Period)
		sending := offered
		if r := a.Rate(); r > 0 && r < offered {
			sending = r
		}
		loss := 0.0
		if sending > capB {
			loss = (sending - capB) / sending
		}
		a.Observe(100, uint64(loss*100+0.5))
		r, _ := a.Update(now, sending, 0)
		rates = append(rates, r)
	}
	return rates, now
}

// TestAdapterConverges: from no limit, on a path of a fifth of the
// offered rate, the rate comes down at once to below the path, then
// probes back up without going far past it, and never flaps between
// loss and no loss more than a few times a minute.
func TestAdapterConverges(t *testing.T) {
	a := NewAdapter(AdaptConfig{})
	rates, _ := runAdapter(a, t0, 120, 52000, 260000) // 60 s
	if rates[0] == 0 || rates[0] > 52000 {
		t.Fatalf("first judgement: rate %.0f, want below the path's 52000", rates[0])
	}
	lossy := 0
	for i, r := range rates {
		if r > 52000*1.12 {
			t.Fatalf("period %d: rate %.0f overshoots the path by more than 12 %%", i, r)
		}
		if r > 52000 {
			lossy++
		}
	}
	// The hold doubles after each failed probe (2, 4, 8, then 16 s): in
	// 60 s at most 4 probes while it grows and one per 16 s after, each
	// above the path for one period.
	if lossy > 8 {
		t.Fatalf("%d of %d periods above the path: %v", lossy, len(rates), rates)
	}
	if last := rates[len(rates)-1]; last < 52000*0.7 {
		t.Fatalf("settled at %.0f, under 70 %% of the path", last)
	}
}

// TestAdapterHysteresis: loss between LossLow and LossHigh changes
// nothing, and a lowered rate holds for Hold before it rises.
func TestAdapterHysteresis(t *testing.T) {
	a := NewAdapter(AdaptConfig{Max: 100000})
	now := t0
	a.Update(now, 0, 0)
	now = now.Add(a.cfg.Period)
	a.Observe(1000, 10) // 1 %: in the band
	if r, changed := a.Update(now, 100000, 0); changed || r != 100000 {
		t.Fatalf("1 %% loss changed the rate to %.0f", r)
	}
	now = now.Add(a.cfg.Period)
	a.Observe(1000, 50) // 5 %
	r, changed := a.Update(now, 100000, 0)
	if !changed || r >= 100000 {
		t.Fatalf("5 %% loss: rate %.0f", r)
	}
	low := r
	for now2 := now.Add(a.cfg.Period); now2.Sub(now) < a.cfg.Hold; now2 = now2.Add(a.cfg.Period) {
		a.Observe(1000, 0)
		if r, _ := a.Update(now2, low, 0); r != low {
			t.Fatalf("rose to %.0f %v after lowering, within the hold of %v", r, now2.Sub(now), a.cfg.Hold)
		}
	}
}

// TestAdapterFailedProbeHoldsLonger: a probe that meets loss doubles the
// hold.
func TestAdapterFailedProbeHoldsLonger(t *testing.T) {
	a := NewAdapter(AdaptConfig{})
	now := t0
	a.Update(now, 0, 0)
	now = now.Add(a.cfg.Period)
	a.Observe(100, 50)
	a.Update(now, 100000, 0)
	for a.hold == a.cfg.Hold {
		now = now.Add(a.cfg.Period)
		if _, changed := a.Update(now, a.Rate(), 0); changed { // a probe
			now = now.Add(a.cfg.Period)
			a.Observe(100, 10)
			a.Update(now, a.Rate(), 0)
			break
		}
		a.Observe(100, 0)
	}
	if a.hold != 2*a.cfg.Hold {
		t.Fatalf("hold %v after a failed probe, want %v", a.hold, 2*a.cfg.Hold)
	}
}

// TestAdapterFromReceived: on loss the rate goes to a little under what
// the client reports receiving, and the period after a decrease (whose
// reports still tell of the loss before it) is not judged.
func TestAdapterFromReceived(t *testing.T) {
	a := NewAdapter(AdaptConfig{})
	now := t0
	a.Update(now, 0, 0)
	now = now.Add(a.cfg.Period)
	a.Observe(200, 150) // 75 % lost: 300 kB/s sent, 60 kB/s got through
	r, changed := a.Update(now, 300000, 60000)
	if !changed || r != 60000*a.cfg.Backoff {
		t.Fatalf("rate %.0f, want %.0f", r, 60000*a.cfg.Backoff)
	}
	now = now.Add(a.cfg.Period)
	a.Observe(200, 100)
	if r2, changed := a.Update(now, r, 30000); changed || r2 != r {
		t.Fatalf("the period after a decrease lowered the rate to %.0f", r2)
	}
	now = now.Add(a.cfg.Period)
	a.Observe(200, 1) // one lost: no trend
	if _, changed := a.Update(now, r, r); changed {
		t.Fatal("one lost packet lowered the rate")
	}
}

// TestAdapterFloorUnderDelivered: the floor (what is served before video,
// with a margin) holds no first limit above Backoff times what the path
// was measured to deliver: at the start, repairs and what waited for the
// client's validation make the floor's own measure run high, and a limit
// at twice the path's rate kept its queue full for seconds.
func TestAdapterFloorUnderDelivered(t *testing.T) {
	a := NewAdapter(AdaptConfig{})
	now := t0
	a.Update(now, 0, 0)
	now = now.Add(a.cfg.Period)
	a.SetFloor(114000)
	a.Observe(200, 160) // 80 % lost: 300 kB/s sent, 57 kB/s delivered
	want := 57000 * a.cfg.Backoff
	if r, changed := a.Update(now, 300000, 57000); !changed || r != want {
		t.Fatalf("rate %.0f, want %.0f", r, want)
	}
	// With nothing measured, the floor holds (up to half the rate).
	b := NewAdapter(AdaptConfig{})
	b.Update(t0, 0, 0)
	b.SetFloor(114000)
	b.Observe(200, 160)
	if r, _ := b.Update(t0.Add(b.cfg.Period), 300000, 0); r != 114000 {
		t.Fatalf("rate %.0f with no delivery measured, want the floor, 114000", r)
	}
}

// TestAdapterFailedProbeLoss: a probe that meets heavy loss goes to a
// little under the rate before it, not by the loss below the probe's
// rate (the loss of a full queue's tail drop says little of the path);
// and delay in few reports fails no probe.
func TestAdapterFailedProbeLoss(t *testing.T) {
	a := NewAdapter(AdaptConfig{Hold: time.Second})
	a.rate = 50000
	now := t0
	a.Update(now, 0, 0)
	for a.Rate() == 50000 {
		now = now.Add(a.cfg.Period)
		a.Observe(100, 0)
		a.ObserveDelay(time.Millisecond)
		a.Update(now, a.Rate(), 0)
	}
	probe := a.Rate()
	now = now.Add(a.cfg.Period)
	a.Observe(100, 30)
	a.ObserveDelay(100 * time.Millisecond)
	r, _ := a.Update(now, probe, 0)
	if want := 50000 * a.cfg.Backoff; r != want {
		t.Fatalf("probe to %.0f met 30 %% loss: rate %.0f, want %.0f", probe, r, want)
	}
	b := NewAdapter(AdaptConfig{Hold: time.Second})
	b.rate = 50000
	now = t0
	b.Update(now, 0, 0)
	for b.Rate() == 50000 {
		now = now.Add(b.cfg.Period)
		b.Observe(100, 0)
		b.Update(now, b.Rate(), 0)
	}
	probe = b.Rate()
	now = now.Add(b.cfg.Period)
	b.Observe(100, 0)
	b.ObserveDelay(30 * time.Millisecond) // one late report
	if r, _ := b.Update(now, probe, 0); r < probe {
		t.Fatalf("one report's 30 ms failed the probe to %.0f: rate %.0f", probe, r)
	}
}

// TestAdapterProbeQueuePeaks: a limited rate probes up while every
// period's least delay stays low (frames leave in bursts; the path's
// queue drains between them); a probe whose period shows the queue's
// peaks at 40 ms or more in two reports fails, and goes back to the last
// rate that passed with no such peak, not merely to the rate before it
// (the probe before it showed a peak in one report only: it passed, but
// is no rate known to leave the path's queue empty).
func TestAdapterProbeQueuePeaks(t *testing.T) {
	a := NewAdapter(AdaptConfig{Max: 0})
	now := t0
	a.Update(now, 0, 0)
	// The first limit, from loss with no limit.
	now = now.Add(a.cfg.Period)
	a.Observe(100, 30)
	a.Update(now, 100000, 0)
	// Its settling periods and the hold after it, clean.
	period := func(peaks []time.Duration) (float64, bool) {
		now = now.Add(a.cfg.Period)
		a.Observe(40, 0)
		a.ObserveDelay(time.Millisecond) // the least: no standing queue
		for _, d := range peaks {
			a.ObserveDelay(d)
		}
		return a.Update(now, a.Rate(), 0)
	}
	var r float64
	for i := 0; i < 20 && a.raised.IsZero(); i++ {
		r, _ = period([]time.Duration{5 * time.Millisecond})
	}
	if a.raised.IsZero() {
		t.Fatalf("no probe after 20 clean periods: rate %.0f", a.Rate())
	}
	good := a.before // passed with no peak
	// This probe's period shows one peak: it passes (no longer a rate
	// known to leave the queue empty) and rises again.
	r1, changed := period([]time.Duration{45 * time.Millisecond})
	if !changed || r1 <= r {
		t.Fatalf("a probe with one report of a 45 ms queue: rate %.0f → %.0f, want a rise", r, r1)
	}
	// The one after shows two: it fails, back to the rate that passed
	// with no peak.
	r2, changed := period([]time.Duration{45 * time.Millisecond, 50 * time.Millisecond})
	if !changed || r2 != good {
		t.Fatalf("a probe with two reports of a 45–50 ms queue (least 1 ms): rate %.0f → %.0f, want back to %.0f (the last that passed with no peak; %.0f before the probe)", r1, r2, good, r)
	}
}

// TestAdapterNoRiseOnLoss: loss under heavyLoss that no report of the
// period saw a queue with (the delay of the packets that arrived stayed
// under DelayLow) does not lower a limited rate, but is no clean period
// either: the rate does not rise on it; in a second period in a row it
// lowers the rate. Heavy loss lowers it whatever the
// delays: the namespace test's throttled client lost 25 of 106 packets
// with the most delay 18.5 ms (its rate then rose by 6 %), and 24 % with
// no delay at all where its path's least transit had been learned through
// a full queue (a standing queue then looks like none).
func TestAdapterNoRiseOnLoss(t *testing.T) {
	for _, c := range []struct {
		lost  uint64
		lower bool
	}{{5, false}, {25, true}} {
		a := NewAdapter(AdaptConfig{})
		now := t0
		a.Update(now, 0, 0)
		now = now.Add(a.cfg.Period)
		a.Observe(100, 30)
		a.Update(now, 100000, 60000)
		r := a.Rate()
		for now.Add(a.cfg.Period).Before(a.holdUntil) { // the settling periods and the hold, clean
			now = now.Add(a.cfg.Period)
			a.Observe(40, 0)
			a.ObserveDelay(time.Millisecond)
			if r2, _ := a.Update(now, r, 0); r2 != r {
				t.Fatalf("rate %.0f → %.0f within the hold", r, r2)
			}
		}
		now = now.Add(a.cfg.Period)
		a.Observe(106, c.lost)
		a.ObserveDelay(0)
		a.ObserveDelay(18500 * time.Microsecond)
		r2, _ := a.Update(now, r, 0)
		if c.lower && r2 >= r {
			t.Errorf("%d of 106 lost, no queue seen: rate %.0f → %.0f, want it lowered", c.lost, r, r2)
		}
		if !c.lower && r2 != r {
			t.Errorf("%d of 106 lost, no queue seen: rate %.0f → %.0f, want it held", c.lost, r, r2)
		}
		if c.lower {
			continue
		}
		// The same again in the next period: a queue that never drains
		// (a limit a little over the path's, its least transit learned
		// through the full queue) looks like none; the rate comes down.
		now = now.Add(a.cfg.Period)
		a.Observe(106, c.lost)
		a.ObserveDelay(0)
		a.ObserveDelay(18500 * time.Microsecond)
		if r3, _ := a.Update(now, r, 0); r3 >= r {
			t.Errorf("%d of 106 lost in two periods in a row, no queue seen: rate %.0f → %.0f, want it lowered", c.lost, r, r3)
		}
	}
}

// TestClientDelivered: what a client's path delivered, from its RECEIPTs:
// bytes and datagrams (with the link overhead) over its own clock's span
// of about the last period; nothing from a single RECEIPT, stale ones,
// too short a span, or counts that went back; the clock may wrap.
func TestClientDelivered(t *testing.T) {
	const period = 500 * time.Millisecond
	rcpt := func(c *client, bytes uint64, dgrams, clock uint32, at time.Time) {
		c.noteReceipt(gwire.Control{Type: gwire.Receipt, Bytes: bytes, Datagrams: dgrams, Clock: clock}, at)
	}
	c := &client{}
	if _, ok := c.delivered(t0, period, 42); ok {
		t.Fatal("a rate from no RECEIPT")
	}
	start := uint32(0xffffffff - 250000) // the clock wraps in the middle
	for i := range 10 {
		rcpt(c, uint64(i)*5800, uint32(i)*10, start+uint32(i)*100000, t0.Add(time.Duration(i)*100*time.Millisecond))
	}
	// The last five 100 ms steps: 29 000 bytes and 50 datagrams in 0.5 s.
	now := t0.Add(950 * time.Millisecond)
	want := (29000 + 42*50) / 0.5
	if r, ok := c.delivered(now, period, 42); !ok || r != want {
		t.Fatalf("delivered %.0f, %v; want %.0f", r, ok, want)
	}
	if _, ok := c.delivered(t0.Add(1500*time.Millisecond), period, 42); ok {
		t.Fatal("a rate from RECEIPTs older than a period")
	}
	// The client started again: its counts went back.
	rcpt(c, 100, 1, start+1000000, t0.Add(time.Second))
	if r, ok := c.delivered(t0.Add(time.Second), period, 42); ok {
		t.Fatalf("a rate of %.0f across counts that went back", r)
	}
	// Two RECEIPTs 50 ms apart: too short a span to judge.
	d := &client{}
	rcpt(d, 0, 0, 0, t0)
	rcpt(d, 5000, 4, 50000, t0.Add(50*time.Millisecond))
	if _, ok := d.delivered(t0.Add(60*time.Millisecond), period, 42); ok {
		t.Fatal("a rate from a span of 50 ms")
	}
}
