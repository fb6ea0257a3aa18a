package fec

import (
	"bytes"
	"math"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/layers/frag"
	"github.com/rwanda-go/rwanda/layers/window"
	"github.com/rwanda-go/rwanda/registry"
	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/stack/stacktest"
)

// On-demand parity numbers shards past the proactive ones, and a receiver
// decodes with a codec of another parity count than the sender encoded
// with: the j-th parity row must not depend on how many rows the codec has.
func TestParityRowsDoNotDependOnParityCount(t *testing.T) {
	for _, k := range []int{1, 4, 16, 32} {
		data := make([][]byte, k)
		for i := range data {
			data[i] = bytes.Repeat([]byte{byte(7*i + 1)}, 64)
		}
		par := func(m int) [][]byte {
			p := make([][]byte, m)
			for i := range p {
				p[i] = make([]byte, 64)
			}
			if err := encode(data, p); err != nil {
				t.Fatal(err)
			}
			return p
		}
		small, large := par(2), par(9)
		for j := range small {
			if !bytes.Equal(small[j], large[j]) {
				t.Fatalf("k=%d: parity row %d differs between 2 and 9 parity shards", k, j)
			}
		}
	}
}

func TestParityForLoss(t *testing.T) {
	if got := ParityFor(16, 0, 0.02); got != 0 {
		t.Errorf("no loss: %d parity shards, want none", got)
	}
	// The figure: 16+2 at 2% leaves 0.52% of blocks unrepaired.
	if r := tail(18, 2, 0.02); math.Abs(r-0.0052) > 0.0002 {
		t.Errorf("16+2 at 2%%: %.4f unrepaired, want 0.0052", r)
	}
	if got := ParityFor(16, 0.02, 0.02); got != 2 {
		t.Errorf("k=16 at 2%% loss for 2%% residual: %d parity shards, want 2", got)
	}
	if got, top := ParityFor(16, 0.5, 1e-9), 8; got != top {
		t.Errorf("at 50%% loss: %d, want the cap %d", got, top)
	}
}

// pairOf builds a point-to-point pair (ack mode) of frag/order/window/fecQoS.
func pairOf(t *testing.T, fecQoS string) (*stacktest.Pair, int) {
	t.Helper()
	p, err := stacktest.NewPair(t, layersOf(t, "frag/order/window/"+fecQoS), layersOf(t, "frag/order/window/"+fecQoS),
		stacktest.PairConfig{MTU: 1200, Flow: stack.Flow{PointToPoint: true}})
	if err != nil {
		t.Fatal(err)
	}
	return p, find[*frag.Layer](p.A).FragmentSize()
}

func runPair(p *stacktest.Pair, d time.Duration) {
	for end := p.Clock.Now().Add(d); p.Clock.Now().Before(end); {
		p.Link.Flush()
		p.Clock.Advance(time.Millisecond)
	}
	p.Link.Flush()
}

// Without loss the receiver reports none and the sender sends no parity.
func TestNoParityWithoutLoss(t *testing.T) {
	p, fs := pairOf(t, "fec(parity=auto,report=10ms)")
	for id := range uint32(50) {
		if err := p.A.Down(posting(p.A, id, 16*fs, time.Time{})); err != nil {
			t.Fatal(err)
		}
		runPair(p, 10*time.Millisecond)
	}
	if got := len(p.GotB.Take()); got != 50 {
		t.Fatalf("delivered %d of 50", got)
	}
	if n := counter(p.A, "fec", "reports"); n == 0 {
		t.Fatal("the sender took no loss report")
	}
	if n := counter(p.A, "fec", "parity-sent"); n != 0 {
		t.Errorf("%d parity shards sent without loss", n)
	}
	if n := counter(p.A, "fec", "protected"); n != 50*16 {
		t.Errorf("%d data packets protected, want %d", n, 50*16)
	}
}

