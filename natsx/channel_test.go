package natsx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/internal/testnet"
	"github.com/rwanda-go/rwanda/keys"
	"github.com/rwanda-go/rwanda/posting"
)

// The channel tests of package channel that make sense over NATS, on an
// embedded server: push/subscribe, pull/serve, keyed and signed channels,
// TTLs, a slow subscriber, and a server restart.

type chat struct {
	From string
	Text string
	N    int
}

func init() { posting.Register[chat]("rwanda.natsx.test/chat") }

var (
	testKey  = bytes.Repeat([]byte{0x42}, 32)
	otherKey = bytes.Repeat([]byte{0x43}, 32)
)

func openCh(t testing.TB, url string, opts ...channel.Option) *channel.Channel {
	t.Helper()
	c, err := channel.Open(context.Background(), url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// waitTimeout bounds waits for something that takes microseconds on an
// idle machine; it is there for a loaded one.
const waitTimeout = 10 * time.Second

func next(t testing.TB, s *channel.Subscription) *posting.Posting {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	p, err := s.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return p
}

// waitFor polls cond (state of other goroutines) until it holds.
func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(time.Millisecond) // waiting on the channels' goroutines
	}
}

// waitPeer waits until c has heard from member id.
func waitPeer(t testing.TB, c *channel.Channel, id uint64) {
	t.Helper()
	waitFor(t, fmt.Sprintf("member %x heard", id), waitTimeout, func() bool {
		for _, p := range c.Stats().Peers {
			if p.ID == id {
				return true
			}
		}
		return false
	})
}

// inOrder collects postings 0..n-1 (ints) and fails on anything else.
type inOrder struct {
	n    int
	mu   sync.Mutex
	next int
	err  error
	done chan struct{}
}

func newInOrder(n int) *inOrder { return &inOrder{n: n, done: make(chan struct{})} }

func (c *inOrder) add(p *posting.Posting) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return
	}
	if v, ok := p.Body.(int); !ok || v != c.next {
		c.err = fmt.Errorf("posting %d is %v", c.next, p.Body)
		close(c.done)
		return
	}
	if c.next++; c.next == c.n {
		close(c.done)
	}
}

func (c *inOrder) wait(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(d):
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		t.Fatal(c.err)
	}
	if c.next != c.n {
		t.Fatalf("%d of %d postings arrived within %v", c.next, c.n, d)
	}
}

func TestPushSubscribe(t *testing.T) {
	testnet.CheckGoroutines(t)
	url := embeddedURL(t)
	a, b := openCh(t, url), openCh(t, url)
	all, err := b.Subscribe()
	must(t, err)
	texts, _ := b.Subscribe(channel.Media(posting.Text), channel.Streams("lobby"))
	ctx := context.Background()
	big := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320 KB: fragmented (datagrams of 32 KiB at most)
	must(t, a.Push(ctx, posting.New(chat{From: "ana", Text: "hi", N: 1}, posting.WithStream("lobby"), posting.WithMedia(posting.Text))))
	must(t, a.Push(ctx, posting.New(big, posting.WithStream("files"))))
	must(t, a.Push(ctx, posting.New(7, posting.WithStream("lobby"))))

	p := next(t, all)
	if c, ok := p.Body.(chat); !ok || c.Text != "hi" || p.Stream != "lobby" || p.Sender != a.ID() || p.Seq != 1 || p.Media != posting.Text {
		t.Fatalf("first posting %v body %#v", p, p.Body)
	}
	if p = next(t, all); !bytes.Equal(p.Body.([]byte), big) || p.Stream != "files" {
		t.Fatalf("big posting: %v", p)
	}
	if p = next(t, all); p.Body != 7 {
		t.Fatalf("third: %v", p)
	}
	if p = next(t, texts); p.Body.(chat).Text != "hi" {
		t.Fatalf("filtered: %v", p)
	}
	if st := b.Stats(); st.Received.Postings != 3 || len(st.Flows) < 2 {
		t.Fatalf("stats %+v", st)
	}
	// The default stacks are the channel's: reliable, with its window.
	if q := a.QoS("files"); q != "frag/order/window" {
		t.Fatalf("QoS %q", q)
	}
	if m := a.MTU(); m != DatagramSize {
		t.Fatalf("MTU %d: want DatagramSize, %d (the server's max payload is 1 MiB)", m, DatagramSize)
	}
	// mtu= raises it, up to the largest datagram a channel cuts.
	if m := openCh(t, url+"?mtu=65507").MTU(); m != channel.DefaultMTUMem {
		t.Fatalf("MTU %d with mtu=65507: want %d", m, channel.DefaultMTUMem)
	}
}

