package window

import (
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/stack/stacktest"
)

// warm runs n round trips of AckEvery packets each at rtt, so the sender
// has round-trip samples and a window well above its initial one.
func (h *harness) warm(rtt time.Duration, rounds int) {
	h.t.Helper()
	for range rounds {
		h.send(2*h.a.cfg.AckEvery, stack.Meta{})
		h.exchange(rtt)
	}
	h.settle(rtt, 10)
	h.got()
}

// TestAckSpuriousRTOUndone: a receiver (or path) that stalls longer than
// the retransmission timeout, with nothing lost, costs one resent packet,
// and once its acknowledgements of the original packets arrive the
// window and threshold are what they were (F-RTO, RFC 5682; counted
// "spurious-rto").
func TestAckSpuriousRTOUndone(t *testing.T) {
	cfg := DefaultConfig()
	h := newHarness(t, cfg, true)
	h.warm(time.Millisecond, 20)
	before := h.a.State()
	if before.Cwnd < 40 {
		t.Fatalf("warm-up left the window at %v", before.Cwnd)
	}
	h.send(40, stack.Meta{})
	// The packets sit in the network (a stalled receiver) past the timer.
	for counter(h.p.A, "rto") == 0 {
		if !h.p.Clock.RunNext() {
			t.Fatal("no timer")
		}
	}
	if st := h.a.State(); st.Cwnd != 1 {
		t.Fatalf("during the timeout's check the window is one packet: %+v", st)
	}
	h.settle(cfg.AckDelay, 20)
	consecutive(t, h.got(), 40)
	st := h.a.State()
	if n := counter(h.p.A, "spurious-rto"); n != 1 {
		t.Fatalf("spurious-rto %d, want 1", n)
	}
	// The tail loss probe and the timeout resent one packet each, no more.
	if n := counter(h.p.A, "retransmits"); n > 2 {
		t.Fatalf("%d retransmits for a stall that lost nothing", n)
	}
	if st.Ssthresh != before.Ssthresh || st.Cwnd < before.Cwnd {
		t.Fatalf("after an undone timeout: cwnd %v ssthresh %v, before %v and %v", st.Cwnd, st.Ssthresh, before.Cwnd, before.Ssthresh)
	}
}

// TestAckRTOAfterTailLoss: when only the resent packet gets through, the
// timeout was a loss: the rest of the flight is resent, the window stays
// collapsed, and everything arrives.
func TestAckRTOAfterTailLoss(t *testing.T) {
	cfg := DefaultConfig()
	h := newHarness(t, cfg, true)
	h.warm(time.Millisecond, 5)
	first := h.sentAtoB()
	lose := []int{}
	for i := 10; i < 20; i++ {
		lose = append(lose, first+i)
	}
	// The tail probe (the newest packet again) is lost too.
	lose = append(lose, first+20)
	h.p.Link.SetFilter(drop(stacktest.AtoB, lose...))
	h.send(20, stack.Meta{})
	h.exchange(cfg.AckDelay)
	for counter(h.p.A, "rto") == 0 {
		if !h.p.Clock.RunNext() {
			t.Fatal("no timer")
		}
	}
	h.settle(cfg.AckDelay, 50)
	consecutive(t, h.got(), 20)
	if n := counter(h.p.A, "spurious-rto"); n != 0 {
		t.Fatalf("a real loss taken for a spurious timeout (%d)", n)
	}
	if st := h.a.State(); st.Ssthresh > 20 || st.Floor != st.Next {
		t.Fatalf("after a loss found by the timer: %+v", st)
	}
}

// TestAckStallIsNotAQueue: one burst of late round-trip samples (what was
// in flight when the receiver stalled for 18 ms, under the timeout), then
// round trips back at 1 ms: congestion anticipation weighs the smallest
// sample of a round, so it neither cuts nor holds the window for the
// stall.
func TestAckStallIsNotAQueue(t *testing.T) {
	cfg := DefaultConfig()
	h := newHarness(t, cfg, false)
	h.warm(time.Millisecond, 20)
	before := h.a.State()
	if before.Cwnd < float64(16*cfg.AckEvery) {
		t.Fatalf("warm-up left the window at %v", before.Cwnd)
	}
	h.send(16*cfg.AckEvery, stack.Meta{})
	h.exchange(18 * time.Millisecond)
	for range 10 {
		h.send(2*cfg.AckEvery, stack.Meta{})
		h.exchange(time.Millisecond)
	}
	st := h.a.State()
	if n := counter(h.p.A, "anticipated") + counter(h.p.A, "rto"); n != 0 {
		t.Fatalf("a stall taken for a queue: %d anticipated, %d rto (srtt %v, min %v)", counter(h.p.A, "anticipated"),
			counter(h.p.A, "rto"), st.SRTT, st.MinRTT)
	}
	if st.Cwnd <= before.Cwnd {
		t.Fatalf("the window did not grow after the stall: %v, before %v", st.Cwnd, before.Cwnd)
	}
}

// consecutive checks that got is n consecutive indexes in order.
func consecutive(t *testing.T, got []uint32, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("delivered %d, want %d: %v", len(got), n, got)
	}
	for i, v := range got {
		if v != got[0]+uint32(i) {
			t.Fatalf("delivery %d is %d: %v", i, v, got)
		}
	}
}
