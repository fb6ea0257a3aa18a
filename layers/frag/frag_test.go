package frag

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/stack/stacktest"
)

func newPair(t *testing.T, cfg Config, pc stacktest.PairConfig) (*stacktest.Pair, *Layer, *Layer) {
	t.Helper()
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p, err := stacktest.NewPair(t, []stack.Layer{a}, []stack.Layer{b}, pc)
	if err != nil {
		t.Fatal(err)
	}
	return p, a, b
}

func data(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7) + byte(i>>8)
	}
	return b
}

func drops(s *stack.Stack, reason string) uint64 { return s.Stats().Layers[0].Drops[reason] }

func TestSplitBoundaries(t *testing.T) {
	p, a, _ := newPair(t, DefaultConfig(), stacktest.PairConfig{MTU: 1000})
	if a.FragmentSize() != 1000-HeaderLen {
		t.Fatalf("fragment size %d", a.FragmentSize())
	}
	for _, c := range []struct{ size, packets int }{
		{0, 1}, {999, 1}, {1000, 2}, {2 * 989, 2}, {2*989 + 1, 3}, {64 << 10, 67},
	} {
		if err := p.Send(data(c.size, 1), stack.Meta{}); err != nil {
			t.Fatal(err)
		}
		q := p.Link.Queued(stacktest.AtoB)
		if len(q) != c.packets {
			t.Fatalf("%d bytes: %d packets, want %d", c.size, len(q), c.packets)
		}
		for _, b := range q {
			if len(b) > 1000 {
				t.Fatalf("%d bytes: packet of %d over the MTU", c.size, len(b))
			}
		}
		p.Link.Flush()
		got := p.GotB.Take()
		if len(got) != 1 || !bytes.Equal(got[0].Bytes, data(c.size, 1)) {
			t.Fatalf("%d bytes: delivered %d parcels", c.size, len(got))
		}
	}
}

func TestReassembleOutOfOrderInterleaved(t *testing.T) {
	p, _, b := newPair(t, DefaultConfig(), stacktest.PairConfig{MTU: 500})
	p.Send(data(2000, 1), stack.Meta{Deadline: stack.ManualEpoch.Add(time.Second)}) // 5 fragments
	p.Send(data(1200, 2), stack.Meta{})                                             // 3 fragments
	if n := p.Link.Pending(stacktest.AtoB); n != 8 {
		t.Fatalf("%d packets queued", n)
	}
	// Deliver in reverse: parcel 2's fragments first (newest first), then 1's.
	for p.Link.Pending(stacktest.AtoB) > 0 {
		p.Link.DeliverAt(stacktest.AtoB, p.Link.Pending(stacktest.AtoB)-1)
		if b.Incomplete() > 2 {
			t.Fatal("more than two parcels incomplete")
		}
	}
	got := p.GotB.Take()
	if len(got) != 2 || !bytes.Equal(got[0].Bytes, data(1200, 2)) || !bytes.Equal(got[1].Bytes, data(2000, 1)) {
		t.Fatalf("got %d parcels", len(got))
	}
	if b.Incomplete() != 0 || p.Pool.Outstanding() != 0 {
		t.Fatalf("incomplete %d, outstanding %d", b.Incomplete(), p.Pool.Outstanding())
	}
}

func TestParcelCarriesFirstFragmentMeta(t *testing.T) {
	p, _, _ := newPair(t, DefaultConfig(), stacktest.PairConfig{MTU: 500})
	p.Send(data(1000, 1), stack.Meta{})
	q := p.Link.Queued(stacktest.AtoB)
	for i := len(q) - 1; i >= 0; i-- { // last first
		pk := p.Pool.FromBytes(0, q[i])
		pk.Meta.Peer, pk.Meta.Seq = 42, uint64(100+i)
		p.B.Up(pk)
	}
	got := p.GotB.Take()
	if len(got) != 1 || got[0].Meta.Peer != 42 || got[0].Meta.Seq != 100 {
		t.Fatalf("got %+v", got)
	}
	p.Link.Flush()
	p.GotB.Take()
}

