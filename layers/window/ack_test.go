package window

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/layers/order"
	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/stack/stacktest"
)

// harness is a point-to-point sender (A) and receiver (B), each a window
// with an order layer above it, on a manual clock.
type harness struct {
	t    *testing.T
	p    *stacktest.Pair
	a, b *Layer
	id   uint32
}

func newHarness(t *testing.T, cfg Config, withOrder bool) *harness {
	t.Helper()
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := New(cfg)
	la, lb := []stack.Layer{a}, []stack.Layer{b}
	if withOrder {
		oa, _ := order.New(order.DefaultConfig())
		ob, _ := order.New(order.DefaultConfig())
		la, lb = []stack.Layer{oa, a}, []stack.Layer{ob, b}
	}
	p, err := stacktest.NewPair(t, la, lb, stacktest.PairConfig{Flow: stack.Flow{PointToPoint: true, Local: 7}})
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, p: p, a: a, b: b}
}

// send pushes n packets, each carrying its own index.
func (h *harness) send(n int, meta stack.Meta) {
	h.t.Helper()
	for range n {
		var b [8]byte
		binary.BigEndian.PutUint32(b[:], h.id)
		h.id++
		if err := h.p.Send(b[:], meta); err != nil {
			h.t.Fatal(err)
		}
	}
}

// got returns the indexes delivered at B since the last call.
func (h *harness) got() []uint32 {
	var out []uint32
	for _, d := range h.p.GotB.Take() {
		if d.Meta.Flags&stack.FlagSkip != 0 {
			continue // a marker for an order layer, when there is none
		}
		out = append(out, binary.BigEndian.Uint32(d.Bytes))
	}
	return out
}

// settle moves time on in steps, delivering everything each step, until
// nothing is pending (or a bound is hit).
func (h *harness) settle(step time.Duration, steps int) {
	for range steps {
		h.p.Link.Flush()
		h.p.Clock.Advance(step)
	}
	h.p.Link.Flush()
}

// exchange is one round trip: what A has sent reaches B, rtt passes (B's
// timers run), and what B sent back reaches A.
func (h *harness) exchange(rtt time.Duration) {
	for n := h.p.Link.Pending(stacktest.AtoB); n > 0; n-- {
		h.p.Link.Step(stacktest.AtoB)
	}
	h.p.Clock.Advance(rtt)
	for n := h.p.Link.Pending(stacktest.BtoA); n > 0; n-- {
		h.p.Link.Step(stacktest.BtoA)
	}
}

func counter(s *stack.Stack, name string) uint64 {
	for _, l := range s.Stats().Layers {
		if l.Name == "window" {
			return l.Counters[name]
		}
	}
	return 0
}

func drops(s *stack.Stack, layer, reason string) uint64 {
	for _, l := range s.Stats().Layers {
		if l.Name == layer {
			return l.Drops[reason]
		}
	}
	return 0
}

func inOrder(t *testing.T, got []uint32, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("delivered %d, want %d: %v", len(got), n, got)
	}
	for i, v := range got {
		if v != uint32(i) {
			t.Fatalf("delivery %d is %d: %v", i, v, got)
		}
	}
}

// drop returns a filter that loses the listed packets (by their index on
// the link, counting retransmissions) in direction d.
func drop(d stacktest.Direction, lose ...int) stacktest.Filter {
	set := map[int]bool{}
	for _, n := range lose {
		set[n] = true
	}
	return func(dir stacktest.Direction, n int, _ []byte) int {
		if dir == d && set[n] {
			return 0
		}
		return 1
	}
}

func TestAckNoLoss(t *testing.T) {
	h := newHarness(t, DefaultConfig(), true)
	h.send(100, stack.Meta{})
	h.settle(time.Millisecond, 20)
	inOrder(t, h.got(), 100)
	st := h.a.State()
	if st.Feedback != Ack || st.Floor != st.Next || st.InFlight != 0 {
		t.Fatalf("sender state %+v", st)
	}
	if counter(h.p.A, "retransmits") != 0 {
		t.Fatal("retransmitted without loss")
	}
}