// With loss reported, parity follows the data at once; a lost fragment is
// rebuilt before the window notices, so nothing is retransmitted (ack
// mode: the packets behind the loss wait for the parity instead of making
// the receiver acknowledge around a hole).
func TestRepairedNotRequestedAck(t *testing.T) {
	p, fs := pairOf(t, "fec(fixed=2)")
	lost := 0
	p.Link.SetFilter(func(d stacktest.Direction, _ int, b []byte) int {
		if h, ok := wireHeader(b); ok && d == stacktest.AtoB && h.Kind == kindData && h.Index == 3 && lost < 1 {
			lost++
			return 0
		}
		return 1
	})
	if err := p.A.Down(posting(p.A, 1, 16*fs, time.Time{})); err != nil {
		t.Fatal(err)
	}
	runPair(p, 500*time.Millisecond)
	got := p.GotB.Take()
	if len(got) != 1 {
		t.Fatalf("delivered %d postings, want 1", len(got))
	}
	if _, ok := intact(got[0].Bytes, 16*fs); !ok {
		t.Fatal("the posting arrived damaged")
	}
	if lost != 1 {
		t.Fatal("the filter dropped nothing")
	}
	if n := counter(p.B, "fec", "recovered"); n != 1 {
		t.Errorf("recovered %d, want 1", n)
	}
	if n := counter(p.A, "window", "retransmits"); n != 0 {
		t.Errorf("the window retransmitted %d packets that fec repaired", n)
	}
	// The window's initial window sends the posting in two bursts, so two
	// blocks; every parity shard but the one that rebuilt the loss was
	// useless.
	if sent, n := counter(p.A, "fec", "parity-sent"), counter(p.B, "fec", "parity-useless"); n != sent-1 {
		t.Errorf("parity-useless %d of %d sent, want all but one", n, sent)
	}
}

// groupOf builds a multicast group (nak mode) of frag/order/window/fecQoS.
func groupOf(t *testing.T, n int, fecQoS string) (*stacktest.Group, int) {
	t.Helper()
	g, err := stacktest.NewGroup(t, n, func() []stack.Layer { return layersOf(t, "frag/order/window/"+fecQoS) },
		stacktest.GroupConfig{MTU: 1200})
	if err != nil {
		t.Fatal(err)
	}
	return g, find[*frag.Layer](g.Sender).FragmentSize()
}

func runGroup(g *stacktest.Group, d time.Duration) {
	for end := g.Clock.Now().Add(d); g.Clock.Now().Before(end); {
		g.Flush()
		g.Clock.Advance(time.Millisecond)
	}
	g.Flush()
}

// dropIndex drops the first data packet of the given index in block 0.
func dropIndex(idx uint8) stacktest.Filter {
	done := false
	return func(_ stacktest.Direction, _ int, b []byte) int {
		if h, ok := wireHeader(b); ok && !done && h.Kind == kindData && h.Block == 0 && h.Index == idx {
			done = true
			return 0
		}
		return 1
	}
}

// Multicast: two receivers lose different packets of one block; their
// NAKs are answered with one parity shard, which repairs both (and is
// useless to the third), and the window retransmits nothing.
func TestNakAnsweredWithOneParityForTwoReceivers(t *testing.T) {
	g, fs := groupOf(t, 3, "fec(parity=off)")
	g.SetFilter(0, dropIndex(2))
	g.SetFilter(1, dropIndex(5))
	if err := g.Sender.Down(posting(g.Sender, 1, 16*fs, time.Time{})); err != nil {
		t.Fatal(err)
	}
	runGroup(g, 500*time.Millisecond)
	for i := range 3 {
		got := g.Got[i].Take()
		if len(got) != 1 {
			t.Fatalf("receiver %d got %d postings, want 1", i, len(got))
		}
		if _, ok := intact(got[0].Bytes, 16*fs); !ok {
			t.Fatalf("receiver %d: damaged", i)
		}
	}
	if n := counter(g.Sender, "fec", "parity-repair"); n != 1 {
		t.Errorf("%d parity shards answered the NAKs, want 1", n)
	}
	if n := counter(g.Sender, "window", "retransmits"); n != 0 {
		t.Errorf("the window retransmitted %d packets", n)
	}
	if n := drops(g.Sender, "window", "malformed"); n != 0 {
		t.Errorf("the window dropped %d malformed packets (what fec passed up of the NAKs)", n)
	}
	for i, want := range []uint64{1, 1, 0} {
		if n := counter(g.Receivers[i], "fec", "recovered"); n != want {
			t.Errorf("receiver %d recovered %d, want %d", i, n, want)
		}
	}
	if n := counter(g.Receivers[2], "fec", "parity-useless"); n != 1 {
		t.Errorf("receiver 2 counted %d useless parity shards, want 1", n)
	}
}

