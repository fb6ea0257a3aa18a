package encrypt_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/layers/encrypt"
	"github.com/rwanda-go/rwanda/layers/order"
	"github.com/rwanda-go/rwanda/layers/window"
	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/stack/stacktest"
)

func counter(st *stack.Stack, name string) uint64 {
	for _, l := range st.Stats().Layers {
		if l.Name == "encrypt" {
			return l.Counters[name]
		}
	}
	return 0
}

// wireCounter is the counter in the header of sealed packet b (data
// direction).
func wireCounter(t *testing.T, b []byte) uint64 {
	t.Helper()
	c, n := binary.Uvarint(b[10:])
	if n <= 0 {
		t.Fatalf("no counter in %x", b)
	}
	return c
}

// TestKeyUpdatePhases, for every suite, with the limit lowered to L
// packets per key: the sender's key changes every L counters (a receiver
// under the real limits opens phase 0 and nothing after it); a receiver
// under the same limits opens every phase, in order or not, including a
// packet of the previous phase after the next one began and a phase two
// or more ahead of the last it saw; updates are counted on both sides.
func TestKeyUpdatePhases(t *testing.T) {
	const L = 16
	for _, s := range encrypt.Suites {
		t.Run(s.Name, func(t *testing.T) {
			r := ring(t, 1, 9)
			unlowered := layer(t, r, s.Name)
			encrypt.LowerLimits(t, L, 0)
			p, err := stacktest.NewPair(t, []stack.Layer{layer(t, r, s.Name)}, []stack.Layer{unlowered}, stacktest.PairConfig{Flow: flow})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 2 * L {
				send(t, p, fmt.Appendf(nil, "p%d", i))
			}
			p.Link.Flush()
			if got := p.GotB.Take(); len(got) != L-1 || drops(p.B, "forged") != L+1 {
				t.Fatalf("under the real limits: %d delivered (want phase 0's %d), %d forged", len(got), L-1, drops(p.B, "forged"))
			}

			p = pair(t, r, r, s.Name)
			const n = 6*L - 1 // counters 1 to 6L-1: phases 0 to 5
			for i := range n {
				send(t, p, fmt.Appendf(nil, "p%d", i))
			}
			q := p.Link.Queued(stacktest.AtoB)
			phase := func(i int) uint64 { return wireCounter(t, q[i]) / L }
			if last := phase(n - 1); counter(p.A, "key-updates-sent") != last {
				t.Fatalf("%d key updates sent, the last packet is in phase %d", counter(p.A, "key-updates-sent"), last)
			}
			// Phase 0 in order; the first packet of phase 1 before the
			// last of phase 0; then phase 4 (phases 2 and 3 lost for now);
			// then phases 2 and 3, late and out of order; then phase 5.
			var order []int
			var byPhase [6][]int
			for i := range n {
				byPhase[phase(i)] = append(byPhase[phase(i)], i)
			}
			last0 := byPhase[0][len(byPhase[0])-1]
			order = append(order, byPhase[0][:len(byPhase[0])-1]...)
			order = append(order, byPhase[1][0], last0)
			order = append(order, byPhase[1][1:]...)
			order = append(order, byPhase[4]...)
			for i := len(byPhase[3]) - 1; i >= 0; i-- {
				order = append(order, byPhase[3][i], byPhase[2][i])
			}
			order = append(order, byPhase[5]...)
			for _, i := range order {
				p.B.Up(p.Pool.FromBytes(0, q[i]))
			}
			got := p.GotB.Take()
			if len(got) != n {
				t.Fatalf("%d of %d delivered; drops %v", len(got), n, p.B.Stats().Layers)
			}
			for k, i := range order {
				if want := fmt.Sprintf("p%d", i); string(got[k].Bytes) != want {
					t.Fatalf("delivery %d is %q, want %q", k, got[k].Bytes, want)
				}
			}
			// Updates received: 0→1, 1→4, 4→5.
			if got := counter(p.B, "key-updates-received"); got != 3 {
				t.Fatalf("%d key updates received, want 3", got)
			}
			for _, b := range q {
				p.B.Up(p.Pool.FromBytes(0, b))
			}
			if p.GotB.Len() != 0 || drops(p.B, "replayed") != n {
				t.Fatalf("replays across phases: %d delivered, %d refused", p.GotB.Len(), drops(p.B, "replayed"))
			}
		})
	}
}

