package sign_test

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/layers/sign"
	"github.com/rwanda-go/rwanda/registry"
	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/stack/stacktest"

	_ "github.com/rwanda-go/rwanda/layers/frag"
	_ "github.com/rwanda-go/rwanda/layers/order"
	_ "github.com/rwanda-go/rwanda/layers/window"
)

func TestRoundTripBatch1(t *testing.T) {
	id := ident(t, 1)
	c := config(id, trust(t, id), 1)
	f := newFixture(t, c, c, testFlow)
	f.sendN(t, 0, 50)
	if f.GotB.Len() != 0 {
		t.Fatal("delivered before the link moved")
	}
	f.Link.Flush()
	f.expect(t, 0, 50)
	f.checkDrops(t, nil)
	if c := layerStats(f.A).Counters; c["signed"] != 50 || c["data"] != 0 || c["sigs"] != 0 {
		t.Fatalf("sender counters %v", c)
	}
	if c := layerStats(f.B).Counters; c["verified"] != 50 || c["signatures"] != 50 {
		t.Fatalf("receiver counters %v", c)
	}
	if st := f.lb.State(); !st.Pinned || st.Signer != id.Fingerprint() || st.Instance != 1 || st.Held != 0 {
		t.Fatalf("receiver state %+v", st)
	}
	if f.Pool.Grown() != 0 {
		t.Fatalf("%d packets grew: overhead under-declared", f.Pool.Grown())
	}
}

func TestRoundTripBatch16(t *testing.T) {
	id := ident(t, 1)
	c := config(id, trust(t, id), 16)
	f := newFixture(t, c, c, testFlow)
	f.sendN(t, 0, 40)
	f.Link.Flush()
	// Two full batches are signed; eight packets wait for theirs.
	f.expect(t, 0, 32)
	if st := f.la.State(); st.Pending != 8 || st.Next != 40 {
		t.Fatalf("sender state %+v", st)
	}
	if st := f.lb.State(); st.Held != 8 || st.HeldBytes <= 0 {
		t.Fatalf("receiver state %+v", st)
	}
	f.Clock.Advance(delay - time.Microsecond)
	f.Link.Flush()
	if f.GotB.Len() != 0 {
		t.Fatal("the last batch was signed before its delay")
	}
	f.Clock.Advance(time.Microsecond)
	f.Link.Flush()
	f.expect(t, 32, 8)
	if st := f.lb.State(); st.Held != 0 || st.HeldBytes != 0 || st.Remembered != 0 {
		t.Fatalf("receiver state after the last SIG %+v", st)
	}
	if c := layerStats(f.A).Counters; c["data"] != 40 || c["sigs"] != 3 {
		t.Fatalf("sender counters %v", c)
	}
	if c := layerStats(f.B).Counters; c["verified"] != 40 || c["signatures"] != 3 {
		t.Fatalf("receiver counters %v", c)
	}
	f.checkDrops(t, nil)
	f.Clock.Advance(time.Minute)
	f.Link.Flush()
	f.checkDrops(t, nil)
	if f.Pool.Grown() != 0 {
		t.Fatalf("%d packets grew", f.Pool.Grown())
	}
}

