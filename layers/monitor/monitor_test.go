package monitor_test

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/layers/monitor"
	_ "github.com/rwanda-go/rwanda/layers/window"
	"github.com/rwanda-go/rwanda/registry"
	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/stack/stacktest"
)

func mustNew(t testing.TB, cfg monitor.Config) *monitor.Layer {
	t.Helper()
	l, err := monitor.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// pair is a sender stack A and a receiver stack B, each with one monitor.
func pair(t *testing.T, cfg monitor.Config) (*stacktest.Pair, *monitor.Layer, *monitor.Layer) {
	t.Helper()
	a, b := mustNew(t, cfg), mustNew(t, cfg)
	p, err := stacktest.NewPair(t, []stack.Layer{a}, []stack.Layer{b}, stacktest.PairConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return p, a, b
}

func counters(s *stack.Stack) map[string]uint64 {
	for _, ls := range s.Stats().Layers {
		if ls.Name == "monitor" {
			return ls.Counters
		}
	}
	return nil
}

// deliver delivers the packets queued A→B in the given order, numbered
// by their place in the queue when called.
func deliver(t *testing.T, p *stacktest.Pair, order ...int) {
	t.Helper()
	left := make([]int, p.Link.Pending(stacktest.AtoB))
	for i := range left {
		left[i] = i
	}
	for _, want := range order {
		i := slices.Index(left, want)
		if i < 0 || !p.Link.DeliverAt(stacktest.AtoB, i) {
			t.Fatalf("packet %d is not queued", want)
		}
		left = slices.Delete(left, i, i+1)
	}
}

// TestRateOverLastK: the rate and packet rate are those of the last k
// arrivals, exactly, at the receiver and (as sent) at the sender, and a
// silence makes them decay.
func TestRateOverLastK(t *testing.T) {
	cfg := monitor.DefaultConfig()
	cfg.K = 8
	p, a, b := pair(t, cfg)
	payload := make([]byte, 1000)
	// 12 packets 5ms apart, then 8 packets 10ms apart: the last 8 span
	// 70ms with 7000 bytes after the first of them.
	for i := range 20 {
		if i > 0 {
			gap := 5 * time.Millisecond
			if i >= 12 {
				gap = 10 * time.Millisecond
			}
			p.Clock.Advance(gap)
		}
		p.Send(payload, stack.Meta{})
		p.Link.Flush()
	}
	rr := b.Report()
	if rr.Rate != 100_000 || rr.PacketRate != 100 || rr.Packets != 20 || rr.Bytes != 20_000 {
		t.Fatalf("receiver: rate %v B/s, %v pkt/s, %d packets, %d bytes; want 100000, 100, 20, 20000", rr.Rate, rr.PacketRate, rr.Packets, rr.Bytes)
	}
	sr := a.Report()
	if sr.SendRate != 100_000 || sr.SendPacketRate != 100 || sr.Packets != 20 {
		t.Fatalf("sender: %v B/s, %v pkt/s, %d packets", sr.SendRate, sr.SendPacketRate, sr.Packets)
	}
	c := counters(p.B)
	if c["rate-Bps"] != 100_000 || c["pps"] != 100 || c["packets"] != 20 || c["bytes"] != 20_000 {
		t.Fatalf("receiver counters %v", c)
	}
	if got := p.GotB.Take(); len(got) != 20 || len(got[0].Bytes) != 1000 {
		t.Fatalf("delivered %d", len(got))
	}
	// 100ms of silence: the window runs to now less one mean gap (10ms).
	p.Clock.Advance(100 * time.Millisecond)
	if r := b.Report(); r.Rate != 7000/0.160 {
		t.Fatalf("after 100ms of silence the rate is %v, want %v", r.Rate, 7000/0.160)
	}
}

// TestLossCountedExactly: packets the link drops are counted lost, once
// the reorder allowance has passed them, at the receiver and, through its
// report, at the sender; recent loss is over the last k numbers.
func TestLossCountedExactly(t *testing.T) {
	p, a, b := pair(t, monitor.DefaultConfig())
	dropped := map[int]bool{5: true, 17: true, 18: true, 40: true}
	p.Link.SetFilter(func(d stacktest.Direction, n int, _ []byte) int {
		if d == stacktest.AtoB && dropped[n] {
			return 0
		}
		return 1
	})
	for range 100 {
		p.Send([]byte("x"), stack.Meta{})
		p.Link.Flush()
		p.Clock.Advance(time.Millisecond)
	}
	r := b.Report()
	// Numbers 0..96 are settled (97..99 are within the allowance of 3);
	// of the last 64 settled (33..96), 40 is lost.
	if r.Lost != 4 || r.Expected != 97 || r.Loss != 1.0/64 {
		t.Fatalf("receiver: lost %d of %d, recent loss %v; want 4 of 97, 1/64", r.Lost, r.Expected, r.Loss)
	}
	if c := counters(p.B); c["lost"] != 4 || c["expected"] != 97 || c["loss-ppm"] != 15625 {
		t.Fatalf("counters %v", c)
	}
	p.Clock.Advance(time.Second)
	p.Link.Flush()
	s := a.Report()
	if s.Receivers != 1 || s.Lost != 4 || s.Expected != 97 || s.Loss != 1.0/64 || s.Median.Loss != 1.0/64 {
		t.Fatalf("sender: %+v", s)
	}
	m, ok := p.A.Measure()
	if !ok || m.Loss != 1.0/64 || m.Receivers != 1 || m.Packets != 100 {
		t.Fatalf("Measure %+v, %v", m, ok)
	}
}

// TestReorderWithinAllowance: packets reordered within the allowance are
// not lost; one that arrives after being counted lost is counted back.
func TestReorderWithinAllowance(t *testing.T) {
	p, _, b := pair(t, monitor.DefaultConfig())
	for range 10 {
		p.Send([]byte("r"), stack.Meta{})
	}
	deliver(t, p, 0, 2, 1, 3, 6, 4, 5, 9, 7, 8)
	if r := b.Report(); r.Lost != 0 || r.Late != 0 || r.Expected != 7 || r.Loss != 0 {
		t.Fatalf("reordered within the allowance: %+v", r)
	}
	for range 13 { // numbers 10..22
		p.Send([]byte("r"), stack.Meta{})
	}
	deliver(t, p, 0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12) // all but 14
	if r := b.Report(); r.Lost != 1 || r.Expected != 20 {
		t.Fatalf("14 missing with 22 in: lost %d of %d", r.Lost, r.Expected)
	}
	p.Link.Flush() // 14, late
	if r := b.Report(); r.Lost != 0 || r.Late != 1 || r.Loss != 0 {
		t.Fatalf("after 14 came late: %+v", r)
	}
	// A duplicate is not a packet more.
	p.Send([]byte("d"), stack.Meta{})
	q := p.Link.Queued(stacktest.AtoB)[0]
	p.Link.Flush()
	p.B.Up(p.Pool.FromBytes(0, q))
	if r := b.Report(); r.Duplicates != 1 || r.Lost != 0 {
		t.Fatalf("duplicate: %+v", r)
	}
}

// TestJitterZeroWhenPaced: a perfectly paced stream over a constant delay
// has no jitter, whatever the delay (the clocks need not agree).
func TestJitterZeroWhenPaced(t *testing.T) {
	p, _, b := pair(t, monitor.DefaultConfig())
	for range 50 {
		p.Send(make([]byte, 100), stack.Meta{})
		p.Clock.Advance(3 * time.Millisecond)
		p.Link.Flush()
		p.Clock.Advance(7 * time.Millisecond)
	}
	if r := b.Report(); r.Jitter != 0 || r.Packets != 50 {
		t.Fatalf("jitter %v over %d packets, want 0", r.Jitter, r.Packets)
	}
}

// TestJitterScripted: delays alternating 0 and 4ms give |D| = 4ms for
// every packet after the first, and the jitter follows RFC 3550's
// J += (|D| − J)/16.
func TestJitterScripted(t *testing.T) {
	p, a, b := pair(t, monitor.DefaultConfig())
	want := 0.0 // µs
	for i := range 40 {
		d := time.Duration(i%2) * 4 * time.Millisecond
		p.Send(make([]byte, 100), stack.Meta{})
		p.Clock.Advance(d)
		p.Link.Step(stacktest.AtoB)
		p.Clock.Advance(10*time.Millisecond - d)
		if i > 0 {
			want += (4000 - want) / 16
		}
	}
	got := b.Report().Jitter
	if math.Abs(float64(got)/1e3-want) > 1 {
		t.Fatalf("jitter %v, want %.3fµs", got, want)
	}
	// The sender learns it (to the microsecond) from the report.
	p.Clock.Advance(time.Second)
	p.Link.Flush()
	if s := a.Report(); s.Jitter != time.Duration(math.Round(want))*time.Microsecond {
		t.Fatalf("sender's jitter %v, want %.0fµs", s.Jitter, want)
	}
}

// TestRTT: the RTT is the sum of the scripted delays each way, whatever
// the receiver held the echoed timestamp for.
func TestRTT(t *testing.T) {
	p, a, _ := pair(t, monitor.DefaultConfig())
	const there, back = 7 * time.Millisecond, 12 * time.Millisecond
	p.Send([]byte("ping"), stack.Meta{})
	p.Clock.Advance(there)
	p.Link.Step(stacktest.AtoB)
	// A second packet arrives 300ms later: it is the one echoed.
	p.Clock.Advance(300*time.Millisecond - there)
	p.Send([]byte("ping"), stack.Meta{})
	p.Clock.Advance(there)
	p.Link.Step(stacktest.AtoB)
	p.Clock.Advance(time.Second - 300*time.Millisecond) // the receiver's report goes out
	if n := p.Link.Pending(stacktest.BtoA); n != 1 {
		t.Fatalf("%d reports queued after a second", n)
	}
	p.Clock.Advance(back)
	p.Link.Step(stacktest.BtoA)
	r := a.Report()
	if r.RTT != there+back || r.Median.RTT != there+back {
		t.Fatalf("RTT %v (median %v), want %v", r.RTT, r.Median.RTT, there+back)
	}
	if c := counters(p.A); c["rtt-us"] != uint64((there+back)/time.Microsecond) || c["reports"] != 1 || c["receivers"] != 1 {
		t.Fatalf("sender counters %v", c)
	}
	if rcv := a.Receivers(); len(rcv) != 1 || rcv[0].RTT != there+back || rcv[0].Highest != 1 {
		t.Fatalf("receivers %+v", rcv)
	}
}

// TestReportEvents: each side emits a monitor-report event each period
// while the flow is active, and stops when it is idle.
func TestReportEvents(t *testing.T) {
	p, _, _ := pair(t, monitor.DefaultConfig())
	for range 300 { // 3s at 100 packets/s
		p.Send(make([]byte, 500), stack.Meta{})
		p.Link.Flush()
		p.Clock.Advance(10 * time.Millisecond)
	}
	p.Link.Flush()
	evB, evA := p.EventsB.Take(), p.EventsA.Take()
	if len(evB) != 3 || len(evA) != 3 {
		t.Fatalf("%d receiver and %d sender events in 3s, want 3 each", len(evB), len(evA))
	}
	for _, e := range evB {
		if e.Kind != monitor.EventKind || e.Layer != "monitor" || !strings.Contains(e.Detail, "rate=50000B/s") || !strings.Contains(e.Detail, "loss=0.00%") {
			t.Fatalf("receiver event %+v", e)
		}
	}
	for _, e := range evA {
		if e.Kind != monitor.EventKind || e.Layer != "monitor" || !strings.Contains(e.Detail, "sent=50000B/s") {
			t.Fatalf("sender event %+v", e)
		}
	}
	// The sender's first tick comes before the first report.
	if d := evA[2].Detail; !strings.Contains(d, "rate=50000B/s") || !strings.Contains(d, "rtt=0s") || !strings.Contains(d, "receivers=1") {
		t.Fatalf("sender event %q", d)
	}
	if d := evB[2].Detail; !strings.Contains(d, "pps=100.0") || !strings.Contains(d, "lost=0/") {
		t.Fatalf("receiver event %q", d)
	}
	p.Clock.Advance(10 * time.Second)
	p.Link.Flush()
	p.EventsA.Take()
	p.EventsB.Take()
	p.Clock.Advance(time.Minute)
	p.Link.Flush()
	if ea, eb := p.EventsA.Take(), p.EventsB.Take(); len(ea)+len(eb) != 0 || p.Clock.Pending() != 0 {
		t.Fatalf("idle: %d and %d events, %d timers", len(ea), len(eb), p.Clock.Pending())
	}
}

// TestMulticastReceivers: a sender keeps each receiver's figures (by
// Meta.Peer) and shows the worst and the median; receivers ignore the
// reports they overhear.
func TestMulticastReceivers(t *testing.T) {
	g, err := stacktest.NewGroup(t, 3, func() []stack.Layer { return []stack.Layer{mustNew(t, monitor.DefaultConfig())} }, stacktest.GroupConfig{})
	if err != nil {
		t.Fatal(err)
	}
	drops := []func(n int) bool{
		func(int) bool { return false },
		func(n int) bool { return n%10 == 5 },
		func(n int) bool { return n%5 == 2 },
	}
	for i, drop := range drops {
		g.SetFilter(i, func(_ stacktest.Direction, n int, _ []byte) int {
			if drop(n) {
				return 0
			}
			return 1
		})
	}
	for range 200 {
		pk := g.Sender.NewPacket(10)
		pk.Append(make([]byte, 10))
		g.Sender.Down(pk)
		g.Flush()
		g.Clock.Advance(time.Millisecond)
	}
	g.Clock.Advance(time.Second)
	g.Flush()
	// Each receiver has settled 0..196; the last 64 are 133..196.
	recent := func(drop func(int) bool) (lost, total uint64, frac float64) {
		var r uint64
		for n := range 197 {
			if drop(n) {
				total++
				if n >= 133 {
					r++
				}
			}
		}
		return total, 197, float64(r) / 64
	}
	mon := g.Sender.Layers()[0].(*monitor.Layer)
	rep := mon.Report()
	lost2, exp2, worst := recent(drops[2])
	_, _, mid := recent(drops[1])
	if rep.Receivers != 3 || rep.Loss != worst || rep.Median.Loss != mid || rep.Lost != lost2 || rep.Expected != exp2 {
		t.Fatalf("sender report %+v; want loss %v (median %v), lost %d of %d", rep, worst, mid, lost2, exp2)
	}
	rcv := mon.Receivers()
	if len(rcv) != 3 || rcv[0].Peer != 2 || rcv[0].Loss != 0 || rcv[2].Peer != 4 || rcv[2].Loss != worst {
		t.Fatalf("receivers %+v", rcv)
	}
	for i, r := range g.Receivers {
		if c := counters(r); c["overheard"] != 2 || c["reports"] != 1 {
			t.Fatalf("receiver %d counters %v", i, c)
		}
	}
}

// TestControlPassesUnstamped: other layers' control packets are not
// stamped nor counted, and what a receiver's stack sends down reaches the
// sender's top intact.
func TestControlPassesUnstamped(t *testing.T) {
	p, a, b := pair(t, monitor.DefaultConfig())
	p.Send([]byte("ack"), stack.Meta{Flags: stack.FlagControl})
	if q := p.Link.Queued(stacktest.AtoB); len(q) != 1 || string(q[0]) != "Pack" {
		t.Fatalf("control packet on the wire: %q", q)
	}
	p.Link.Flush()
	if got := p.GotB.Take(); len(got) != 1 || string(got[0].Bytes) != "ack" {
		t.Fatalf("delivered %v", got)
	}
	pk := p.B.NewPacket(3)
	pk.Append([]byte("nak"))
	pk.Meta.Flags = stack.FlagControl
	p.B.Down(pk)
	pk = p.B.NewPacket(4)
	pk.Append([]byte("data"))
	p.B.Down(pk) // a receiver's stack stamps nothing
	p.Link.Flush()
	if got := p.GotA.Take(); len(got) != 2 || string(got[0].Bytes) != "nak" || string(got[1].Bytes) != "data" {
		t.Fatalf("delivered at A: %v", got)
	}
	if a.Report().Packets != 0 || b.Report().Packets != 0 {
		t.Fatal("control packets counted as data")
	}
	// Skip markers pass up untouched, and unknown kinds are dropped.
	p.B.Up(stack.NewSkip(p.Pool, 3, 1))
	p.B.Up(p.Pool.FromBytes(0, []byte("Xyz")))
	p.B.Up(p.Pool.FromBytes(0, nil))
	if st := p.B.Stats(); st.Layers[0].Drops["malformed"] != 2 {
		t.Fatalf("drops %v", st.Layers[0].Drops)
	}
}

// TestAboveWindow: above a sequencing layer, receivers measure but send
// no reports, which the window would take for data.
func TestAboveWindow(t *testing.T) {
	build := func() []stack.Layer {
		ls, err := registry.Build("monitor/window(mode=besteffort)", registry.Env{})
		if err != nil {
			t.Fatal(err)
		}
		return ls
	}
	p, err := stacktest.NewPair(t, build(), build(), stacktest.PairConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		p.Send([]byte("w"), stack.Meta{})
		p.Link.Flush()
		p.Clock.Advance(100 * time.Millisecond)
	}
	p.Clock.Advance(5 * time.Second)
	p.Link.Flush()
	a, b := p.A.Layers()[0].(*monitor.Layer), p.B.Layers()[0].(*monitor.Layer)
	if r := b.Report(); r.Packets != 10 || r.Reports != 0 {
		t.Fatalf("receiver %+v", r)
	}
	if r := a.Report(); r.Reports != 0 || r.Receivers != 0 || r.Packets != 10 {
		t.Fatalf("sender %+v", r)
	}
	if ev := p.EventsB.Take(); len(ev) == 0 {
		t.Fatal("no events without reports")
	}
}

func TestRegistry(t *testing.T) {
	ls, err := registry.Build("monitor(k=16,report=250ms,reorder=0,receivers=8)", registry.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if c := ls[0].(*monitor.Layer).Config(); c != (monitor.Config{K: 16, Report: 250 * time.Millisecond, Reorder: 0, Receivers: 8}) {
		t.Fatalf("config %+v", c)
	}
	ls, err = registry.Build("monitor", registry.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if c := ls[0].(*monitor.Layer).Config(); c != monitor.DefaultConfig() {
		t.Fatalf("defaults %+v", c)
	}
	for _, bad := range []string{"monitor(k=1)", "monitor(k=5000)", "monitor(report=-1s)", "monitor(report=10us)",
		"monitor(reorder=-1)", "monitor(reorder=2000)", "monitor(receivers=0)", "monitor(window=3)"} {
		if _, err := registry.Build(bad, registry.Env{}); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}
