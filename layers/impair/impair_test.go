package impair_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/layers/impair"
	"github.com/rwanda-go/rwanda/registry"
	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/stack/stacktest"
)

// record is one packet that left the stack, and when.
type record struct {
	b  []byte
	at time.Time
}

// recorder is a Wire or Deliver handler keeping copies of what it gets.
// The tests run on one goroutine, so it needs no lock.
type recorder struct {
	clock *stack.ManualClock
	got   []record
}

func (r *recorder) Handle(p *stack.Packet) error {
	r.got = append(r.got, record{b: bytes.Clone(p.Bytes()), at: r.clock.Now()})
	p.Release()
	return nil
}

func (r *recorder) take() []record {
	g := r.got
	r.got = nil
	return g
}

// rig is a stack of one impair layer (optionally with others above it) on
// a manual clock, whose wire and top are recorders.
type rig struct {
	t      *testing.T
	s      *stack.Stack
	l      *impair.Layer
	clock  *stack.ManualClock
	pool   *stack.Pool
	wire   *recorder // what left the bottom
	top    *recorder // what left the top
	events []stack.Event
}

func newRig(t *testing.T, cfg impair.Config, above ...stack.Layer) *rig {
	t.Helper()
	l, err := impair.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return newRigLayer(t, l, above...)
}

func newRigLayer(t *testing.T, l *impair.Layer, above ...stack.Layer) *rig {
	t.Helper()
	r := &rig{t: t, l: l, clock: stack.NewManualClock(time.Time{}), pool: stack.NewPool()}
	r.wire, r.top = &recorder{clock: r.clock}, &recorder{clock: r.clock}
	s, err := stack.New(stack.Config{
		Layers: append(above, stack.Layer(l)), Wire: r.wire, Deliver: r.top,
		Clock: r.clock, Pool: r.pool, MTU: 1500,
		Events: func(e stack.Event) { r.events = append(r.events, e) },
	})
	if err != nil {
		t.Fatal(err)
	}
	r.s = s
	t.Cleanup(func() {
		s.Close()
		if n := r.pool.Outstanding(); n != 0 {
			t.Errorf("%d packets not released after Close", n)
		}
	})
	return r
}

// pkt is packet i's payload: its index, then size-8 bytes derived from it.
func pkt(i uint64, size int) []byte {
	b := make([]byte, max(size, 8))
	binary.BigEndian.PutUint64(b, i)
	for j := 8; j < len(b); j++ {
		b[j] = byte(i) ^ byte(j*7)
	}
	return b
}

