package window

import (
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/stack/stacktest"
)

// TestCarrierControlled: on a flow to one receiver over a transport that
// controls flow and congestion itself (stack.Flow.CarrierControlled: TCP
// to a broker), feedback=auto runs nak mode. Nothing waits for a
// congestion window: the sender puts its whole window on the wire at
// once, and no further (its memory stays bounded: the rest waits in the
// queue). The receiver acknowledges nothing per packet: a status every
// Size/4 packets frees the window, on a clock that does not move. Without
// the carrier the same flow runs ack mode: a congestion window of
// InitialWnd packets, and an ACK at least every AckEvery packets.
func TestCarrierControlled(t *testing.T) {
	for _, carrier := range []bool{false, true} {
		cfg := DefaultConfig()
		a, _ := New(cfg)
		b, _ := New(cfg)
		p, err := stacktest.NewPair(t, []stack.Layer{a}, []stack.Layer{b},
			stacktest.PairConfig{Flow: stack.Flow{PointToPoint: true, CarrierControlled: carrier, Local: 7}})
		if err != nil {
			t.Fatal(err)
		}
		send := func(n int) {
			for range n {
				if err := p.Send([]byte("posting"), stack.Meta{}); err != nil {
					t.Fatal(err)
				}
			}
		}
		// The first packet, and the receiver's first feedback.
		send(1)
		p.Link.Flush()
		if fb, want := a.State().Feedback, map[bool]Feedback{false: Ack, true: Nak}[carrier]; fb != want {
			t.Fatalf("carrier %v: feedback %v, want %v", carrier, fb, want)
		}
		// Two windows' worth, nothing delivered yet.
		n := 2 * cfg.Size
		send(n)
		onWire, st := p.Link.Pending(stacktest.AtoB), a.State()
		if carrier && (onWire != cfg.Size || st.Queued != n-cfg.Size) {
			t.Fatalf("carrier: %d packets on the wire and %d queued; want the window (%d) and the rest (%d)", onWire, st.Queued, cfg.Size, n-cfg.Size)
		}
		if !carrier && onWire > 2*cfg.InitialWnd {
			t.Fatalf("ack mode: %d packets on the wire, want a congestion window of about %d", onWire, cfg.InitialWnd+1)
		}
		_, fed, _ := p.Link.Counts(stacktest.BtoA)
		for range 1000 {
			if p.Link.Flush() == 0 && a.Drained() {
				break
			}
			p.Clock.Advance(100 * time.Microsecond) // ack mode's delayed ACKs
		}
		if got := len(p.GotB.Take()); !a.Drained() || got != n+1 {
			t.Fatalf("carrier %v: %d of %d delivered, state %+v", carrier, got, n+1, a.State())
		}
		sent, _, _ := p.Link.Counts(stacktest.BtoA)
		feedback, acks := sent-fed, b.Counters()["acks"]
		t.Logf("carrier %v: %d packets, %d feedback packets (%d ACKs)", carrier, n, feedback, acks)
		if carrier && (acks != 0 || feedback > n/(cfg.Size/4)+1) {
			t.Fatalf("carrier: %d feedback packets (%d ACKs) for %d packets: want a status every %d", feedback, acks, n, cfg.Size/4)
		}
		// Ack mode acknowledges every AckEvery packets, or every eighth
		// of a large flight (at most 128): more often than a carrier's
		// status every Size/4.
		if !carrier && acks <= uint64(n/(cfg.Size/4)+1) {
			t.Fatalf("ack mode: %d ACKs for %d packets, no more than a carrier-controlled flow's statuses", acks, n)
		}
	}
}