func TestPullServe(t *testing.T) {
	testnet.CheckGoroutines(t)
	url := embeddedURL(t)
	srv, cli := openCh(t, url), openCh(t, url)
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
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	rep, err := cli.Pull(ctx, posting.New("hello", posting.WithStream("rpc")))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Body.(string) != "HELLO" || rep.Sender != srv.ID() || rep.Kind != posting.Reply || rep.Stream != "rpc" {
		t.Fatalf("reply %v", rep)
	}
	rep, err = cli.Pull(ctx, posting.New(make([]byte, 300000))) // fragmented, to the server's inbox
	if err != nil || rep.Body.(int) != 300000 {
		t.Fatalf("large request: %v %v", rep, err)
	}
	_, err = cli.Pull(ctx, posting.New("fail"))
	var re *channel.RemoteError
	if !errors.As(err, &re) || re.Message != "no such thing" || re.Server != srv.ID() {
		t.Fatalf("handler error: %v", err)
	}
}

// TestKeyed: a keyed channel over NATS authenticates and encrypts every
// datagram end to end (the broker sees ciphertext); members without the
// key, or with another, get nothing, and each of their datagrams is
// counted.
func TestKeyed(t *testing.T) {
	testnet.CheckGoroutines(t)
	url := embeddedURL(t)
	rx := openCh(t, url, channel.WithKey(testKey))
	tx := openCh(t, url, channel.WithKey(testKey), channel.WithBlockingPush())
	// A plain NATS subscriber on the subject: what the broker carries.
	nc := plainClient(t, url)
	var seen atomic.Int64
	var leaked atomic.Bool
	sub, err := nc.Subscribe(strings.TrimPrefix(url, "t+nats:///"), func(m *nats.Msg) {
		seen.Add(1)
		if bytes.Contains(m.Data, []byte("secret lesson")) {
			leaked.Store(true)
		}
	})
	must(t, err)
	must(t, nc.Flush())
	const n = 500
	col := newInOrder(n)
	_, err = rx.SubscribeFunc(func(p *posting.Posting) {
		if s, ok := p.Body.(string); ok && s == "secret lesson" {
			return
		}
		col.add(p)
	})
	must(t, err)
	ctx := context.Background()
	must(t, tx.Push(ctx, posting.New("secret lesson")))
	for i := range n {
		must(t, tx.Push(ctx, posting.New(i)))
	}
	col.wait(t, waitTimeout)
	if q := tx.QoS(""); !strings.HasSuffix(q, "/encrypt") {
		t.Fatalf("keyed stack %q", q)
	}
	if seen.Load() == 0 || leaked.Load() {
		t.Fatalf("the broker carried %d messages; plaintext among them: %v", seen.Load(), leaked.Load())
	}
	sub.Unsubscribe()

	strangers, _ := rx.Subscribe()
	plain := openCh(t, url)
	wrong := openCh(t, url, channel.WithKey(otherKey))
	for i := range 5 {
		must(t, plain.Push(ctx, posting.New(i)))
		must(t, wrong.Push(ctx, posting.New(i)))
	}
	waitFor(t, "strangers' datagrams counted", waitTimeout, func() bool { return rx.Stats().Drops["unauthenticated"] >= 10 })
	select {
	case p := <-strangers.Postings():
		t.Fatalf("a stranger's posting arrived: %v", p)
	default:
	}
}

// TestSigned: a signed stream verifies end to end through the broker: a
// receiver that trusts only the signer's key delivers its postings, and
// refuses an unsigned sender's.
func TestSigned(t *testing.T) {
	testnet.CheckGoroutines(t)
	url := embeddedURL(t)
	id, err := keys.GenerateIdentity()
	must(t, err)
	trust, err := keys.NewTrust(id.Public())
	must(t, err)
	rx := openCh(t, url, channel.WithTrusted(trust))
	sub, _ := rx.Subscribe()
	tx := openCh(t, url, channel.WithIdentity(id), channel.WithQoS("reliable/sign"))
	unsigned := openCh(t, url)
	ctx := context.Background()
	must(t, unsigned.Push(ctx, posting.New("forged")))
	must(t, tx.Push(ctx, posting.New("signed")))
	if p := next(t, sub); p.Body != "signed" || p.Sender != tx.ID() {
		t.Fatalf("got %v from %x", p.Body, p.Sender)
	}
	waitFor(t, "the unsigned stream refused", waitTimeout, func() bool {
		for reason, n := range rx.Stats().Drops {
			if n > 0 && (strings.Contains(reason, "refused") || strings.Contains(reason, "policy")) {
				return true
			}
		}
		return false
	})
	select {
	case p := <-sub.Postings():
		t.Fatalf("an unsigned posting arrived: %v", p.Body)
	default:
	}
}