func index(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

func (r *rig) down(b []byte) error {
	p := r.s.NewPacket(len(b))
	p.Append(b)
	return r.s.Down(p)
}

func (r *rig) up(b []byte) error { return r.s.Up(r.pool.FromBytes(0, b)) }

func (r *rig) counter(name string) uint64 { return r.stats().Counters[name] }

func (r *rig) stats() stack.LayerStats {
	for _, ls := range r.s.Stats().Layers {
		if ls.Name == "impair" {
			return ls
		}
	}
	r.t.Fatal("no impair layer in the stats")
	return stack.LayerStats{}
}

func cfg(f func(*impair.Config)) impair.Config {
	c := impair.DefaultConfig()
	c.Seed = 1
	f(&c)
	return c
}

// lossRun sends n packets down and returns, for each, whether it was lost.
func lossRun(t *testing.T, c impair.Config, n int) []bool {
	t.Helper()
	r := newRig(t, c)
	lost := make([]bool, n)
	for i := range n {
		r.down(pkt(uint64(i), 16))
	}
	for i := range lost {
		lost[i] = true
	}
	for _, g := range r.wire.take() {
		lost[index(g.b)] = false
	}
	drops := 0
	for _, x := range lost {
		if x {
			drops++
		}
	}
	if got := r.stats().Drops[impair.DropLoss]; got != uint64(drops) {
		t.Fatalf("drop stats say %d losses, the wire says %d", got, drops)
	}
	if got := r.counter("dropped"); got != 0 {
		t.Fatalf("losses counted twice: a dropped counter of %d", got)
	}
	return lost
}

// lossStats returns the loss rate and the mean length of runs of losses.
func lossStats(lost []bool) (rate, meanBurst float64) {
	drops, bursts := 0, 0
	for i, x := range lost {
		if x {
			drops++
			if i == 0 || !lost[i-1] {
				bursts++
			}
		}
	}
	return float64(drops) / float64(len(lost)), float64(drops) / float64(max(bursts, 1))
}

func TestLossRate(t *testing.T) {
	const n = 100_000
	rate, mean := lossStats(lossRun(t, cfg(func(c *impair.Config) { c.Loss, c.Seed = 0.10, 42 }), n))
	t.Logf("loss=10%% burst=1: measured rate %.3f%%, mean burst %.3f", 100*rate, mean)
	if math.Abs(rate-0.10) > 0.005 {
		t.Errorf("loss rate %.3f%%, want 10%% ± 0.5", 100*rate)
	}
	// Independent losses: runs average 1/(1-L).
	if want := 1 / 0.9; math.Abs(mean-want) > 0.05*want {
		t.Errorf("mean run %.3f with independent losses, want about %.3f", mean, want)
	}
}

func TestBurstLoss(t *testing.T) {
	const n = 100_000
	for _, burst := range []float64{2, 4, 8} {
		rate, mean := lossStats(lossRun(t, cfg(func(c *impair.Config) { c.Loss, c.Burst, c.Seed = 0.10, burst, 42 }), n))
		t.Logf("loss=10%% burst=%v: measured rate %.3f%%, mean burst %.3f", burst, 100*rate, mean)
		if math.Abs(mean-burst) > 0.1*burst {
			t.Errorf("burst=%v: mean burst %.3f, want within 10%%", burst, mean)
		}
		if math.Abs(rate-0.10) > 0.01 {
			t.Errorf("burst=%v: loss rate %.3f%%, want 10%% ± 1", burst, 100*rate)
		}
	}
}

func TestTransitions(t *testing.T) {
	for _, tc := range []struct{ loss, burst, enter, leave float64 }{
		{0.1, 4, 0.1 / (4 * 0.9), 0.25},
		{0.5, 2, 0.5, 0.5},
		{0.8, 4, 1, 0.25},
		{0, 3, 0, 1.0 / 3},
		{1, 3, 1, 0},
	} {
		c := impair.DefaultConfig()
		c.Loss, c.Burst = tc.loss, tc.burst
		e, l := c.Transitions()
		if math.Abs(e-tc.enter) > 1e-12 || math.Abs(l-tc.leave) > 1e-12 {
			t.Errorf("loss %v burst %v: transitions %v, %v; want %v, %v", tc.loss, tc.burst, e, l, tc.enter, tc.leave)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("loss %v burst %v: %v", tc.loss, tc.burst, err)
		}
	}
	c := impair.DefaultConfig()
	c.Loss, c.Burst = 0.9, 4
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "at least 9") {
		t.Errorf("loss 90%% with burst 4: %v, want an error asking for burst 9", err)
	}
}

func TestLossAll(t *testing.T) {
	for _, burst := range []float64{1, 5} {
		lost := lossRun(t, cfg(func(c *impair.Config) { c.Loss, c.Burst = 1, burst }), 1000)
		if slices.Contains(lost, false) {
			t.Errorf("burst %v: loss=100%% let a packet through", burst)
		}
	}
}

func indices(lost []bool) []int {
	var out []int
	for i, x := range lost {
		if x {
			out = append(out, i)
		}
	}
	return out
}

func TestDeterminism(t *testing.T) {
	for _, burst := range []float64{1, 3} {
		mk := func(seed int64) impair.Config {
			return cfg(func(c *impair.Config) { c.Loss, c.Burst, c.Seed = 0.2, burst, seed })
		}
		a, b := indices(lossRun(t, mk(7), 5000)), indices(lossRun(t, mk(7), 5000))
		if !slices.Equal(a, b) {
			t.Errorf("burst %v: the same seed dropped different packets", burst)
		}
		if c := indices(lossRun(t, mk(8), 5000)); slices.Equal(a, c) {
			t.Errorf("burst %v: seeds 7 and 8 dropped the same packets", burst)
		}
	}
}

// Every impairment at once, twice with one seed: the wire sees the same
// bytes at the same times.
func TestDeterminismAll(t *testing.T) {
	run := func(seed int64) []record {
		r := newRig(t, cfg(func(c *impair.Config) {
			c.Loss, c.Burst, c.Reorder, c.Dup, c.Corrupt = 0.1, 2, 0.2, 0.1, 0.1
			c.Delay, c.Jitter, c.Seed = 5*time.Millisecond, 4*time.Millisecond, seed
		}))
		for i := range 2000 {
			r.down(pkt(uint64(i), 40))
			r.clock.Advance(time.Millisecond)
		}
		r.clock.Advance(time.Second)
		return r.wire.take()
	}
	eq := func(a, b []record) bool {
		return slices.EqualFunc(a, b, func(x, y record) bool { return bytes.Equal(x.b, y.b) && x.at.Equal(y.at) })
	}
	a, b := run(99), run(99)
	if !eq(a, b) {
		t.Fatal("the same seed gave different traffic")
	}
	if eq(a, run(100)) {
		t.Fatal("different seeds gave the same traffic")
	}
}

