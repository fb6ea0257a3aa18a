package stacktest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/stack"
)

// Factory builds a fresh layer for one stack. The suite calls it many times.
type Factory func() (stack.Layer, error)

// Options tune [TestLayer]. Zero fields take defaults.
type Options struct {
	// MTU of the stacks under test; default 1500.
	MTU int
	// Sizes of the payloads sent through the layer; default 0, 1, 100,
	// MTU-50, MTU, 3×MTU+7 and 64 KiB (a layer that cannot carry a size
	// larger than the MTU should list only sizes it can).
	Sizes []int
	// Seed for the garbage inputs; default 1.
	Seed uint64
	// GarbageMayDerail is for layers whose state forged input can
	// legitimately move (sequence numbers with no authentication below
	// them): after the garbage, the suite checks only that nothing
	// panicked or leaked, and runs the round trip on a fresh pair.
	GarbageMayDerail bool
}

// TestLayer runs the conformance suite against the layer made by f. The
// layer is put between two stacks joined by a [Link] with no loss:
//
//   - RoundTrip: payloads of each size sent down stack A come up stack B
//     byte for byte, in order, exactly once, also after time passes.
//   - Sandwiched: the same with a header-pushing layer above and below, so
//     the layer must honour the room below it and not touch others' bytes.
//   - Headroom: no packet had to grow, so the layer's declared Overhead
//     covers what it adds, and nothing left the stack over the MTU.
//   - Garbage: random, truncated and bit-flipped packets fed to B's Up
//     never panic, and the layer still works afterwards (unless
//     Options.GarbageMayDerail says forged input may move its state).
//   - NoLeaks: after the stacks close, every packet is back in the pool.
//   - Close: Close on a layer that was never bound, and a second Close
//     after the stack's, return without panicking.
//
// Layers that need a partner on the other side (acknowledgements) get it:
// both stacks use layers from f, and the link carries both directions.
func TestLayer(t *testing.T, f Factory, opts Options) {
	t.Helper()
	if opts.MTU == 0 {
		opts.MTU = 1500
	}
	if opts.Sizes == nil {
		opts.Sizes = []int{0, 1, 100, opts.MTU - 50, opts.MTU, 3*opts.MTU + 7, 64 << 10}
	}
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	build := func(t *testing.T) stack.Layer {
		t.Helper()
		l, err := f()
		if err != nil {
			t.Fatalf("factory: %v", err)
		}
		if l == nil {
			t.Fatal("factory returned a nil layer")
		}
		return l
	}

	t.Run("RoundTrip", func(t *testing.T) {
		p := mustPair(t, []stack.Layer{build(t)}, []stack.Layer{build(t)}, opts)
		roundTrip(t, p, opts.Sizes)
		p.Clock.Advance(time.Minute)
		p.Link.Flush()
		if extra := p.GotB.Take(); len(extra) != 0 {
			t.Fatalf("%d spurious deliveries after a minute of quiet", len(extra))
		}
		checkHeadroom(t, p)
	})

	t.Run("Sandwiched", func(t *testing.T) {
		p := mustPair(t,
			[]stack.Layer{&marker{tag: 0xA1}, build(t), &marker{tag: 0xB2}},
			[]stack.Layer{&marker{tag: 0xA1}, build(t), &marker{tag: 0xB2}}, opts)
		roundTrip(t, p, opts.Sizes)
		checkHeadroom(t, p)
	})

	t.Run("Garbage", func(t *testing.T) {
		p := mustPair(t, []stack.Layer{build(t)}, []stack.Layer{build(t)}, opts)
		// Capture real packets to mutate.
		p.Send(bytes.Repeat([]byte("g"), 200), stack.Meta{})
		p.Send(bytes.Repeat([]byte("G"), 3*opts.MTU), stack.Meta{})
		samples := p.Link.Queued(AtoB)
		p.Link.Flush()
		p.GotB.Take()
		rng := rand.New(rand.NewPCG(opts.Seed, 0x5eed))
		for i := range 2000 {
			var b []byte
			switch {
			case i%4 == 0 || len(samples) == 0:
				b = make([]byte, rng.IntN(2*opts.MTU))
				for j := range b {
					b[j] = byte(rng.Uint32())
				}
			case i%4 == 1:
				s := samples[rng.IntN(len(samples))]
				b = append([]byte(nil), s[:rng.IntN(len(s)+1)]...)
			default:
				s := samples[rng.IntN(len(samples))]
				b = append([]byte(nil), s...)
				for range 1 + rng.IntN(3) {
					if len(b) > 0 {
						b[rng.IntN(len(b))] ^= byte(1 + rng.IntN(255))
					}
				}
			}
			func() {
				defer func() {
					if r := recover(); r != nil {
						p.Abandon()
						t.Fatalf("panic on garbage input %x: %v", b, r)
					}
				}()
				p.B.Up(p.Pool.FromBytes(0, b))
				p.Link.Flush()
			}()
			if i%500 == 0 {
				p.Clock.Advance(10 * time.Second)
			}
		}
		p.Clock.Advance(time.Minute)
		p.Link.Flush()
		p.GotB.Take() // whatever garbage happened to decode
		if opts.GarbageMayDerail {
			p.Close()
			if n := p.Pool.Outstanding(); n != 0 {
				t.Fatalf("%d packets not released after garbage", n)
			}
			p = mustPair(t, []stack.Layer{build(t)}, []stack.Layer{build(t)}, opts)
		}
		roundTrip(t, p, opts.Sizes)
	})

	t.Run("NoLeaks", func(t *testing.T) {
		p := mustPair(t, []stack.Layer{build(t)}, []stack.Layer{build(t)}, opts)
		for _, n := range opts.Sizes {
			p.Send(payload(n, 9), stack.Meta{})
		}
		// Leave some packets undelivered and some parcels half done.
		p.Link.Step(AtoB)
		p.Close()
		if n := p.Pool.Outstanding(); n != 0 {
			t.Fatalf("%d packets not released after Close", n)
		}
	})

	t.Run("Close", func(t *testing.T) {
		l := build(t)
		if err := l.Close(); err != nil {
			t.Fatalf("Close of an unbound layer: %v", err)
		}
		l.Close()
		p := mustPair(t, []stack.Layer{build(t)}, []stack.Layer{build(t)}, opts)
		p.A.Close()
		p.A.Layers()[0].Close()
		if err := p.A.Down(p.A.NewPacket(1)); err == nil {
			t.Fatal("Down on a closed stack returned no error")
		}
	})
}

