package window

import (
	"errors"
	"testing"
	"time"
	"unsafe"

	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/stack/stacktest"
)

// Hostile feedback: what forged NAKs, ACKs and STATUS reports may make a
// sender do. The figures below follow from DefaultConfig: Size 1024,
// RepairRatio 4, RepairFloor 128 per second, MaxReceivers 4096, Holdoff
// 2 ms (see "Hostile feedback" in doc.go).

// deaf returns a group of one receiver that hears nothing, after the sender
// has sent (and so retains) a full window of 1024 packets.
func deaf(t *testing.T) *group {
	t.Helper()
	cfg := DefaultConfig()
	g := newGroup(t, 1, cfg)
	g.g.SetFilter(0, func(stacktest.Direction, int, []byte) int { return 0 })
	g.send(cfg.Size, stack.Meta{})
	g.g.Flush()
	if st := g.window(g.g.Sender).State(); st.Next-st.Floor != uint64(cfg.Size) {
		t.Fatalf("setup: %+v", st)
	}
	return g
}

// forge hands the sender a NAK for spans from peer.
func (g *group) forge(peer uint64, spans ...span) {
	pk := g.g.Pool.FromBytes(0, appendNak(nil, spans))
	pk.Meta.Peer = peer
	g.g.Sender.Up(pk)
}

// checkReceivers checks that the sender's receivers are the same in its
// map, its list by when last heard and its heap by cum.
func checkReceivers(t *testing.T, s *sender) {
	t.Helper()
	n := 0
	for r := s.newest; r != nil; r = r.older {
		if s.receivers[r.id] != r || (r.older != nil && r.older.newer != r) || r.heard.Before(r.older.heardOr(r.heard)) {
			t.Fatalf("receiver %d: list broken", r.id)
		}
		n++
	}
	if n != len(s.receivers) || len(s.byCum) != n {
		t.Fatalf("%d receivers listed, %d in the map, %d in the heap", n, len(s.receivers), len(s.byCum))
	}
	for i, r := range s.byCum {
		if r.idx != i || s.receivers[r.id] != r || i > 0 && s.byCum[(i-1)/2].cum > r.cum {
			t.Fatalf("heap broken at %d", i)
		}
	}
}

func (r *rcvInfo) heardOr(t time.Time) time.Time {
	if r == nil {
		return t
	}
	return r.heard
}

// TestNakOneNakBounded: one NAK asks for at most a quarter of the window
// (256 numbers) in all its ranges; what is beyond is ignored and counted,
// and ranges outside what the sender holds cost nothing.
func TestNakOneNakBounded(t *testing.T) {
	g := deaf(t)
	isn := DefaultConfig().ISN
	whole := span{isn, isn + 1024}
	var overlapping []span
	for range maxRanges {
		overlapping = append(overlapping, whole)
	}
	for i, c := range []struct {
		name          string
		spans         []span
		repairs, over uint64
		bad           uint64
	}{
		{"the whole buffer", []span{whole}, 256, 1024 - 256, 0},
		{"64 times the whole buffer", overlapping, 256, 64*1024 - 256, 0},
		{"numbers never sent", []span{{isn + 1024, isn + 1024 + 1<<20}, {isn + 5000, isn + 6000}}, 0, 0, 1},
		{"half beyond next", []span{{isn + 1000, isn + 1100}}, 24, 0, 1},
		{"far below the floor", []span{{isn - 1<<31 + 1, isn - 1<<31 + 1<<20}}, 0, 0, 0},
	} {
		before, excess, bad := counter(g.g.Sender, "retransmits"), counter(g.g.Sender, "nak-excess"), counter(g.g.Sender, "bad-nak")
		g.forge(uint64(100+i), c.spans...)
		if n := counter(g.g.Sender, "retransmits") - before; n != c.repairs {
			t.Errorf("%s: %d repairs, want %d", c.name, n, c.repairs)
		}
		if n := counter(g.g.Sender, "nak-excess") - excess; n != c.over {
			t.Errorf("%s: %d numbers counted nak-excess, want %d", c.name, n, c.over)
		}
		if n := counter(g.g.Sender, "bad-nak") - bad; n != c.bad {
			t.Errorf("%s: bad-nak %d, want %d", c.name, n, c.bad)
		}
		g.g.Flush()
		g.g.Clock.Advance(DefaultConfig().Holdoff) // past the holdoff: repairs would be allowed again
	}
	// A reversed range is malformed: dropped before it costs anything.
	before := counter(g.g.Sender, "retransmits")
	pk := g.g.Pool.FromBytes(0, []byte{msgNak, 1, 0, 0, 0, 9, 0, 0, 0, 2})
	pk.Meta.Peer = 99
	g.g.Sender.Up(pk)
	if counter(g.g.Sender, "retransmits") != before || drops(g.g.Sender, "window", "malformed") != 1 {
		t.Fatalf("reversed range: %d repairs, %d malformed", counter(g.g.Sender, "retransmits")-before, drops(g.g.Sender, "window", "malformed"))
	}
}