// Changing one probability leaves the other decisions alone: every packet
// takes the same draws whatever the configuration.
func TestDecisionsIndependent(t *testing.T) {
	dups := func(loss float64) map[uint64]int {
		r := newRig(t, cfg(func(c *impair.Config) { c.Dup, c.Loss, c.Seed = 0.3, loss, 5 }))
		for i := range 1000 {
			r.down(pkt(uint64(i), 8))
		}
		m := map[uint64]int{}
		for _, g := range r.wire.take() {
			m[index(g.b)]++
		}
		return m
	}
	a, b := dups(0), dups(0.5)
	for i, n := range b {
		if a[i] != n {
			t.Fatalf("packet %d: %d copies without loss, %d with", i, a[i], n)
		}
	}
}

func TestReorderSwapsPairs(t *testing.T) {
	r := newRig(t, cfg(func(c *impair.Config) { c.Reorder = 1 }))
	for i := range 10 {
		r.down(pkt(uint64(i), 20))
	}
	var got []uint64
	for _, g := range r.wire.take() {
		got = append(got, index(g.b))
	}
	if want := []uint64{1, 0, 3, 2, 5, 4, 7, 6, 9, 8}; !slices.Equal(got, want) {
		t.Fatalf("wire order %v, want %v", got, want)
	}
	if n := r.counter("reordered"); n != 5 {
		t.Fatalf("reordered counter %d, want 5", n)
	}

	// A lone held packet waits reorderwait (10ms), then goes on its own.
	r.down(pkt(10, 20))
	if r.l.Pending() != 1 || len(r.wire.got) != 0 {
		t.Fatalf("the lone packet was not held (pending %d, wire %d)", r.l.Pending(), len(r.wire.got))
	}
	start := r.clock.Now()
	r.clock.Advance(9 * time.Millisecond)
	if len(r.wire.got) != 0 {
		t.Fatal("the held packet left before reorderwait")
	}
	r.clock.Advance(time.Millisecond)
	g := r.wire.take()
	if len(g) != 1 || index(g[0].b) != 10 || !g[0].at.Equal(start.Add(10*time.Millisecond)) {
		t.Fatalf("after reorderwait the wire got %d packets", len(g))
	}
	if n := r.counter("reordered"); n != 5 {
		t.Fatalf("a timer release counted as reordered: %d", n)
	}
}

func TestReorderShare(t *testing.T) {
	r := newRig(t, cfg(func(c *impair.Config) { c.Reorder, c.Seed = 0.1, 11 }))
	const n = 20000
	for i := range n {
		r.down(pkt(uint64(i), 8))
	}
	r.clock.Advance(time.Second)
	got := r.wire.take()
	if len(got) != n {
		t.Fatalf("%d packets reached the wire, want %d", len(got), n)
	}
	inversions := 0
	for i := 1; i < len(got); i++ {
		if index(got[i].b) < index(got[i-1].b) {
			inversions++
		}
	}
	share := float64(r.counter("reordered")) / n
	t.Logf("reorder=10%%: %.2f%% reordered, %d inversions", 100*share, inversions)
	if uint64(inversions) != r.counter("reordered") {
		t.Errorf("%d inversions on the wire, counter says %d", inversions, r.counter("reordered"))
	}
	// A held packet is always overtaken by the next packet, whatever that
	// one drew, so a hold takes 1/reorder packets to happen plus one to be
	// overtaken: the share held is reorder/(1+reorder), 9.09% at 10%.
	if share < 0.08 || share > 0.11 {
		t.Errorf("reordered share %.3f%%, want about 9%%", 100*share)
	}
}