// A SIG that overtakes its packets: each is released as it arrives.
func TestSigBeforeData(t *testing.T) {
	id := ident(t, 1)
	c := config(id, trust(t, id), 16)
	f := newFixture(t, c, c, testFlow)
	f.sendN(t, 0, 16)
	pk := f.take()
	if len(pk) != 17 || pk[16][0] != 0x63 {
		t.Fatalf("%d packets queued, last kind %#x", len(pk), pk[len(pk)-1][0])
	}
	f.feed(pk[16])
	if st := f.lb.State(); st.Remembered != 16 {
		t.Fatalf("remembered %d digests", st.Remembered)
	}
	for i := range 16 {
		f.feed(pk[i])
		f.expect(t, i, 1)
	}
	if st := f.lb.State(); st.Remembered != 0 || st.Held != 0 {
		t.Fatalf("state %+v", st)
	}
	// Half the digests of a SIG whose packets never come are forgotten.
	f.sendN(t, 16, 16)
	pk = f.take()
	f.feed(pk[16])
	f.feed(pk[:8]...)
	f.expect(t, 16, 8)
	f.Clock.Advance(sign.DefaultConfig().Timeout)
	if st := f.lb.State(); st.Remembered != 0 {
		t.Fatalf("remembered %d after the timeout", st.Remembered)
	}
	if c := layerStats(f.B).Counters; c["unclaimed"] != 8 {
		t.Fatalf("counters %v", c)
	}
	f.checkDrops(t, nil)
}

func TestUnsignedDropped(t *testing.T) {
	id := ident(t, 1)
	for _, batch := range []int{1, 16} {
		// A sender stack without sign feeding a receiver with it.
		p, err := stacktest.NewPair(t, nil, []stack.Layer{mustNew(t, config(nil, trust(t, id), batch))}, stacktest.PairConfig{Flow: testFlow})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 30 {
			p.Send(payload(i*10, i), stack.Meta{})
		}
		p.Link.Flush()
		p.Clock.Advance(time.Minute)
		p.Link.Flush()
		if n := p.GotB.Len(); n != 0 {
			t.Fatalf("batch=%d: %d unsigned packets delivered", batch, n)
		}
		// Payload 0 is empty; the others start with bytes that are not
		// a sign kind (payload i starts with byte i).
		if d := layerStats(p.B).Drops; d["unsigned"] != 30 || len(d) != 1 {
			t.Fatalf("batch=%d: drops %v", batch, d)
		}
	}
}

func TestUntrustedDropped(t *testing.T) {
	signer, other := ident(t, 1), ident(t, 2)
	for _, batch := range []int{1, 16} {
		f := newFixture(t, config(signer, nil, batch), config(nil, trust(t, other), batch), testFlow)
		f.sendN(t, 0, 32)
		f.Link.Flush()
		f.Clock.Advance(time.Minute)
		f.Link.Flush()
		if n := f.GotB.Len(); n != 0 {
			t.Fatalf("batch=%d: %d packets of an untrusted signer delivered", batch, n)
		}
		want := map[string]uint64{"untrusted": 32}
		if batch == 16 {
			want = map[string]uint64{"untrusted": 2, "expired": 32} // the SIGs, then their packets
		}
		f.checkDrops(t, want)
		if st := f.lb.State(); st.Pinned || st.Held != 0 {
			t.Fatalf("batch=%d: state %+v", batch, st)
		}
		ev := f.EventsB.Take()
		if len(ev) != 1 || ev[0].Kind != "untrusted-signer" || !strings.Contains(ev[0].Detail, signer.Fingerprint().String()) {
			t.Fatalf("batch=%d: events %+v", batch, ev)
		}
	}
}

// Trust is read for every signature: a key removed is refused from then on.
func TestTrustRevoked(t *testing.T) {
	id := ident(t, 1)
	tr := trust(t, id)
	f := newFixture(t, config(id, nil, 1), config(nil, tr, 1), testFlow)
	f.sendN(t, 0, 3)
	f.Link.Flush()
	f.expect(t, 0, 3)
	tr.Remove(id.Fingerprint())
	f.sendN(t, 3, 3)
	f.Link.Flush()
	f.expect(t, 3, 0)
	f.checkDrops(t, map[string]uint64{"untrusted": 3})
}

