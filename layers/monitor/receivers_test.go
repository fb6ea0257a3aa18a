package monitor

import (
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/stack"
)

// senderStack is a sender's stack holding l alone, on a manual clock.
func senderStack(t testing.TB, l *Layer, role stack.Role) (*stack.Stack, *stack.ManualClock, *stack.Pool) {
	t.Helper()
	clock := stack.NewManualClock(time.Time{})
	pool := stack.NewPool()
	release := stack.HandlerFunc(func(p *stack.Packet) error { p.Release(); return nil })
	s, err := stack.New(stack.Config{Layers: []stack.Layer{l}, Wire: release, Deliver: release, MTU: 1500,
		Pool: pool, Clock: clock, Flow: stack.Flow{Role: role, Multicast: true}})
	if err != nil {
		t.Fatal(err)
	}
	return s, clock, pool
}

// TestReceiversBounded: reports from a thousand receivers leave figures
// for the configured number, the most recently heard; silent ones are
// forgotten.
func TestReceiversBounded(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Receivers = 16
	l, _ := New(cfg)
	s, clock, pool := senderStack(t, l, stack.Sender)
	defer s.Close()
	for id := uint64(1); id <= 1000; id++ {
		b := appendReport(nil, &report{highest: id, expected: id, lost: id % 3, lossPPM: id, jitter: id, rate: 1000 * id, echo: stamp(clock.Now())})
		p := pool.FromBytes(0, b)
		p.Meta.Peer = id
		s.Up(p)
		if n := len(l.snd.peers); n > 16 {
			t.Fatalf("%d receivers kept", n)
		}
		clock.Advance(time.Millisecond)
	}
	rcv := l.Receivers()
	if len(rcv) != 16 || rcv[0].Peer != 985 || rcv[15].Peer != 1000 {
		t.Fatalf("kept %d receivers, %d..%d", len(rcv), rcv[0].Peer, rcv[len(rcv)-1].Peer)
	}
	r := l.Report()
	if r.Receivers != 16 || r.Rate != 985_000 || r.Loss != 1000e-6 || r.Jitter != 1000*time.Microsecond || r.Median.Rate != 992_500 {
		t.Fatalf("report %+v", r)
	}
	// Ten report periods of silence: forgotten.
	clock.Advance(11 * time.Second)
	if r := l.Report(); r.Receivers != 0 {
		t.Fatalf("%d receivers after 11s of silence", r.Receivers)
	}
	if pool.Outstanding() != 0 {
		t.Fatalf("%d packets held", pool.Outstanding())
	}
}

// TestTracker exercises the sequence tracker's edges: the allowance of
// 0, jumps, restarts, stale and far numbers.
func TestTracker(t *testing.T) {
	tr := newTracker(8, 0)
	for _, s := range []uint64{10, 11, 13} {
		tr.add(s)
	}
	if tr.lost != 1 || tr.expected() != 4 {
		t.Fatalf("allowance 0: lost %d of %d", tr.lost, tr.expected())
	}
	if tr.add(12) != arrLate || tr.lost != 0 || tr.add(9) != arrStale || tr.add(12) != arrDup {
		t.Fatal("late, stale, duplicate")
	}
	// A jump within range counts what it skipped.
	tr.add(2000)
	if tr.lost != 2000-14 || tr.expected() != 2001-10 {
		t.Fatalf("jump: lost %d of %d", tr.lost, tr.expected())
	}
	if l, of := tr.recent(8); l != 7 || of != 8 {
		t.Fatalf("recent: %d of %d", l, of)
	}
	// A far number is not believed until its successor confirms it.
	if tr.add(1<<40) != arrProbe || tr.high != 2000 || tr.add(5) != arrProbe {
		t.Fatal("far numbers believed")
	}
	if tr.add(1<<50) != arrProbe || tr.add(1<<50+1) != arrRestart || tr.high != 1<<50+1 || tr.lost != 0 || tr.restarts != 1 {
		t.Fatalf("restart: high %d lost %d", tr.high, tr.lost)
	}
	// Numbers near the top of the range are garbage, even in a row.
	tr = newTracker(64, 3)
	for s := ^uint64(0) - 10; s != 0; s++ {
		if tr.add(s) != arrProbe {
			t.Fatalf("%d believed", s)
		}
	}
	if tr.started || tr.outOfRange != 11 {
		t.Fatalf("top of the range: started %v", tr.started)
	}
}
