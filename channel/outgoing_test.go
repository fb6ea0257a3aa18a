package channel

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/posting"
	"github.com/rwanda-go/rwanda/stack"
)

// testOutgoing returns an outgoing part of member self on a manual clock,
// sending qos for everything through an outbox into a tap; its stacks are
// closed when the test ends.
func testOutgoing(t *testing.T, self uint64, qos string) (*outgoing, *wireTap, *stack.ManualClock, *counters) {
	t.Helper()
	clk := stack.NewManualClock(stack.ManualEpoch)
	cfg := defaultConfig()
	cfg.clock = clk
	k := testCounters()
	out, tap := newTapOutbox(t, self)
	done := make(chan struct{})
	og := &outgoing{self: self, cfg: &cfg, clock: clk, pool: stack.NewPool(), mem: stack.NewBudget(cfg.memory),
		log: k.log, mtu: 1400, instances: new(atomic.Uint64), out: out, cnt: k, done: done, qos: qos,
		streams: make(map[streamKey]*outStream), byID: make(map[uint32]*outStream)}
	for m := range og.media {
		og.media[m] = mediaProfile{qos: qos}
	}
	og.streamQoS.Store(&map[string]string{})
	t.Cleanup(func() {
		close(done)
		og.close()
		og.closeStacks()
	})
	return og, tap, clk, k
}

// TestOutgoingPushAnnounces: the first push on a stream builds its stack
// and announces it before its data; the posting gets this member's id, a
// sequence number and the clock's time.
func TestOutgoingPushAnnounces(t *testing.T) {
	og, tap, clk, k := testOutgoing(t, 0xa, "frag")
	ctx := context.Background()
	p := posting.New("one", posting.WithStream("s"))
	if err := og.push(ctx, p, 0); err != nil {
		t.Fatal(err)
	}
	if p.Sender != 0xa || p.Seq != 1 || !p.Sent.Equal(clk.Now()) {
		t.Fatalf("posting sender %x seq %d sent %v", p.Sender, p.Seq, p.Sent)
	}
	must(t, og.push(ctx, posting.New("two", posting.WithStream("s")), 0))
	fs := tap.frames(t, 0xa)
	if len(fs) != 3 || fs[0].typ != frameAnnounce || fs[1].typ != frameData || fs[2].typ != frameData {
		t.Fatalf("frames %v: want an announcement then two data frames", types(fs))
	}
	if a := fs[0]; string(a.name) != "s" || string(a.qos) != "frag" || a.stream != fs[1].stream {
		t.Fatalf("announced %q %q stream %d; data on %d", a.name, a.qos, a.stream, fs[1].stream)
	}
	if n := k.sent.postings.Load(); n != 2 {
		t.Fatalf("counted %d postings sent", n)
	}
	// A query for all streams is answered with the announcement.
	og.answerQuery(0xb, 0, clk.Now(), func() bool { return true })
	og.out.flushNow(true)
	if fs := tap.frames(t, 0xa); len(fs) != 1 || fs[0].typ != frameAnnounce {
		t.Fatalf("query answered with %v", types(fs))
	}
	// Feedback for a stream we do not have is dropped and counted.
	og.feedback(0xb, 99, []byte{1}, clk.Now())
	if drops(k, "unknown-stream") != 1 {
		t.Fatal("feedback for an unknown stream not counted")
	}
}