func TestAckFirstPacketLost(t *testing.T) {
	h := newHarness(t, DefaultConfig(), true)
	h.p.Link.SetFilter(drop(stacktest.AtoB, 0))
	h.send(10, stack.Meta{})
	h.settle(time.Millisecond, 10)
	inOrder(t, h.got(), 10)
	if counter(h.p.A, "fast-retransmit") != 1 || counter(h.p.A, "retransmits") != 1 {
		t.Fatalf("fast retransmits %d, retransmits %d", counter(h.p.A, "fast-retransmit"), counter(h.p.A, "retransmits"))
	}
}

func TestAckLastPacketLostNeedsRTO(t *testing.T) {
	cfg := DefaultConfig()
	h := newHarness(t, cfg, true)
	h.p.Link.SetFilter(drop(stacktest.AtoB, 4))
	h.send(5, stack.Meta{})
	h.exchange(cfg.AckDelay) // four arrive; B acks them after its ack delay
	if got := h.got(); len(got) != 4 {
		t.Fatalf("before the RTO: %v", got)
	}
	// No selective ack can reveal a lost last packet: the timer does.
	before := h.a.State()
	for counter(h.p.A, "rto") == 0 {
		h.p.Clock.RunNext()
	}
	st := h.a.State()
	if st.Cwnd != 1 || st.Backoff != 1 || st.InFlight != 1 || st.RTO != 2*before.RTO {
		t.Fatalf("after an RTO the window collapses and the timer backs off: %+v (before %+v)", st, before)
	}
	h.exchange(cfg.AckDelay)
	if got := h.got(); len(got) != 1 || got[0] != 4 {
		t.Fatalf("after the RTO: %v", got)
	}
	h.settle(time.Millisecond, 5)
	if st := h.a.State(); st.Backoff != 0 || st.Floor != st.Next {
		t.Fatalf("progress resets the backoff: %+v", st)
	}
}

func TestAckBurstLoss(t *testing.T) {
	h := newHarness(t, DefaultConfig(), true)
	h.p.Link.SetFilter(drop(stacktest.AtoB, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19))
	h.send(40, stack.Meta{})
	h.settle(time.Millisecond, 300)
	inOrder(t, h.got(), 40)
	if n := counter(h.p.A, "retransmits"); n < 10 {
		t.Fatalf("retransmits %d", n)
	}
	if drops(h.p.B, "window", "duplicate") > 5 {
		t.Fatalf("too many duplicates: %d", drops(h.p.B, "window", "duplicate"))
	}
}

func TestAckBackoffGrowth(t *testing.T) {
	cfg := DefaultConfig()
	h := newHarness(t, cfg, false)
	h.p.Link.SetFilter(func(d stacktest.Direction, n int, _ []byte) int {
		if d == stacktest.AtoB {
			return 0 // everything the sender sends is lost
		}
		return 1
	})
	h.send(1, stack.Meta{})
	want := cfg.InitialRTO
	for i := 1; i <= 6; i++ {
		at := h.p.Clock.Now()
		for counter(h.p.A, "rto") < uint64(i) {
			if !h.p.Clock.RunNext() {
				t.Fatal("no timer")
			}
		}
		if waited := h.p.Clock.Now().Sub(at); waited != want {
			t.Fatalf("RTO %d fired after %v, want %v", i, waited, want)
		}
		want = min(2*want, cfg.MaxRTO)
		if st := h.a.State(); st.Backoff != i {
			t.Fatalf("backoff %d after %d timeouts", st.Backoff, i)
		}
	}
}