// Once a flow's signer is pinned, another trusted key is refused on it.
func TestWrongSignerDropped(t *testing.T) {
	x, y := ident(t, 1), ident(t, 2)
	for _, batch := range []int{1, 16} {
		f := newFixture(t, config(x, nil, batch), config(nil, trust(t, x, y), batch), testFlow)
		f.sendN(t, 0, 16)
		f.Link.Flush()
		f.Clock.Advance(delay)
		f.Link.Flush()
		f.expect(t, 0, 16)
		// Another stack for the same flow signing with y.
		// Sequence numbers 16..31 (0..15 were delivered, and would be
		// dropped as replayed whoever signed them).
		g := newFixture(t, config(y, nil, batch), config(nil, trust(t, y), batch), testFlow)
		g.sendN(t, 0, 32)
		pk := g.take()
		f.feed(pk[len(pk)/2:]...)
		f.Clock.Advance(time.Minute)
		f.expect(t, 0, 0)
		want := map[string]uint64{"wrong-signer": 16}
		if batch == 16 {
			want = map[string]uint64{"wrong-signer": 1, "expired": 16}
		}
		f.checkDrops(t, want)
	}
}

// Every single-byte change to a signed packet, header or payload, and to
// a SIG, is caught; the genuine packets still go through afterwards.
func TestTamperedNotDelivered(t *testing.T) {
	id := ident(t, 1)
	t.Run("batch=1", func(t *testing.T) {
		c := config(id, trust(t, id), 1)
		f := newFixture(t, c, c, testFlow)
		f.sendN(t, 1, 1)
		genuine := f.take()[0]
		for i := range genuine {
			for _, x := range []byte{1, 0x80} {
				b := bytes.Clone(genuine)
				b[i] ^= x
				f.feed(b)
			}
			f.feed(genuine[:i]) // truncated
		}
		f.Clock.Advance(time.Minute)
		f.expect(t, 0, 0)
		f.feed(genuine)
		f.expect(t, 1, 1)
	})
	t.Run("data", func(t *testing.T) {
		c := config(id, trust(t, id), 4)
		f := newFixture(t, c, c, testFlow)
		f.sendN(t, 0, 4)
		pk := f.take() // four DATA packets and a SIG
		for i := range pk[1] {
			b := bytes.Clone(pk[1])
			b[i] ^= 0x41
			f.feed(b)
		}
		f.feed(pk[0])
		f.feed(pk[2:]...)
		got := f.GotB.Take()
		if len(got) != 3 || !bytes.Equal(got[0].Bytes, payload(50, 0)) || !bytes.Equal(got[1].Bytes, payload(52, 2)) {
			t.Fatalf("delivered %d", len(got))
		}
		if d := f.drops(); d["bad-digest"] == 0 {
			t.Fatalf("drops %v", d)
		}
		// The genuine packet 1 still gets through: its digest was kept.
		f.feed(pk[1])
		f.expect(t, 1, 1)
		f.Clock.Advance(time.Minute)
		f.expect(t, 0, 0)
	})
	t.Run("sig", func(t *testing.T) {
		c := config(id, trust(t, id), 4)
		f := newFixture(t, c, c, testFlow)
		f.sendN(t, 0, 4)
		pk := f.take()
		f.feed(pk[:4]...)
		sig := pk[4]
		for i := range sig {
			b := bytes.Clone(sig)
			b[i] ^= 0x10
			f.feed(b)
			f.feed(sig[:i])
		}
		f.expect(t, 0, 0)
		if st := f.lb.State(); st.Held != 4 || st.Pinned {
			t.Fatalf("state after tampered SIGs %+v", st)
		}
		f.feed(sig)
		f.expect(t, 0, 4)
		if d := f.drops(); d["bad-signature"] == 0 || d["malformed"] == 0 {
			t.Fatalf("drops %v", d)
		}
	})
}