func TestDelay(t *testing.T) {
	r := newRig(t, cfg(func(c *impair.Config) { c.Delay = 50 * time.Millisecond }))
	t0 := r.clock.Now()
	for i := range 5 {
		r.down(pkt(uint64(i), 10)) // five at the same instant
	}
	r.clock.Advance(10 * time.Millisecond)
	r.down(pkt(5, 10))
	r.clock.Advance(39 * time.Millisecond)
	if n := len(r.wire.got); n != 0 {
		t.Fatalf("%d packets left before their delay", n)
	}
	r.clock.Advance(time.Millisecond)
	g := r.wire.take()
	if len(g) != 5 {
		t.Fatalf("%d packets at the delay, want 5", len(g))
	}
	for i, x := range g {
		if index(x.b) != uint64(i) || !x.at.Equal(t0.Add(50*time.Millisecond)) {
			t.Fatalf("packet %d: index %d at %v", i, index(x.b), x.at.Sub(t0))
		}
	}
	r.clock.Advance(9 * time.Millisecond)
	if len(r.wire.got) != 0 {
		t.Fatal("the sixth packet left early")
	}
	r.clock.Advance(time.Millisecond)
	if g := r.wire.take(); len(g) != 1 || !g[0].at.Equal(t0.Add(60*time.Millisecond)) {
		t.Fatalf("sixth packet: %d packets", len(g))
	}
	if n := r.counter("delayed"); n != 6 {
		t.Fatalf("delayed counter %d, want 6", n)
	}
}

func TestJitter(t *testing.T) {
	for _, tc := range []struct{ delay, jitter time.Duration }{
		{20 * time.Millisecond, 15 * time.Millisecond},
		{0, 10 * time.Millisecond}, // clamped at 0: some pass at once
	} {
		t.Run(fmt.Sprintf("%v±%v", tc.delay, tc.jitter), func(t *testing.T) {
			r := newRig(t, cfg(func(c *impair.Config) { c.Delay, c.Jitter, c.Seed = tc.delay, tc.jitter, 3 }))
			const n = 1000
			sent := make([]time.Time, n)
			for i := range n {
				sent[i] = r.clock.Now()
				r.down(pkt(uint64(i), 30))
				r.clock.Advance(time.Millisecond)
			}
			r.clock.Advance(time.Second)
			got := r.wire.take()
			if len(got) != n {
				t.Fatalf("%d packets arrived, want %d", len(got), n)
			}
			seen := make([]bool, n)
			inversions, immediate := 0, 0
			lo, hi := max(tc.delay-tc.jitter, 0), tc.delay+tc.jitter
			for k, g := range got {
				i := index(g.b)
				if seen[i] {
					t.Fatalf("packet %d twice", i)
				}
				seen[i] = true
				if d := g.at.Sub(sent[i]); d < lo || d > hi {
					t.Fatalf("packet %d delayed %v, outside [%v, %v]", i, d, lo, hi)
				} else if d == 0 {
					immediate++
				}
				if k > 0 && i < index(got[k-1].b) {
					inversions++
				}
			}
			if inversions == 0 {
				t.Fatal("jitter wider than the packet spacing reordered nothing")
			}
			if d := r.counter("delayed"); d != uint64(n-immediate) {
				t.Fatalf("delayed counter %d, want %d", d, n-immediate)
			}
			if tc.delay == 0 && immediate == 0 {
				t.Fatal("no packet had its delay clamped to 0")
			}
			t.Logf("%d inversions, %d undelayed", inversions, immediate)
		})
	}
}

func TestDup(t *testing.T) {
	r := newRig(t, cfg(func(c *impair.Config) { c.Dup, c.Seed = 0.1, 17 }))
	const n = 20000
	for i := range n {
		r.down(pkt(uint64(i), 24))
	}
	got := r.wire.take()
	dups := r.counter("duplicated")
	if uint64(len(got)) != n+dups {
		t.Fatalf("%d packets on the wire, want %d + %d duplicates", len(got), n, dups)
	}
	share := float64(dups) / n
	t.Logf("dup=10%%: measured %.2f%%", 100*share)
	if math.Abs(share-0.1) > 0.01 {
		t.Fatalf("duplicated share %.2f%%, want 10%% ± 1", 100*share)
	}
	// Each copy follows its original at once, byte for byte.
	next := uint64(0)
	for k := 0; k < len(got); k++ {
		if i := index(got[k].b); i != next || !bytes.Equal(got[k].b, pkt(i, 24)) {
			t.Fatalf("wire packet %d is %d, want %d", k, i, next)
		}
		if k+1 < len(got) && index(got[k+1].b) == next {
			k++
		}
		next++
	}
}