// TestNakFloodRateLimited: a NAK for the whole retained buffer every 2 ms
// for 1 s (500 NAKs; before the limits each repaired all 1024 packets:
// 512000 repairs) repairs at most what the buckets allow. From one peer:
// its bucket's burst, RepairRatio/4 × Size = 1024, plus its floor,
// RepairFloor/4 = 32 per second: 1056. From 500 invented peers: the
// sender's burst, RepairRatio × Size = 4096, plus RepairFloor = 128 per
// second: 4224. Afterwards the real receiver still recovers everything
// (through the drained bucket: about 8 s at the floor).
func TestNakFloodRateLimited(t *testing.T) {
	for _, c := range []struct {
		name     string
		invented bool
		most     uint64
		counter  string
	}{
		{"one peer", false, 1024 + 32, "repair-limited-peer"},
		{"invented peers", true, 4096 + 128, "repair-limited"},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := deaf(t)
			isn := DefaultConfig().ISN
			before := counter(g.g.Sender, "retransmits")
			for i := range 500 {
				peer := uint64(1000)
				if c.invented {
					peer += uint64(i)
				}
				g.forge(peer, span{isn, isn + 1024})
				g.g.Flush()
				g.g.Clock.Advance(2 * time.Millisecond)
			}
			n := counter(g.g.Sender, "retransmits") - before
			t.Logf("%d repairs for 500 NAKs of 1024 packets in 1 s; %d numbers refused (%s)", n, counter(g.g.Sender, c.counter), c.counter)
			if n > c.most || n < c.most-64 {
				t.Fatalf("%d repairs in 1 s of NAKs for the whole buffer every 2 ms, want at most %d (and not far below)", n, c.most)
			}
			if counter(g.g.Sender, c.counter) == 0 {
				t.Fatalf("refusals not counted as %s", c.counter)
			}
			// The real receiver hears again: it recovers all of it.
			g.g.SetFilter(0, nil)
			healed := g.g.Clock.Now()
			var got []uint32
			for len(got) < 1024 && g.g.Clock.Now().Sub(healed) < 12*time.Second {
				g.g.Flush()
				g.g.Clock.Advance(time.Millisecond)
				got = append(got, g.got(0)...)
			}
			t.Logf("the real receiver recovered %d packets in %v", len(got), g.g.Clock.Now().Sub(healed))
			inOrder(t, got, 1024)
			if n := counter(g.g.Receivers[0], "unrecoverable"); n != 0 {
				t.Fatalf("%d packets given up", n)
			}
		})
	}
}

