package channel

import (
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/posting"
	"github.com/rwanda-go/rwanda/stack"
)

// inHarness is an incoming part of member self on a manual clock whose
// senders are known to membership while in known, and whose postings are
// collected.
type inHarness struct {
	in    *incoming
	tap   *wireTap
	clk   *stack.ManualClock
	cnt   *counters
	mu    sync.Mutex
	known map[uint64]*skewEstimate
	got   []*posting.Posting
}

func testIncoming(t *testing.T, self uint64, opts ...Option) *inHarness {
	t.Helper()
	h := &inHarness{clk: stack.NewManualClock(stack.ManualEpoch), cnt: testCounters(), known: map[uint64]*skewEstimate{}}
	cfg := defaultConfig()
	cfg.clock = h.clk
	for _, o := range opts {
		must(t, o(&cfg))
	}
	var out *outbox
	out, h.tap = newTapOutbox(t, self)
	h.in = &incoming{self: self, cfg: &cfg, clock: h.clk, timers: flowTimers(h.clk, out), pool: stack.NewPool(), mem: stack.NewBudget(cfg.memory),
		log: h.cnt.log, mtu: 1400, instances: new(atomic.Uint64), out: out, cnt: h.cnt,
		skewOf: func(id uint64) *skewEstimate {
			h.mu.Lock()
			defer h.mu.Unlock()
			return h.known[id]
		},
		deliver: func(p *posting.Posting) {
			h.mu.Lock()
			h.got = append(h.got, p)
			h.mu.Unlock()
		},
		senders: make(map[uint64]*remoteSender), flows: make(map[flowKey]*inFlow)}
	t.Cleanup(func() {
		h.in.close()
		h.in.closeStacks()
	})
	return h
}

func (h *inHarness) know(id uint64) {
	h.mu.Lock()
	h.known[id] = &skewEstimate{}
	h.mu.Unlock()
}

// bodies returns the bodies delivered so far and forgets them.
func (h *inHarness) bodies() []any {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []any
	for _, p := range h.got {
		out = append(out, p.Body)
	}
	h.got = nil
	return out
}

// fragPayload is a "frag" stack's packet carrying a whole posting.
func fragPayload(t *testing.T, body any) []byte {
	t.Helper()
	enc, err := posting.New(body).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte{0}, enc...)
}

func announceFrame(stream uint32, name, qos string, prev uint32, count uint64) *frame {
	return &frame{typ: frameAnnounce, stream: stream, name: []byte(name), qos: []byte(qos), prev: prev, count: count}
}

// TestIncomingHeldUntilAnnounced: data before its stream's announcement is
// held, and the sender asked, once, to announce all its streams (a member
// that missed one announcement has likely missed the others); the
// announcements release the data through the mirror stacks, tagged with
// the sender and stream name.
func TestIncomingHeldUntilAnnounced(t *testing.T) {
	h := testIncoming(t, 0xa)
	h.know(0xb)
	now := h.clk.Now()
	h.in.data(0xb, 1, &stack.Meta{}, fragPayload(t, "early"), now)
	h.in.data(0xb, 3, &stack.Meta{}, fragPayload(t, "early too"), now)
	if got := h.bodies(); len(got) != 0 || h.cnt.held.Load() != 2 {
		t.Fatalf("delivered %v, held %d before the announcements", got, h.cnt.held.Load())
	}
	if q := ofType(h.tap.frames(t, 0xa), frameQuery); len(q) != 1 || q[0].target != 0xb || q[0].stream != 0 {
		t.Fatalf("queries %v: want one, to 0xb, for all its streams (0)", q)
	}
	h.in.announce(0xb, announceFrame(1, "s", "frag", 0, 0), now)
	h.in.announce(0xb, announceFrame(3, "t", "frag", 0, 0), now)
	h.in.data(0xb, 1, &stack.Meta{}, fragPayload(t, "then"), now)
	h.mu.Lock()
	first := h.got[0]
	h.mu.Unlock()
	if got := h.bodies(); !slices.Equal(got, []any{"early", "early too", "then"}) || first.Sender != 0xb || first.Stream != "s" {
		t.Fatalf("delivered %v, first from %x on %q", got, first.Sender, first.Stream)
	}
	// Frames held for an announcement that never comes expire, counted.
	h.in.data(0xb, 2, &stack.Meta{}, fragPayload(t, "never"), now)
	h.in.maintain(now.Add(time.Second), 2*time.Second, time.Hour)
	if drops(h.cnt, "unannounced") != 0 {
		t.Fatal("expired early")
	}
	h.in.maintain(now.Add(3*time.Second), 2*time.Second, time.Hour)
	if drops(h.cnt, "unannounced") != 1 {
		t.Fatal("held frame did not expire")
	}
}