func TestCorrupt(t *testing.T) {
	r := newRig(t, cfg(func(c *impair.Config) { c.Corrupt, c.Seed = 0.25, 23 }))
	const n, size = 10000, 64
	for i := range n {
		r.down(pkt(uint64(i), size))
	}
	got := r.wire.take()
	if len(got) != n {
		t.Fatalf("%d packets on the wire, want %d", len(got), n)
	}
	corrupted := 0
	for k, g := range got {
		want := pkt(uint64(k), size)
		diff := 0
		for j := range want {
			if g.b[j] != want[j] {
				diff++
			}
		}
		switch diff {
		case 0:
		case 1:
			corrupted++
		default:
			t.Fatalf("packet %d has %d bytes changed, want 0 or 1", k, diff)
		}
	}
	if uint64(corrupted) != r.counter("corrupted") {
		t.Fatalf("%d packets corrupted, counter says %d", corrupted, r.counter("corrupted"))
	}
	t.Logf("corrupt=25%%: measured %.2f%%", 100*float64(corrupted)/n)
	if share := float64(corrupted) / n; math.Abs(share-0.25) > 0.015 {
		t.Fatalf("corrupted share %.2f%%, want 25%% ± 1.5", 100*share)
	}
}

// A packet shared with a retransmission buffer above is copied before it
// is corrupted: the buffer's bytes stay intact.
func TestCorruptShared(t *testing.T) {
	r := newRig(t, cfg(func(c *impair.Config) { c.Corrupt = 1 }))
	orig := pkt(1, 100)
	p := r.s.NewPacket(len(orig))
	p.Append(orig)
	p.Retain() // as a retransmission buffer would
	if err := r.s.Down(p); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p.Bytes(), orig) {
		t.Fatal("the shared packet's bytes were changed")
	}
	p.Release()
	g := r.wire.take()
	if len(g) != 1 || bytes.Equal(g[0].b, orig) {
		t.Fatal("the packet on the wire was not corrupted")
	}
	// Empty packets have no byte to flip.
	r.down(nil)
	if g := r.wire.take(); len(g) != 1 || len(g[0].b) != 0 {
		t.Fatal("an empty packet did not pass")
	}
}

func TestDirection(t *testing.T) {
	for _, tc := range []struct {
		dir        impair.Dir
		downLost   bool
		upLost     bool
		registered string
	}{
		{impair.DirDown, true, false, "impair(loss=100%)"},
		{impair.DirUp, false, true, "impair(loss=100%,dir=up)"},
		{impair.DirBoth, true, true, "impair(loss=100%,dir=both)"},
	} {
		t.Run(tc.dir.String(), func(t *testing.T) {
			ls, err := registry.Build(tc.registered, registry.Env{})
			if err != nil {
				t.Fatal(err)
			}
			r := newRigLayer(t, ls[0].(*impair.Layer))
			if got := r.l.Config().Dir; got != tc.dir {
				t.Fatalf("dir %v, want %v", got, tc.dir)
			}
			for i := range 10 {
				r.down(pkt(uint64(i), 10))
				r.up(pkt(uint64(i), 10))
			}
			if n := len(r.wire.take()); (n == 0) != tc.downLost || (n != 0 && n != 10) {
				t.Errorf("%d of 10 packets went down", n)
			}
			if n := len(r.top.take()); (n == 0) != tc.upLost || (n != 0 && n != 10) {
				t.Errorf("%d of 10 packets went up", n)
			}
		})
	}
}

// Each direction has its own stream: what the down direction decides does
// not depend on traffic going up.
func TestDirectionsIndependent(t *testing.T) {
	run := func(upTraffic bool) []int {
		r := newRig(t, cfg(func(c *impair.Config) { c.Loss, c.Dir, c.Seed = 0.3, impair.DirBoth, 4 }))
		var kept []int
		for i := range 500 {
			if upTraffic {
				r.up(pkt(uint64(i), 10))
			}
			r.down(pkt(uint64(i), 10))
		}
		for _, g := range r.wire.take() {
			kept = append(kept, int(index(g.b)))
		}
		return kept
	}
	if !slices.Equal(run(false), run(true)) {
		t.Fatal("up traffic changed the down direction's decisions")
	}
}

func TestCloseReleasesHeld(t *testing.T) {
	r := newRig(t, cfg(func(c *impair.Config) {
		c.Delay, c.Jitter, c.Reorder, c.Dup, c.Dir = time.Second, 500*time.Millisecond, 0.5, 0.3, impair.DirBoth
	}))
	for i := range 50 {
		r.down(pkt(uint64(i), 100))
		r.up(pkt(uint64(i), 100))
		r.clock.Advance(time.Millisecond)
	}
	if r.l.Pending() < 90 {
		t.Fatalf("only %d packets held", r.l.Pending())
	}
	// Let some go, so both held and delayed packets remain.
	r.clock.Advance(700 * time.Millisecond)
	if r.l.Pending() == 0 {
		t.Fatal("nothing left held")
	}
	r.wire.take()
	r.top.take()
	if err := r.s.Close(); err != nil {
		t.Fatal(err)
	}
	if r.l.Pending() != 0 {
		t.Fatalf("%d packets still held after Close", r.l.Pending())
	}
	if n := r.pool.Outstanding(); n != 0 {
		t.Fatalf("%d packets leaked", n)
	}
	if err := r.l.Close(); err != nil { // a second Close is harmless
		t.Fatal(err)
	}
}

