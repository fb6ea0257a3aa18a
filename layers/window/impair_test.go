package window

import (
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/layers/impair"
	"github.com/rwanda-go/rwanda/layers/order"
	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/stack/stacktest"
)

// Reliability through the impair layer on the manual clock: every posting
// once and in order through 20% loss, 10% reordering and 5% duplication.
func TestAckThroughImpair(t *testing.T) {
	for _, fb := range []Feedback{Ack, Nak} {
		t.Run(fb.String(), func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Feedback = fb
			mk := func() []stack.Layer {
				w, _ := New(cfg)
				o, _ := order.New(order.DefaultConfig())
				ic := impair.DefaultConfig()
				ic.Loss, ic.Reorder, ic.Dup, ic.Seed = 0.2, 0.1, 0.05, 7
				im, err := impair.New(ic)
				if err != nil {
					t.Fatal(err)
				}
				return []stack.Layer{o, w, im}
			}
			p, err := stacktest.NewPair(t, mk(), mk(), stacktest.PairConfig{Flow: stack.Flow{PointToPoint: fb == Ack}})
			if err != nil {
				t.Fatal(err)
			}
			h := &harness{t: t, p: p, a: p.A.Layers()[1].(*Layer), b: p.B.Layers()[1].(*Layer)}
			const n = 2000
			var got []uint32
			for sent := 0; sent < n || len(got) < n; {
				for ; sent < n && p.A.Room() != 0 && h.a.State().Queued < 64; sent++ {
					h.send(1, stack.Meta{})
				}
				p.Link.Flush()
				p.Clock.Advance(100 * time.Microsecond)
				got = append(got, h.got()...)
				if p.Clock.Now().Sub(stack.ManualEpoch) > time.Minute {
					st := h.a.State()
					t.Fatalf("stuck at %d of %d after a minute: sender %+v receiver next %d high %d\nA %v\nB %v %v", len(got), n, st, h.b.State().RcvNext, h.b.State().RcvHigh, p.A.Stats().Layers, p.B.Stats().Layers, p.EventsB.Take())
				}
			}
			inOrder(t, got, n)
			t.Logf("%v: %d packets in %v of clock, %d retransmits, %d rto", fb, n, p.Clock.Now().Sub(stack.ManualEpoch), counter(p.A, "retransmits"), counter(p.A, "rto"))
		})
	}
}
