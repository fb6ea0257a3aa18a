package channel

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/posting"
	"github.com/rwanda-go/rwanda/stack"
)

// drain takes everything queued on s now.
func drain(s *Subscription) []*posting.Posting {
	var got []*posting.Posting
	for {
		select {
		case p := <-s.Postings():
			got = append(got, p)
		default:
			return got
		}
	}
}

// TestLatestSlowSubscriber: a subscriber that does not read while keyed
// and unkeyed postings arrive holds at most one posting per key (the
// newest), every unkeyed posting in order, and counts the rest
// "superseded" (not slow-consumer drops).
func TestLatestSlowSubscriber(t *testing.T) {
	checkGoroutines(t)
	clock := stack.NewManualClock(stack.ManualEpoch)
	url := memURL(t)
	a, b := open(t, url, WithClock(clock)), open(t, url, WithClock(clock))
	sub, err := b.Subscribe()
	must(t, err)
	ctx := context.Background()
	keys := []string{"cursor", "tile/3", "state"}
	const n = 300
	for i := range n {
		must(t, a.Push(ctx, posting.New(fmt.Sprint("k", i), posting.WithKey(keys[i%len(keys)]))))
		if i%10 == 0 {
			must(t, a.Push(ctx, posting.New(fmt.Sprint("u", i))))
		}
		if i%50 == 0 {
			settle(t, a, b)
		}
	}
	settle(t, a, b)
	got := drain(sub)
	perKey := map[string]string{}
	var unkeyed []string
	for _, p := range got {
		body := p.Body.(string)
		if p.Key == "" {
			unkeyed = append(unkeyed, body)
			continue
		}
		if old, ok := perKey[p.Key]; ok {
			t.Errorf("key %q queued twice: %s and %s", p.Key, old, body)
		}
		perKey[p.Key] = body
	}
	for i, k := range keys {
		if want := fmt.Sprint("k", n-len(keys)+i); perKey[k] != want {
			t.Errorf("key %q: newest queued is %q, want %q", k, perKey[k], want)
		}
	}
	if len(unkeyed) != n/10 {
		t.Fatalf("%d unkeyed postings queued, want %d", len(unkeyed), n/10)
	}
	for i, u := range unkeyed {
		if want := fmt.Sprint("u", i*10); u != want {
			t.Fatalf("unkeyed posting %d is %q, want %q", i, u, want)
		}
	}
	st := sub.Stats()
	if st.Dropped != 0 || b.Stats().Drops["slow-consumer"] != 0 {
		t.Errorf("slow-consumer drops: %+v %v", st, b.Stats().Drops)
	}
	if st.Superseded != n-uint64(len(keys)) || b.Stats().Drops["superseded"] < st.Superseded {
		t.Errorf("superseded: subscription %+v, channel %v; want %d", st, b.Stats().Drops, n-len(keys))
	}
	t.Logf("queued %d postings of %d pushed; %+v", len(got), n+n/10, st)
}

// TestLatestQueueConcurrentReaders: superseding rebuilds the queue while
// readers take from it: every posting offered is read, superseded or
// dropped exactly once (run it with -race).
func TestLatestQueueConcurrentReaders(t *testing.T) {
	s := &Subscription{cnt: newCounters(slog.New(slog.DiscardHandler), nil), clock: stack.NewManualClock(stack.ManualEpoch),
		cfg: subConfig{queue: 16, overflow: DropOldest}, q: make(chan *posting.Posting, 16), done: make(chan struct{})}
	const n, readers = 20000, 3
	var wg sync.WaitGroup
	var mu sync.Mutex
	read := 0
	for range readers {
		wg.Go(func() {
			for p := range s.q {
				_ = p.Body.(int)
				mu.Lock()
				read++
				mu.Unlock()
			}
		})
	}
	for i := range n {
		key := ""
		if i%4 != 0 {
			key = fmt.Sprint(i % 3)
		}
		s.offer(&posting.Posting{Sender: 1, Stream: "s", Key: key, Body: i})
	}
	s.mu.Lock()
	s.endLocked(ErrClosed)
	s.mu.Unlock()
	wg.Wait()
	st := s.Stats()
	if got := uint64(read) + st.Superseded + st.Dropped; got != n || st.Queued != 0 {
		t.Fatalf("read %d, %+v: %d accounted for, want %d", read, st, got, n)
	}
	t.Logf("read %d, %+v", read, st)
}