func TestSlowSubscriberDoesNotStallOthers(t *testing.T) {
	testnet.CheckGoroutines(t)
	url := embeddedURL(t)
	a, b := openCh(t, url, channel.WithBlockingPush()), openCh(t, url)
	slow, _ := b.Subscribe(channel.Queue(4, channel.DropOldest))
	newest, _ := b.Subscribe(channel.Queue(4, channel.DropNewest))
	var got atomic.Int64
	fast, _ := b.SubscribeFunc(func(*posting.Posting) { got.Add(1) })
	const n = 500
	for i := range n {
		must(t, a.Push(context.Background(), posting.New(i)))
	}
	waitFor(t, "the fast subscriber's postings", waitTimeout, func() bool { return got.Load() == n })
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
	if d := b.Stats().Drops["slow-consumer"]; d != 2*(n-4) {
		t.Fatalf("channel counted %d slow-consumer drops, want %d", d, 2*(n-4))
	}
	fast.Close()
}

// TestMaxPayloadFragments: on a server whose max_payload is 4 KiB the
// channel's MTU is 4 KiB, and a 100 KB posting arrives, cut into
// datagrams the broker takes; no message on the subject is larger.
func TestMaxPayloadFragments(t *testing.T) {
	testnet.CheckGoroutines(t)
	srv := startServer(t, 0, 4096)
	subj := subject(t)
	url := fmt.Sprintf("t+nats://127.0.0.1:%d/%s", serverPort(srv), subj)
	rx := openCh(t, url)
	tx := openCh(t, url)
	if tx.MTU() != 4096 {
		t.Fatalf("MTU %d, want the server's max_payload 4096", tx.MTU())
	}
	nc, err := nats.Connect(srv.ClientURL())
	must(t, err)
	defer nc.Close()
	var largest atomic.Int64
	_, err = nc.Subscribe(subj, func(m *nats.Msg) {
		if n := int64(len(m.Data)); n > largest.Load() {
			largest.Store(n)
		}
	})
	must(t, err)
	must(t, nc.Flush())
	sub, _ := rx.Subscribe()
	big := bytes.Repeat([]byte("fragment"), 100000/8)
	must(t, tx.Push(context.Background(), posting.New(big)))
	if p := next(t, sub); !bytes.Equal(p.Body.([]byte), big) {
		t.Fatal("the posting arrived damaged")
	}
	if d := tx.Stats().Sent.Datagrams; d < 100000/4096 {
		t.Fatalf("%d datagrams sent for 100 KB at MTU 4096", d)
	}
	must(t, nc.Flush())
	if l := largest.Load(); l == 0 || l > 4096 {
		t.Fatalf("largest message on the subject: %d bytes", l)
	}
}

// TestStrangersCounted: messages on the subject from plain NATS clients —
// no reply subject, a reply subject that is not a member's inbox — are
// dropped and counted by the transport; one that claims an inbox but
// carries no datagram is the channel decoder's to refuse.
func TestStrangersCounted(t *testing.T) {
	testnet.CheckGoroutines(t)
	url := embeddedURL(t)
	rx := openCh(t, url)
	sub, _ := rx.Subscribe()
	nc := plainClient(t, url)
	subj := strings.TrimPrefix(url, "t+nats:///")
	must(t, nc.Publish(subj, []byte("hello from nats pub")))
	must(t, nc.PublishRequest(subj, "elsewhere.victim", []byte("answer over there")))
	must(t, nc.PublishRequest(subj, subj+".m.0123456789abcdef", []byte("not a datagram")))
	must(t, nc.Flush())
	waitFor(t, "strangers counted", waitTimeout, func() bool {
		d := rx.Stats().Drops
		return d["nats-no-sender"] == 2 && d["malformed"] == 1
	})
	select {
	case p := <-sub.Postings():
		t.Fatalf("a stranger's message arrived as %v", p)
	default:
	}
}