// Proactive parity in nak mode: a loss repaired by it is never NAKed.
func TestRepairedNotNaked(t *testing.T) {
	g, fs := groupOf(t, 2, "fec(fixed=1)")
	g.SetFilter(0, dropIndex(7))
	if err := g.Sender.Down(posting(g.Sender, 1, 16*fs, time.Time{})); err != nil {
		t.Fatal(err)
	}
	runGroup(g, 300*time.Millisecond)
	if got := len(g.Got[0].Take()); got != 1 {
		t.Fatalf("receiver 0 got %d postings", got)
	}
	if n := counter(g.Receivers[0], "fec", "recovered"); n != 1 {
		t.Errorf("recovered %d, want 1", n)
	}
	if n := counter(g.Receivers[0], "window", "naks"); n != 0 {
		t.Errorf("receiver 0 sent %d NAKs for what fec repaired", n)
	}
}

// A block whose data is obsolete when it closes gets no parity, and a NAK
// for an obsolete block is left to the window.
func TestNoParityForExpired(t *testing.T) {
	p, fs := pairOf(t, "fec(fixed=2,wait=10ms)")
	if err := p.A.Down(posting(p.A, 1, 4*fs, p.Clock.Now().Add(5*time.Millisecond))); err != nil {
		t.Fatal(err)
	}
	runPair(p, 50*time.Millisecond)
	if n := counter(p.A, "fec", "expired"); n != 1 {
		t.Errorf("expired %d, want 1", n)
	}
	if n := counter(p.A, "fec", "parity-sent"); n != 0 {
		t.Errorf("%d parity shards sent for obsolete data", n)
	}
	// Before the deadline the same block gets its parity.
	if err := p.A.Down(posting(p.A, 2, 4*fs, p.Clock.Now().Add(50*time.Millisecond))); err != nil {
		t.Fatal(err)
	}
	runPair(p, 50*time.Millisecond)
	if n := counter(p.A, "fec", "parity-sent"); n != 2 {
		t.Errorf("%d parity shards sent in time, want 2", n)
	}
}

func TestNakForObsoleteBlockLeftToWindow(t *testing.T) {
	l, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	clock := stack.NewManualClock(time.Time{})
	var wire []*stack.Packet
	s, err := stack.New(stack.Config{Layers: []stack.Layer{l}, MTU: 1200, Clock: clock,
		Flow:    stack.Flow{Role: stack.Sender, Multicast: true},
		Wire:    stack.HandlerFunc(func(p *stack.Packet) error { wire = append(wire, p); return nil }),
		Deliver: stack.HandlerFunc(func(p *stack.Packet) error { wire = append(wire, p); return nil })})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		s.Close()
		for _, p := range wire {
			p.Release()
		}
	}()
	for i := range 4 {
		p := s.NewPacket(100)
		p.Extend(100)
		p.Meta.Seq, p.Meta.Deadline = uint64(1<<32+i), clock.Now().Add(20*time.Millisecond)
		if err := s.Down(p); err != nil {
			t.Fatal(err)
		}
	}
	nak := func() []window.Span {
		b := append([]byte{kindPass}, window.AppendNak(nil, []window.Span{{From: 1, To: 3}})...)
		q := stack.DefaultPool().FromBytes(0, b)
		q.Meta.Peer = 9
		wire = wire[:0]
		s.Up(q)
		for _, p := range wire {
			if spans, ok := window.NakSpans(p.Bytes(), nil); ok {
				return spans
			}
		}
		return nil
	}
	if spans := nak(); len(spans) != 0 {
		t.Fatalf("a NAK for a live block reached the window as %v", spans)
	}
	clock.Advance(30 * time.Millisecond)
	if spans := nak(); len(spans) != 1 || spans[0] != (window.Span{From: 1, To: 3}) {
		t.Fatalf("a NAK for an obsolete block reached the window as %v, want 1..3", spans)
	}
}

