package ratelimit_test

import (
	"math"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/layers/ratelimit"
	"github.com/rwanda-go/rwanda/registry"
	"github.com/rwanda-go/rwanda/stack"
)

// departure is one packet that left the bottom of the stack.
type departure struct {
	at      time.Time
	n       int
	control bool
}

// rig is one stack holding a ratelimit layer on a manual clock, whose wire
// records what leaves and when.
type rig struct {
	t      *testing.T
	l      *ratelimit.Layer
	s      *stack.Stack
	clock  *stack.ManualClock
	pool   *stack.Pool
	out    []departure
	events []stack.Event
}

func newRig(t *testing.T, cfg ratelimit.Config) *rig {
	t.Helper()
	l, err := ratelimit.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, l: l, clock: stack.NewManualClock(time.Time{}), pool: stack.NewPool()}
	r.s, err = stack.New(stack.Config{
		Layers: []stack.Layer{l}, MTU: 1500, Clock: r.clock, Pool: r.pool,
		Wire: stack.HandlerFunc(func(p *stack.Packet) error {
			r.out = append(r.out, departure{r.clock.Now(), p.Len(), p.Meta.Flags&stack.FlagControl != 0})
			p.Release()
			return nil
		}),
		Deliver: stack.HandlerFunc(func(p *stack.Packet) error { p.Release(); return nil }),
		Events:  func(e stack.Event) { r.events = append(r.events, e) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.s.Close()
		if n := r.pool.Outstanding(); n != 0 {
			t.Errorf("%d packets not released", n)
		}
	})
	return r
}

// send pushes a data packet of n bytes with the given metadata.
func (r *rig) send(n int, meta stack.Meta) {
	r.t.Helper()
	p := r.s.NewPacket(n)
	p.Append(make([]byte, n))
	p.Meta = meta
	if err := r.s.Down(p); err != nil {
		r.t.Fatalf("Down: %v", err)
	}
}

func (r *rig) counters() map[string]uint64 {
	for _, ls := range r.s.Stats().Layers {
		if ls.Name == "ratelimit" {
			return ls.Counters
		}
	}
	return nil
}

func (r *rig) bytesOut() int {
	n := 0
	for _, d := range r.out {
		n += d.n
	}
	return n
}

// saturate offers far more than the rate for the given span, in 1 ms
// steps, as a channel would: packets of size bytes while the stack
// reports room.
func (r *rig) saturate(span time.Duration, size int) {
	for step := time.Duration(0); step < span; step += time.Millisecond {
		for r.s.Room() > 0 {
			r.send(size, stack.Meta{})
		}
		r.clock.Advance(time.Millisecond)
	}
}

// TestRateHeldOverTenSeconds: the token bucket holds a configured rate
// within 5% over 10 s of injected clock, for several rates and bucket
// sizes, with the offered load far above the rate.
func TestRateHeldOverTenSeconds(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  ratelimit.Config
		size int
	}{
		{"1MB", ratelimit.Config{Rate: 1e6}, 1200},
		{"2MiB-small-bucket", ratelimit.Config{Rate: 2 << 20, Bucket: 3000}, 1400},
		{"100kB", ratelimit.Config{Rate: 100e3, Bucket: 20e3}, 500},
		{"5MB-big-packets-small-bucket", ratelimit.Config{Rate: 5e6, Bucket: 1000}, 1500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, tc.cfg)
			const span = 10 * time.Second
			r.saturate(span, tc.size)
			cfg := r.l.Config()
			allowed := float64(cfg.Rate)*span.Seconds() + float64(cfg.Bucket)
			got := float64(r.bytesOut())
			if math.Abs(got-allowed) > 0.05*allowed {
				t.Fatalf("%.0f bytes out in %v, want %.0f ± 5%% (rate %d B/s, bucket %d)", got, span, allowed, cfg.Rate, cfg.Bucket)
			}
			// Never more than rate×T + bucket + one packet over any prefix.
			sum := 0
			for _, d := range r.out {
				sum += d.n
				el := d.at.Sub(stack.ManualEpoch).Seconds()
				if limit := float64(cfg.Rate)*el + float64(cfg.Bucket) + float64(tc.size); float64(sum) > limit+1 {
					t.Fatalf("%d bytes out by %v: over rate×t + bucket + packet = %.0f", sum, d.at.Sub(stack.ManualEpoch), limit)
				}
			}
			c := r.counters()
			if c["delayed"] == 0 || c["passed"] == 0 || c["bytes"] != uint64(r.bytesOut()) {
				t.Fatalf("counters %v, %d bytes out", c, r.bytesOut())
			}
			t.Logf("%.0f bytes out, %.2f%% of rate×T + bucket; counters %v", got, 100*got/allowed, c)
		})
	}
}

