package window

import (
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/stack/stacktest"
)

// TestAckLossHalvesOnlyWithQueue pins what the package doc says a loss
// costs: an eighth of the window while the round trip shows no queue
// (TestAckSlowStartAndWindowGrowth), half of what is in flight once the
// smoothed round trip exceeds twice its minimum plus a quarter of MinRTO.
func TestAckLossHalvesOnlyWithQueue(t *testing.T) {
	cfg := DefaultConfig()
	h := newHarness(t, cfg, false)
	// Round trips of 1 ms, then rising by a tenth a round to 10 ms, which
	// is above 2 × 1 ms + MinRTO/4 (7 ms): queues are building. The window
	// is held (below 4 × 1 ms + MinRTO/2, 14 ms, it is not cut).
	rtt := time.Millisecond
	for round := range 60 {
		if round >= 10 {
			rtt = min(rtt*11/10, 10*time.Millisecond)
		}
		h.send(cfg.AckEvery, stack.Meta{})
		h.exchange(rtt)
	}
	st := h.a.State()
	if st.SRTT <= 2*st.MinRTT+cfg.MinRTO/4 || st.SRTT >= 4*st.MinRTT+cfg.MinRTO/2 {
		t.Fatalf("rtt estimate %+v: the test wants a queue that holds the window", st)
	}
	if n := counter(h.p.A, "tlp") + counter(h.p.A, "rto") + counter(h.p.A, "anticipated"); n != 0 {
		t.Fatalf("%d timers fired or cuts anticipated: the ramp is wrong for the test", n)
	}
	before := st.Cwnd
	// Lose the next packet; three later ones acknowledged make it lost.
	h.p.Link.SetFilter(drop(stacktest.AtoB, h.sentAtoB()))
	h.send(cfg.AckEvery, stack.Meta{})
	for range 4 {
		h.exchange(rtt)
	}
	st = h.a.State()
	if counter(h.p.A, "fast-retransmit") != 1 || counter(h.p.A, "random-loss") != 0 {
		t.Fatalf("fast retransmits %d, random losses %d", counter(h.p.A, "fast-retransmit"), counter(h.p.A, "random-loss"))
	}
	if st.Ssthresh > before/2 {
		t.Fatalf("a loss with queues building: ssthresh %v, window before %v (want half of what was in flight)", st.Ssthresh, before)
	}
	h.got()
}