func TestSeed(t *testing.T) {
	r := newRig(t, cfg(func(c *impair.Config) { c.Loss, c.Seed = 0.5, 7 }))
	if r.l.Seed() != 7 {
		t.Fatalf("Seed %d, want 7", r.l.Seed())
	}
	r.down(pkt(0, 8))
	if len(r.events) != 0 {
		t.Fatalf("a fixed seed was reported: %v", r.events)
	}

	// Seed 0: random, reported, and repeatable.
	lost := func(l *impair.Layer) ([]bool, *rig) {
		r := newRigLayer(t, l)
		out := make([]bool, 2000)
		for i := range out {
			out[i] = true
			r.down(pkt(uint64(i), 8))
		}
		for _, g := range r.wire.take() {
			out[index(g.b)] = false
		}
		return out, r
	}
	random := cfg(func(c *impair.Config) { c.Loss, c.Burst, c.Seed = 0.3, 2, 0 })
	l1, _ := impair.New(random)
	if l1.Seed() != 0 {
		t.Fatal("a seed before Bind")
	}
	a, r1 := lost(l1)
	seed := l1.Seed()
	if seed == 0 {
		t.Fatal("no seed picked at Bind")
	}
	want := fmt.Sprintf("seed=%d", seed)
	if len(r1.events) != 1 || r1.events[0].Kind != "seed" || r1.events[0].Detail != want || r1.events[0].Layer != "impair" {
		t.Fatalf("events %+v, want one of kind seed saying %s", r1.events, want)
	}
	random.Seed = seed
	l2, _ := impair.New(random)
	if b, _ := lost(l2); !slices.Equal(a, b) {
		t.Fatalf("seed=%d did not repeat the run", seed)
	}
	l3, _ := impair.New(cfg(func(c *impair.Config) { c.Loss, c.Burst, c.Seed = 0.3, 2, 0 }))
	lost(l3)
	if l3.Seed() == seed {
		t.Fatalf("two random seeds are both %d", seed)
	}

	// The identity configuration reports nothing.
	ri := newRig(t, impair.DefaultConfig())
	ri.down(pkt(0, 8))
	if len(ri.events) != 0 {
		t.Fatalf("the identity reported %v", ri.events)
	}
}

// The layer never parses: garbage, empty and huge packets pass untouched,
// in order, when nothing damages them, in both directions.
func TestGarbagePasses(t *testing.T) {
	for _, c := range []impair.Config{
		impair.DefaultConfig(),
		cfg(func(c *impair.Config) { c.Delay, c.Dir = time.Millisecond, impair.DirBoth }),
	} {
		r := newRig(t, c)
		rng := rand.New(rand.NewPCG(1, 2))
		var sent [][]byte
		for i := range 300 {
			b := make([]byte, rng.IntN(1500))
			for j := range b {
				b[j] = byte(rng.Uint32())
			}
			sent = append(sent, b)
			if i%2 == 0 {
				r.down(b)
			} else {
				r.up(b)
			}
		}
		r.clock.Advance(time.Second)
		wire, top := r.wire.take(), r.top.take()
		if len(wire)+len(top) != len(sent) {
			t.Fatalf("%d + %d packets out of %d", len(wire), len(top), len(sent))
		}
		for i, b := range sent {
			g := wire
			if i%2 == 1 {
				g = top
			}
			if !bytes.Equal(g[i/2].b, b) {
				t.Fatalf("packet %d changed", i)
			}
		}
	}
}

// FlagSkip markers are not traffic: never lost, never delayed. (The stack
// keeps markers from the application, so a layer above counts them.)
func TestSkipMarkerPasses(t *testing.T) {
	l, err := impair.New(cfg(func(c *impair.Config) { c.Loss, c.Delay, c.Dir = 1, time.Second, impair.DirUp }))
	if err != nil {
		t.Fatal(err)
	}
	seen := &skipSeen{}
	release := stack.HandlerFunc(func(p *stack.Packet) error { p.Release(); return nil })
	s, err := stack.New(stack.Config{Layers: []stack.Layer{seen, l}, Wire: release, Deliver: release, MTU: 1500,
		Clock: stack.NewManualClock(time.Time{})})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Up(stack.NewSkip(stack.DefaultPool(), 5, 1))
	if seen.n != 1 {
		t.Fatalf("the skip marker: %d passed up", seen.n)
	}
}