// plainClient is a plain NATS client of the in-process embedded server
// that url's channels use (which must be open).
func plainClient(t testing.TB, url string) *nats.Conn {
	t.Helper()
	embedded.Lock()
	s := embedded.m[0]
	embedded.Unlock()
	if s == nil || !strings.HasPrefix(url, "t+nats:///") {
		t.Fatal("no embedded server")
	}
	nc, err := nats.Connect("", nats.InProcessServer(s.srv))
	must(t, err)
	t.Cleanup(nc.Close)
	return nc
}

// TestEmbeddedListening: app+nats://:PORT/subject starts an embedded
// server that other members reach over TCP as app+nats://host:PORT (a
// keyed channel, one identity through its channel id); the server stops
// when the last channel of this process using it closes.
func TestEmbeddedListening(t *testing.T) {
	testnet.CheckGoroutines(t)
	port := freeTCPPort(t)
	subj := subject(t)
	// Keyed: the two URLs name the server differently, so the channel id
	// is what makes them one channel (one identity, one key).
	host := openCh(t, fmt.Sprintf("t+nats://:%d/%s?channel=lesson", port, subj), channel.WithKey(testKey))
	guest := openCh(t, fmt.Sprintf("t+nats://127.0.0.1:%d/%s?reconnect=10ms&channel=lesson", port, subj), channel.WithKey(testKey))
	if host.Address().Identity() != "t?channel=lesson" || guest.Address().Identity() != host.Address().Identity() {
		t.Fatalf("identities %q, %q", host.Address().Identity(), guest.Address().Identity())
	}
	sub, _ := host.Subscribe()
	must(t, guest.Push(context.Background(), posting.New("over TCP")))
	if p := next(t, sub); p.Body != "over TCP" {
		t.Fatalf("got %v", p.Body)
	}
	must(t, guest.Close()) // lingers until the host has acknowledged
	must(t, host.Close())
	embedded.Lock()
	_, running := embedded.m[port]
	embedded.Unlock()
	if running {
		t.Fatal("the embedded server outlived its last channel")
	}
}

// freeTCPPort is a port no other test process can be given meanwhile.
func freeTCPPort(t testing.TB) int { return testnet.FreePort(t) }

// restart shuts srv down and starts a server on the same port.
func restart(t testing.TB, srv *server.Server) *server.Server {
	t.Helper()
	port := serverPort(srv)
	srv.Shutdown()
	srv.WaitForShutdown()
	return startServer(t, port, 0)
}

// TestTimingReconnectAfterServerRestart: the server restarts while a
// reliable stream flows. Publishes made during the outage wait in the
// client's reconnect buffer, and both members resubscribe on their own
// when the server is back; whatever the restart lost (published before
// the receiver had resubscribed) the window repairs, so every posting
// arrives, once and in order. Bound: the window's receiver timeout (2 s)
// twice over, the reconnect wait, and the scheduling delay measured.
func TestTimingReconnectAfterServerRestart(t *testing.T) {
	testnet.CheckGoroutines(t)
	probe := testnet.StartSchedProbe()
	defer probe.Stop()
	srv := startServer(t, 0, 0)
	const reconnect = 20 * time.Millisecond
	url := fmt.Sprintf("t+nats://127.0.0.1:%d/%s?reconnect=%v", serverPort(srv), subject(t), reconnect)
	rx := openCh(t, url)
	tx := openCh(t, url, channel.WithBlockingPush())
	const n = 3000
	col := newInOrder(n)
	_, err := rx.SubscribeFunc(col.add)
	must(t, err)
	waitPeer(t, tx, rx.ID())
	ctx := context.Background()
	for i := range n / 3 {
		must(t, tx.Push(ctx, posting.New(i)))
	}
	srv = restart(t, srv)
	for i := n / 3; i < n; i++ {
		must(t, tx.Push(ctx, posting.New(i)))
		if i == 2*n/3 {
			srv = restart(t, srv) // once more, mid-stream
		}
	}
	bound := 2*2*time.Second + 4*reconnect + probe.Max()
	col.wait(t, bound)
	t.Logf("delivered %d in order across two restarts; receiver drops %v", n, rx.Stats().Drops)
	// Everything acknowledged: Close has nothing to wait for (and the
	// restarted server, stopped by a cleanup, outlives both).
	must(t, tx.Close())
	must(t, rx.Close())
}

