package sign_test

import (
	"bytes"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/layers/sign"
	"github.com/rwanda-go/rwanda/posting"
	"github.com/rwanda-go/rwanda/registry"
	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/stack/stacktest"
)

// relayNet joins a sender stack A and a receiver stack B the way a channel
// and a relay would as far as relay metadata goes (stacktest.Link carries
// bytes only): a packet leaving a stack has its time left stamped unless
// it is sealed (stack.FlagSealed), its metadata travels encoded beside it
// (stack.AppendRelay), a relay may rewrite that metadata on the way from A
// to B, and the receiving side parses it into the packet's Meta
// (stack.ParseRelay). Nothing moves until the test says.
type relayNet struct {
	t     testing.TB
	Clock *stack.ManualClock
	Pool  *stack.Pool
	A, B  *stack.Stack
	GotB  *stacktest.Collector
	queue [2][]relayFrame
	// Sent is every packet A put on the wire, as the wire saw it.
	Sent []sentPacket
	// Rewrite, when set, is the relay: it may change the relay metadata of
	// each packet from A to B (its first byte is the sign kind), which is
	// then re-encoded.
	Rewrite func(kind byte, m *stack.Meta)
}

type relayFrame struct{ relay, body []byte }

type sentPacket struct {
	At   time.Time
	Kind byte
	Meta stack.Meta // after the channel's stamping
}

func newRelayNet(t testing.TB, a, b []stack.Layer, flow stack.Flow) *relayNet {
	t.Helper()
	n := &relayNet{t: t, Clock: stack.NewManualClock(stack.ManualEpoch), Pool: stack.NewPool(), GotB: &stacktest.Collector{}}
	fa, fb := flow, flow
	fa.Role, fb.Role = stack.Sender, stack.Receiver
	var err error
	n.A, err = stack.New(stack.Config{Layers: a, Wire: n.wire(stacktest.AtoB), Deliver: &stacktest.Collector{},
		MTU: 1500 - stack.RelayBase, Clock: n.Clock, Pool: n.Pool, Flow: fa})
	if err != nil {
		t.Fatal(err)
	}
	n.B, err = stack.New(stack.Config{Layers: b, Wire: n.wire(stacktest.BtoA), Deliver: n.GotB,
		MTU: 1500 - stack.RelayBase, Clock: n.Clock, Pool: n.Pool, Flow: fb})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		n.A.Close()
		n.B.Close()
		if k := n.Pool.Outstanding(); k != 0 {
			t.Errorf("%d packets not released", k)
		}
	})
	return n
}

// wire is what a channel does with a packet leaving a stack.
func (n *relayNet) wire(d stacktest.Direction) stack.Handler {
	return stack.HandlerFunc(func(p *stack.Packet) error {
		now := n.Clock.Now()
		if p.Meta.Flags&stack.FlagSealed == 0 {
			p.Meta.StampLeft(now)
		}
		f := relayFrame{relay: stack.AppendRelay(nil, &p.Meta), body: bytes.Clone(p.Bytes())}
		if d == stacktest.AtoB {
			n.Sent = append(n.Sent, sentPacket{At: now, Kind: f.body[0], Meta: p.Meta})
		}
		n.queue[d] = append(n.queue[d], f)
		p.Release()
		return nil
	})
}

// step delivers the oldest packet queued in direction d.
func (n *relayNet) step(d stacktest.Direction) bool {
	if len(n.queue[d]) == 0 {
		return false
	}
	f := n.queue[d][0]
	n.queue[d] = n.queue[d][1:]
	var m stack.Meta
	if _, err := stack.ParseRelay(f.relay, &m); err != nil {
		n.t.Fatalf("relay metadata %x: %v", f.relay, err)
	}
	dst := n.A
	if d == stacktest.AtoB {
		dst = n.B
		if n.Rewrite != nil {
			n.Rewrite(f.body[0], &m)
			f.relay = stack.AppendRelay(nil, &m)
		}
	}
	p := n.Pool.FromBytes(0, f.body)
	if k, err := stack.ParseRelay(f.relay, &p.Meta); err != nil || k != len(f.relay) {
		n.t.Fatalf("relay metadata %x: %d, %v", f.relay, k, err)
	}
	dst.Up(p)
	return true
}

// flush delivers everything queued both ways, replies included.
func (n *relayNet) flush() {
	for n.step(stacktest.AtoB) || n.step(stacktest.BtoA) {
	}
}

// dropQueued discards what is queued from A to B.
func (n *relayNet) dropQueued() { n.queue[stacktest.AtoB] = nil }