// TestLatestReliableBurstThroughLoss: on a reliable stream through 20%
// loss, on the manual clock, a burst of 1000 updates of one latest-wins
// key ends with the last one delivered and far fewer than 1000 delivered
// (the sender drops queued ones and abandons retained ones it superseded),
// while the unkeyed postings pushed between them on the same stream are
// all delivered, once and in order.
func TestLatestReliableBurstThroughLoss(t *testing.T) {
	checkGoroutines(t)
	clock := stack.NewManualClock(stack.ManualEpoch)
	url := memURL(t)
	// A multicast window of the default 1024 packets takes a burst of
	// 1000 at once: every update goes out (and, superseded when the next
	// is numbered, is never repaired). Superseding saves the wire when
	// updates outrun the window, as on a slow link: a window of 64 here.
	qos := "frag/order/window(size=64)/impair(loss=20%,seed=7)"
	a := open(t, url, WithClock(clock), WithQoS(qos))
	b := open(t, url, WithClock(clock), WithQoS(qos))
	var mu sync.Mutex
	var keyed, unkeyed []int
	b.SubscribeFunc(func(p *posting.Posting) {
		mu.Lock()
		defer mu.Unlock()
		var i int
		fmt.Sscan(p.Body.(string)[1:], &i)
		if p.Key != "" {
			keyed = append(keyed, i)
		} else {
			unkeyed = append(unkeyed, i)
		}
	})
	ctx := context.Background()
	const n = 1000
	for i := range n {
		must(t, a.Push(ctx, posting.New(fmt.Sprint("k", i), posting.WithKey("cursor"))))
		if i%10 == 0 {
			must(t, a.Push(ctx, posting.New(fmt.Sprint("u", i/10))))
		}
	}
	done := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(unkeyed) >= n/10 && len(keyed) > 0 && keyed[len(keyed)-1] == n-1
	}
	for start := clock.Now(); !done(); {
		if clock.Now().Sub(start) > time.Minute {
			mu.Lock()
			t.Fatalf("stuck: %d unkeyed, %d keyed (last %v); %v", len(unkeyed), len(keyed), keyed[max(len(keyed)-1, 0):], a.Stats().Drops)
		}
		advance(t, clock, 50*time.Millisecond, a, b)
	}
	advance(t, clock, time.Second, a, b)
	mu.Lock()
	defer mu.Unlock()
	for i, u := range unkeyed {
		if u != i {
			t.Fatalf("unkeyed posting %d is %d (%d delivered)", i, u, len(unkeyed))
		}
	}
	if len(unkeyed) != n/10 {
		t.Fatalf("%d unkeyed postings delivered, want %d", len(unkeyed), n/10)
	}
	for i := 1; i < len(keyed); i++ {
		if keyed[i] <= keyed[i-1] {
			t.Fatalf("update %d delivered after %d", keyed[i], keyed[i-1])
		}
	}
	abandoned := windowCounter(a.Stats(), "", "superseded")
	t.Logf("%d of %d updates delivered; the sender's window abandoned %d superseded packets", len(keyed), n, abandoned)
	if abandoned == 0 {
		t.Error("the window abandoned no superseded packet")
	}
	if len(keyed) >= 500 || keyed[len(keyed)-1] != n-1 {
		t.Fatalf("%d of %d updates delivered, the last %d", len(keyed), n, keyed[len(keyed)-1])
	}
}

// TestLatestKeepsItsTurn: in a slow subscriber's queue, a key's newest
// posting takes the place of the one it supersedes, so a sender that
// updates its key faster than the subscriber reads is not sent to the
// back at every update, behind senders that update less often; but where
// another posting of its stream was queued after the superseded one, it
// goes to the back, so nothing of the stream is reordered.
func TestLatestKeepsItsTurn(t *testing.T) {
	checkGoroutines(t)
	clock := stack.NewManualClock(stack.ManualEpoch)
	url := memURL(t)
	a, b, rx := open(t, url, WithClock(clock), WithLinger(0)), open(t, url, WithClock(clock), WithLinger(0)), open(t, url, WithClock(clock))
	sub, err := rx.Subscribe(Queue(16, DropOldest))
	must(t, err)
	ctx := context.Background()
	push := func(ch *Channel, body string, key string) {
		t.Helper()
		opts := []posting.Option{}
		if key != "" {
			opts = append(opts, posting.WithKey(key))
		}
		must(t, ch.Push(ctx, posting.New(body, opts...)))
		settle(t, a, b, rx)
	}
	bodies := func() []string {
		var got []string
		for _, p := range drain(sub) {
			got = append(got, p.Body.(string))
		}
		return got
	}
	push(a, "a1", "pointer")
	push(b, "b1", "pointer")
	push(a, "a2", "pointer")
	push(a, "a3", "pointer")
	if got, want := bodies(), []string{"a3", "b1"}; !slices.Equal(got, want) {
		t.Fatalf("queue %v, want %v: a's newest in the place of a1", got, want)
	}
	push(a, "a1", "pointer")
	push(a, "au", "")
	push(b, "b1", "pointer")
	push(a, "a2", "pointer")
	if got, want := bodies(), []string{"au", "b1", "a2"}; !slices.Equal(got, want) {
		t.Fatalf("queue %v, want %v: a2 after au, pushed before it", got, want)
	}
	if st := sub.Stats(); st.Superseded != 3 || st.Delivered != 8 || st.Dropped != 0 {
		t.Fatalf("stats %+v, want 8 delivered (queued), 3 of them superseded", st)
	}
}