// TestOutgoingQueryRecent: on multicast a QUERY for streams announced to
// everyone less than queryRecent ago asks no budget, is counted ("query-
// recent"), and is answered by one announcement to everyone when that
// span ends, however many asked in it. A QUERY for streams not announced
// lately is answered at once if the budget allows; on unicast every QUERY
// is.
func TestOutgoingQueryRecent(t *testing.T) {
	og, tap, clk, k := testOutgoing(t, 0xa, "frag")
	og.multicast = true
	ctx := context.Background()
	must(t, og.push(ctx, posting.New(1, posting.WithStream("s")), 0))
	must(t, og.push(ctx, posting.New(2, posting.WithStream("t")), 0))
	if ann := ofType(tap.frames(t, 0xa), frameAnnounce); len(ann) != 2 {
		t.Fatalf("%d streams announced at their first push, want 2", len(ann))
	}
	asked := 0
	allow := func() bool { asked++; return true }
	announced := func() int {
		t.Helper()
		og.out.flushNow(true)
		return len(ofType(tap.frames(t, 0xa), frameAnnounce))
	}
	answer := func(member uint64, stream uint32, allow func() bool) int {
		t.Helper()
		og.answerQuery(member, stream, clk.Now(), allow)
		return announced()
	}
	span := og.queryRecent()
	if n := answer(0xb, 0, allow); n != 0 || asked != 0 || drops(k, "query-recent") != 1 {
		t.Fatalf("a QUERY just after the announcements: %d announced, budget asked %d times, %d counted", n, asked, drops(k, "query-recent"))
	}
	clk.Advance(span / 2)
	if n := answer(0xc, 0, allow); n != 0 || asked != 0 {
		t.Fatalf("a QUERY %v after the announcements: %d announced, budget asked %d times", span/2, n, asked)
	}
	clk.Advance(span/2 - time.Millisecond)
	if n := announced(); n != 0 {
		t.Fatalf("%d announced before the span's end", n)
	}
	clk.Advance(time.Millisecond)
	if n := announced(); n != 2 || asked != 0 {
		t.Fatalf("at the span's end: %d announced, budget asked %d times; want both streams once, no budget", n, asked)
	}
	clk.Advance(2 * span)
	if n := announced(); n != 0 {
		t.Fatalf("%d announced again with nobody asking", n)
	}
	// Not recent: answered at once, if the budget allows.
	if n := answer(0xb, 0, func() bool { return false }); n != 0 {
		t.Fatalf("%d announced beyond the QUERY budget", n)
	}
	if n := answer(0xb, 0, allow); n != 2 || asked != 1 {
		t.Fatalf("a QUERY a span after: %d announced, budget asked %d times; want 2, 1", n, asked)
	}
	// A stream just announced waits, the others are answered.
	clk.Advance(span)
	must(t, og.push(ctx, posting.New(3, posting.WithStream("u")), 0))
	tap.frames(t, 0xa)
	if n := answer(0xb, 0, allow); n != 2 || asked != 2 {
		t.Fatalf("a QUERY for all with one stream just announced: %d announced, want the other 2", n)
	}
	clk.Advance(span)
	if fs := ofType(tap.frames(t, 0xa), frameAnnounce); len(fs) != 1 || string(fs[0].name) != "u" {
		t.Fatalf("at the span's end: %d announced, want u alone", len(fs))
	}
	// On unicast each member gets its own answer, however recent.
	og.multicast = false
	if n := answer(0xb, 0, allow); n != 3 || asked != 3 {
		t.Fatalf("unicast: %d announced, want 3", n)
	}
	// A closed side owes nothing.
	og.multicast = true
	must(t, og.push(ctx, posting.New(4, posting.WithStream("v")), 0))
	answer(0xb, 0, allow)
	og.close()
	clk.Advance(span)
	if n := announced(); n != 0 {
		t.Fatalf("%d announced after close", n)
	}
}

// TestOutgoingReconfigure: the old stream is retired at the exact count of
// postings it carried; the new one is announced as its successor with that
// count and carries the postings pushed after. The retired stream goes
// when drained, and closeStacks closes a retired one that has not.
func TestOutgoingReconfigure(t *testing.T) {
	og, tap, clk, _ := testOutgoing(t, 0xa, "frag")
	ctx := context.Background()
	for i := range 3 {
		must(t, og.push(ctx, posting.New(i, posting.WithStream("s")), 0))
	}
	old := og.current()[0]
	if err := og.reconfigure("s", "frag(mtu=1000)", ""); err != nil {
		t.Fatal(err)
	}
	p := posting.New(3, posting.WithStream("s"))
	must(t, og.push(ctx, p, 0))
	if p.Seq != 4 {
		t.Fatalf("sequence after the switch %d, want 4", p.Seq)
	}
	if q := og.qosFor("s", posting.Data); q != "frag(mtu=1000)" {
		t.Fatalf("stream's QoS %q", q)
	}
	fs := tap.frames(t, 0xa)
	ann := ofType(fs, frameAnnounce)
	if len(ann) != 2 {
		t.Fatalf("frames %v: want two announcements", types(fs))
	}
	n := ann[1]
	if n.prev != old.id || n.count != 3 || n.stream == old.id || string(n.qos) != "frag(mtu=1000)" {
		t.Fatalf("successor announced: stream %d prev %d count %d qos %q; old stream %d", n.stream, n.prev, n.count, n.qos, old.id)
	}
	data := ofType(fs, frameData)
	if len(data) != 4 || data[2].stream != old.id || data[3].stream != n.stream {
		t.Fatalf("data frames on streams %v", streamsOf(data))
	}
	if og.retiredCount() != 1 {
		t.Fatalf("%d retired", og.retiredCount())
	}
	// frag keeps nothing: drained, the retired stream goes at maintenance
	// and its stack is closed, and feedback for it is no longer taken.
	og.maintain(clk.Now(), time.Hour, time.Hour)
	if og.retiredCount() != 0 || !stackClosed(old.st) {
		t.Fatalf("after maintenance: %d retired, old stack closed %v", og.retiredCount(), stackClosed(old.st))
	}
	// Reconfiguring to the QoS it has changes nothing.
	must(t, og.reconfigure("s", "frag(mtu=1000)", ""))
	if len(og.current()) != 1 || og.retiredCount() != 0 {
		t.Fatal("a no-op reconfiguration retired a stream")
	}
}