// TestNakInventedReceiversCapped: NAKs from 10000 invented members keep
// the sender's receivers at MaxReceivers (4096), forgetting the least
// recently heard; a real receiver heard afterwards is tracked again and
// its stream goes on.
func TestNakInventedReceiversCapped(t *testing.T) {
	cfg := DefaultConfig()
	g := newGroup(t, 1, cfg)
	g.send(10, stack.Meta{})
	g.g.Flush()
	s := &g.window(g.g.Sender).snd
	if s.receivers[2] == nil {
		t.Fatal("setup: the real receiver (member 2) is not tracked")
	}
	for i := range 10000 {
		g.forge(uint64(100000+i), span{cfg.ISN, cfg.ISN + 1})
	}
	if n := g.window(g.g.Sender).State().Receivers; n != 4096 {
		t.Fatalf("%d receivers tracked, want 4096", n)
	}
	checkReceivers(t, s)
	if n := counter(g.g.Sender, "receiver-evicted"); n != 10001-4096 {
		t.Fatalf("%d receivers evicted, want %d", n, 10001-4096)
	}
	if s.receivers[100000+9999] == nil || s.receivers[100000+10000-4096] == nil || s.receivers[100000+10000-4097] != nil {
		t.Fatal("not the most recently heard that are kept")
	}
	g.run(2*cfg.Status, time.Millisecond) // the real receiver reports its status
	if s.receivers[2] == nil || len(s.receivers) != 4096 {
		t.Fatalf("the real receiver is not tracked again (%d receivers)", len(s.receivers))
	}
	checkReceivers(t, s)
	g.send(10, stack.Meta{})
	g.run(100*time.Millisecond, time.Millisecond)
	inOrder(t, g.got(0), 20)
}

// TestNakGoneSyncOncePerHoldoff: NAKs for what the sender no longer holds
// get one SYNC per holdoff, not one each.
func TestNakGoneSyncOncePerHoldoff(t *testing.T) {
	cfg := DefaultConfig()
	g := newGroup(t, 1, cfg)
	g.send(10, stack.Meta{})
	g.run(55*time.Millisecond, time.Millisecond) // a status at 50 ms frees the buffer; heartbeats at 20 and 60 ms
	if st := g.window(g.g.Sender).State(); st.Floor != st.Next {
		t.Fatalf("setup: %+v", st)
	}
	before := counter(g.g.Sender, "heartbeats")
	for i := range 100 {
		g.forge(uint64(500+i), span{cfg.ISN, cfg.ISN + 5})
	}
	if n := counter(g.g.Sender, "heartbeats") - before; n != 1 {
		t.Fatalf("%d SYNCs for 100 NAKs below the floor at one instant, want 1", n)
	}
	inOrder(t, g.got(0), 10)
}

// TestNakOverheardCannotSilence: forged NAKs a receiver overhears, again
// and again, that the sender never answers, put the receiver's own NAK off
// once, not forever: it still recovers its loss.
func TestNakOverheardCannotSilence(t *testing.T) {
	cfg := DefaultConfig()
	g := newGroup(t, 1, cfg)
	g.g.SetFilter(0, loseData(cfg.ISN, 1, 3))
	g.send(10, stack.Meta{})
	g.g.Flush() // the receiver misses packet 3; its NAK waits a random delay
	forged := appendNak(nil, []span{{cfg.ISN + 3, cfg.ISN + 4}})
	start := g.g.Clock.Now()
	var got []uint32
	var at time.Duration
	for range 100 {
		pk := g.g.Pool.FromBytes(0, forged)
		pk.Meta.Peer, pk.Meta.Flags = 999, stack.FlagOverheard
		g.g.Receivers[0].Up(pk)
		g.g.Flush()
		if got = append(got, g.got(0)...); len(got) == 10 && at == 0 {
			at = g.g.Clock.Now().Sub(start)
		}
		g.g.Clock.Advance(time.Millisecond)
	}
	inOrder(t, got, 10)
	// Put off once by NakRetry, its own NAK goes out and is answered.
	if at > 2*cfg.NakRetry || counter(g.g.Receivers[0], "naks") != 1 {
		t.Fatalf("recovered after %v with %d NAKs (%d suppressed)", at, counter(g.g.Receivers[0], "naks"), counter(g.g.Receivers[0], "naks-suppressed"))
	}
}

// TestAckForgedSpansBounded: an ACK's selective ranges count only up to
// the number of packets outstanding in all.
func TestAckForgedSpansBounded(t *testing.T) {
	cfg := DefaultConfig()
	cfg.InitialWnd = 64
	h := newHarness(t, cfg, true)
	h.send(50, stack.Meta{})
	var spans []span
	for range maxRanges {
		spans = append(spans, span{cfg.ISN, cfg.ISN + 50})
	}
	pk := h.p.Pool.FromBytes(0, appendAck(nil, cfg.ISN, 1024, cfg.ISN+49, spans))
	h.p.A.Up(pk)
	if n := counter(h.p.A, "ack-excess"); n != (maxRanges-1)*50 {
		t.Fatalf("ack-excess %d, want %d", n, (maxRanges-1)*50)
	}
	h.settle(time.Millisecond, 20)
	inOrder(t, h.got(), 50)
}