func TestLostSigExpires(t *testing.T) {
	id := ident(t, 1)
	c := config(id, trust(t, id), 16)
	f := newFixture(t, c, c, testFlow)
	f.sendN(t, 0, 16)
	if !f.Link.DropAt(stacktest.AtoB, 16) {
		t.Fatal("no SIG queued")
	}
	f.Link.Flush()
	if st := f.lb.State(); st.Held != 16 {
		t.Fatalf("held %d", st.Held)
	}
	timeout := c.Timeout
	f.Clock.Advance(timeout - time.Nanosecond)
	f.checkDrops(t, nil)
	f.Clock.Advance(time.Nanosecond)
	f.checkDrops(t, map[string]uint64{"expired": 16})
	if st := f.lb.State(); st.Held != 0 || st.HeldBytes != 0 {
		t.Fatalf("state %+v", st)
	}
	f.expect(t, 0, 0)
	// The next batch is unaffected.
	f.sendN(t, 16, 16)
	f.Link.Flush()
	f.expect(t, 16, 16)
}

func TestReplayDropped(t *testing.T) {
	id := ident(t, 1)
	for _, batch := range []int{1, 8} {
		c := config(id, trust(t, id), batch)
		f := newFixture(t, c, c, testFlow)
		f.sendN(t, 0, 8)
		pk := f.take()
		f.feed(pk...)
		f.expect(t, 0, 8)
		f.feed(pk...)
		f.feed(pk...)
		f.Clock.Advance(time.Minute)
		f.expect(t, 0, 0)
		want := map[string]uint64{"replay": 16}
		if batch == 8 {
			want = map[string]uint64{"replay": 16, "duplicate": 2}
		}
		f.checkDrops(t, want)
	}
}

// A duplicated DATA packet is held once; a flood of one far-old number
// after the window moved is refused.
func TestDuplicateHeldOnce(t *testing.T) {
	id := ident(t, 1)
	c := config(id, trust(t, id), 4)
	f := newFixture(t, c, c, testFlow)
	f.sendN(t, 0, 4)
	pk := f.take()
	f.feed(pk[0], pk[0], pk[1])
	if st := f.lb.State(); st.Held != 2 {
		t.Fatalf("held %d", st.Held)
	}
	f.feed(pk[2:]...)
	f.expect(t, 0, 4)
	f.checkDrops(t, map[string]uint64{"duplicate": 1})
}

// Signatures bind the sender and the stream: packets signed for one flow
// do not verify on another.
func TestFlowBinding(t *testing.T) {
	id := ident(t, 1)
	for _, batch := range []int{1, 4} {
		c := config(id, trust(t, id), batch)
		src := newFixture(t, c, c, testFlow)
		src.sendN(t, 0, 4)
		pk := src.take()
		for _, flow := range []stack.Flow{
			{Local: 7, Remote: 7, ID: 4, Instance: 1}, // another stream of the sender
			{Local: 8, Remote: 8, ID: 3, Instance: 1}, // the same stream id of another member
		} {
			f := newFixture(t, c, c, flow)
			f.feed(pk...)
			f.Clock.Advance(time.Minute)
			f.expect(t, 0, 0)
			want := map[string]uint64{"bad-signature": 4}
			if batch == 4 {
				want = map[string]uint64{"bad-signature": 1, "expired": 4}
			}
			f.checkDrops(t, want)
		}
		// And the right flow takes them.
		f := newFixture(t, c, c, testFlow)
		f.feed(pk...)
		f.expect(t, 0, 4)
	}
}

// A newer instance of the sender's stack starts a new sequence space; an
// older one is refused.
func TestInstances(t *testing.T) {
	id := ident(t, 1)
	c := config(id, trust(t, id), 1)
	old := testFlow
	newer := testFlow
	newer.Instance = 2
	a := newFixture(t, c, c, old)
	a.sendN(t, 0, 2)
	oldPk := a.take()
	b := newFixture(t, c, c, newer)
	b.sendN(t, 0, 2) // the same sequence numbers as a's
	newPk := b.take()

	f := newFixture(t, c, c, old)
	f.feed(oldPk...)
	f.expect(t, 0, 2)
	f.feed(newPk...)
	f.expect(t, 0, 2)
	f.feed(oldPk...)
	f.expect(t, 0, 0)
	f.checkDrops(t, map[string]uint64{"stale": 2})
	if st := f.lb.State(); st.Instance != 2 {
		t.Fatalf("state %+v", st)
	}
}

