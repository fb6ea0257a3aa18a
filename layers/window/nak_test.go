package window

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/layers/order"
	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/stack/stacktest"
)

type group struct {
	t  *testing.T
	g  *stacktest.Group
	id uint32
}

func newGroup(t *testing.T, n int, cfg Config) *group {
	t.Helper()
	g, err := stacktest.NewGroup(t, n, func() []stack.Layer {
		w, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		o, _ := order.New(order.DefaultConfig())
		return []stack.Layer{o, w}
	}, stacktest.GroupConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return &group{t: t, g: g}
}

func (g *group) send(n int, meta stack.Meta) {
	g.t.Helper()
	for range n {
		pk := g.g.Sender.NewPacket(4)
		binary.BigEndian.PutUint32(pk.Extend(4), g.id)
		g.id++
		pk.Meta = meta
		if err := g.g.Sender.Down(pk); err != nil {
			g.t.Fatal(err)
		}
	}
}

func (g *group) got(i int) []uint32 {
	var out []uint32
	for _, d := range g.g.Got[i].Take() {
		out = append(out, binary.BigEndian.Uint32(d.Bytes))
	}
	return out
}

// run advances time in small steps, delivering everything at each step.
func (g *group) run(d, step time.Duration) {
	for end := g.g.Clock.Now().Add(d); g.g.Clock.Now().Before(end); {
		g.g.Flush()
		g.g.Clock.Advance(step)
	}
	g.g.Flush()
}

func (g *group) window(s *stack.Stack) *Layer { return s.Layers()[1].(*Layer) }

func dataSeq(b []byte) (uint32, bool) {
	if len(b) < 6 || b[0] != msgData {
		return 0, false
	}
	return binary.BigEndian.Uint32(b[2:]), true
}

// loseData returns a filter that loses the data packets with the given
// sequence offsets (from the ISN) on every transmission for the first
// `times` transmissions.
func loseData(isn uint32, times int, offsets ...uint32) stacktest.Filter {
	seen := map[uint32]int{}
	set := map[uint32]bool{}
	for _, o := range offsets {
		set[isn+o] = true
	}
	return func(_ stacktest.Direction, _ int, b []byte) int {
		if s, ok := dataSeq(b); ok && set[s] {
			seen[s]++
			if seen[s] <= times {
				return 0
			}
		}
		return 1
	}
}

func TestNakNoLossFreesBuffer(t *testing.T) {
	g := newGroup(t, 3, DefaultConfig())
	g.send(100, stack.Meta{})
	g.run(200*time.Millisecond, time.Millisecond)
	for i := range 3 {
		inOrder(t, g.got(i), 100)
	}
	st := g.window(g.g.Sender).State()
	if st.Feedback != Nak || st.Receivers != 3 || st.Floor != st.Next {
		t.Fatalf("sender state %+v: receivers' status should free the buffer", st)
	}
	if n := counter(g.g.Sender, "retransmits"); n != 0 {
		t.Fatalf("%d retransmits without loss", n)
	}
}

func TestNakSuppression(t *testing.T) {
	cfg := DefaultConfig()
	g := newGroup(t, 3, cfg)
	// All three receivers lose packet 5 once.
	for i := range 3 {
		g.g.SetFilter(i, loseData(cfg.ISN, 1, 5))
	}
	g.send(10, stack.Meta{})
	g.run(100*time.Millisecond, 100*time.Microsecond)
	for i := range 3 {
		inOrder(t, g.got(i), 10)
	}
	naks, suppressed := uint64(0), uint64(0)
	for _, r := range g.g.Receivers {
		naks += counter(r, "naks")
		suppressed += counter(r, "naks-suppressed")
	}
	// One NAK, heard by the others, stands for all three.
	if naks != 1 || suppressed != 2 {
		t.Fatalf("%d NAKs sent, %d suppressed; want 1 and 2", naks, suppressed)
	}
	if n := counter(g.g.Sender, "retransmits"); n != 1 {
		t.Fatalf("%d repairs, want 1", n)
	}
}

func TestNakTailLossFoundByHeartbeat(t *testing.T) {
	cfg := DefaultConfig()
	g := newGroup(t, 2, cfg)
	g.g.SetFilter(1, loseData(cfg.ISN, 1, 4)) // receiver 1 loses the last packet
	g.send(5, stack.Meta{})
	g.g.Flush()
	if len(g.got(1)) != 4 {
		t.Fatal("setup")
	}
	g.run(3*cfg.Heartbeat, time.Millisecond)
	if got := g.got(1); len(got) != 1 || got[0] != 4 {
		t.Fatalf("receiver 1 got %v after the heartbeat", got)
	}
	if counter(g.g.Sender, "heartbeats") == 0 {
		t.Fatal("no heartbeat")
	}
}

func TestNakUnrecoverableGap(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Size = 16
	g := newGroup(t, 2, cfg)
	// Receiver 1 loses packet 2 every time, and its feedback never gets
	// through: the sender does not know it exists, frees its buffer on
	// receiver 0's status, and the packet is gone.
	g.g.SetFilter(1, loseData(cfg.ISN, 1000, 2))
	g.g.SetFeedbackFilter(1, func(stacktest.Direction, int, []byte) int { return 0 })
	g.send(40, stack.Meta{})
	g.run(time.Second, time.Millisecond)
	got := g.got(1)
	if len(got) != 39 {
		t.Fatalf("receiver 1 got %d: %v", len(got), got)
	}
	for i, v := range got {
		want := uint32(i)
		if i >= 2 {
			want++
		}
		if v != want {
			t.Fatalf("delivery %d is %d", i, v)
		}
	}
	var ev []stack.Event
	for _, e := range g.g.Events[1].Take() {
		if e.Kind == "unrecoverable-gap" {
			ev = append(ev, e)
		}
	}
	if len(ev) != 1 {
		t.Fatalf("want one unrecoverable-gap event, got %+v", ev)
	}
	inOrder(t, g.got(0), 40)
}

func TestNakGivesUpAfterLimit(t *testing.T) {
	cfg := DefaultConfig()
	cfg.NakLimit = 3
	g := newGroup(t, 1, cfg)
	// The repair never arrives, but the sender keeps the packet (the
	// receiver's status pins it): after NakLimit NAKs the receiver gives up.
	g.g.SetFilter(0, loseData(cfg.ISN, 1000, 1))
	g.send(3, stack.Meta{})
	g.run(5*time.Second, 5*time.Millisecond)
	if got := g.got(0); len(got) != 2 || got[0] != 0 || got[1] != 2 {
		t.Fatalf("got %v", got)
	}
	if n := counter(g.g.Receivers[0], "naks"); n != 3 {
		t.Fatalf("%d NAKs, want 3", n)
	}
	if counter(g.g.Receivers[0], "unrecoverable") != 1 {
		t.Fatal("gap not given up")
	}
}

func TestNakSemiReliable(t *testing.T) {
	cfg := DefaultConfig()
	cfg.TTL = 50 * time.Millisecond
	g := newGroup(t, 2, cfg)
	g.g.SetFilter(0, loseData(cfg.ISN, 1000, 3))
	g.send(10, stack.Meta{})
	g.run(300*time.Millisecond, time.Millisecond)
	got := g.got(0)
	if len(got) != 9 {
		t.Fatalf("receiver 0 got %v", got)
	}
	for _, v := range got {
		if v == 3 {
			t.Fatal("delivered the abandoned packet")
		}
	}
	inOrder(t, g.got(1), 10)
	// The receiver gives the gap up itself at its deadline
	// ("expired-gap"), or as the sender's answer says ("unrecoverable").
	gaveUp := counter(g.g.Receivers[0], "unrecoverable") + counter(g.g.Receivers[0], "expired-gap")
	if gaveUp != 1 || counter(g.g.Sender, "expired") == 0 {
		t.Fatalf("skipped %d, expired %d", gaveUp, counter(g.g.Sender, "expired"))
	}
}

// TestNakSemiReliableGapExpires: a semi-reliable receiver whose NAKs for a
// gap never reach the sender (a relay that thinned the packets absorbs
// them) gives the gap up at its deadline, delivers what follows, and
// moves its status on, so the sender frees the packets; nothing is
// retransmitted.
func TestNakSemiReliableGapExpires(t *testing.T) {
	cfg := DefaultConfig()
	cfg.TTL = 50 * time.Millisecond
	g := newGroup(t, 1, cfg)
	g.g.SetFilter(0, loseData(cfg.ISN, 1000, 3, 4))
	naks := 0
	g.g.SetFeedbackFilter(0, func(_ stacktest.Direction, _ int, b []byte) int {
		if len(b) > 0 && b[0] == 4 { // NAK
			naks++
			return 0
		}
		return 1
	})
	g.send(10, stack.Meta{})
	g.run(300*time.Millisecond, time.Millisecond)
	if got := g.got(0); len(got) != 8 {
		t.Fatalf("receiver got %v", got)
	}
	if n := counter(g.g.Receivers[0], "expired-gap"); n != 2 {
		t.Fatalf("expired-gap %d, want 2", n)
	}
	if n := counter(g.g.Sender, "retransmits"); n != 0 {
		t.Fatalf("%d retransmits", n)
	}
	if st := g.window(g.g.Sender).State(); st.Next != st.Floor {
		t.Fatalf("the sender still holds packets: %+v", st)
	}
}

func TestNakBufferFullWaitsForReceivers(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Size, cfg.InitialWnd = 8, 8
	g := newGroup(t, 1, cfg)
	g.send(1, stack.Meta{})
	g.g.Flush() // the receiver says hello with its status
	g.send(40, stack.Meta{})
	st := g.window(g.g.Sender).State()
	if st.Next-st.Floor > 8 || st.Queued == 0 {
		t.Fatalf("the buffer bounds what is out: %+v", st)
	}
	g.run(500*time.Millisecond, time.Millisecond)
	inOrder(t, g.got(0), 41)
	if counter(g.g.Sender, "evicted") != 0 {
		t.Fatal("evicted while a receiver was listening")
	}
}

// TestNakStormBounded: a storm of NAKs from thousands of made-up receivers,
// each asking for the whole window again and again, repairs each packet
// once per holdoff, tracks a bounded number of receivers, and leaves the
// sender working.
func TestNakStormBounded(t *testing.T) {
	cfg := DefaultConfig()
	g := newGroup(t, 1, cfg)
	g.g.SetFilter(0, func(stacktest.Direction, int, []byte) int { return 0 }) // the real receiver hears nothing
	g.send(200, stack.Meta{})
	g.g.Flush()
	nak := appendNak(nil, []span{{cfg.ISN, cfg.ISN + 200}})
	before := counter(g.g.Sender, "retransmits")
	for i := range 20000 {
		pk := g.g.Pool.FromBytes(0, nak)
		pk.Meta.Peer = uint64(1000 + i)
		g.g.Sender.Up(pk)
	}
	g.g.Flush()
	st := g.window(g.g.Sender).State()
	if st.Receivers > 4096 {
		t.Fatalf("%d receivers tracked", st.Receivers)
	}
	if n := counter(g.g.Sender, "retransmits") - before; n > 200 {
		t.Fatalf("20000 NAKs of 200 packets within one holdoff: %d repairs, want at most 200", n)
	}
	// The sender still works: the real receiver gets everything once the
	// link heals and time passes.
	g.g.SetFilter(0, nil)
	g.run(2*time.Second, time.Millisecond)
	inOrder(t, g.got(0), 200)
}

// TestNakPacedHeartbeat: a stream that sends at a steady pace (a pointer
// updated 30 times a second) sends no heartbeat between its packets,
// each due before one would be; once the pace breaks the first heartbeat
// goes one and a half gaps after the last packet, and a stream at an
// irregular pace keeps Config.Heartbeat.
func TestNakPacedHeartbeat(t *testing.T) {
	cfg := DefaultConfig()
	const pace = 33 * time.Millisecond
	g := newGroup(t, 2, cfg)
	heartbeats := func() uint64 { return counter(g.g.Sender, "heartbeats") }
	for range 3 { // the pace is known from the third packet on
		g.send(1, stack.Meta{})
		g.run(pace, time.Millisecond)
	}
	before := heartbeats()
	for range 30 {
		g.send(1, stack.Meta{})
		g.run(pace, time.Millisecond)
	}
	if n := heartbeats() - before; n != 0 {
		t.Fatalf("%d heartbeats between 30 packets sent every %v, want 0", n, pace)
	}
	// The pace breaks: the last packet went one pace ago.
	g.run(pace*3/2-pace-time.Millisecond, time.Millisecond)
	if n := heartbeats() - before; n != 0 {
		t.Fatalf("a heartbeat %v after the last packet, before one and a half gaps", pace*3/2-time.Millisecond)
	}
	g.run(2*time.Millisecond, time.Millisecond)
	if n := heartbeats() - before; n != 1 {
		t.Fatalf("%d heartbeats just after one and a half gaps, want 1", n)
	}

	// Irregular gaps: a heartbeat Config.Heartbeat after each packet
	// followed by a longer gap.
	g = newGroup(t, 2, cfg)
	gaps := []time.Duration{5, 45, 12, 70, 8, 30, 3, 50}
	want := uint64(0)
	for _, gap := range gaps {
		g.send(1, stack.Meta{})
		g.run(gap*time.Millisecond, time.Millisecond)
		if gap*time.Millisecond > cfg.Heartbeat {
			want++
		}
	}
	if n := heartbeats(); n < want {
		t.Fatalf("%d heartbeats after packets at irregular gaps %v ms, want at least %d (one %v after each longer gap)", n, gaps, want, cfg.Heartbeat)
	}
}

// TestNakStatusOnNews: a receiver reports its status when how far it has
// everything moved (within one Status interval, on the clock's grid of
// Status intervals), not every interval whatever happened: a flow of 5
// packets a second gets about 5 statuses a second, not 20, and an idle
// one four a receiver timeout.
func TestNakStatusOnNews(t *testing.T) {
	cfg := DefaultConfig()
	g := newGroup(t, 1, cfg)
	var at []time.Time
	g.g.SetFeedbackFilter(0, func(_ stacktest.Direction, _ int, b []byte) int {
		if len(b) > 0 && b[0] == msgStatus {
			at = append(at, g.g.Clock.Now())
		}
		return 1
	})
	const packets, gap = 10, 200 * time.Millisecond
	for range packets {
		g.send(1, stack.Meta{})
		g.run(gap, time.Millisecond)
	}
	flowing := len(at)
	if flowing < packets || flowing > packets+2 {
		t.Errorf("%d statuses while %d packets came %v apart, want one a packet (and a keepalive or two)", flowing, packets, gap)
	}
	phase := statusPhase(2, cfg.Status) // the group's first receiver is member 2
	for _, a := range at[1:] {          // the first goes with the first packet
		if (a.Sub(stack.ManualEpoch)-phase)%cfg.Status != 0 {
			t.Errorf("a status at %v, off the grid of %v at %v", a.Sub(stack.ManualEpoch), cfg.Status, phase)
		}
	}
	g.run(4*cfg.RcvTimeout, 10*time.Millisecond)
	if idle := len(at) - flowing; idle < 14 || idle > 17 {
		t.Errorf("%d statuses in %v idle, want four per receiver timeout (%v)", idle, 4*cfg.RcvTimeout, cfg.RcvTimeout)
	}
}

// TestStatusPhase: a member's statuses fall on its own phase of the grid
// of Status intervals, the same for all its flows; members' phases spread
// over the interval, so a group's members do not all report at once.
func TestStatusPhase(t *testing.T) {
	const step = 50 * time.Millisecond
	tenths := map[int]int{}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		p := statusPhase(rng.Uint64(), step) // member ids are random
		if p < 0 || p >= step {
			t.Fatalf("phase %v outside [0, %v)", p, step)
		}
		tenths[int(p*10/step)]++
	}
	for i := range 10 {
		if tenths[i] < 50 {
			t.Fatalf("phases of 1000 members by tenth of the interval: %v", tenths)
		}
	}
	phase := 17 * time.Millisecond
	on := stack.ManualEpoch.Add(phase)
	for _, c := range []struct {
		now  time.Time
		gap  time.Duration
		want time.Time
		what string
	}{
		{on, step, on.Add(step), "on the grid: one interval on"},
		{on, 10 * step, on.Add(10 * step), "on the grid: the gap on"},
		{on.Add(time.Millisecond), step, on.Add(step), "just after: the next point within the gap"},
		{on.Add(-time.Millisecond), step, on, "just before: the point ahead"},
	} {
		if got := onGrid(c.now, c.gap, step, phase); !got.Equal(c.want) {
			t.Errorf("%s: onGrid = %v after the epoch, want %v", c.what, got.Sub(stack.ManualEpoch), c.want.Sub(stack.ManualEpoch))
		}
	}
}