func mustPair(t *testing.T, a, b []stack.Layer, opts Options) *Pair {
	t.Helper()
	p, err := NewPair(t, a, b, PairConfig{MTU: opts.MTU})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// payload is n bytes that say which payload they are and where each byte
// sits, so reordering or mixing is caught.
func payload(n int, id byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = id ^ byte(i) ^ byte(i>>8)
	}
	return b
}

func roundTrip(t *testing.T, p *Pair, sizes []int) {
	t.Helper()
	for i, n := range sizes {
		if err := p.Send(payload(n, byte(i)), stack.Meta{}); err != nil {
			t.Fatalf("send %d bytes: %v", n, err)
		}
		p.Link.Flush()
		p.Clock.Advance(time.Millisecond)
		p.Link.Flush()
	}
	got := p.GotB.Take()
	if len(got) != len(sizes) {
		t.Fatalf("delivered %d payloads, want %d (sizes %v)", len(got), len(sizes), sizes)
	}
	for i, n := range sizes {
		if !bytes.Equal(got[i].Bytes, payload(n, byte(i))) {
			t.Fatalf("payload %d (%d bytes) came back as %d different bytes", i, n, len(got[i].Bytes))
		}
	}
}

func checkHeadroom(t *testing.T, p *Pair) {
	t.Helper()
	if g := p.Pool.Grown(); g != 0 {
		t.Fatalf("%d packets had to grow: the layer adds more than its Overhead", g)
	}
	for _, s := range []*stack.Stack{p.A, p.B} {
		for _, ls := range s.Stats().Layers {
			if ls.Name == "stack" && ls.Drops["too-large"] != 0 {
				t.Fatalf("%d packets left the stack over the MTU", ls.Drops["too-large"])
			}
		}
	}
}

// marker pushes a 4-byte header (a tag and a 3-byte length) and checks it on
// the way up: it catches a neighbour that writes outside its own room.
type marker struct {
	stack.Base
	tag byte
}

func (m *marker) Name() string  { return fmt.Sprintf("marker-%x", m.tag) }
func (m *marker) Overhead() int { return 4 }

func (m *marker) Down(p *stack.Packet) error {
	h := p.Push(4)
	n := uint32(p.Len() - 4)
	binary.BigEndian.PutUint32(h, n)
	h[0] = m.tag
	return m.Base.Down(p)
}

func (m *marker) Up(p *stack.Packet) error {
	h, ok := p.Consume(4)
	if !ok || h[0] != m.tag || int(binary.BigEndian.Uint32(h)&0xFFFFFF) != p.Len()&0xFFFFFF {
		m.Binding().Drop(p, "bad-marker")
		return nil
	}
	return m.Base.Up(p)
}