// Feedback passes unsigned: down a receiver, up a sender; a receiver
// passes up only overheard feedback.
func TestFeedback(t *testing.T) {
	id := ident(t, 1)
	c := config(id, trust(t, id), 16)
	f := newFixture(t, c, c, testFlow)
	ack := f.B.NewPacket(3)
	ack.Append([]byte("ack"))
	if err := f.B.Down(ack); err != nil {
		t.Fatal(err)
	}
	q := f.Link.Queued(stacktest.BtoA)
	if len(q) != 1 || !bytes.Equal(q[0], []byte{0x64, 'a', 'c', 'k'}) {
		t.Fatalf("feedback on the wire: %x", q)
	}
	f.Link.Flush()
	if got := f.GotA.Take(); len(got) != 1 || string(got[0].Bytes) != "ack" {
		t.Fatalf("sender got %v", got)
	}
	// Overheard feedback reaches a receiver's top; the same bytes on the
	// data path do not.
	h := f.Pool.FromBytes(0, q[0])
	h.Meta.Flags |= stack.FlagOverheard
	f.B.Up(h)
	f.feed(q[0])
	if got := f.GotB.Take(); len(got) != 1 || string(got[0].Bytes) != "ack" {
		t.Fatalf("receiver got %v", got)
	}
	f.checkDrops(t, map[string]uint64{"unsigned": 1})
	// Data looped back to a sender is unexpected.
	f.sendN(t, 0, 1)
	f.A.Up(f.Pool.FromBytes(0, f.take()[0]))
	if d := layerStats(f.A).Drops; d["unexpected"] != 1 {
		t.Fatalf("sender drops %v", d)
	}
}

// skipSpy records the skip markers that reach it.
type skipSpy struct {
	stack.Base
	skips int
}

func (*skipSpy) Name() string { return "skipspy" }
func (s *skipSpy) Up(p *stack.Packet) error {
	if p.Meta.Flags&stack.FlagSkip != 0 {
		s.skips++
	}
	return s.Base.Up(p)
}