// TestTimingTTLAcrossOutage: a posting's TTL holds end to end across an
// outage. Postings pushed with a 100 ms TTL while the server is down wait
// in the client's reconnect buffer; the server comes back only after their
// TTL has run out, so the receiver must drop every one of them as
// obsolete (the window's time left is measured from arrival, but the
// posting carries its send time, and the receiver knows the sender's
// clock from the stream's earlier postings), and deliver what is pushed
// afterwards.
func TestTimingTTLAcrossOutage(t *testing.T) {
	testnet.CheckGoroutines(t)
	probe := testnet.StartSchedProbe()
	defer probe.Stop()
	srv := startServer(t, 0, 0)
	port := serverPort(srv)
	url := fmt.Sprintf("t+nats://127.0.0.1:%d/%s?reconnect=10ms", port, subject(t))
	rx := openCh(t, url)
	tx := openCh(t, url, channel.WithStreamQoS("live", "media"), channel.WithLinger(0))
	const ttl = 100 * time.Millisecond
	var late, onTime, before, after atomic.Int64
	var worst atomic.Int64
	_, err := rx.SubscribeFunc(func(p *posting.Posting) {
		age := time.Since(p.Sent)
		switch s, _ := p.Body.(string); s {
		case "before":
			before.Add(1)
			return
		case "after":
			after.Add(1)
			return
		}
		if age > ttl+probe.Max() {
			late.Add(1)
		} else {
			onTime.Add(1)
		}
		if int64(age) > worst.Load() {
			worst.Store(int64(age))
		}
	})
	must(t, err)
	ctx := context.Background()
	// The stream is live before the outage: the receiver knows how long
	// the sender's postings take to arrive. (The first postings of a flow
	// set that yardstick: had they all been held up, they would be taken
	// for prompt ones; on keyed channels the sender's hellos set it too.)
	must(t, tx.Push(ctx, posting.New("before", posting.WithStream("live"), posting.WithTTL(ttl))))
	waitFor(t, "a posting before the outage", waitTimeout, func() bool { return before.Load() == 1 })
	srv.Shutdown()
	srv.WaitForShutdown()
	var lastPush time.Time
	for i := range 20 {
		must(t, tx.Push(ctx, posting.New(i, posting.WithStream("live"), posting.WithTTL(ttl))))
		lastPush = time.Now()
	}
	// The outage outlasts every TTL (a wait for time to pass, not for an
	// event).
	time.Sleep(time.Until(lastPush.Add(2 * ttl)))
	startServer(t, port, 0)
	// After the restart, a marker on the same stream, with a TTL long
	// enough for repairs: once it is here, the order layer has handed up
	// or skipped everything pushed before it.
	must(t, tx.Push(ctx, posting.New("after", posting.WithStream("live"), posting.WithTTL(4*time.Second))))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("tx %+v", tx.Stats())
			t.Logf("rx %+v", rx.Stats())
		}
	})
	waitFor(t, "the marker pushed after the restart", 4*time.Second+probe.Max(), func() bool { return after.Load() > 0 })
	t.Logf("TTL %v: %d delivered in time, %d late (worst age %v); receiver drops %v", ttl, onTime.Load(), late.Load(), time.Duration(worst.Load()), rx.Stats().Drops)
	// Every posting of the outage was pushed at least 2×TTL before the
	// server came back: any delivery of one would be late.
	if late.Load() != 0 || onTime.Load() != 0 {
		t.Fatalf("%d postings of the outage delivered (%d after their TTL)", late.Load()+onTime.Load(), late.Load())
	}
}