// TestOutgoingAddressedIdle: streams end after they have been idle for
// the time given (a stream to everyone only when its stack holds nothing,
// which frag's never does); a push then opens a new one.
func TestOutgoingAddressedIdle(t *testing.T) {
	og, _, clk, _ := testOutgoing(t, 0xa, "frag")
	ctx := context.Background()
	must(t, og.push(ctx, posting.New("all"), 0))
	must(t, og.push(ctx, posting.New("you"), 0xb))
	if len(og.current()) != 2 {
		t.Fatalf("%d streams", len(og.current()))
	}
	og.maintain(clk.Now().Add(20*time.Second), time.Hour, 30*time.Second)
	if len(og.current()) != 2 {
		t.Fatal("streams ended before they were idle for long enough")
	}
	old := og.current()
	og.maintain(clk.Now().Add(time.Minute), time.Hour, 30*time.Second)
	if cur := og.current(); len(cur) != 0 {
		t.Fatalf("streams left: %d", len(cur))
	}
	for _, os := range old {
		if !stackClosed(os.st) {
			t.Fatalf("stream %q's stack not closed", os.key.name)
		}
	}
	must(t, og.push(ctx, posting.New("all again"), 0))
	if cur := og.current(); len(cur) != 1 || cur[0].id <= old[0].id && cur[0].id <= old[1].id {
		t.Fatalf("after a push: %d streams", len(cur))
	}
	og.close()
	if err := og.push(ctx, posting.New("late"), 0xc); err != ErrClosed {
		t.Fatalf("push after close: %v", err)
	}
	if err := og.reconfigure("", "frag", ""); err != ErrClosed {
		t.Fatalf("reconfigure after close: %v", err)
	}
}

func types(fs []frame) []byte {
	var out []byte
	for _, f := range fs {
		out = append(out, f.typ)
	}
	return out
}

func streamsOf(fs []frame) []uint32 {
	var out []uint32
	for _, f := range fs {
		out = append(out, f.stream)
	}
	return slices.Compact(out)
}

// stackClosed reports whether st was closed: a closed stack refuses
// packets.
func stackClosed(st *stack.Stack) bool {
	return errors.Is(st.Down(st.NewPacket(1)), stack.ErrClosed)
}

// TestOutgoingCloseStacksRetired: closeStacks closes a retired stream that
// still has postings to repair, so its timers stop.
func TestOutgoingCloseStacksRetired(t *testing.T) {
	og, _, clk, _ := testOutgoing(t, 0xa, "reliable")
	ctx := context.Background()
	must(t, og.push(ctx, posting.New(1, posting.WithStream("s")), 0))
	old := og.current()[0]
	must(t, og.reconfigure("s", "frag/order/window(size=64)", ""))
	og.maintain(clk.Now(), time.Hour, time.Hour)
	if og.retiredCount() != 1 {
		t.Fatal("a stream with postings unacknowledged was not kept to drain")
	}
	og.close()
	og.closeStacks()
	if !stackClosed(old.st) || clk.Pending() != 0 {
		t.Fatalf("retired stack closed %v, %d timers pending", stackClosed(old.st), clk.Pending())
	}
}