func (n *relayNet) send(t testing.TB, b []byte, m stack.Meta) {
	t.Helper()
	p := n.A.NewPacket(len(b))
	p.Append(b)
	p.Meta = m
	if err := n.A.Down(p); err != nil {
		t.Fatal(err)
	}
}

// relayMeta is the relay metadata the tests' postings carry.
func relayMeta(now time.Time) stack.Meta {
	return stack.Meta{Media: posting.Video, Tag: &stack.Tag{Key: "camera-1", Frame: 300}, Flags: stack.FlagFrameEnd,
		Deadline: now.Add(500 * time.Millisecond)}
}

// What the sign layer sends is sealed with its time left stamped; a SIG
// carries the fixed metadata of a control packet and is left to the
// channel to stamp.
func TestRelayMetadataSealed(t *testing.T) {
	id := ident(t, 1)
	for _, batch := range []int{1, 4} {
		c := config(id, trust(t, id), batch)
		n := newRelayNet(t, []stack.Layer{mustNew(t, c)}, []stack.Layer{mustNew(t, c)}, testFlow)
		for i := range 4 {
			m := relayMeta(n.Clock.Now())
			if i%2 == 1 {
				m.Flags |= stack.FlagDroppable
			}
			n.send(t, payload(100, i), m)
			n.Clock.Advance(100 * time.Microsecond)
		}
		n.flush()
		got := n.GotB.Take()
		if len(got) != 4 {
			t.Fatalf("batch=%d: delivered %d of 4", batch, len(got))
		}
		sigs := 0
		for i, s := range n.Sent {
			switch s.Kind {
			case 0x63:
				sigs++
				if s.Meta.Flags&(stack.FlagSealed|stack.FlagDroppable) != 0 || s.Meta.Flags&stack.FlagControl == 0 ||
					s.Meta.Media != posting.Data || s.Meta.Tag != nil {
					t.Fatalf("batch=%d: SIG sent with %+v", batch, s.Meta)
				}
			default:
				// The sign layer stamped it 500ms before its deadline, and
				// the channel left it alone.
				if s.Meta.Flags&(stack.FlagSealed|stack.FlagLeft) != stack.FlagSealed|stack.FlagLeft || s.Meta.Left != 500 {
					t.Fatalf("batch=%d: packet %d sent with %+v", batch, i, s.Meta)
				}
			}
		}
		if want := map[int]int{1: 0, 4: 1}[batch]; sigs != want {
			t.Fatalf("batch=%d: %d SIGs", batch, sigs)
		}
		// The receiver's stack passes the relay metadata up as it came.
		for i, d := range got {
			m := d.Meta
			if m.Media != posting.Video || m.Key() != "camera-1" || m.Frame() != 300 || m.Flags&stack.FlagFrameEnd == 0 ||
				m.Left != 500 || (m.Flags&stack.FlagDroppable != 0) != (i%2 == 1) {
				t.Fatalf("batch=%d: delivery %d with %+v", batch, i, m)
			}
		}
	}
}