// TestPeakRateSpacing: with a peak rate, consecutive packets leave at
// least len/peak apart (len of the earlier one), and the long-run rate
// still holds.
func TestPeakRateSpacing(t *testing.T) {
	const rate, peak = 1e6, 4e6
	r := newRig(t, ratelimit.Config{Rate: rate, Bucket: 100e3, Peak: peak})
	r.saturate(10*time.Second, 1000)
	if len(r.out) < 100 {
		t.Fatalf("only %d packets out", len(r.out))
	}
	for i := 1; i < len(r.out); i++ {
		gap := r.out[i].at.Sub(r.out[i-1].at)
		want := time.Duration(float64(r.out[i-1].n) / peak * 1e9)
		if gap < want {
			t.Fatalf("packets %d and %d left %v apart; the peak rate wants at least %v", i-1, i, gap, want)
		}
	}
	// At first the full bucket drains at the peak rate: 1000-byte packets
	// every 250µs, not all at once.
	if gap := r.out[1].at.Sub(r.out[0].at); gap != 250*time.Microsecond {
		t.Fatalf("first gap %v, want 250µs", gap)
	}
	allowed := rate*10 + 100e3
	if got := float64(r.bytesOut()); math.Abs(got-allowed) > 0.05*allowed {
		t.Fatalf("%.0f bytes out, want %.0f ± 5%%", got, allowed)
	}
}

// TestBurstUpToBucket: a burst up to the bucket passes at once; the packet
// after it waits for its tokens, and leaves exactly when they are there.
func TestBurstUpToBucket(t *testing.T) {
	r := newRig(t, ratelimit.Config{Rate: 1e6, Bucket: 10_000})
	for range 10 {
		r.send(1000, stack.Meta{})
	}
	if len(r.out) != 10 {
		t.Fatalf("%d of 10 packets within the bucket passed at once", len(r.out))
	}
	r.send(1000, stack.Meta{})
	r.send(500, stack.Meta{})
	if len(r.out) != 10 || r.l.Pending() != 2 {
		t.Fatalf("packets beyond the bucket: %d out, %d pending", len(r.out), r.l.Pending())
	}
	r.clock.Advance(999 * time.Microsecond)
	if len(r.out) != 10 {
		t.Fatal("the 11th packet left before its tokens were there")
	}
	r.clock.Advance(time.Microsecond)
	if len(r.out) != 11 || r.out[10].at.Sub(stack.ManualEpoch) != time.Millisecond {
		t.Fatalf("after 1ms: %d out", len(r.out))
	}
	r.clock.Advance(500 * time.Microsecond)
	if len(r.out) != 12 || r.out[11].at.Sub(stack.ManualEpoch) != 1500*time.Microsecond {
		t.Fatalf("after 1.5ms: %d out", len(r.out))
	}
	c := r.counters()
	if c["passed"] != 10 || c["delayed"] != 2 || c["bytes"] != 11_500 || c["queued"] != 0 {
		t.Fatalf("counters %v", c)
	}
	// After idling the bucket is full again, and no fuller.
	r.clock.Advance(time.Hour)
	r.out = nil
	for range 12 {
		r.send(1000, stack.Meta{})
	}
	if len(r.out) != 10 {
		t.Fatalf("after an hour idle, %d packets passed at once, want 10 (the bucket)", len(r.out))
	}
}