// TestOneMemberStreamFitsCarrier: streams to one member (requests to a
// server, its replies) run the window's NAK mode over NATS, as streams to
// everyone do: no acknowledgement per few packets and no congestion
// window over the broker's TCP, only a status now and then (every 256
// packets, or 50 ms while data flows) that frees the sender's bounded
// window, and NAKs should a gap appear. Ack mode acknowledges at least
// every 16 packets (ackevery), so more than one feedback packet per 32
// delivered postings means the carrier is paid for twice.
func TestOneMemberStreamFitsCarrier(t *testing.T) {
	testnet.CheckGoroutines(t)
	url := embeddedURL(t)
	srv, cli := openCh(t, url), openCh(t, url)
	must(t, srv.Serve(func(_ context.Context, req *posting.Posting) (*posting.Posting, error) {
		return posting.New(req.Body), nil
	}))
	const workers, each = 16, 250
	ctx, cancel := context.WithTimeout(context.Background(), 4*waitTimeout)
	defer cancel()
	body := bytes.Repeat([]byte{'x'}, 1024)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for range each {
				rep, err := cli.Pull(ctx, posting.New(body, posting.WithStream("rpc")))
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(rep.Body.([]byte), body) {
					errs <- fmt.Errorf("reply of %d bytes", len(rep.Body.([]byte)))
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Feedback: the packets the receiving stacks sent back (window ACKs,
	// or STATUS and NAKs), per posting they delivered, both ways.
	var delivered, feedback, acks uint64
	for _, pair := range []struct {
		rx     *channel.Channel
		sender uint64
	}{{srv, cli.ID()}, {cli, srv.ID()}} {
		for _, f := range pair.rx.Stats().Flows {
			if f.Sender != pair.sender {
				continue
			}
			delivered += f.Postings
			feedback += f.Stack.Sent
			for _, l := range f.Stack.Layers {
				if l.Name == "window" {
					acks += l.Counters["acks"]
				}
			}
		}
	}
	t.Logf("%d postings delivered to one member each, %d feedback packets (%d ACKs): %.4f per posting", delivered, feedback, acks, float64(feedback)/float64(delivered))
	if want := uint64(2 * workers * each); delivered < want {
		t.Fatalf("%d postings delivered, want %d", delivered, want)
	}
	if acks != 0 || feedback*32 > delivered {
		t.Fatalf("%d feedback packets (%d ACKs) for %d postings: per-packet acknowledgements over NATS's TCP", feedback, acks, delivered)
	}
}

// TestTimingPullAcrossServerRestart: requests and replies — streams to
// one member, on the window's NAK mode over NATS — flow while the server
// restarts twice. Whatever a restart lost, the windows repair (the
// sender's heartbeat shows the receiver its gap, its NAK brings the
// repair), so every Pull gets its own reply. Bound: as for
// TestTimingReconnectAfterServerRestart.
func TestTimingPullAcrossServerRestart(t *testing.T) {
	testnet.CheckGoroutines(t)
	probe := testnet.StartSchedProbe()
	defer probe.Stop()
	srv := startServer(t, 0, 0)
	const reconnect = 20 * time.Millisecond
	url := fmt.Sprintf("t+nats://127.0.0.1:%d/%s?reconnect=%v", serverPort(srv), subject(t), reconnect)
	server, cli := openCh(t, url), openCh(t, url)
	must(t, server.Serve(func(_ context.Context, req *posting.Posting) (*posting.Posting, error) {
		return posting.New(req.Body.(int) + 1), nil
	}))
	waitPeer(t, cli, server.ID())
	const workers, each = 8, 150
	var done atomic.Int64
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				ctx, cancel := context.WithTimeout(context.Background(), 2*2*time.Second+4*reconnect+probe.Max()+waitTimeout)
				rep, err := cli.Pull(ctx, posting.New(w*each+i, posting.WithStream("rpc")))
				cancel()
				if err != nil {
					errs <- fmt.Errorf("pull %d of worker %d: %w", i, w, err)
					return
				}
				if v, _ := rep.Body.(int); v != w*each+i+1 {
					errs <- fmt.Errorf("pull %d of worker %d: reply %v", i, w, rep.Body)
					return
				}
				done.Add(1)
			}
		})
	}
	for _, at := range []int64{workers * each / 3, 2 * workers * each / 3} {
		waitFor(t, fmt.Sprintf("%d replies", at), waitTimeout, func() bool { return done.Load() >= at })
		srv = restart(t, srv)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var repairs uint64
	for _, c := range []*channel.Channel{server, cli} {
		for _, s := range c.Stats().Streams {
			for _, l := range s.Stack.Layers {
				repairs += l.Counters["retransmits"]
			}
		}
	}
	t.Logf("%d pulls answered across two restarts, %d packets repaired; server drops %v, client drops %v", done.Load(), repairs, server.Stats().Drops, cli.Stats().Drops)
	must(t, cli.Close())
	must(t, server.Close())
}
