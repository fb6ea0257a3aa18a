package channel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/posting"
	"github.com/rwanda-go/rwanda/stack"
)

// refusals collects the "stream-refused" events of a channel.
type refusals struct {
	mu      sync.Mutex
	streams map[string]string // stream → reason
}

func (r *refusals) opt() Option {
	r.streams = make(map[string]string)
	return WithEvents(func(e Event) {
		if e.Kind == "stream-refused" {
			r.mu.Lock()
			r.streams[e.Stream] = e.Detail
			r.mu.Unlock()
		}
	})
}

func (r *refusals) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.streams)
}

// TestStreamCapsSpeak: a receiver that takes 8 streams from a member and a
// sender that opens 12 to it over unicast: the 4 it refuses are told to
// the sender (an event each), whose pushes on them then fail with a
// RefusedError naming the cap; every posting pushed is either delivered
// or on a stream the sender was told of. A sender's own cap fails Push at
// once (ErrTooManyStreams).
func TestStreamCapsSpeak(t *testing.T) {
	checkGoroutines(t)
	port := freePort(t)
	rx := open(t, "caps://:"+strconv.Itoa(port), WithLimits(8, 64))
	got := tally(t, rx)
	var ref refusals
	tx := open(t, "caps://127.0.0.1:"+strconv.Itoa(port), ref.opt())
	waitPeer(t, rx, tx.ID())
	ctx := context.Background()
	for i := range 12 {
		must(t, tx.Push(ctx, posting.New(fmt.Sprint("p", i), posting.WithStream(fmt.Sprint("s", i)))))
	}
	waitFor(t, "8 delivered and 4 refusals", func() bool { return len(got()) == 8 && ref.count() == 4 })
	for i := range 12 {
		name := fmt.Sprint("s", i)
		_, delivered := got()[fmt.Sprint("p", i)]
		ref.mu.Lock()
		why, refused := ref.streams[name]
		ref.mu.Unlock()
		if delivered == refused {
			t.Errorf("stream %s: delivered %v, refused %v (%q)", name, delivered, refused, why)
		}
		err := tx.Push(ctx, posting.New("again", posting.WithStream(name)))
		var re *RefusedError
		switch {
		case refused && (!errors.As(err, &re) || !errors.Is(err, ErrRefused) || re.Member != rx.ID() || re.Stream != name):
			t.Errorf("push on refused stream %s: %v", name, err)
		case !refused && err != nil:
			t.Errorf("push on stream %s: %v", name, err)
		}
	}
	if d := rx.Stats().Drops["too-many-streams"]; d == 0 {
		t.Errorf("receiver did not count its refusals: %v", rx.Stats().Drops)
	}

	small := open(t, "caps://127.0.0.1:"+strconv.Itoa(port), WithLimits(2, 64))
	must(t, small.Push(ctx, posting.New(1, posting.WithStream("a"))))
	must(t, small.Push(ctx, posting.New(2, posting.WithStream("b"))))
	if err := small.Push(ctx, posting.New(3, posting.WithStream("c"))); !errors.Is(err, ErrTooManyStreams) {
		t.Fatalf("third stream with WithLimits(2, …): %v", err)
	}
}

// TestStreamRefusedByPolicyOnHub: on a channel where one send reaches
// every member (mem://), a stream one member's receive policy refuses is
// an event at the sender, whose pushes go on reaching the members that
// take the stream.
func TestStreamRefusedByPolicyOnHub(t *testing.T) {
	checkGoroutines(t)
	url := memURL(t)
	picky := open(t, url, WithReceivePolicy(Policy{Require: []string{"sign"}}))
	plain := open(t, url)
	got := tally(t, plain)
	var ref refusals
	tx := open(t, url, ref.opt())
	waitPeer(t, plain, tx.ID())
	waitPeer(t, picky, tx.ID())
	must(t, tx.Push(context.Background(), posting.New("hello")))
	waitFor(t, "the refusal and the delivery", func() bool { return ref.count() == 1 && got()["hello"] == 1 })
	if why := ref.streams[""]; !strings.Contains(why, "sign") {
		t.Errorf("refusal reason %q does not name the missing layer", why)
	}
	must(t, tx.Push(context.Background(), posting.New("again")))
	waitFor(t, "the next posting", func() bool { return got()["again"] == 1 })
}