// TestKeyUpdateIntegrityLimit: packets that fail authentication under a
// key count against it; at the lowered integrity limit the key's packets
// are refused unopened ("key-exhausted"), genuine ones too, until the
// sender's next phase, which is accepted.
func TestKeyUpdateIntegrityLimit(t *testing.T) {
	const L, forgeries = 64, 8
	encrypt.LowerLimits(t, L, forgeries)
	r := ring(t, 1, 9)
	p := pair(t, r, r, "aes128-gcm")
	for i := range 2 * L {
		send(t, p, fmt.Appendf(nil, "p%d", i))
	}
	q := p.Link.Queued(stacktest.AtoB)
	for _, b := range q[:5] {
		p.B.Up(p.Pool.FromBytes(0, b))
	}
	if p.GotB.Len() != 5 {
		t.Fatalf("%d of 5 delivered", p.GotB.Len())
	}
	for i := range forgeries {
		b := bytes.Clone(q[5])
		b[len(b)-1] ^= byte(1 + i)
		p.B.Up(p.Pool.FromBytes(0, b))
	}
	if drops(p.B, "forged") != forgeries {
		t.Fatalf("%d forgeries counted, want %d", drops(p.B, "forged"), forgeries)
	}
	p.GotB.Take()
	var exhausted int
	for _, b := range q[5:] {
		before := drops(p.B, "key-exhausted")
		p.B.Up(p.Pool.FromBytes(0, b))
		refused := drops(p.B, "key-exhausted") > before
		if inPhase0 := wireCounter(t, b) < L; refused != inPhase0 {
			t.Fatalf("counter %d: refused as key-exhausted %v", wireCounter(t, b), refused)
		}
		if refused {
			exhausted++
		}
	}
	if got := p.GotB.Len(); got != len(q)-5-exhausted || got == 0 {
		t.Fatalf("%d delivered after the limit, want %d", got, len(q)-5-exhausted)
	}
}