func TestAckSlowStartAndWindowGrowth(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Anticipate = false
	h := newHarness(t, cfg, false)
	if st := h.a.State(); st.Cwnd != 10 {
		t.Fatalf("initial window %v", st.Cwnd)
	}
	h.send(200, stack.Meta{})
	if st := h.a.State(); st.InFlight != 10 || st.Queued != 190 {
		t.Fatalf("the initial window limits what is in flight: %+v", st)
	}
	// Each round trip, every acknowledged packet opens the window by one:
	// it doubles (slow start).
	var cw []float64
	for range 4 {
		h.exchange(cfg.AckDelay)
		cw = append(cw, h.a.State().Cwnd)
	}
	for i := 1; i < len(cw); i++ {
		if cw[i] != 2*cw[i-1] {
			t.Fatalf("window did not double each round trip: %v", cw)
		}
	}
	if cw[0] != 20 {
		t.Fatalf("slow start: window %v after one round trip", cw)
	}
	h.settle(cfg.AckDelay, 50)
	if got := h.got(); len(got) != 200 {
		t.Fatalf("delivered %d", len(got))
	}
	// A loss while the RTT shows no queue is taken for random loss: the
	// window gives up an eighth (a loss with queues building halves it;
	// see TestAckCongestionAnticipation for the RTT side).
	before := h.a.State().Cwnd
	h.p.Link.SetFilter(drop(stacktest.AtoB, h.sentAtoB()))
	h.send(30, stack.Meta{})
	h.settle(cfg.AckDelay, 50)
	st := h.a.State()
	if st.Ssthresh < before*3/4 || st.Ssthresh > before || counter(h.p.A, "fast-retransmit") != 1 || counter(h.p.A, "random-loss") != 1 {
		t.Fatalf("after a loss: cwnd %v ssthresh %v (was %v)", st.Cwnd, st.Ssthresh, before)
	}
}

func (h *harness) sentAtoB() int {
	n, _, _ := h.p.Link.Counts(stacktest.AtoB)
	return n
}

func TestAckCongestionAnticipation(t *testing.T) {
	cfg := DefaultConfig()
	h := newHarness(t, cfg, false)
	// Round trips of 1 ms, then growing by a tenth each round up to 30 ms:
	// queues are building (slowly enough that no timer fires early).
	rtt := time.Millisecond
	for round := range 60 {
		if round >= 10 {
			rtt = min(rtt*11/10, 30*time.Millisecond)
		}
		h.send(cfg.AckEvery, stack.Meta{}) // B acks at once: AckEvery packets
		h.exchange(rtt)
	}
	st := h.a.State()
	if st.MinRTT != time.Millisecond || st.SRTT < 15*time.Millisecond {
		t.Fatalf("rtt estimate %+v", st)
	}
	if n := counter(h.p.A, "tlp") + counter(h.p.A, "rto"); n != 0 {
		t.Fatalf("%d timers fired: the ramp is too steep for the test", n)
	}
	if counter(h.p.A, "anticipated") == 0 {
		t.Fatalf("no anticipation with srtt %v and min %v", st.SRTT, st.MinRTT)
	}
	h.got()
}

func TestSemiReliableAbandonsAtDeadline(t *testing.T) {
	cfg := DefaultConfig()
	cfg.TTL = 100 * time.Millisecond
	h := newHarness(t, cfg, true)
	// Packet 3 is lost on every transmission until its time is up.
	h.p.Link.SetFilter(func(d stacktest.Direction, _ int, b []byte) int {
		if d == stacktest.AtoB && len(b) >= 6 && b[0] == msgData && binary.BigEndian.Uint32(b[2:]) == cfg.ISN+3 {
			return 0
		}
		return 1
	})
	h.send(10, stack.Meta{})
	for range 200 {
		h.p.Link.Flush()
		h.p.Clock.Advance(time.Millisecond)
	}
	h.p.Link.Flush()
	got := h.got()
	want := []uint32{0, 1, 2, 4, 5, 6, 7, 8, 9}
	if len(got) != len(want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("delivered %v, want %v", got, want)
		}
	}
	if counter(h.p.A, "abandoned") != 1 || counter(h.p.B, "skipped") != 1 {
		t.Fatalf("abandoned %d, skipped %d", counter(h.p.A, "abandoned"), counter(h.p.B, "skipped"))
	}
	if st := h.a.State(); st.Floor != st.Next {
		t.Fatalf("the sender still holds packets: %+v", st)
	}
}