type skipSeen struct {
	stack.Base
	n int
}

func (*skipSeen) Name() string { return "seen" }
func (s *skipSeen) Up(p *stack.Packet) error {
	if _, _, ok := p.Skip(); ok {
		s.n++
	}
	return s.Base.Up(p)
}

// echo answers every packet coming up with a copy sent down, from inside
// its Up: the impair layer below is re-entered while it passes packets on.
type echo struct{ stack.Base }

func (*echo) Name() string { return "echo" }
func (e *echo) Up(p *stack.Packet) error {
	q := e.Binding().NewPacket(p.Len())
	q.Append(p.Bytes())
	e.Binding().Down.Handle(q)
	return e.Base.Up(p)
}

func TestReentrant(t *testing.T) {
	r := newRig(t, cfg(func(c *impair.Config) {
		c.Delay, c.Jitter, c.Reorder, c.Dup, c.Dir = 3*time.Millisecond, 3*time.Millisecond, 0.3, 0.2, impair.DirBoth
	}), &echo{})
	for i := range 500 {
		r.up(pkt(uint64(i), 20))
		r.clock.Advance(time.Millisecond)
	}
	r.clock.Advance(time.Second)
	top, wire := r.top.take(), r.wire.take()
	if r.l.Pending() != 0 {
		t.Fatalf("%d packets still held", r.l.Pending())
	}
	// Every delivered packet is echoed once; duplicates add copies in both
	// directions: top = 500 + up copies, wire = top + down copies.
	if dups := int(r.counter("duplicated")); len(wire) != 500+dups || len(top) < 500 {
		t.Fatalf("top %d, wire %d, duplicated %d", len(top), len(wire), dups)
	}
}

func TestRegistryErrors(t *testing.T) {
	for qos, param := range map[string]string{
		"impair(loss=150%)":          "loss",
		"impair(burst=0.5)":          "burst",
		"impair(dir=sideways)":       "dir",
		"impair(loss=90%,burst=4)":   "burst",
		"impair(delay=11s)":          "delay",
		"impair(jitter=1m)":          "jitter",
		"impair(reorderwait=0s)":     "reorderwait",
		"impair(dup=5)":              "dup",
		"impair(corrupt=-1%)":        "corrupt",
		"impair(seed=x)":             "seed",
		"impair(loss=10%,colour=up)": "colour",
	} {
		_, err := registry.Build(qos, registry.Env{})
		if err == nil {
			t.Errorf("%s: no error", qos)
			continue
		}
		var re *registry.Error
		if !errors.As(err, &re) || re.Param != param {
			t.Errorf("%s: error about %q, want %q: %v", qos, re.Param, param, err)
		}
		t.Logf("%s: %v", qos, err)
	}
}

