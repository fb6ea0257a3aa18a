package order

import (
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/registry"
	"github.com/rwanda-go/rwanda/stack"
)

// reliable and unreliable stand below order in tests: they only declare
// what order asks about.
type below struct {
	stack.Base
	caps []stack.Capability
}

func (*below) Name() string                       { return "below" }
func (b *below) Capabilities() stack.Capabilities { return stack.Capabilities{Provides: b.caps} }

type rig struct {
	s   *stack.Stack
	o   *Layer
	out []uint64
	pl  *stack.Pool
}

func newRig(t *testing.T, reliable bool, buffer int) *rig {
	t.Helper()
	return budgetRig(t, reliable, buffer, nil)
}

// budgetRig is a rig whose stack has the memory budget mem (nil: none).
// After the test, nothing may be left: no packet, no reservation.
func budgetRig(t *testing.T, reliable bool, buffer int, mem *stack.Budget) *rig {
	t.Helper()
	caps := []stack.Capability{stack.CapSequenced}
	if reliable {
		caps = append(caps, stack.CapReliable)
	}
	o, err := New(Config{Buffer: buffer})
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{o: o, pl: stack.NewPool()}
	r.s, err = stack.New(stack.Config{Layers: []stack.Layer{o, &below{caps: caps}}, MTU: 1500, Pool: r.pl, Memory: mem,
		Wire: stack.HandlerFunc(func(p *stack.Packet) error { p.Release(); return nil }),
		Deliver: stack.HandlerFunc(func(p *stack.Packet) error {
			r.out = append(r.out, p.Meta.Seq)
			p.Release()
			return nil
		})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.s.Close()
		if r.pl.Outstanding() != 0 || mem.Used() != 0 || o.Reserved() != 0 {
			t.Errorf("after close: %d packets, %d bytes reserved (layer says %d)", r.pl.Outstanding(), mem.Used(), o.Reserved())
		}
	})
	return r
}

func (r *rig) data(seqs ...uint64) {
	for _, s := range seqs {
		p := r.pl.Get(0, 1, 0)
		p.Append([]byte{1})
		p.Meta.Seq = s
		r.s.Up(p)
	}
}

func (r *rig) skip(first, n uint64) { r.s.Up(stack.NewSkip(r.pl, first, n)) }

func (r *rig) take() []uint64 { out := r.out; r.out = nil; return out }

func eq(t *testing.T, got []uint64, want ...uint64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}

func TestReliableWaitsForGaps(t *testing.T) {
	r := newRig(t, true, 16)
	if !r.o.Waits() {
		t.Fatal("does not wait over a reliable layer")
	}
	r.skip(9, 1) // the sequence starts at 10
	r.data(10, 12, 13)
	eq(t, r.take(), 10)
	if r.o.Held() != 2 {
		t.Fatalf("held %d", r.o.Held())
	}
	r.data(11)
	eq(t, r.take(), 11, 12, 13)
	r.data(13, 9) // duplicate and late
	eq(t, r.take())
}

func TestSkipReleasesWhatWaits(t *testing.T) {
	r := newRig(t, true, 16)
	r.skip(0, 1)
	r.data(1, 3, 4, 6)
	eq(t, r.take(), 1)
	r.skip(2, 1) // 2 will never come
	eq(t, r.take(), 3, 4)
	r.skip(5, 1)
	eq(t, r.take(), 6)
	r.data(5) // too late now
	eq(t, r.take())
	// A skip far past the buffer delivers what is held and jumps.
	r.data(8, 9)
	r.skip(7, 1000)
	eq(t, r.take(), 8, 9)
	r.data(1007, 1006)
	eq(t, r.take(), 1007)
}

func TestOverflowGivesUpOldestGap(t *testing.T) {
	r := newRig(t, true, 8)
	r.skip(0, 1)
	r.data(2, 3, 4, 5, 6, 7, 8) // waiting for 1
	eq(t, r.take())
	r.data(9) // beyond the buffer: 1 is given up
	eq(t, r.take(), 2, 3, 4, 5, 6, 7, 8, 9)
	if c := r.s.Stats().Layers[0].Counters["overflow"]; c != 1 {
		t.Fatalf("overflow %d", c)
	}
}