// A relay that changes any relay metadata of a signed packet gets it
// dropped at the receiver: its signature (batch=1) or its digest in the
// SIG (batch>1) no longer matches. Unaltered packets pass.
func TestRelayMetadataAltered(t *testing.T) {
	id := ident(t, 1)
	for _, tc := range []struct {
		name   string
		change func(m *stack.Meta)
	}{
		{"none", nil},
		{"droppable", func(m *stack.Meta) { m.Flags ^= stack.FlagDroppable }},
		{"left+1", func(m *stack.Meta) { m.Left++ }},
		{"left-1", func(m *stack.Meta) { m.Left-- }},
		{"no-left", func(m *stack.Meta) { m.Flags &^= stack.FlagLeft; m.Left = 0 }},
		{"key", func(m *stack.Meta) { m.Tag = &stack.Tag{Key: "camera-2", Frame: m.Frame()} }},
		{"no-key", func(m *stack.Meta) { m.Tag = &stack.Tag{Frame: m.Frame()} }},
		{"frame", func(m *stack.Meta) { m.Tag = &stack.Tag{Key: m.Key(), Frame: m.Frame() + 1} }},
		{"no-frame", func(m *stack.Meta) { m.Tag = &stack.Tag{Key: m.Key()}; m.Flags &^= stack.FlagFrameEnd }},
		{"frame-end", func(m *stack.Meta) { m.Flags ^= stack.FlagFrameEnd }},
		{"media", func(m *stack.Meta) { m.Media = posting.Audio }},
	} {
		for _, batch := range []int{1, 4} {
			t.Run(fmt.Sprintf("%s/batch=%d", tc.name, batch), func(t *testing.T) {
				c := config(id, trust(t, id), batch)
				lb := mustNew(t, c)
				n := newRelayNet(t, []stack.Layer{mustNew(t, c)}, []stack.Layer{lb}, testFlow)
				k := 0 // signed packets seen by the relay
				n.Rewrite = func(kind byte, m *stack.Meta) {
					if kind == 0x63 {
						return
					}
					if k == 1 && tc.change != nil {
						tc.change(m)
					}
					k++
				}
				for i := range 4 {
					n.send(t, payload(100, i), relayMeta(n.Clock.Now()))
				}
				n.flush()
				n.Clock.Advance(time.Minute)
				got := n.GotB.Take()
				want, drops := []int{0, 1, 2, 3}, map[string]uint64{}
				if tc.change != nil {
					want = []int{0, 2, 3}
					drops = map[string]uint64{"bad-signature": 1}
					if batch > 1 {
						drops = map[string]uint64{"bad-digest": 1}
					}
				}
				if len(got) != len(want) {
					t.Fatalf("delivered %d, want %d", len(got), len(want))
				}
				for i, d := range got {
					if !bytes.Equal(d.Bytes, payload(100, want[i])) {
						t.Fatalf("delivery %d is not payload %d", i, want[i])
					}
				}
				if got := layerStats(n.B).Drops; !sameCounts(got, drops) {
					t.Fatalf("drops %v, want %v", got, drops)
				}
				if st := lb.State(); st.Held != 0 {
					t.Fatalf("state %+v", st)
				}
			})
		}
	}
}

// A SIG's own relay metadata is not signed: a relay that changes it changes
// nothing for the receiver (it could as well drop the SIG).
func TestRelayMetadataOfSigNotBound(t *testing.T) {
	id := ident(t, 1)
	c := config(id, trust(t, id), 4)
	n := newRelayNet(t, []stack.Layer{mustNew(t, c)}, []stack.Layer{mustNew(t, c)}, testFlow)
	n.Rewrite = func(kind byte, m *stack.Meta) {
		if kind == 0x63 {
			m.Flags |= stack.FlagDroppable
			m.Tag, m.Media = &stack.Tag{Key: "x"}, posting.Text
		}
	}
	for i := range 4 {
		n.send(t, payload(100, i), relayMeta(n.Clock.Now()))
	}
	n.flush()
	if got := n.GotB.Take(); len(got) != 4 {
		t.Fatalf("delivered %d of 4", len(got))
	}
	if d := layerStats(n.B).Drops; len(d) != 0 {
		t.Fatalf("drops %v", d)
	}
}

// Signatures bind the channel identity: a verifier configured with another
// channel refuses what the signer signed; the same channel (or both
// standalone) verifies.
func TestChannelIdentityBinding(t *testing.T) {
	id := ident(t, 1)
	flow := boundFlow(id, testSalt)
	for _, batch := range []int{1, 4} {
		for _, tc := range []struct {
			signer, verifier string
			ok               bool
		}{
			{"udp://239.0.0.1:7000", "udp://239.0.0.1:7000", true},
			{"", "", true},
			{"udp://239.0.0.1:7000", "udp://239.0.0.1:7001", false},
			{"udp://239.0.0.1:7000", "", false},
			{"", "mem://x", false},
		} {
			a := bound(config(id, trust(t, id), batch), tc.signer, testSalt)
			b := bound(config(id, trust(t, id), batch), tc.verifier, testSalt)
			f := newFixture(t, a, b, flow)
			f.sendN(t, 0, 4)
			f.Link.Flush()
			f.Clock.Advance(time.Minute)
			f.Link.Flush()
			if tc.ok {
				f.expect(t, 0, 4)
				f.checkDrops(t, nil)
				continue
			}
			f.expect(t, 0, 0)
			want := map[string]uint64{"bad-signature": 4}
			if batch > 1 {
				want = map[string]uint64{"bad-signature": 1, "expired": 4}
			}
			f.checkDrops(t, want)
		}
	}
}