// What either end keeps stays within buffer.
func TestKeptWithinBuffer(t *testing.T) {
	g, fs := groupOf(t, 1, "fec(parity=off,buffer=64KiB,keep=1m)")
	for id := range uint32(40) {
		if err := g.Sender.Down(posting(g.Sender, id, 16*fs, time.Time{})); err != nil {
			t.Fatal(err)
		}
		runGroup(g, 5*time.Millisecond)
		for _, s := range []*stack.Stack{g.Sender, g.Receivers[0]} {
			l := find[*Layer](s)
			if l.snd.bytes > 64<<10 || l.rcv.bytes > 64<<10 {
				t.Fatalf("kept %d bytes sending, %d receiving, beyond 64KiB", l.snd.bytes, l.rcv.bytes)
			}
		}
	}
	if got := len(g.Got[0].Take()); got != 40 {
		t.Fatalf("delivered %d of 40", got)
	}
}

// Garbage from below is dropped and counted, never passed up, never kept.
func TestMalformedDropped(t *testing.T) {
	g, _ := groupOf(t, 1, "fec")
	r := g.Receivers[0]
	for _, b := range [][]byte{{}, {'x'}, {kindData, 0, 0}, {kindParity, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1}, {kindReport}} { // the parity names k 0
		r.Up(g.Pool.FromBytes(0, b))
	}
	if n := drops(r, "fec", "malformed"); n != 5 {
		t.Errorf("%d packets dropped as malformed, want 5 (stats %v)", n, r.Stats().Layers)
	}
	if n := g.Got[0].Len(); n != 0 {
		t.Errorf("%d packets delivered", n)
	}
}

// QoS strings name the layer after a profile and with its parameters.
func TestQoS(t *testing.T) {
	for _, q := range []string{"media/fec", "reliable/fec(parity=auto)", "frag/order/window/fec(parity=off,k=64,round=50ms)"} {
		ls, err := registry.Build(q, registry.Env{})
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if ls[len(ls)-1].Name() != "fec" {
			t.Errorf("%s: last layer %s", q, ls[len(ls)-1].Name())
		}
		for _, l := range ls {
			l.Close()
		}
	}
	if _, err := registry.Build("fec(k=0)", registry.Env{}); err == nil {
		t.Error("k=0 accepted")
	}
	if _, err := registry.Build("fec(parity=2)", registry.Env{}); err == nil {
		t.Error("parity=2 accepted (fixed=2 is the way)")
	}
}

// A block without parity to send stays open across postings, but never
// across frames: parity of video holds one frame's data or less.
func TestBlocksDoNotSpanFrames(t *testing.T) {
	g, fs := groupOf(t, 1, "fec(parity=off)")
	var blocks []uint32
	g.SetFilter(0, func(_ stacktest.Direction, _ int, b []byte) int {
		if h, ok := wireHeader(b); ok && h.Kind == kindData {
			blocks = append(blocks, h.Block)
		}
		return 1
	})
	for i, frame := range []uint64{7, 7, 8} {
		p := posting(g.Sender, uint32(i), 4*fs, time.Time{})
		p.Meta.Tag = &stack.Tag{Frame: frame}
		if err := g.Sender.Down(p); err != nil {
			t.Fatal(err)
		}
		runGroup(g, 5*time.Millisecond)
	}
	n := len(blocks) / 3 // fragments a posting (frag leaves room for the frame id)
	if n < 4 || len(blocks) != 3*n {
		t.Fatalf("%d data packets for 3 postings", len(blocks))
	}
	if blocks[0] != blocks[2*n-1] {
		t.Errorf("two postings of frame 7 in blocks %d and %d, want one", blocks[0], blocks[2*n-1])
	}
	if blocks[2*n-1] == blocks[2*n] {
		t.Errorf("frames 7 and 8 share block %d", blocks[2*n])
	}
}