// TestLargerThanBucket: a packet larger than the bucket leaves when the
// bucket is full, and the debt it leaves delays what follows.
func TestLargerThanBucket(t *testing.T) {
	r := newRig(t, ratelimit.Config{Rate: 1e6, Bucket: 500})
	r.send(1400, stack.Meta{})
	r.send(100, stack.Meta{})
	if len(r.out) != 1 {
		t.Fatalf("%d out: a full bucket lets one large packet through", len(r.out))
	}
	// Debt 900, then 100 more: 1000 bytes at 1 MB/s.
	r.clock.Advance(time.Millisecond)
	if len(r.out) != 2 || r.out[1].at.Sub(stack.ManualEpoch) != time.Millisecond {
		t.Fatalf("second packet: %+v", r.out)
	}
}

// TestThinning: obsolete postings are thinned and counted: already expired
// on arrival, unable to leave before their deadline when queued, and
// pushed past their deadline while queued.
func TestThinning(t *testing.T) {
	r := newRig(t, ratelimit.Config{Rate: 100e3, Bucket: 1000}) // 1000 bytes every 10ms
	now := r.clock.Now()
	r.send(1000, stack.Meta{}) // empties the bucket
	r.send(100, stack.Meta{Deadline: now.Add(-time.Millisecond)})
	if c := r.counters(); c["thinned"] != 1 || len(r.out) != 1 {
		t.Fatalf("expired on arrival: counters %v, %d out", c, len(r.out))
	}
	r.send(1000, stack.Meta{Deadline: now.Add(5 * time.Millisecond)}) // could leave at 10ms only
	if c := r.counters(); c["thinned"] != 2 || r.l.Pending() != 0 {
		t.Fatalf("cannot be met: counters %v, %d pending", c, r.l.Pending())
	}
	r.send(1000, stack.Meta{Deadline: now.Add(10 * time.Millisecond)}) // leaves at 10ms exactly
	r.send(1000, stack.Meta{Deadline: now.Add(25 * time.Millisecond)}) // 20ms, but pushed back below
	r.send(1000, stack.Meta{})                                         // no deadline: always goes
	if r.l.Pending() != 3 {
		t.Fatalf("%d pending, want 3", r.l.Pending())
	}
	r.clock.Advance(10 * time.Millisecond)
	if len(r.out) != 2 {
		t.Fatalf("%d out at 10ms, want 2", len(r.out))
	}
	// A control packet takes 1000 tokens: the second one would now leave
	// at 30ms, after its deadline.
	c := r.s.NewPacket(1000)
	c.Append(make([]byte, 1000))
	c.Meta.Flags = stack.FlagControl
	r.s.Down(c)
	if len(r.out) != 3 || !r.out[2].control {
		t.Fatal("control packet delayed")
	}
	r.clock.Advance(time.Second)
	got := r.counters()
	if got["thinned"] != 3 || got["delayed"] != 3 || got["control"] != 1 || len(r.out) != 4 {
		t.Fatalf("counters %v, %d out", got, len(r.out))
	}
	if at := r.out[3].at.Sub(now); at != 30*time.Millisecond {
		t.Fatalf("the packet without a deadline left at %v, want 30ms (thinning takes no tokens)", at)
	}
}

// TestControlNeverDelayed: control packets pass at once even with data
// queued and the bucket empty, and their debt is bounded by one bucket.
func TestControlNeverDelayed(t *testing.T) {
	r := newRig(t, ratelimit.Config{Rate: 100e3, Bucket: 1000, Peak: 200e3})
	r.send(1000, stack.Meta{})
	r.send(1000, stack.Meta{})
	for range 50 {
		c := r.s.NewPacket(500)
		c.Append(make([]byte, 500))
		c.Meta.Flags = stack.FlagControl
		r.s.Down(c)
	}
	skip := stack.NewSkip(r.pool, 1, 2)
	r.s.Down(skip)
	if len(r.out) != 52 || r.l.Pending() != 1 {
		t.Fatalf("%d out, %d pending", len(r.out), r.l.Pending())
	}
	// 25000 bytes of control, but the debt stops at one bucket: the data
	// packet waits for 2000 tokens, 20ms.
	r.clock.Advance(20 * time.Millisecond)
	if len(r.out) != 53 || r.out[52].control {
		t.Fatalf("data after a control storm: %d out", len(r.out))
	}
}