func TestRegistryRoundTrip(t *testing.T) {
	const qos = "impair(loss=20%, burst=2.5, reorder=10%, reorderwait=5ms, delay=30ms, jitter=40ms, dup=5%, corrupt=1%, seed=-7, dir=both)"
	spec, err := registry.Resolve(qos)
	if err != nil {
		t.Fatal(err)
	}
	canon := spec.String()
	again, err := registry.Resolve(canon)
	if err != nil {
		t.Fatal(err)
	}
	if !spec.Equal(again) || again.String() != canon {
		t.Fatalf("%q does not round-trip: %q", canon, again.String())
	}
	ls, err := registry.Build(canon, registry.Env{})
	if err != nil {
		t.Fatal(err)
	}
	want := impair.Config{Loss: 0.2, Burst: 2.5, Reorder: 0.1, ReorderWait: 5 * time.Millisecond,
		Delay: 30 * time.Millisecond, Jitter: 40 * time.Millisecond, Dup: 0.05, Corrupt: 0.01, Seed: -7, Dir: impair.DirBoth}
	l := ls[0].(*impair.Layer)
	if got := l.Config(); got != want {
		t.Fatalf("%s built\n%+v, want\n%+v", canon, got, want)
	}
	if !stack.CapabilitiesOf(l).Has(stack.CapImpaired) || l.Overhead() != 0 {
		t.Fatal("capabilities or overhead wrong")
	}
	l.Close()

	// impair alone is the identity.
	ls, err = registry.Build("impair", registry.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ls[0].(*impair.Layer).Config(); got != impair.DefaultConfig() || !got.Identity() {
		t.Fatalf("impair built %+v, want the default", got)
	}
}

func TestInfo(t *testing.T) {
	var r registry.Registry
	r.Register("impair", impair.Builder())
	info := r.Layers()[0]
	var names []string
	for _, p := range info.Params {
		names = append(names, p.Name)
		if p.Doc == "" || p.Default == "" {
			t.Errorf("parameter %s lacks a doc or default", p.Name)
		}
	}
	if want := []string{"loss", "burst", "reorder", "reorderwait", "delay", "jitter", "dup", "corrupt", "seed", "dir"}; !slices.Equal(names, want) {
		t.Fatalf("params %v, want %v", names, want)
	}
	if !info.Capabilities.Has(stack.CapImpaired) {
		t.Fatal("Info does not declare impaired")
	}
}

func TestConfigValidate(t *testing.T) {
	var zero impair.Config
	if zero.Validate() == nil {
		t.Error("the zero Config validated")
	}
	if err := impair.DefaultConfig().Validate(); err != nil {
		t.Error(err)
	}
	for _, f := range []func(*impair.Config){
		func(c *impair.Config) { c.Loss = math.NaN() },
		func(c *impair.Config) { c.Dup = 1.5 },
		func(c *impair.Config) { c.Burst = math.Inf(1) },
		func(c *impair.Config) { c.Delay = -1 },
		func(c *impair.Config) { c.Jitter = impair.MaxDelay + 1 },
		func(c *impair.Config) { c.Dir = 0 },
	} {
		c := impair.DefaultConfig()
		f(&c)
		if _, err := impair.New(c); err == nil {
			t.Errorf("%+v validated", c)
		}
	}
	for _, s := range []string{"down", "up", "both"} {
		d, err := impair.ParseDir(s)
		if err != nil || d.String() != s {
			t.Errorf("ParseDir(%q) = %v, %v", s, d, err)
		}
	}
	if _, err := impair.ParseDir("sideways"); err == nil {
		t.Error("ParseDir accepted sideways")
	}
}

// A Pair: two ends built from one QoS string with the default direction
// damage each direction of the flow once.
func TestPairDefaultDirection(t *testing.T) {
	mk := func() []stack.Layer {
		ls, err := registry.Build("impair(loss=100%,seed=1)", registry.Env{})
		if err != nil {
			t.Fatal(err)
		}
		return ls
	}
	p, err := stacktest.NewPair(t, mk(), mk(), stacktest.PairConfig{})
	if err != nil {
		t.Fatal(err)
	}
	p.Send([]byte("data"), stack.Meta{})
	if n := p.Link.Pending(stacktest.AtoB); n != 0 {
		t.Fatalf("sender's data not lost: %d on the link", n)
	}
	// Feedback from B goes down B's stack and is lost there; what the link
	// carries up into A is not impaired again.
	q := p.B.NewPacket(3)
	q.Append([]byte("ack"))
	p.B.Down(q)
	if n := p.Link.Pending(stacktest.BtoA); n != 0 {
		t.Fatalf("receiver's feedback not lost: %d on the link", n)
	}
	p.Link.Flush()
}

func BenchmarkIdentity(b *testing.B) { benchmark(b, impair.DefaultConfig()) }

func BenchmarkImpaired(b *testing.B) {
	benchmark(b, cfg(func(c *impair.Config) {
		c.Loss, c.Burst, c.Reorder, c.Dup, c.Corrupt, c.Delay, c.Jitter = 0.05, 2, 0.05, 0.01, 0.01, time.Millisecond, time.Millisecond
	}))
}

func benchmark(b *testing.B, c impair.Config) {
	l, err := impair.New(c)
	if err != nil {
		b.Fatal(err)
	}
	clock := stack.NewManualClock(time.Time{})
	s, err := stack.New(stack.Config{Layers: []stack.Layer{l}, MTU: 1500, Clock: clock,
		Wire:    stack.HandlerFunc(func(p *stack.Packet) error { p.Release(); return nil }),
		Deliver: stack.HandlerFunc(func(p *stack.Packet) error { p.Release(); return nil })})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	payload := make([]byte, 1200)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		p := s.NewPacket(len(payload))
		p.Append(payload)
		s.Down(p)
		if i%64 == 0 {
			clock.Advance(100 * time.Microsecond)
		}
	}
}