// TestKeyUpdateRotation switches the ring's key while key phases change
// every 16 packets: everything arrives, in order, under both keys.
func TestKeyUpdateRotation(t *testing.T) {
	encrypt.LowerLimits(t, 16, 0)
	ra, rb := ring(t, 1, 1), ring(t, 1, 1)
	p := pair(t, ra, rb, "aes128-gcm")
	next := bytes.Repeat([]byte{2}, 32)
	n := 0
	for step := range 10 {
		switch step {
		case 3:
			must(t, rb.Add(2, next))
			must(t, ra.Add(2, next))
		case 5:
			must(t, ra.Use(2))
		case 7:
			must(t, ra.Remove(1))
			must(t, rb.Use(2))
			must(t, rb.Remove(1))
		}
		for range 37 {
			send(t, p, fmt.Appendf(nil, "p%d", n))
			n++
		}
		q := p.Link.Queued(stacktest.AtoB)
		for i := len(q) - 1; i >= 0; i -= 2 { // every other packet early
			p.Link.DeliverAt(stacktest.AtoB, i)
		}
		p.Link.Flush()
	}
	got := p.GotB.Take()
	if len(got) != n {
		t.Fatalf("%d of %d delivered", len(got), n)
	}
	seen := map[string]bool{}
	for _, d := range got {
		seen[string(d.Bytes)] = true
	}
	if len(seen) != n {
		t.Fatalf("%d distinct postings of %d", len(seen), n)
	}
	if counter(p.A, "key-updates-sent") < uint64(n/16-1) || counter(p.B, "key-updates-received") == 0 {
		t.Fatalf("key updates: %d sent, %d received", counter(p.A, "key-updates-sent"), counter(p.B, "key-updates-received"))
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestKeyUpdateWhilePacketsFlow runs a reliable multicast stack
// (order/window/encrypt) from one sender to three receivers through 20%
// loss of data and of feedback, with the limit lowered to 16 packets per
// key, in every suite: every packet reaches every receiver exactly once
// and in order, nothing is refused by the encrypt layer, and the updates
// counted are what the sender's counter implies.
func TestKeyUpdateWhilePacketsFlow(t *testing.T) {
	const L, n = 16, 1000
	encrypt.LowerLimits(t, L, 0)
	for _, s := range encrypt.Suites {
		t.Run(s.Name, func(t *testing.T) {
			r := ring(t, 1, 6)
			g, err := stacktest.NewGroup(t, 3, func() []stack.Layer {
				o, err := order.New(order.DefaultConfig())
				if err != nil {
					t.Fatal(err)
				}
				w, err := window.New(window.DefaultConfig())
				if err != nil {
					t.Fatal(err)
				}
				return []stack.Layer{o, w, layer(t, r, s.Name)}
			}, stacktest.GroupConfig{})
			if err != nil {
				t.Fatal(err)
			}
			var sealed uint64 // what the sender sealed: its last counter
			for i := range 3 {
				rng := rand.New(rand.NewPCG(uint64(i), 11))
				g.SetFilter(i, func(_ stacktest.Direction, _ int, b []byte) int {
					if i == 0 {
						sealed = max(sealed, wireCounter(t, b))
					}
					if rng.IntN(5) == 0 {
						return 0
					}
					return 1
				})
				frng := rand.New(rand.NewPCG(uint64(i), 12))
				g.SetFeedbackFilter(i, func(stacktest.Direction, int, []byte) int {
					if frng.IntN(5) == 0 {
						return 0
					}
					return 1
				})
			}
			for i := range n {
				pk := g.Sender.NewPacket(4)
				binary.BigEndian.PutUint32(pk.Extend(4), uint32(i))
				if err := g.Sender.Down(pk); err != nil {
					t.Fatal(err)
				}
				if i%50 == 49 {
					g.Flush()
					g.Clock.Advance(time.Millisecond)
				}
			}
			for range 2000 {
				g.Flush()
				g.Clock.Advance(time.Millisecond)
			}
			for i := range 3 {
				got := g.Got[i].Take()
				if len(got) != n {
					t.Fatalf("receiver %d: %d of %d delivered", i, len(got), n)
				}
				for k, d := range got {
					if v := binary.BigEndian.Uint32(d.Bytes); v != uint32(k) {
						t.Fatalf("receiver %d: delivery %d is %d", i, k, v)
					}
				}
			}
			sent := counter(g.Sender, "key-updates-sent")
			if sent != sealed/L || sent < n/L-1 {
				t.Fatalf("%d key updates sent for %d packets sealed at %d per key", sent, sealed, L)
			}
			for i, st := range g.Receivers {
				// A receiver counts the sender's updates it saw (all but
				// phases it lost whole: with 20% loss, about none) and
				// those of the other receivers' feedback it overheard.
				if got := counter(st, "key-updates-received"); got+sent/10 < sent {
					t.Errorf("receiver %d: %d key updates received, the sender made %d", i, got, sent)
				}
			}
			for i, st := range append([]*stack.Stack{g.Sender}, g.Receivers...) {
				for _, reason := range []string{"forged", "key-exhausted", "replayed", "unknown-key", "malformed"} {
					if d := drops(st, reason); d != 0 {
						t.Errorf("stack %d: %d packets dropped as %q", i, d, reason)
					}
				}
			}
			t.Logf("%d packets, %d sealed, %d key updates; receiver 0 received %d, sender received %d",
				n, sealed, sent, counter(g.Receivers[0], "key-updates-received"), counter(g.Sender, "key-updates-received"))
		})
	}
}