func TestSkipMarkersPass(t *testing.T) {
	id := ident(t, 1)
	spy := &skipSpy{}
	st, err := stack.New(stack.Config{Layers: []stack.Layer{spy, mustNew(t, config(nil, trust(t, id), 16))}, MTU: 1500,
		Wire:    stack.HandlerFunc(func(p *stack.Packet) error { p.Release(); return nil }),
		Deliver: stack.HandlerFunc(func(p *stack.Packet) error { p.Release(); return nil }),
		Flow:    stack.Flow{Role: stack.Receiver}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.Up(stack.NewSkip(stack.DefaultPool(), 5, 2))
	if spy.skips != 1 {
		t.Fatalf("%d skip markers passed", spy.skips)
	}
}

// A flood of forged DATA packets never makes a receiver hold more than
// its bounds, by its own accounting and by the heap's.
func TestFloodBounded(t *testing.T) {
	id := ident(t, 1)
	c := config(id, trust(t, id), 16)
	c.Hold, c.Packets = 256<<10, 1024
	f := newFixture(t, c, c, testFlow)
	rng := rand.New(rand.NewPCG(1, 2))
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc
	const n = 20000
	for i := range n {
		size := 1
		if i%2 == 0 {
			size = 1 + rng.IntN(1400)
		}
		b := make([]byte, 1+size)
		b[0] = 0x62 // DATA
		b[1] = byte(rng.IntN(128))
		for j := 2; j < len(b); j++ {
			b[j] = byte(rng.Uint32())
		}
		f.feed(b)
		if st := f.lb.State(); st.HeldBytes > c.Hold || st.Held > c.Packets {
			t.Fatalf("after %d packets: holding %d packets, %d bytes", i+1, st.Held, st.HeldBytes)
		}
	}
	st := f.lb.State()
	d := f.drops()
	if d["evicted"]+d["duplicate"]+uint64(st.Held) != n || d["evicted"] == 0 {
		t.Fatalf("drops %v, holding %d", d, st.Held)
	}
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	if grown := int64(ms.HeapAlloc) - int64(before); grown > 4*c.Hold+(1<<20) {
		t.Fatalf("the heap grew by %d bytes during a flood; hold is %d", grown, c.Hold)
	}
	t.Logf("holding %d packets, %d bytes; heap grew %d KiB", st.Held, st.HeldBytes, (int64(ms.HeapAlloc)-int64(before))>>10)
	// Genuine traffic still flows, and the forgeries expire.
	f.sendN(t, 0, 16)
	f.Link.Flush()
	f.expect(t, 0, 16)
	f.Clock.Advance(time.Minute)
	if st := f.lb.State(); st.Held != 0 || st.HeldBytes != 0 {
		t.Fatalf("after the timeout %+v", st)
	}
}

// The channel's shared budget bounds what is held too.
func TestSharedBudget(t *testing.T) {
	id := ident(t, 1)
	c := config(id, trust(t, id), 16)
	mem := stack.NewBudget(64 << 10)
	p, err := stacktest.NewPair(t, []stack.Layer{mustNew(t, c)}, []stack.Layer{mustNew(t, c)}, stacktest.PairConfig{Flow: testFlow, Memory: mem})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		p.B.Up(p.Pool.FromBytes(0, []byte{0x62, byte(i), 'x'}))
		if mem.Used() > 64<<10 {
			t.Fatalf("budget used %d", mem.Used())
		}
	}
	if mem.Used() == 0 {
		t.Fatal("nothing reserved")
	}
	p.Close()
	if mem.Used() != 0 {
		t.Fatalf("%d bytes still reserved after close", mem.Used())
	}
}

func TestBindErrors(t *testing.T) {
	id := ident(t, 1)
	release := stack.HandlerFunc(func(p *stack.Packet) error { p.Release(); return nil })
	build := func(c sign.Config, role stack.Role, mtu int) error {
		st, err := stack.New(stack.Config{Layers: []stack.Layer{mustNew(t, c)}, MTU: mtu, Wire: release, Deliver: release,
			Flow: stack.Flow{Role: role}})
		if err == nil {
			st.Close()
		}
		return err
	}
	if err := build(config(nil, trust(t, id), 16), stack.Sender, 1500); !errors.Is(err, sign.ErrNoIdentity) ||
		!strings.Contains(err.Error(), "channel.WithIdentity") {
		t.Fatalf("sender without identity: %v", err)
	}
	if err := build(config(id, nil, 16), stack.Receiver, 1500); !errors.Is(err, sign.ErrNoTrust) ||
		!strings.Contains(err.Error(), "channel.WithTrusted") {
		t.Fatalf("receiver without trust: %v", err)
	}
	if err := build(config(id, nil, 128), stack.Sender, 1500); err == nil || !strings.Contains(err.Error(), "at most batch=") {
		t.Fatalf("batch too large for the MTU: %v", err)
	}
	if err := build(config(id, nil, 80), stack.Sender, 1500); err != nil {
		t.Fatalf("batch=80 at 1500: %v", err)
	}
	if err := build(config(id, nil, 1), stack.Sender, 120); err != nil {
		t.Fatalf("batch=1 at a small MTU: %v", err)
	}
	if err := build(config(id, nil, 1), stack.Sender, 101); err == nil {
		t.Fatal("an MTU the header fills was accepted")
	}
	if _, err := sign.New(sign.Config{Batch: 0}); err == nil {
		t.Fatal("zero config accepted")
	}
}

func TestRegistry(t *testing.T) {
	id := ident(t, 1)
	env := registry.Env{Identity: id, Trusted: trust(t, id)}
	ls, err := registry.Build("sign(batch=4, delay=1ms, hold=1MiB, packets=64, timeout=50ms)", env)
	if err != nil {
		t.Fatal(err)
	}
	c := ls[0].(*sign.Layer).Config()
	if c.Batch != 4 || c.Delay != time.Millisecond || c.Hold != 1<<20 || c.Packets != 64 || c.Timeout != 50*time.Millisecond ||
		c.Identity != id || c.Trusted != env.Trusted {
		t.Fatalf("config %+v", c)
	}
	for qos, want := range map[string]string{
		"sign(batch=0)":                  "batch",
		"sign(batch=2000)":               "batch",
		"sign(delay=0s)":                 "delay",
		"sign(hold=1KiB)":                "hold",
		"sign(packets=0)":                "packets",
		"sign(delay=100ms,timeout=50ms)": "longer than delay",
	} {
		if _, err := registry.Build(qos, env); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", qos, err, want)
		}
	}
	if _, err := registry.Build("sign(batch=1, delay=0s)", env); err != nil {
		t.Errorf("batch=1 needs no delay: %v", err)
	}
	var info registry.Info
	for _, i := range registry.Default().Layers() {
		if i.Name == "sign" {
			info = i
		}
	}
	if !info.Capabilities.Has(stack.CapAuthenticated) {
		t.Fatalf("info %+v", info)
	}
}