func TestUnreliableDropsLate(t *testing.T) {
	r := newRig(t, false, 16)
	if r.o.Waits() {
		t.Fatal("waits over an unreliable layer")
	}
	r.data(5, 7, 6, 8, 3, 9)
	eq(t, r.take(), 5, 7, 8, 9)
	if d := r.s.Stats().Layers[0].Drops["late"]; d != 2 {
		t.Fatalf("late drops %d", d)
	}
}

func TestNeedsSequenceNumbers(t *testing.T) {
	h := stack.HandlerFunc(func(p *stack.Packet) error { p.Release(); return nil })
	o, _ := New(DefaultConfig())
	_, err := stack.New(stack.Config{Layers: []stack.Layer{o}, Wire: h, Deliver: h, MTU: 100})
	if err == nil || err.Error() != "stack: order (layer 0) needs a layer below it that provides sequenced; none does (ordering needs sequence numbers)" {
		t.Fatalf("got %v", err)
	}
	if _, err := registry.Build("order(buffer=0)", registry.Env{}); err == nil {
		t.Fatal("buffer=0 accepted")
	}
}

// A held packet does not wait for the gap in front of it past its own
// deadline: what is missing had an earlier deadline and is obsolete.
func TestHeldPacketDeliveredBeforeItsDeadline(t *testing.T) {
	caps := []stack.Capability{stack.CapSequenced, stack.CapReliable}
	o, _ := New(DefaultConfig())
	clock := stack.NewManualClock(time.Time{})
	var out []uint64
	var at []time.Duration
	pl := stack.NewPool()
	s, err := stack.New(stack.Config{Layers: []stack.Layer{o, &below{caps: caps}}, MTU: 1500, Pool: pl, Clock: clock,
		Wire: stack.HandlerFunc(func(p *stack.Packet) error { p.Release(); return nil }),
		Deliver: stack.HandlerFunc(func(p *stack.Packet) error {
			out = append(out, p.Meta.Seq)
			at = append(at, clock.Now().Sub(stack.ManualEpoch))
			p.Release()
			return nil
		})})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Up(stack.NewSkip(pl, 0, 1))
	for _, seq := range []uint64{2, 3} {
		p := pl.Get(0, 0, 0)
		p.Meta.Seq = seq
		p.Meta.Deadline = clock.Now().Add(10 * time.Millisecond)
		s.Up(p)
	}
	clock.Advance(8 * time.Millisecond)
	if len(out) != 0 {
		t.Fatalf("delivered %v before the guard", out)
	}
	clock.Advance(2 * time.Millisecond)
	if len(out) != 2 || out[0] != 2 || out[1] != 3 || at[0] != 9*time.Millisecond {
		t.Fatalf("delivered %v at %v", out, at)
	}
	if c := s.Stats().Layers[0].Counters["gave-up-for-time"]; c != 1 {
		t.Fatalf("gaps given up: %d", c)
	}
	p := pl.Get(0, 0, 0)
	p.Meta.Seq = 1 // too late now
	s.Up(p)
	if len(out) != 2 || s.Stats().Layers[0].Drops["late"] != 1 {
		t.Fatalf("late packet: delivered %v", out)
	}
}

// A skip marker that jumps past the buffer leaves nothing of what was
// remembered ahead: the ring this layer used to keep held on to skip marks
// across such a jump, so a packet landing later in the same slot was
// dropped as a duplicate, and a reliable stream lost it silently.
func TestSkipJumpLeavesNoStaleMarks(t *testing.T) {
	r := newRig(t, true, 8)
	r.skip(0, 1)
	r.skip(5, 1)  // ahead of the gap at 1: remembered
	r.skip(6, 10) // past the buffer: jump to 16
	if r.o.Next() != 16 {
		t.Fatalf("next %d", r.o.Next())
	}
	r.data(21, 16, 17, 18, 19, 20)
	eq(t, r.take(), 16, 17, 18, 19, 20, 21)
	if d := r.s.Stats().Layers[0].Drops; len(d) != 0 {
		t.Fatalf("drops %v", d)
	}
}