func TestDuplicates(t *testing.T) {
	p, _, _ := newPair(t, DefaultConfig(), stacktest.PairConfig{MTU: 500})
	// Every fragment arrives twice.
	p.Link.SetFilter(func(_ stacktest.Direction, _ int, _ []byte) int { return 2 })
	p.Send(data(2000, 3), stack.Meta{})
	p.Link.Flush()
	if got := p.GotB.Take(); len(got) != 1 {
		t.Fatalf("delivered %d times", len(got))
	}
	// 5 fragments: the copies of the first 4 hit the incomplete parcel; the
	// last one's copy hits the recently completed parcel.
	if d := drops(p.B, dropDuplicate); d != 5 {
		t.Fatalf("duplicate drops %d, want 5", d)
	}
	if p.B.Layers()[0].(*Layer).Incomplete() != 0 {
		t.Fatal("a duplicate left a zombie parcel")
	}
}

func TestLostFragmentExpires(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Timeout = 300 * time.Millisecond
	mem := stack.NewBudget(1 << 20)
	p, _, b := newPair(t, cfg, stacktest.PairConfig{MTU: 500, Memory: mem})
	p.Link.SetFilter(func(_ stacktest.Direction, n int, _ []byte) int {
		if n == 2 {
			return 0 // lose the middle fragment of the first parcel
		}
		return 1
	})
	p.Send(data(2000, 4), stack.Meta{})
	p.Link.Flush()
	if b.Incomplete() != 1 || mem.Used() == 0 {
		t.Fatalf("incomplete %d, memory %d", b.Incomplete(), mem.Used())
	}
	p.Clock.Advance(299 * time.Millisecond)
	if b.Incomplete() != 1 {
		t.Fatal("expired early")
	}
	p.Clock.Advance(time.Millisecond)
	if b.Incomplete() != 0 || mem.Used() != 0 {
		t.Fatalf("after timeout: incomplete %d, memory %d", b.Incomplete(), mem.Used())
	}
	if got := p.GotB.Take(); len(got) != 0 {
		t.Fatal("an incomplete parcel was delivered")
	}
	if d := drops(p.B, dropExpired); d != 1 {
		t.Fatalf("expired %d", d)
	}
	// The flow still works.
	p.Send(data(2000, 5), stack.Meta{})
	p.Link.Flush()
	if got := p.GotB.Take(); len(got) != 1 || !bytes.Equal(got[0].Bytes, data(2000, 5)) {
		t.Fatal("next parcel not delivered")
	}
}

func TestEvictionByParcelCount(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Parcels = 3
	p, _, b := newPair(t, cfg, stacktest.PairConfig{MTU: 500})
	// Send five parcels, deliver only their first fragments: 3 fit.
	for i := range 5 {
		p.Send(data(1000, byte(i)), stack.Meta{}) // 3 fragments each
	}
	for i := range 5 {
		// Parcel i's first fragment was queued at 3i; i packets ahead of
		// it have been taken out since.
		p.Link.DeliverAt(stacktest.AtoB, 2*i)
	}
	if b.Incomplete() != 3 {
		t.Fatalf("incomplete %d, want 3", b.Incomplete())
	}
	if d := drops(p.B, dropEvicted); d != 2 {
		t.Fatalf("evicted %d, want 2", d)
	}
	// The queue now holds fragments 1 and 2 of each parcel, in order:
	// those of parcels 2, 3, 4 start at index 4 and complete them.
	for range 6 {
		p.Link.DeliverAt(stacktest.AtoB, 4)
	}
	got := p.GotB.Take()
	if len(got) != 3 {
		t.Fatalf("delivered %d parcels, want 3", len(got))
	}
	for i, g := range got {
		if !bytes.Equal(g.Bytes, data(1000, byte(i+2))) {
			t.Fatalf("parcel %d is not parcel %d", i, i+2)
		}
	}
	// The evicted parcels' remaining fragments cannot complete them.
	p.Link.Flush()
	if got := p.GotB.Take(); len(got) != 0 {
		t.Fatalf("an evicted parcel was delivered")
	}
}