// TestIdleStreamsReclaimed: on the injected clock, a stream to everyone
// idle for 30 announce intervals with nothing unacknowledged is closed at
// the sender, and the receiver forgets its flow once it has heard neither
// the stream's announcement nor its data for 3 intervals; a push on its name opens and announces a new
// stream, which is delivered. Nothing is lost on the way.
func TestIdleStreamsReclaimed(t *testing.T) {
	checkGoroutines(t)
	clock := stack.NewManualClock(stack.ManualEpoch)
	url := memURL(t)
	const a = 100 * time.Millisecond
	rx := open(t, url, WithClock(clock), WithAnnounceInterval(a))
	sub, _ := rx.Subscribe()
	tx := open(t, url, WithClock(clock), WithAnnounceInterval(a))
	advance(t, clock, 2*a, rx, tx)
	ctx := context.Background()
	must(t, tx.Push(ctx, posting.New("first", posting.WithStream("s"))))
	if p := next(t, sub); p.Body != "first" {
		t.Fatalf("got %v", p.Body)
	}
	first := tx.Stats().Streams
	if len(first) != 1 || len(rx.Stats().Flows) != 1 {
		t.Fatalf("streams %d, flows %d", len(first), len(rx.Stats().Flows))
	}
	advance(t, clock, 29*a, rx, tx)
	if len(tx.Stats().Streams) != 1 {
		t.Fatal("the stream went before 30 idle intervals")
	}
	advance(t, clock, 2*a, rx, tx)
	if s := tx.Stats().Streams; len(s) != 0 {
		t.Fatalf("after 31 idle intervals the sender keeps %+v", s)
	}
	advance(t, clock, 15*a, rx, tx)
	if f := rx.Stats().Flows; len(f) != 0 {
		t.Fatalf("3 intervals after its last announcement the receiver keeps %d flows", len(f))
	}
	must(t, tx.Push(ctx, posting.New("second", posting.WithStream("s"))))
	if p := next(t, sub); p.Body != "second" {
		t.Fatalf("got %v", p.Body)
	}
	if s := tx.Stats().Streams; len(s) != 1 || s[0].ID == first[0].ID {
		t.Fatalf("the new stream: %+v (the old one was %d)", s, first[0].ID)
	}
	expectNone(t, sub)
}

// TestSlowConsumerHeard: a subscription that falls behind on a reliable
// stream makes WithEvents' function hear it ("slow-consumer", how many
// were dropped), at most once a second; its own Stats count every drop.
// Drops on a best-effort stream are counted, not reported.
func TestSlowConsumerHeard(t *testing.T) {
	checkGoroutines(t)
	clock := stack.NewManualClock(stack.ManualEpoch)
	url := memURL(t)
	var mu sync.Mutex
	var heard []Event
	rx := open(t, url, WithClock(clock), WithEvents(func(e Event) {
		if e.Kind == "slow-consumer" {
			mu.Lock()
			heard = append(heard, e)
			mu.Unlock()
		}
	}))
	sub, _ := rx.Subscribe(Queue(4, DropOldest))
	tx := open(t, url, WithClock(clock), WithStreamQoS("bulk", "reliable"), WithStreamQoS("lossy", "none"))
	advance(t, clock, 100*time.Millisecond, rx, tx)
	ctx := context.Background()
	pushN := func(stream string, n int) {
		for i := range n {
			must(t, tx.Push(ctx, posting.New(i, posting.WithStream(stream))))
		}
		settle(t, rx, tx)
	}
	events := func() []Event {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(heard)
	}
	pushN("lossy", 10)
	if st := sub.Stats(); st.Dropped != 6 || len(events()) != 0 {
		t.Fatalf("best effort: %+v, %d events", st, len(events()))
	}
	pushN("bulk", 10)
	if st := sub.Stats(); st.Dropped != 16 || len(events()) != 1 || events()[0].Stream != "bulk" || events()[0].Member != tx.ID() {
		t.Fatalf("reliable: %+v, events %+v", st, events())
	}
	pushN("bulk", 10) // within the second: counted, not reported
	if len(events()) != 1 {
		t.Fatalf("%d events within a second", len(events()))
	}
	advance(t, clock, 1100*time.Millisecond, rx, tx)
	pushN("bulk", 1)
	if e := events(); len(e) != 2 || !strings.Contains(e[1].Detail, "dropped 16 ") {
		t.Fatalf("after a second: %+v", e)
	}
}

// TestSpoofedRefuseIgnored: on an unkeyed channel a REFUSE in a member's
// name from another address does not make the sender's pushes fail.
func TestSpoofedRefuseIgnored(t *testing.T) {
	checkGoroutines(t)
	port := freePort(t)
	rx := open(t, "caps://:"+strconv.Itoa(port))
	got := tally(t, rx)
	tx := open(t, "caps://127.0.0.1:"+strconv.Itoa(port))
	waitPeer(t, rx, tx.ID())
	ctx := context.Background()
	must(t, tx.Push(ctx, posting.New("one", posting.WithStream("s"))))
	waitFor(t, "the first posting", func() bool { return got()["one"] == 1 })
	id := tx.Stats().Streams[0].ID
	spoofer, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer spoofer.Close()
	d := appendRefuse(appendDgramHeader(nil, rx.ID()), tx.ID(), id, "too many streams (spoofed)")
	if _, err := spoofer.WriteToUDP(d, net.UDPAddrFromAddrPort(tx.LocalAddr())); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the spoofed refusal dropped", func() bool { return tx.Stats().Drops["refuse-elsewhere"] == 1 })
	must(t, tx.Push(ctx, posting.New("two", posting.WithStream("s"))))
	waitFor(t, "the second posting", func() bool { return got()["two"] == 1 })
}
