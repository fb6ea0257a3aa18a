package channel

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/internal/testnet"
	"github.com/rwanda-go/rwanda/posting"
	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/transport"
)

type chat struct {
	From string
	Text string
	N    int
}

func init() { posting.Register[chat]("rwanda.test/chat") }

var hubSeq atomic.Int64

// memURL returns a fresh hub name for a test.
func memURL(t *testing.T) string {
	return fmt.Sprintf("mem://%s-%d", strings.ReplaceAll(t.Name(), "/", "_"), hubSeq.Add(1))
}

// checkGoroutines fails t if goroutines started during the test outlive it.
var checkGoroutines = testnet.CheckGoroutines

func open(t *testing.T, url string, opts ...Option) *Channel {
	t.Helper()
	c, err := Open(context.Background(), url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func next(t *testing.T, s *Subscription) *posting.Posting {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := s.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return p
}

func TestMemPushSubscribe(t *testing.T) {
	checkGoroutines(t)
	url := memURL(t)
	a, b := open(t, url), open(t, url)
	all, err := b.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	texts, _ := b.Subscribe(Media(posting.Text), Streams("lobby"))
	ctx := context.Background()
	big := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320 KB: fragmented
	must(t, a.Push(ctx, posting.New(chat{From: "ana", Text: "hi", N: 1}, posting.WithStream("lobby"), posting.WithMedia(posting.Text))))
	must(t, a.Push(ctx, posting.New(big, posting.WithStream("files"))))
	must(t, a.Push(ctx, posting.New(7, posting.WithStream("lobby")))) // data: its own stack when its QoS differs from text's
	split := a.QoSFor("lobby", posting.Text) != a.QoSFor("lobby", posting.Data)

	p := next(t, all)
	if c, ok := p.Body.(chat); !ok || c.Text != "hi" || p.Stream != "lobby" || p.Sender != a.ID() || p.Seq != 1 || p.Media != posting.Text {
		t.Fatalf("first posting %v body %#v", p, p.Body)
	}
	p = next(t, all)
	if !bytes.Equal(p.Body.([]byte), big) || p.Stream != "files" {
		t.Fatalf("big posting: %v", p)
	}
	if p = next(t, all); p.Body != 7 || split != (p.Seq == 1) || p.Media != posting.Data {
		t.Fatalf("third: %v", p)
	}
	if p = next(t, texts); p.Body.(chat).Text != "hi" {
		t.Fatalf("filtered: %v", p)
	}
	ctx2, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if p, err := texts.Next(ctx2); err == nil {
		t.Fatalf("filter let through %v", p)
	}
	st := b.Stats()
	if flows := map[bool]int{false: 2, true: 3}[split]; st.Received.Postings != 3 || len(st.Flows) != flows {
		t.Fatalf("stats %+v", st)
	}
}

func TestMemStatsShowStacks(t *testing.T) {
	url := memURL(t)
	a := open(t, url, WithStreamQoS("video", "frag(mtu=1200)"))
	b := open(t, url)
	sub, _ := b.Subscribe()
	must(t, a.Push(context.Background(), posting.New(make([]byte, 5000), posting.WithStream("video"))))
	must(t, a.Push(context.Background(), posting.New(1, posting.WithStream("chat"))))
	next(t, sub)
	next(t, sub)
	qos := map[string]string{}
	for _, s := range a.Stats().Streams {
		qos[s.Name] = s.QoS
	}
	if qos["video"] != "frag(mtu=1200)" || qos["chat"] != "frag/order/window" {
		t.Fatalf("sender stacks %v", qos)
	}
	for _, f := range b.Stats().Flows {
		if f.Stream == "video" && (f.QoS != "frag(mtu=1200)" || f.Stack.Layers[0].Counters["parcels-reassembled"] != 1) {
			t.Fatalf("receiver flow %+v", f)
		}
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestSlowSubscriberDoesNotStallOthers(t *testing.T) {
	url := memURL(t)
	a, b := open(t, url), open(t, url)
	slow, _ := b.Subscribe(Queue(4, DropOldest))
	newest, _ := b.Subscribe(Queue(4, DropNewest))
	var got atomic.Int64
	fast, _ := b.SubscribeFunc(func(*posting.Posting) { got.Add(1) })
	const n = 500
	for i := range n {
		must(t, a.Push(context.Background(), posting.New(i)))
	}
	deadline := time.Now().Add(10 * time.Second)
	for got.Load() < n && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // waiting on the receiving goroutine
	}
	if got.Load() != n {
		t.Fatalf("fast subscriber got %d of %d", got.Load(), n)
	}
	// DropOldest kept the last four, DropNewest the first four.
	for i, want := range []int{n - 4, n - 3, n - 2, n - 1} {
		if p := next(t, slow); p.Body.(int) != want {
			t.Fatalf("slow[%d] = %v, want %d", i, p.Body, want)
		}
	}
	for want := range 4 {
		if p := next(t, newest); p.Body.(int) != want {
			t.Fatalf("newest = %v, want %d", p.Body, want)
		}
	}
	if st := slow.Stats(); st.Dropped != n-4 || st.Delivered < n-4 {
		t.Fatalf("slow stats %+v", st)
	}
	if d := b.Stats().Drops["slow-consumer"]; d != 2*(n-4) {
		t.Fatalf("channel counted %d slow-consumer drops, want %d", d, 2*(n-4))
	}
	fast.Close()
}

func TestFailSlow(t *testing.T) {
	url := memURL(t)
	a, b := open(t, url), open(t, url)
	s, _ := b.Subscribe(Queue(2, FailSlow))
	for i := range 3 {
		must(t, a.Push(context.Background(), posting.New(i)))
	}
	select { // the third posting finds the queue full and ends the subscription
	case <-s.done:
	case <-time.After(10 * time.Second):
		t.Fatal("subscription not ended")
	}
	for range 2 { // what was queued can still be read
		next(t, s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.Next(ctx); !errors.Is(err, ErrSlowConsumer) {
		t.Fatalf("got %v, want ErrSlowConsumer", err)
	}
}

func TestPullServe(t *testing.T) {
	checkGoroutines(t)
	url := memURL(t)
	srv, cli := open(t, url), open(t, url)
	must(t, srv.Serve(func(ctx context.Context, req *posting.Posting) (*posting.Posting, error) {
		switch body := req.Body.(type) {
		case string:
			if body == "fail" {
				return nil, errors.New("no such thing")
			}
			return posting.New(strings.ToUpper(body)), nil
		case []byte:
			return posting.New(len(body)), nil
		}
		return nil, fmt.Errorf("unexpected %T", req.Body)
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rep, err := cli.Pull(ctx, posting.New("hello", posting.WithStream("rpc")))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Body.(string) != "HELLO" || rep.Sender != srv.ID() || rep.Kind != posting.Reply || rep.Stream != "rpc" {
		t.Fatalf("reply %v", rep)
	}
	rep, err = cli.Pull(ctx, posting.New(make([]byte, 100000)))
	if err != nil || rep.Body.(int) != 100000 {
		t.Fatalf("large request: %v %v", rep, err)
	}
	_, err = cli.Pull(ctx, posting.New("fail"))
	var re *RemoteError
	if !errors.As(err, &re) || re.Message != "no such thing" || re.Server != srv.ID() {
		t.Fatalf("handler error: %v", err)
	}
	// Subscribers see neither requests nor replies.
	sub, _ := srv.Subscribe()
	if _, err := cli.Pull(ctx, posting.New("again")); err != nil {
		t.Fatal(err)
	}
	if sub.Stats().Delivered != 0 {
		t.Fatal("a request reached a subscriber")
	}
}

func TestPullNobodyServes(t *testing.T) {
	url := memURL(t)
	open(t, url) // a member that does not serve
	cli := open(t, url, WithAnnounceInterval(20*time.Millisecond))
	start := time.Now()
	_, err := cli.Pull(context.Background(), posting.New("anyone?"))
	if !errors.Is(err, ErrNoServer) {
		t.Fatalf("got %v, want ErrNoServer", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v to give up", d)
	}
}

func TestPullTimeout(t *testing.T) {
	url := memURL(t)
	srv, cli := open(t, url), open(t, url)
	release := make(chan struct{})
	defer close(release)
	must(t, srv.Serve(func(ctx context.Context, req *posting.Posting) (*posting.Posting, error) {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil, nil
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := cli.Pull(ctx, posting.New("slow"))
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
}

func TestCloseEndsEverything(t *testing.T) {
	checkGoroutines(t)
	url := memURL(t)
	a, err := Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	b := open(t, url)
	sub, _ := a.Subscribe()
	must(t, b.Push(context.Background(), posting.New("x")))
	next(t, sub)
	must(t, a.Close())
	must(t, a.Close())
	if _, ok := <-sub.Postings(); ok {
		t.Fatal("subscription channel still open")
	}
	if !errors.Is(sub.Err(), ErrClosed) {
		t.Fatalf("sub err %v", sub.Err())
	}
	if err := a.Push(context.Background(), posting.New("y")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Push after Close: %v", err)
	}
	if _, err := a.Subscribe(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Subscribe after Close: %v", err)
	}
}

func TestLateJoinerLearnsStreams(t *testing.T) {
	url := memURL(t)
	a := open(t, url)
	ctx := context.Background()
	must(t, a.Push(ctx, posting.New("before b existed", posting.WithStream("news"))))
	b := open(t, url)
	sub, _ := b.Subscribe()
	// b missed the announcement: its first data frame of "news" is held and
	// answered with a query; a re-announces and the frame is delivered. The
	// sender still holds the stream's beginning, so b gets that too, first.
	must(t, a.Push(ctx, posting.New("after b joined", posting.WithStream("news"))))
	for _, want := range []string{"before b existed", "after b joined"} {
		if p := next(t, sub); p.Body.(string) != want || p.Stream != "news" {
			t.Fatalf("got %v, want %q", p, want)
		}
	}
	if st := b.Stats(); st.Held != 1 || st.Drops["unannounced"] != 0 {
		t.Fatalf("held %d, dropped %d", st.Held, st.Drops["unannounced"])
	}
}

func TestMaintenanceForgetsSilentPeers(t *testing.T) {
	clock := stack.NewManualClock(time.Time{})
	c := open(t, memURL(t), WithClock(clock), WithAnnounceInterval(time.Second))
	from := transport.IPAddr(netip.MustParseAddrPort("192.0.2.1:1"))
	c.receive(appendHello(appendDgramHeader(nil, 99), helloServes, time.Unix(1, 0)), from)
	if st := c.Stats(); len(st.Peers) != 1 || !st.Peers[0].Serves {
		t.Fatalf("peers %+v", st.Peers)
	}
	clock.Advance(5 * time.Second)
	if len(c.Stats().Peers) != 1 {
		t.Fatal("forgotten too early")
	}
	clock.Advance(2 * time.Second)
	if n := len(c.Stats().Peers); n != 0 {
		t.Fatalf("%d peers after 7 silent intervals", n)
	}
	// A goodbye forgets at once.
	c.receive(appendHello(appendDgramHeader(nil, 98), 0, time.Unix(1, 0)), from)
	c.receive(appendHello(appendDgramHeader(nil, 98), helloBye, time.Unix(1, 0)), from)
	if n := len(c.Stats().Peers); n != 0 {
		t.Fatalf("%d peers after bye", n)
	}
}

func TestReceivePolicy(t *testing.T) {
	url := memURL(t)
	a := open(t, url)
	b := open(t, url, WithReceivePolicy(Policy{Require: []string{"encrypt"}}))
	sub, _ := b.Subscribe()
	for i := range 3 {
		must(t, a.Push(context.Background(), posting.New(i)))
	}
	expectNone(t, sub)
	waitDrops(t, b, "policy", 3)
}

func waitDrops(t *testing.T, c *Channel, reason string, n uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for c.Stats().Drops[reason] < n {
		if time.Now().After(deadline) {
			t.Fatalf("drops %q: %d, want %d", reason, c.Stats().Drops[reason], n)
		}
		time.Sleep(time.Millisecond) // waiting on the receiving goroutine
	}
}

func TestBackpressure(t *testing.T) {
	url := memURL(t)
	a := open(t, url, WithSendQueue(64<<10))
	// Hold the writer: mark it busy so nothing drains.
	a.out.mu.Lock()
	a.out.busy = true
	a.out.mu.Unlock()
	ctx := context.Background()
	var err error
	for i := 0; i < 1000 && err == nil; i++ {
		err = a.Push(ctx, posting.New(make([]byte, 1000)))
	}
	if !errors.Is(err, ErrBackpressure) {
		t.Fatalf("got %v, want ErrBackpressure", err)
	}
	a.out.finish(nil) // release the writer; the queue drains
	a.out.wake()
	deadline := time.Now().Add(10 * time.Second)
	for a.out.full() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	must(t, a.Push(ctx, posting.New("fits again")))

	// With WithBlockingPush a full queue waits until ctx is done.
	b := open(t, memURL(t), WithSendQueue(64<<10), WithBlockingPush())
	b.out.mu.Lock()
	b.out.busy = true
	b.out.mu.Unlock()
	tctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	for err = nil; err == nil; {
		err = b.Push(tctx, posting.New(make([]byte, 1000)))
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("blocking push: %v", err)
	}
	b.out.finish(nil)
}
