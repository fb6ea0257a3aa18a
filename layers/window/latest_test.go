package window

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/layers/frag"
	"github.com/rwanda-go/rwanda/layers/impair"
	"github.com/rwanda-go/rwanda/layers/order"
	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/stack/stacktest"
)

// TestLatestWinsBurst: a burst of 1000 updates of one latest-wins key,
// some of them fragmented, with unkeyed packets between them, through
// 20% loss on the manual clock: the last update is delivered, far fewer
// than 1000 are (queued ones are dropped at the sender, retained ones are
// abandoned and skipped: counted "superseded"), every unkeyed packet is
// delivered once and in order, and no parcel arrives torn.
func TestLatestWinsBurst(t *testing.T) {
	for _, fb := range []Feedback{Ack, Nak} {
		t.Run(fb.String(), func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Feedback = fb
			cfg.Size = 64 // the burst outruns the window, as it does a slow link
			mk := func() []stack.Layer {
				f, _ := frag.New(frag.DefaultConfig())
				w, _ := New(cfg)
				o, _ := order.New(order.DefaultConfig())
				ic := impair.DefaultConfig()
				ic.Loss, ic.Seed = 0.2, 7
				im, err := impair.New(ic)
				if err != nil {
					t.Fatal(err)
				}
				return []stack.Layer{f, o, w, im}
			}
			p, err := stacktest.NewPair(t, mk(), mk(), stacktest.PairConfig{Flow: stack.Flow{PointToPoint: fb == Ack}})
			if err != nil {
				t.Fatal(err)
			}
			const n = 1000
			send := func(kind byte, i int) {
				size := 16
				if kind == 1 && i%5 == 0 {
					size = 4000 // three fragments
				}
				b := make([]byte, size)
				b[0] = kind
				binary.BigEndian.PutUint32(b[1:], uint32(i))
				var m stack.Meta
				if kind == 1 {
					m.Tag = &stack.Tag{Key: "cursor"} // one Tag per posting
				}
				if err := p.Send(b, m); err != nil {
					t.Fatal(err)
				}
			}
			for i := range n {
				send(1, i)
				if i%10 == 0 {
					send(0, i/10)
				}
			}
			var keyed, unkeyed []uint32
			for len(unkeyed) < n/10 || len(keyed) == 0 || keyed[len(keyed)-1] != n-1 {
				p.Link.Flush()
				p.Clock.Advance(time.Millisecond)
				for _, d := range p.GotB.Take() {
					if d.Meta.Flags&stack.FlagSkip != 0 {
						continue
					}
					b := d.Bytes
					if len(b) != 16 && len(b) != 4000 {
						t.Fatalf("a parcel of %d bytes", len(b))
					}
					if i := binary.BigEndian.Uint32(b[1:]); b[0] == 1 {
						if len(keyed) > 0 && i <= keyed[len(keyed)-1] {
							t.Fatalf("update %d after %d", i, keyed[len(keyed)-1])
						}
						keyed = append(keyed, i)
					} else {
						unkeyed = append(unkeyed, i)
					}
				}
				if p.Clock.Now().Sub(stack.ManualEpoch) > time.Minute {
					t.Fatalf("stuck: %d unkeyed, keyed %v\nA %v\nB %v", len(unkeyed), keyed, p.A.Stats().Layers, p.B.Stats().Layers)
				}
			}
			inOrder(t, unkeyed, n/10)
			sup := counter(p.A, "superseded") + drops(p.A, "window", "superseded")
			t.Logf("%v: %d of %d updates delivered, %d superseded at the sender (%d abandoned, %d never sent), %d retransmits",
				fb, len(keyed), n, sup, counter(p.A, "superseded"), drops(p.A, "window", "superseded"), counter(p.A, "retransmits"))
			if len(keyed) >= n/2 {
				t.Fatalf("%d of %d updates delivered", len(keyed), n)
			}
			if counter(p.A, "superseded") == 0 || drops(p.A, "window", "superseded") == 0 {
				t.Fatalf("nothing superseded: %v", p.A.Stats().Layers)
			}
		})
	}
}