// The reliable profile over sign, on a lossy link: window repairs what
// is lost, SIGs included, and only signed data reaches the top.
func TestReliableOverLossyLink(t *testing.T) {
	id := ident(t, 1)
	env := registry.Env{Identity: id, Trusted: trust(t, id)}
	for _, qos := range []string{"reliable/sign", "reliable/sign(batch=1)"} {
		t.Run(qos, func(t *testing.T) {
			a, err := registry.Build(qos, env)
			if err != nil {
				t.Fatal(err)
			}
			b, err := registry.Build(qos, env)
			if err != nil {
				t.Fatal(err)
			}
			flow := testFlow
			flow.PointToPoint = true
			p, err := stacktest.NewPair(t, a, b, stacktest.PairConfig{Flow: flow})
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(3, 4))
			p.Link.SetFilter(func(d stacktest.Direction, n int, _ []byte) int {
				if rng.IntN(10) == 0 {
					return 0 // 10% loss both ways
				}
				return 1
			})
			const n = 300
			for i := range n {
				if err := p.Send(payload(100+i*37%3000, i), stack.Meta{}); err != nil {
					t.Fatal(err)
				}
				p.Link.Flush()
				p.Clock.Advance(time.Millisecond)
			}
			for range 2000 {
				p.Link.Flush()
				if p.GotB.Len() == n {
					break
				}
				p.Clock.Advance(10 * time.Millisecond)
			}
			got := p.GotB.Take()
			if len(got) != n {
				t.Fatalf("delivered %d of %d", len(got), n)
			}
			for i, d := range got {
				if !bytes.Equal(d.Bytes, payload(100+i*37%3000, i)) {
					t.Fatalf("posting %d differs", i)
				}
			}
			t.Logf("sign drops at the receiver: %v", layerStats(p.B).Drops)
		})
	}
}

// Identities print only their fingerprints; so do the layer's events.
func TestNoSecretsInEvents(t *testing.T) {
	id := ident(t, 1)
	f := newFixture(t, config(id, nil, 1), config(nil, trust(t, id), 1), testFlow)
	f.sendN(t, 0, 1)
	f.Link.Flush()
	for _, e := range f.EventsB.Take() {
		if e.Kind != "signer" || !strings.Contains(e.Detail, id.Fingerprint().String()) {
			t.Fatalf("event %+v", e)
		}
	}
}