func TestSemiReliableNothingAfterObsolescence(t *testing.T) {
	cfg := DefaultConfig()
	h := newHarness(t, cfg, true)
	// Posting-level TTL: deadlines from the packets' metadata.
	deadline := h.p.Clock.Now().Add(50 * time.Millisecond)
	h.p.Link.SetFilter(func(d stacktest.Direction, n int, _ []byte) int {
		if d == stacktest.AtoB && h.p.Clock.Now().Before(deadline.Add(10*time.Millisecond)) {
			return 0 // the path is down until after the deadline
		}
		return 1
	})
	h.send(5, stack.Meta{Deadline: deadline})
	for range 300 {
		h.p.Link.Flush()
		h.p.Clock.Advance(time.Millisecond)
	}
	if got := h.got(); len(got) != 0 {
		t.Fatalf("delivered %v after their obsolescence", got)
	}
	// The stream goes on.
	h.send(3, stack.Meta{})
	h.settle(time.Millisecond, 20)
	if got := h.got(); len(got) != 3 {
		t.Fatalf("after the outage: %v", got)
	}
}

func TestSequenceWrapAround(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ISN = 1<<32 - 20
	h := newHarness(t, cfg, true)
	h.p.Link.SetFilter(drop(stacktest.AtoB, 3, 18, 19, 20, 21, 35))
	h.send(60, stack.Meta{})
	h.settle(time.Millisecond, 300)
	inOrder(t, h.got(), 60)
}

func TestBestEffortNeverRetransmits(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Mode = BestEffort
	h := newHarness(t, cfg, true)
	h.p.Link.SetFilter(drop(stacktest.AtoB, 2, 5, 6))
	h.send(10, stack.Meta{})
	h.settle(100*time.Millisecond, 20)
	got := h.got()
	if len(got) != 7 {
		t.Fatalf("delivered %v", got)
	}
	sent, _, _ := h.p.Link.Counts(stacktest.AtoB)
	fb, _, _ := h.p.Link.Counts(stacktest.BtoA)
	if sent != 10 || fb != 0 || counter(h.p.A, "retransmits") != 0 {
		t.Fatalf("sent %d packets, %d feedback, %d retransmits", sent, fb, counter(h.p.A, "retransmits"))
	}
}

func TestDuplicatesDeliveredOnce(t *testing.T) {
	h := newHarness(t, DefaultConfig(), true)
	h.p.Link.SetFilter(func(d stacktest.Direction, _ int, _ []byte) int { return 2 })
	h.send(20, stack.Meta{})
	h.settle(time.Millisecond, 20)
	inOrder(t, h.got(), 20)
	if drops(h.p.B, "window", "duplicate") < 20 {
		t.Fatalf("duplicates dropped: %d", drops(h.p.B, "window", "duplicate"))
	}
}

func TestReorderingDeliveredInOrder(t *testing.T) {
	h := newHarness(t, DefaultConfig(), true)
	h.send(8, stack.Meta{})
	// Deliver newest first.
	for h.p.Link.Pending(stacktest.AtoB) > 0 {
		h.p.Link.DeliverAt(stacktest.AtoB, h.p.Link.Pending(stacktest.AtoB)-1)
	}
	h.settle(time.Millisecond, 10)
	inOrder(t, h.got(), 8)
}

func TestFlowControlAndRoom(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Size = 16
	cfg.InitialWnd = 16
	cfg.Queue = 1 << 10
	h := newHarness(t, cfg, false)
	h.send(200, stack.Meta{})
	st := h.a.State()
	if st.InFlight != 16 || st.Queued != 184 {
		t.Fatalf("window of 16: %+v", st)
	}
	if h.p.A.Room() != 0 {
		t.Fatalf("room %d with 184 packets queued over a 1KiB limit", h.p.A.Room())
	}
	h.settle(cfg.AckDelay, 100)
	if len(h.got()) != 200 {
		t.Fatal("not all delivered")
	}
	if h.p.A.Room() <= 0 {
		t.Fatal("room did not come back")
	}
	var sawRoom bool
	for _, e := range h.p.EventsA.Take() {
		sawRoom = sawRoom || e.Kind == "room"
	}
	if !sawRoom {
		t.Fatal("no room event")
	}
}