// TestRoomAndBackpressure: Room counts down as the queue fills, and a
// "room" event follows once it drains below half.
func TestRoomAndBackpressure(t *testing.T) {
	r := newRig(t, ratelimit.Config{Rate: 1e6, Bucket: 1000, Queue: 10_000})
	if room := r.s.Room(); room != 10_000 {
		t.Fatalf("room %d, want 10000", room)
	}
	r.send(1000, stack.Meta{})
	for r.s.Room() > 0 {
		r.send(1000, stack.Meta{})
	}
	if r.l.Pending() != 10 {
		t.Fatalf("%d pending at no room", r.l.Pending())
	}
	r.clock.Advance(5 * time.Millisecond)
	if len(r.events) != 0 {
		t.Fatalf("room event before the queue drained below half: %v", r.events)
	}
	r.clock.Advance(time.Millisecond)
	if len(r.events) != 1 || r.events[0].Kind != "room" || r.events[0].Layer != "ratelimit" {
		t.Fatalf("events %v", r.events)
	}
	if room := r.s.Room(); room != 6000 {
		t.Fatalf("room %d after draining 6 packets", room)
	}
	r.clock.Advance(time.Second)
	if !r.s.Drained() || r.s.Room() != 10_000 {
		t.Fatalf("after a second: drained %v, room %d", r.s.Drained(), r.s.Room())
	}
}

// TestNoLeaksAfterClose: packets queued when the stack closes are released,
// and the timer is stopped.
func TestNoLeaksAfterClose(t *testing.T) {
	r := newRig(t, ratelimit.Config{Rate: 1000, Bucket: 1000})
	for range 100 {
		r.send(900, stack.Meta{})
	}
	if r.l.Pending() != 99 || r.s.Drained() {
		t.Fatalf("%d pending, drained %v", r.l.Pending(), r.s.Drained())
	}
	if err := r.s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := r.pool.Outstanding(); n != 0 {
		t.Fatalf("%d packets not released after Close", n)
	}
	r.clock.Advance(time.Hour)
	if len(r.out) != 1 {
		t.Fatalf("%d packets left after Close", len(r.out))
	}
}

// TestUpPassesThrough: packets coming up are not touched, nor delayed,
// whatever the bucket holds.
func TestUpPassesThrough(t *testing.T) {
	r := newRig(t, ratelimit.Config{Rate: 1, Bucket: 1})
	for i := range 5 {
		p := r.pool.FromBytes(0, []byte{byte(i), 1, 2, 3})
		if err := r.s.Up(p); err != nil {
			t.Fatal(err)
		}
	}
	if st := r.s.Stats(); st.Delivered != 5 {
		t.Fatalf("%d delivered of 5", st.Delivered)
	}
}

func TestRegistry(t *testing.T) {
	ls, err := registry.Build("ratelimit(rate=2MiB,bucket=64KiB,peak=4MB,queue=1MiB)", registry.Env{})
	if err != nil {
		t.Fatal(err)
	}
	c := ls[0].(*ratelimit.Layer).Config()
	if c != (ratelimit.Config{Rate: 2 << 20, Bucket: 64 << 10, Peak: 4e6, Queue: 1 << 20}) {
		t.Fatalf("config %+v", c)
	}
	ls, err = registry.Build("ratelimit(rate=1MB)", registry.Env{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := stack.New(stack.Config{Layers: ls, MTU: 1500,
		Wire:    stack.HandlerFunc(func(p *stack.Packet) error { p.Release(); return nil }),
		Deliver: stack.HandlerFunc(func(p *stack.Packet) error { p.Release(); return nil })})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if c := ls[0].(*ratelimit.Layer).Config(); c != (ratelimit.Config{Rate: 1e6, Bucket: 100e3, Queue: 500e3}) {
		t.Fatalf("defaults resolved to %+v", c)
	}
	for _, bad := range []string{"ratelimit", "ratelimit(rate=0)", "ratelimit(rate=1MB,peak=500kB)",
		"ratelimit(rate=1MB,bucket=0)", "ratelimit(rate=1MB,queue=0)", "ratelimit(rate=2TiB)", "ratelimit(rate=1MB,burst=1)"} {
		if _, err := registry.Build(bad, registry.Env{}); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}