// failBind is a layer that refuses its place in a stack, noting what the
// memory budget held when it was asked.
type failBind struct {
	stack.Base
	used int64
}

func (*failBind) Name() string { return "failbind" }
func (f *failBind) Bind(b stack.Binding) error {
	f.used = b.Memory.Used()
	return errors.New("no")
}

// TestWindowMemoryBudget: the window's slots and bitmap are reserved from
// the stack's memory budget when it is built and given back when it
// closes; a budget too small refuses the stack, holding nothing.
func TestWindowMemoryBudget(t *testing.T) {
	cfg := DefaultConfig()
	slotBytes := int64(minSlots) * int64(unsafe.Sizeof(slot{})) // the ring grows from there (TestWindowSlotsGrow)
	bitmap := int64(cfg.Size / 8)
	release := stack.HandlerFunc(func(p *stack.Packet) error { p.Release(); return nil })
	build := func(mem *stack.Budget, role stack.Role, c Config, more ...stack.Layer) (*stack.Stack, error) {
		w, err := New(c)
		if err != nil {
			t.Fatal(err)
		}
		return stack.New(stack.Config{Layers: append([]stack.Layer{w}, more...), Wire: release, Deliver: release, MTU: 1500,
			Clock: stack.NewManualClock(time.Time{}), Memory: mem, Flow: stack.Flow{Role: role, Multicast: true}})
	}

	t.Run("sender", func(t *testing.T) {
		mem := stack.NewBudget(slotBytes + bitmap)
		s, err := build(mem, stack.Sender, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if mem.Used() != slotBytes+bitmap {
			t.Fatalf("%d bytes reserved, want %d", mem.Used(), slotBytes+bitmap)
		}
		s.Close()
		if mem.Used() != 0 {
			t.Fatalf("%d bytes still reserved after Close", mem.Used())
		}
	})
	t.Run("sender refused", func(t *testing.T) {
		mem := stack.NewBudget(slotBytes + bitmap - 1)
		_, err := build(mem, stack.Sender, cfg)
		if !errors.Is(err, ErrMemory) || mem.Used() != 0 {
			t.Fatalf("err %v, %d bytes reserved", err, mem.Used())
		}
	})
	t.Run("a later layer fails", func(t *testing.T) {
		// The window above it had reserved its bytes; stack.New closes it.
		mem, f := stack.NewBudget(1<<20), &failBind{}
		if _, err := build(mem, stack.Sender, cfg, f); err == nil || f.used != slotBytes+bitmap || mem.Used() != 0 {
			t.Fatalf("err %v, %d bytes reserved during assembly (want %d), %d after", err, f.used, slotBytes+bitmap, mem.Used())
		}
	})
	t.Run("receiver", func(t *testing.T) {
		// A receiver's stack holds only the bitmap, whatever window the
		// sender announced: 8 KiB for the largest.
		big := cfg
		big.Size = 1 << 16
		mem := stack.NewBudget(1 << 20)
		s, err := build(mem, stack.Receiver, big)
		if err != nil || mem.Used() != 1<<13 {
			t.Fatalf("err %v, %d bytes reserved, want %d", err, mem.Used(), 1<<13)
		}
		// A sender's stack of that window starts with minSlots slots.
		tx, err := build(mem, stack.Sender, big)
		if err != nil || mem.Used() != 1<<13+slotBytes+1<<13 {
			t.Fatalf("err %v, %d bytes reserved", err, mem.Used())
		}
		tx.Close()
		s.Close()
		if mem.Used() != 0 {
			t.Fatalf("%d bytes still reserved after Close", mem.Used())
		}
	})
	t.Run("receiver sends", func(t *testing.T) {
		mem := stack.NewBudget(bitmap)
		s, err := build(mem, stack.Receiver, cfg)
		if err != nil {
			t.Fatal(err)
		}
		pool := stack.NewPool()
		pk := pool.FromBytes(maxDataHeader, []byte("x"))
		if err := s.Down(pk); !errors.Is(err, ErrMemory) || pool.Outstanding() != 0 {
			t.Fatalf("err %v, %d packets outstanding", err, pool.Outstanding())
		}
		s.Close()
		if mem.Used() != 0 {
			t.Fatalf("%d bytes still reserved after Close", mem.Used())
		}
	})
	t.Run("receivers tracked", func(t *testing.T) {
		mem := stack.NewBudget(slotBytes + bitmap + 2*rcvCost)
		s, err := build(mem, stack.Sender, cfg)
		if err != nil {
			t.Fatal(err)
		}
		for peer := range uint64(3) {
			pk := stack.DefaultPool().FromBytes(0, appendStatus(nil, cfg.ISN))
			pk.Meta.Peer = 10 + peer
			s.Up(pk)
		}
		w := s.Layers()[0].(*Layer)
		if st := w.State(); st.Receivers != 2 || mem.Used() != slotBytes+bitmap+2*rcvCost {
			t.Fatalf("%d receivers, %d bytes reserved: the budget allows 2", st.Receivers, mem.Used())
		}
		if w.snd.receivers[12] == nil || w.snd.receivers[10] != nil {
			t.Fatal("not the least recently heard that was forgotten")
		}
		checkReceivers(t, &w.snd)
		s.Close()
		if mem.Used() != 0 {
			t.Fatalf("%d bytes still reserved after Close", mem.Used())
		}
	})
}

// TestConfigRepairLimits: the figures the tests above rely on are the
// defaults, and Validate refuses limits that would disable the bounds.
func TestConfigRepairLimits(t *testing.T) {
	d := DefaultConfig()
	if d.Size != 1024 || d.RepairRatio != 4 || d.RepairFloor != 128 || d.MaxReceivers != 4096 || d.Holdoff != 2*time.Millisecond {
		t.Fatalf("defaults changed: %+v; update the figures in hostile_test.go and doc.go", d)
	}
	for _, bad := range []func(*Config){
		func(c *Config) { c.RepairRatio = 0 },
		func(c *Config) { c.RepairRatio = 2000 },
		func(c *Config) { c.RepairFloor = 0 },
		func(c *Config) { c.MaxReceivers = 0 },
	} {
		c := DefaultConfig()
		bad(&c)
		if c.Validate() == nil {
			t.Errorf("accepted %+v", c)
		}
	}
}

// TestNakReceiversRandomized: through statuses and NAKs from a changing
// crowd of members, time passing and data sent, the sender's receivers
// stay consistent (map, list, heap), capped, and its floor is what every
// live receiver has.
func TestNakReceiversRandomized(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Size, cfg.MaxReceivers, cfg.RcvTimeout = 64, 16, 50*time.Millisecond
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pool, clock := stack.NewPool(), stack.NewManualClock(time.Time{})
	release := stack.HandlerFunc(func(p *stack.Packet) error { p.Release(); return nil })
	st, err := stack.New(stack.Config{Layers: []stack.Layer{w}, Wire: release, Deliver: release, MTU: 1500,
		Pool: pool, Clock: clock, Flow: stack.Flow{Multicast: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := &w.snd
	rng := uint64(7)
	next := func(n uint64) uint64 { rng = rng*6364136223846793005 + 1442695040888963407; return (rng >> 33) % n }
	for i := range 5000 {
		switch next(4) {
		case 0:
			pk := pool.FromBytes(maxDataHeader, []byte{1})
			st.Down(pk)
		case 1:
			cum := uint32(s.una + next(s.nxt-s.una+1))
			pk := pool.FromBytes(0, appendStatus(nil, cum))
			pk.Meta.Peer = next(40)
			st.Up(pk)
		case 2:
			lo := uint32(s.una + next(s.nxt-s.una+1))
			pk := pool.FromBytes(0, appendNak(nil, []span{{lo, lo + 1 + uint32(next(8))}}))
			pk.Meta.Peer = next(40)
			st.Up(pk)
		case 3:
			clock.Advance(time.Duration(next(10)) * time.Millisecond)
		}
		checkReceivers(t, s)
		if len(s.receivers) > cfg.MaxReceivers {
			t.Fatalf("step %d: %d receivers", i, len(s.receivers))
		}
		// What release computes from the heap is the minimum over all.
		s.release(clock.Now())
		low := s.una
		if len(s.receivers) > 0 {
			low = s.nxt
			for _, r := range s.receivers {
				low = min(low, max(r.cum, s.una))
				if clock.Now().Sub(r.heard) >= cfg.RcvTimeout {
					t.Fatalf("step %d: receiver %d timed out but tracked", i, r.id)
				}
			}
		}
		if s.una != low {
			t.Fatalf("step %d: floor %d, every live receiver has up to %d", i, s.una, low)
		}
	}
	if counter(st, "receiver-evicted") == 0 || counter(st, "receiver-timeout") == 0 {
		t.Fatalf("the test exercised neither eviction nor timeouts: %v", st.Stats().Layers)
	}
}

// TestWindowSlotsGrow: a sender's retransmission slots grow with the
// packets outstanding, charged to the budget, up to Size; a budget that
// refuses more holds the window at what it has (backpressure, counted
// "no-memory"), not an error; once everything is acknowledged and the
// ring is four times what was outstanding since, it shrinks and gives the
// budget back.
func TestWindowSlotsGrow(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Feedback = Ack
	per := int64(unsafe.Sizeof(slot{}))
	bitmap := int64(cfg.Size / 8)
	var wire []*stack.Packet
	clock := stack.NewManualClock(time.Unix(1, 0))
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Room for 16 and 32 slots, not 64.
	mem := stack.NewBudget(bitmap + 48*per)
	s, err := stack.New(stack.Config{Layers: []stack.Layer{w}, MTU: 1500, Clock: clock, Memory: mem,
		Wire:    stack.HandlerFunc(func(p *stack.Packet) error { wire = append(wire, p); return nil }),
		Deliver: stack.HandlerFunc(func(p *stack.Packet) error { p.Release(); return nil }),
		Flow:    stack.Flow{Role: stack.Sender, PointToPoint: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pool := stack.NewPool()
	w.snd.cwnd = float64(cfg.Size) // let the window, not congestion control, decide
	for range 100 {
		if err := s.Down(pool.FromBytes(maxDataHeader, []byte("x"))); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(w.snd.slots); n != 32 || mem.Used() != bitmap+32*per {
		t.Fatalf("%d slots, %d bytes reserved; want 32 slots, %d bytes", n, mem.Used(), bitmap+32*per)
	}
	if out := w.snd.nxt - w.snd.una; out != 32 || len(wire) != 32 {
		t.Fatalf("%d outstanding, %d sent: the window should hold at 32", out, len(wire))
	}
	if counter(s, "no-memory") == 0 {
		t.Fatal("refused growth not counted")
	}
	// Acknowledge everything, a few at a time, as a receiver would.
	for len(wire) > 0 || w.snd.una < w.snd.nxt {
		for _, p := range wire {
			p.Release()
		}
		wire = wire[:0]
		ack := pool.FromBytes(0, appendAck(nil, uint32(w.snd.nxt), 0xffff, uint32(w.snd.nxt-1), nil))
		ack.Meta.Peer = 7
		s.Up(ack)
	}
	// One more packet, acknowledged: the ring was at most 1 of 32 in use.
	s.Down(pool.FromBytes(maxDataHeader, []byte("y")))
	for _, p := range wire {
		p.Release()
	}
	ack := pool.FromBytes(0, appendAck(nil, uint32(w.snd.nxt), 0xffff, uint32(w.snd.nxt-1), nil))
	ack.Meta.Peer = 7
	s.Up(ack)
	if n := len(w.snd.slots); n >= 32 || mem.Used() != bitmap+int64(n)*per {
		t.Fatalf("after idling: %d slots, %d bytes reserved", n, mem.Used())
	}
}