// TestAckFrequencyScalesWithFlight: a receiver acknowledges in-order data
// every AckEvery packets while the sender has few in flight, and less
// often (an eighth of what the sender has in flight, at most 8×AckEvery)
// when it has many, as the DATA header's floor shows; a gap is still
// acknowledged at once, and the ack delay still bounds the wait.
func TestAckFrequencyScalesWithFlight(t *testing.T) {
	cfg := DefaultConfig()
	cfg.InitialWnd = 512 // 512 packets out before any acknowledgement
	h := newHarness(t, cfg, false)
	h.send(512, stack.Meta{})
	if n := h.p.Link.Pending(stacktest.AtoB); n != 512 {
		t.Fatalf("%d packets in flight, want 512", n)
	}
	for n := h.p.Link.Pending(stacktest.AtoB); n > 0; n-- {
		h.p.Link.Step(stacktest.AtoB)
	}
	inOrder(t, h.got(), 512)
	// Packet i arrives with i+1 in flight: an ack every max(16, (i+1)/8)
	// packets makes 18, with 39 left for the ack delay. Every 16
	// throughout would be 32.
	acks := counter(h.p.B, "acks")
	if acks != 18 {
		t.Fatalf("%d acks for 512 packets sent back to back, want 18 (every 16, then every eighth of the flight)", acks)
	}
	h.exchange(cfg.AckDelay)
	if u, _ := h.p.A.Unacknowledged(stack.AllPackets); u.Held != 0 {
		t.Fatalf("%d packets still unacknowledged after the acks came back", u.Held)
	}

	// The bound: 2048 back to back make 31 acks (every 128 past 1024 in
	// flight); without it, 29; every 16, 128.
	cfg3 := DefaultConfig()
	cfg3.Size, cfg3.InitialWnd = 2048, 2048
	h3 := newHarness(t, cfg3, false)
	h3.send(2048, stack.Meta{})
	for n := h3.p.Link.Pending(stacktest.AtoB); n > 0; n-- {
		h3.p.Link.Step(stacktest.AtoB)
	}
	inOrder(t, h3.got(), 2048)
	if acks := counter(h3.p.B, "acks"); acks != 31 {
		t.Fatalf("%d acks for 2048 packets sent back to back, want 31", acks)
	}
	h3.exchange(cfg3.AckDelay)
	if u, _ := h3.p.A.Unacknowledged(stack.AllPackets); u.Held != 0 {
		t.Fatalf("%d packets still unacknowledged after the acks came back", u.Held)
	}

	// Few in flight: every AckEvery, as before.
	cfg2 := DefaultConfig()
	cfg2.InitialWnd = cfg2.AckEvery
	h2 := newHarness(t, cfg2, false)
	h2.send(cfg2.AckEvery, stack.Meta{})
	for n := h2.p.Link.Pending(stacktest.AtoB); n > 0; n-- {
		h2.p.Link.Step(stacktest.AtoB)
	}
	if acks := counter(h2.p.B, "acks"); acks != 1 {
		t.Fatalf("%d acks for %d packets with at most %d in flight, want 1", acks, cfg2.AckEvery, cfg2.AckEvery)
	}
}

// TestBacklog: an ack-mode sender reports a backlog (stack.Backlogger)
// while packets wait in its queue, or while a sixteenth of its window or
// more is unacknowledged, and none once everything is acknowledged.
func TestBacklog(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Size = 64
	cfg.InitialWnd = 64
	h := newHarness(t, cfg, false)
	a := h.p.A.Layers()[0].(*Layer)
	h.send(3, stack.Meta{}) // 3 out: under a sixteenth of 64 (4)
	if n := a.Backlog(); n != 0 || h.p.A.Backlogged() {
		t.Fatalf("3 of 64 unacknowledged: backlog %d, hint %v", n, h.p.A.Backlogged())
	}
	h.send(1, stack.Meta{})
	if n := a.Backlog(); n != 1 || !h.p.A.Backlogged() {
		t.Fatalf("4 of 64 unacknowledged: backlog %d, hint %v", n, h.p.A.Backlogged())
	}
	h.send(70, stack.Meta{}) // 64 out, 10 queued
	if n := a.Backlog(); n != 10 || !h.p.A.Backlogged() {
		t.Fatalf("10 queued: backlog %d, hint %v", n, h.p.A.Backlogged())
	}
	h.settle(cfg.AckDelay, 100)
	if n := a.Backlog(); n != 0 || h.p.A.Backlogged() || len(h.got()) != 74 {
		t.Fatalf("all acknowledged: backlog %d, hint %v, %d delivered", n, h.p.A.Backlogged(), len(h.got()))
	}
}
