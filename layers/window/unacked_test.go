package window

import (
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/stack/stacktest"
)

// TestUnackedAckMode: point to point, the one receiver lacks what it has
// not acknowledged; a mark (End) restricts the count to what was given
// before it; packets past their deadline are not counted.
func TestUnackedAckMode(t *testing.T) {
	h := newHarness(t, DefaultConfig(), true)
	u, ok := h.p.A.Unacknowledged(stack.AllPackets)
	if !ok || !u.One || len(u.Receivers) != 1 || u.Held != 0 || u.Receivers[0].ID != 0 {
		t.Fatalf("before sending: %+v %v", u, ok)
	}
	h.send(30, stack.Meta{}) // beyond the initial window: some wait in the queue
	u, _ = h.p.A.Unacknowledged(stack.AllPackets)
	if u.Held != 30 || u.Receivers[0].Lacks != 30 || u.Receivers[0].ID != 0 {
		t.Fatalf("30 sent, none acknowledged: %+v", u)
	}
	mark := u.End
	h.settle(time.Millisecond, 50)
	inOrder(t, h.got(), 30)
	u, _ = h.p.A.Unacknowledged(stack.AllPackets)
	if u.Held != 0 || u.Receivers[0].Lacks != 0 || u.End != mark { // (the pair sets no Meta.Peer: the ID stays 0)
		t.Fatalf("all acknowledged: %+v (mark %d)", u, mark)
	}
	// Five more, not delivered: they count, but not below the old mark.
	h.p.Link.SetFilter(drop(stacktest.AtoB, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9))
	h.send(5, stack.Meta{})
	if u, _ = h.p.A.Unacknowledged(stack.AllPackets); u.Held != 5 || u.Receivers[0].Lacks != 5 {
		t.Fatalf("5 lost: %+v", u)
	}
	if u, _ = h.p.A.Unacknowledged(mark); u.Held != 0 || u.Receivers[0].Lacks != 0 {
		t.Fatalf("below the mark: %+v", u)
	}
	h.p.Link.SetFilter(nil)
	h.settle(time.Millisecond, 500)
	h.got()
	// Timed packets that never arrive stop counting at their deadline.
	h.p.Link.SetFilter(func(d stacktest.Direction, _ int, b []byte) int {
		if _, data := dataSeq(b); data && d == stacktest.AtoB {
			return 0
		}
		return 1
	})
	h.send(3, stack.Meta{Deadline: h.p.Clock.Now().Add(50 * time.Millisecond)})
	if u, _ = h.p.A.Unacknowledged(stack.AllPackets); u.Held != 3 {
		t.Fatalf("3 timed, lost: %+v", u)
	}
	h.p.Clock.Advance(60 * time.Millisecond)
	if u, _ = h.p.A.Unacknowledged(stack.AllPackets); u.Held != 0 || u.Receivers[0].Lacks != 0 {
		t.Fatalf("3 timed, past their deadline: %+v", u)
	}
}

// TestUnackedNakMode: on multicast, each receiver heard within the
// receiver timeout lacks what it has not reported; a receiver that falls
// silent drops out of the list.
func TestUnackedNakMode(t *testing.T) {
	cfg := DefaultConfig()
	g := newGroup(t, 3, cfg)
	g.send(100, stack.Meta{})
	g.run(200*time.Millisecond, time.Millisecond)
	u, ok := g.g.Sender.Unacknowledged(stack.AllPackets)
	if !ok || u.One || len(u.Receivers) != 3 || u.Held != 0 || u.Timeout != cfg.RcvTimeout {
		t.Fatalf("all reported: %+v", u)
	}
	for _, r := range u.Receivers {
		if r.Lacks != 0 {
			t.Fatalf("receiver %d lacks %d", r.ID, r.Lacks)
		}
	}
	mark := u.End
	// Receiver 0 (member 2) hears nothing more and says nothing more.
	g.g.SetFilter(0, func(stacktest.Direction, int, []byte) int { return 0 })
	g.g.SetFeedbackFilter(0, func(stacktest.Direction, int, []byte) int { return 0 })
	g.send(10, stack.Meta{})
	g.run(200*time.Millisecond, time.Millisecond)
	u, _ = g.g.Sender.Unacknowledged(stack.AllPackets)
	lacks := map[uint64]int{}
	for _, r := range u.Receivers {
		lacks[r.ID] = r.Lacks
	}
	if len(lacks) != 3 || lacks[2] != 10 || lacks[3] != 0 || lacks[4] != 0 || u.Held != 10 {
		t.Fatalf("receiver 2 lost 10: %+v", u)
	}
	if u, _ = g.g.Sender.Unacknowledged(mark); u.Held != 0 || u.Receivers[0].Lacks != 0 {
		t.Fatalf("below the mark: %+v", u)
	}
	g.run(cfg.RcvTimeout, 10*time.Millisecond)
	u, _ = g.g.Sender.Unacknowledged(stack.AllPackets)
	if len(u.Receivers) != 2 || u.Held != 0 {
		t.Fatalf("receiver 2 silent for the receiver timeout: %+v", u)
	}
	for _, r := range u.Receivers {
		if r.ID == 2 || r.Lacks != 0 {
			t.Fatalf("receivers after the timeout: %+v", u.Receivers)
		}
	}
}