// The registry plumbs registry.Env's Channel and MemberSalt into the layer.
func TestChannelIdentityFromRegistry(t *testing.T) {
	id := ident(t, 1)
	build := func(channel string) []stack.Layer {
		ls, err := registry.Build("sign(batch=1)", registry.Env{Identity: id, Trusted: trust(t, id), Channel: channel, MemberSalt: testSalt})
		if err != nil {
			t.Fatal(err)
		}
		if c := ls[0].(*sign.Layer).Config(); c.Channel != channel || c.MemberSalt != testSalt {
			t.Fatalf("config channel %q salt %#x, want %q %#x", c.Channel, c.MemberSalt, channel, testSalt)
		}
		return ls
	}
	for _, tc := range []struct {
		a, b string
		ok   bool
	}{{"mem://one", "mem://one", true}, {"mem://one", "mem://two", false}} {
		p, err := stacktest.NewPair(t, build(tc.a), build(tc.b), stacktest.PairConfig{Flow: boundFlow(id, testSalt)})
		if err != nil {
			t.Fatal(err)
		}
		p.Send([]byte("hello"), stack.Meta{})
		p.Link.Flush()
		if got := p.GotB.Len() == 1; got != tc.ok {
			t.Fatalf("%s → %s: delivered %v, drops %v", tc.a, tc.b, got, layerStats(p.B).Drops)
		}
	}
}

// A window above sign retransmits through it: each send is stamped anew
// (time left as of the retransmission), sealed and signed anew, and
// verifies at the receiver.
func TestRetransmissionRestamped(t *testing.T) {
	id := ident(t, 1)
	env := registry.Env{Identity: id, Trusted: trust(t, id)}
	for _, qos := range []string{"window(feedback=ack)/sign(batch=1)", "window(feedback=ack)/sign(batch=4, delay=2ms)"} {
		t.Run(qos, func(t *testing.T) {
			build := func() []stack.Layer {
				ls, err := registry.Build(qos, env)
				if err != nil {
					t.Fatal(err)
				}
				return ls
			}
			flow := testFlow
			flow.PointToPoint = true
			n := newRelayNet(t, build(), build(), flow)
			deadline := n.Clock.Now().Add(time.Second)
			n.send(t, []byte("retransmit me"), stack.Meta{Media: posting.Data, Tag: &stack.Tag{Key: "k"}, Deadline: deadline})
			data := func() []sentPacket {
				var out []sentPacket
				for _, s := range n.Sent {
					if s.Kind != 0x63 {
						out = append(out, s)
					}
				}
				return out
			}
			first := data()
			if len(first) != 1 || first[0].Meta.Flags&stack.FlagSealed == 0 || first[0].Meta.Left != 1000 {
				t.Fatalf("first send %+v", first)
			}
			n.dropQueued() // lost
			for {
				if n.Clock.Now().Sub(stack.ManualEpoch) > 900*time.Millisecond {
					t.Fatal("no retransmission")
				}
				n.Clock.Advance(time.Millisecond)
				if len(data()) >= 2 {
					break
				}
				n.dropQueued() // the lost packet's SIG, if any, is lost too
			}
			re := data()[1]
			wantLeft := uint32((deadline.Sub(re.At) + time.Millisecond - 1) / time.Millisecond)
			if re.Meta.Flags&(stack.FlagSealed|stack.FlagLeft) != stack.FlagSealed|stack.FlagLeft ||
				re.Meta.Left != wantLeft || re.Meta.Left >= first[0].Meta.Left || !re.At.After(first[0].At) {
				t.Fatalf("retransmission at +%v sent with %+v, want left %d", re.At.Sub(first[0].At), re.Meta, wantLeft)
			}
			t.Logf("first sent with %d ms left, retransmitted %v later with %d ms left", first[0].Meta.Left, re.At.Sub(first[0].At), re.Meta.Left)
			for range 10 {
				n.flush()
				n.Clock.Advance(time.Millisecond)
			}
			got := n.GotB.Take()
			if len(got) != 1 || string(got[0].Bytes) != "retransmit me" {
				t.Fatalf("delivered %d", len(got))
			}
			if d := layerStats(n.B).Drops; len(d) != 0 {
				t.Fatalf("sign drops %v", d)
			}
			if !strings.Contains(qos, "batch=4") {
				return
			}
			if c := layerStats(n.A).Counters; c["data"] < 2 {
				t.Fatalf("sender counters %v", c)
			}
		})
	}
}

// sameCounts reports whether two counter maps hold the same nonzero counts.
func sameCounts(a, b map[string]uint64) bool {
	a, b = maps.Clone(a), maps.Clone(b)
	maps.DeleteFunc(a, func(_ string, v uint64) bool { return v == 0 })
	maps.DeleteFunc(b, func(_ string, v uint64) bool { return v == 0 })
	return maps.Equal(a, b)
}