func TestBufferLimits(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Max = 4000
	cfg.Buffer = 5000
	p, _, b := newPair(t, cfg, stacktest.PairConfig{MTU: 500})
	// Two 4000-byte parcels cannot be held at once in 5000 bytes: once
	// the first has its buffer (its first two fragments are half of it),
	// the second's first fragment evicts it.
	p.Send(data(4000, 1), stack.Meta{})
	p.Send(data(4000, 2), stack.Meta{})
	p.Link.DeliverAt(stacktest.AtoB, 0)
	p.Link.DeliverAt(stacktest.AtoB, 0)
	if b.Incomplete() != 1 || b.r.used < 9*489 {
		t.Fatalf("first parcel: incomplete %d, %d bytes reserved", b.Incomplete(), b.r.used)
	}
	p.Link.DeliverAt(stacktest.AtoB, 7) // first fragment of parcel 2 (parcel 1 has 9)
	if b.Incomplete() != 1 || drops(p.B, dropEvicted) != 1 || b.r.used > cfg.Buffer {
		t.Fatalf("incomplete %d evicted %d used %d", b.Incomplete(), drops(p.B, dropEvicted), b.r.used)
	}
	// Too large for Max and the header allowance: refused at the sender
	// with an error naming the limit and how to raise it.
	err := p.Send(data(4000+HeaderAllowance+1, 3), stack.Meta{})
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "max of 4000") || !strings.Contains(err.Error(), "frag(max=") {
		t.Fatalf("oversize send: %v", err)
	}
}

func TestSharedBudget(t *testing.T) {
	mem := stack.NewBudget(3000)
	p, _, b := newPair(t, DefaultConfig(), stacktest.PairConfig{MTU: 500, Memory: mem})
	p.Send(data(2000, 1), stack.Meta{}) // reserves 5×489
	p.Send(data(2000, 2), stack.Meta{})
	p.Link.DeliverAt(stacktest.AtoB, 0)
	p.Link.DeliverAt(stacktest.AtoB, 4) // parcel 2's first: evicts parcel 1 to fit
	if b.Incomplete() != 1 || mem.Used() > 3000 || drops(p.B, dropEvicted) != 1 {
		t.Fatalf("incomplete %d used %d evicted %d", b.Incomplete(), mem.Used(), drops(p.B, dropEvicted))
	}
	// A parcel bigger than the whole budget is dropped, not buffered.
	p.Send(data(5000, 3), stack.Meta{})
	p.Link.Flush()
	if drops(p.B, dropNoMemory) == 0 {
		t.Fatal("no no-memory drops")
	}
	if mem.Used() > 3000 {
		t.Fatalf("budget exceeded: %d", mem.Used())
	}
}

func TestMalformed(t *testing.T) {
	p, _, _ := newPair(t, DefaultConfig(), stacktest.PairConfig{MTU: 500})
	p.Send(data(1000, 1), stack.Meta{})
	q := p.Link.Queued(stacktest.AtoB)
	// A fragment claiming a different count for the same parcel.
	bad := append([]byte(nil), q[1]...)
	bad[8] = 4
	p.B.Up(p.Pool.FromBytes(0, q[0]))
	p.B.Up(p.Pool.FromBytes(0, bad))
	if drops(p.B, dropMalformed) != 1 {
		t.Fatalf("malformed %d", drops(p.B, dropMalformed))
	}
	for _, b := range [][]byte{{}, {7}, {1, 0, 0}, {1, 0, 0, 0, 0, 0, 5, 0, 2, 0, 10}} {
		p.B.Up(p.Pool.FromBytes(0, b))
	}
	if drops(p.B, dropMalformed) != 5 {
		t.Fatalf("malformed %d, want 5", drops(p.B, dropMalformed))
	}
	p.Link.Flush()
	p.GotB.Take()
}