// TestIncomingStrangersAndPolicy: nothing is kept for a sender membership
// does not know; an announced stack the receive policy refuses gets no
// flow, counted; forget drops a sender's flows.
func TestIncomingStrangersAndPolicy(t *testing.T) {
	h := testIncoming(t, 0xa, WithReceivePolicy(Policy{Require: []string{"window"}}))
	now := h.clk.Now()
	h.in.data(0xc, 1, &stack.Meta{}, fragPayload(t, "x"), now)
	h.in.announce(0xc, announceFrame(1, "s", "frag", 0, 0), now)
	if len(h.in.senders) != 0 || h.cnt.held.Load() != 0 {
		t.Fatalf("kept %d senders, held %d frames for a stranger", len(h.in.senders), h.cnt.held.Load())
	}
	h.know(0xb)
	h.in.announce(0xb, announceFrame(1, "plain", "frag", 0, 0), now)
	h.in.data(0xb, 1, &stack.Meta{}, fragPayload(t, "refused"), now)
	if got := h.bodies(); len(got) != 0 || drops(h.cnt, "policy") != 1 {
		t.Fatalf("delivered %v, policy drops %d", got, drops(h.cnt, "policy"))
	}
	h.in.announce(0xb, announceFrame(2, "ok", "frag/order/window", 0, 0), now)
	h.in.data(0xb, 2, &stack.Meta{}, []byte{}, now) // builds the flow; the empty packet is dropped by its stack
	if n := len(h.in.stats()); n != 1 {
		t.Fatalf("%d flows", n)
	}
	fl := h.in.flows[flowKey{0xb, 2}]
	h.in.forget(0xb)
	if len(h.in.stats()) != 0 || len(h.in.senders) != 0 || !stackClosed(fl.st) {
		t.Fatal("forget left the sender's flows or state")
	}
}

// TestIncomingFollow: a stream that replaces another (Reconfigure) holds
// its postings until the old flow has handed up the count announced, so
// the postings come out in order.
func TestIncomingFollow(t *testing.T) {
	h := testIncoming(t, 0xa)
	h.know(0xb)
	now := h.clk.Now()
	h.in.announce(0xb, announceFrame(1, "s", "frag", 0, 0), now)
	h.in.data(0xb, 1, &stack.Meta{}, fragPayload(t, 0), now)
	h.in.announce(0xb, announceFrame(2, "s", "frag(mtu=1000)", 1, 3), now)
	h.in.data(0xb, 2, &stack.Meta{}, fragPayload(t, 3), now) // overtakes 1 and 2
	h.in.data(0xb, 1, &stack.Meta{}, fragPayload(t, 1), now)
	if got := h.bodies(); !slices.Equal(got, []any{0, 1}) {
		t.Fatalf("delivered %v before the old flow's share was in", got)
	}
	h.in.data(0xb, 1, &stack.Meta{}, fragPayload(t, 2), now)
	h.in.data(0xb, 2, &stack.Meta{}, fragPayload(t, 4), now)
	if got := h.bodies(); !slices.Equal(got, []any{2, 3, 4}) {
		t.Fatalf("then delivered %v", got)
	}
	// A successor whose predecessor never hands up its share stops
	// waiting when maintenance finds the wait overdue.
	h.in.announce(0xb, announceFrame(3, "s", "frag(mtu=900)", 2, 10), now)
	h.in.data(0xb, 3, &stack.Meta{}, fragPayload(t, 5), now)
	if got := h.bodies(); len(got) != 0 {
		t.Fatalf("delivered %v while waiting", got)
	}
	h.in.maintain(now.Add(h.in.followWait()+time.Millisecond), time.Hour, time.Hour)
	if got := h.bodies(); !slices.Equal(got, []any{5}) || drops(h.cnt, "reconfigure-timeout") != 1 {
		t.Fatalf("after the wait: delivered %v, timeouts %d", got, drops(h.cnt, "reconfigure-timeout"))
	}
}