func TestBindErrors(t *testing.T) {
	h := stack.HandlerFunc(func(p *stack.Packet) error { p.Release(); return nil })
	below := &pad{n: 100}
	cases := []struct {
		cfg    func(*Config)
		mtu    int
		layers func(*Layer) []stack.Layer
		want   string
	}{
		{func(c *Config) { c.MTU = 150 }, 1500, func(l *Layer) []stack.Layer { return []stack.Layer{l, below} },
			"stack: frag (layer 0) mtu 150 leaves 39 bytes per fragment after 100 bytes of headers below and 11 of its own; at least 64 are needed"},
		{func(c *Config) { c.MTU = 9000 }, 1500, func(l *Layer) []stack.Layer { return []stack.Layer{l} },
			"stack: frag (layer 0) mtu 9000 exceeds the stack's MTU of 1500"},
		{func(c *Config) { c.Max = 1 << 30; c.Buffer = 1 << 30 }, 1500, func(l *Layer) []stack.Layer { return []stack.Layer{l} },
			"more than 65535: raise mtu or lower max"},
		// Max and the header allowance fit in fragments without relay
		// metadata, not in those of a parcel with the longest key and frame
		// id.
		{func(c *Config) { c.Max = MaxFragments*1489 - HeaderAllowance; c.Buffer = 1 << 30 }, 1500, func(l *Layer) []stack.Layer { return []stack.Layer{l} },
			"(and 8192 bytes of headers) would need 69012 fragments of 1414 bytes (with the longest key and frame id), more than 65535"},
	}
	for _, c := range cases {
		cfg := DefaultConfig()
		c.cfg(&cfg)
		l, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		_, err = stack.New(stack.Config{Layers: c.layers(l), Wire: h, Deliver: h, MTU: c.mtu})
		if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, stack.ErrBind) {
			t.Errorf("got %v\nwant %q", err, c.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []struct {
		f    func(*Config)
		want string
	}{
		{func(c *Config) { c.MTU = -1 }, "negative"},
		{func(c *Config) { c.Max = 0 }, "at least 1 byte"},
		{func(c *Config) { c.Buffer = c.Max - 1 }, "smaller than max"},
		{func(c *Config) { c.Parcels = 0 }, "parcels 0"},
		{func(c *Config) { c.Timeout = 0 }, "timeout"},
	} {
		cfg := DefaultConfig()
		c.f(&cfg)
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want %q", err, c.want)
		}
	}
}

type pad struct {
	stack.Base
	n int
}

func (p *pad) Name() string  { return "pad" }
func (p *pad) Overhead() int { return p.n }

func TestIncompleteParcelDroppedAtItsDeadline(t *testing.T) {
	p, _, b := newPair(t, DefaultConfig(), stacktest.PairConfig{MTU: 500})
	p.Send(data(2000, 1), stack.Meta{})
	q := p.Link.Queued(stacktest.AtoB)
	p.Link.Close()
	deadline := p.Clock.Now().Add(100 * time.Millisecond)
	for _, f := range q[:4] { // the last fragment never comes
		pk := p.Pool.FromBytes(0, f)
		pk.Meta.Deadline = deadline
		p.B.Up(pk)
	}
	p.Clock.Advance(99 * time.Millisecond)
	if b.Incomplete() != 1 {
		t.Fatal("dropped before its deadline")
	}
	p.Clock.Advance(time.Millisecond)
	if b.Incomplete() != 0 || drops(p.B, dropObsolete) != 1 {
		t.Fatalf("incomplete %d, obsolete %d", b.Incomplete(), drops(p.B, dropObsolete))
	}
}

// TestMaxBoundsTheBody: max bounds the body the application sees, not the
// parcel with its headers: a parcel of Max and HeaderAllowance bytes (a
// body of Max with the largest posting header) is sent and reassembled;
// one byte more is refused at the sender, and a fragment declaring more
// is dropped at the receiver ("too-large").
func TestMaxBoundsTheBody(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Max = 20000
	p, _, _ := newPair(t, cfg, stacktest.PairConfig{MTU: 1000})
	largest := int(cfg.Max) + HeaderAllowance
	if cfg.Largest() != int64(largest) {
		t.Fatalf("Largest %d, want %d", cfg.Largest(), largest)
	}
	if err := p.Send(data(largest, 3), stack.Meta{}); err != nil {
		t.Fatalf("a parcel of max and the header allowance: %v", err)
	}
	p.Link.Flush()
	if got := p.GotB.Take(); len(got) != 1 || !bytes.Equal(got[0].Bytes, data(largest, 3)) {
		t.Fatalf("delivered %d parcels", len(got))
	}
	err := p.Send(data(largest+1, 4), stack.Meta{})
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "max of 20000") || !strings.Contains(err.Error(), "frag(max=") {
		t.Fatalf("one byte more: %v", err)
	}
	// A receiver with a smaller max drops a parcel over its own limit
	// when its first fragment arrives.
	small := cfg
	small.Max = 10000
	q, _, _ := newPair(t, small, stacktest.PairConfig{MTU: 1000})
	hdr := Header{Parcel: 9, Index: 0, Count: uint16((largest + 988) / 989), Size: 989}
	b := make([]byte, HeaderLen+989)
	hdr.put(b)
	q.B.Up(q.Pool.FromBytes(0, b))
	if drops(q.B, dropTooLarge) != 1 {
		t.Fatalf("too-large drops %d, want 1", drops(q.B, dropTooLarge))
	}
}
