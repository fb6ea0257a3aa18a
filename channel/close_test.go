package channel

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/internal/testnet"
	"github.com/rwanda-go/rwanda/posting"
	"github.com/rwanda-go/rwanda/stack"
)

// Close and Flush (issue 16): receivers in processes of their own (the
// test binary re-executed with childEnv=closer), so that one can be
// killed, as a receiver that vanishes without a goodbye.

func init() {
	if os.Getenv(childEnv) == "closer" {
		os.Exit(closerChild())
	}
}

// closerChild opens RWANDA_URL, subscribes, prints "ready ID" (its member
// id in hex), checks that postings arrive in order (bodies 0, 1, ...) and
// prints "ok N" once it has RWANDA_N of them. On a line "count" on stdin
// it prints "have D W": the postings delivered, and the data packets its
// windows received (what it acknowledges). It closes when stdin closes.
func closerChild() int {
	url := os.Getenv("RWANDA_URL")
	n, _ := strconv.Atoi(os.Getenv("RWANDA_N"))
	ch, err := Open(context.Background(), url)
	if err != nil {
		fmt.Println("fail open:", err)
		return 1
	}
	defer ch.Close()
	var delivered atomic.Int64
	var bad atomic.Pointer[string]
	done := make(chan struct{})
	_, err = ch.SubscribeFunc(func(p *posting.Posting) {
		i := delivered.Load()
		if v, ok := p.Body.(int); !ok || v != int(i) || p.Seq != uint64(i+1) {
			s := fmt.Sprintf("posting %d is %v (seq %d)", i, p.Body, p.Seq)
			bad.CompareAndSwap(nil, &s)
		}
		if delivered.Add(1) == int64(n) {
			close(done)
		}
	})
	if err != nil {
		fmt.Println("fail subscribe:", err)
		return 1
	}
	var out sync.Mutex
	say := func(format string, a ...any) {
		out.Lock()
		fmt.Printf(format+"\n", a...)
		out.Unlock()
	}
	say("ready %x", ch.ID())
	go func() {
		<-done
		if b := bad.Load(); b != nil {
			say("fail: %s", *b)
			return
		}
		say("ok %d", n)
	}()
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if in.Text() == "count" {
			var w uint64
			for _, f := range ch.Stats().Flows {
				for _, l := range f.Stack.Layers {
					if l.Name == "window" {
						w += l.Counters["received"]
					}
				}
			}
			say("have %d %d", delivered.Load(), w)
		}
	}
	return 0
}

// closer is a running closerChild.
type closer struct {
	t     *testing.T
	cmd   *exec.Cmd
	stdin interface{ Close() error }
	w     *bufio.Writer
	lines chan string
	id    uint64
}

// startClosers starts k receivers of url expecting n postings each and
// waits until they are ready.
func startClosers(t *testing.T, k int, url string, n int) []*closer {
	t.Helper()
	if testing.Short() {
		t.Skip("starts receiver processes")
	}
	var cs []*closer
	for range k {
		c := &closer{t: t, lines: make(chan string, 16)}
		c.cmd = exec.Command(os.Args[0], "-test.run=^$")
		c.cmd.Env = append(os.Environ(), childEnv+"=closer", "RWANDA_URL="+url, "RWANDA_N="+strconv.Itoa(n))
		c.cmd.Stderr = os.Stderr
		stdin, err := c.cmd.StdinPipe()
		must(t, err)
		c.stdin, c.w = stdin, bufio.NewWriter(stdin)
		stdout, err := c.cmd.StdoutPipe()
		must(t, err)
		must(t, c.cmd.Start())
		t.Cleanup(func() { c.stdin.Close(); c.cmd.Process.Kill(); c.cmd.Wait() })
		go func() {
			s := bufio.NewScanner(stdout)
			for s.Scan() {
				c.lines <- s.Text()
			}
			close(c.lines)
		}()
		cs = append(cs, c)
	}
	for i, c := range cs {
		line := c.line()
		if _, err := fmt.Sscanf(line, "ready %x", &c.id); err != nil {
			t.Fatalf("receiver %d: %q", i, line)
		}
	}
	return cs
}

// line returns the receiver's next line; a minute of silence fails.
func (c *closer) line() string {
	c.t.Helper()
	select {
	case l, ok := <-c.lines:
		if !ok {
			c.t.Fatal("receiver ended")
		}
		return l
	case <-time.After(time.Minute):
		c.t.Fatal("receiver said nothing for a minute")
	}
	return ""
}

// expect fails unless the receiver's next line is want.
func (c *closer) expect(want string) {
	c.t.Helper()
	if l := c.line(); l != want {
		c.t.Fatalf("receiver %x: %q, want %q", c.id, l, want)
	}
}

// count asks the receiver what it has: postings delivered, and data
// packets its windows received.
func (c *closer) count() (delivered, received int) {
	c.t.Helper()
	fmt.Fprintln(c.w, "count")
	must(c.t, c.w.Flush())
	l := c.line()
	if _, err := fmt.Sscanf(l, "have %d %d", &delivered, &received); err != nil {
		c.t.Fatalf("receiver %x: %q", c.id, l)
	}
	return delivered, received
}

// kill ends the receiver at once: no goodbye.
func (c *closer) kill() {
	c.t.Helper()
	must(c.t, c.cmd.Process.Kill())
	c.cmd.Wait()
}

// pushInts pushes bodies from, from+1, ... up to n postings.
func pushInts(t *testing.T, ch *Channel, from, n int) {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		must(t, ch.Push(ctx, posting.New(from+i)))
	}
}

const closePostings = 5000

// TestCloseDeliversAllMulticast: 5000 small reliable postings pushed to a
// group, then an immediate Close: each of 3 receiver processes gets all
// 5000, in order, and Close returns nil. (On main before issue 16, 3 072
// to 4 864 of them arrived and Close returned at once.) The linger is
// long, so that a loaded machine cannot fail the test: how long Close
// took is logged.
func TestCloseDeliversAllMulticast(t *testing.T) {
	url := groupURL("closemc")
	rx := startClosers(t, 3, url, closePostings)
	tx := open(t, url, WithBlockingPush(), WithLinger(time.Minute))
	pushInts(t, tx, 0, closePostings)
	start := time.Now()
	if err := tx.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	t.Logf("Close took %v", time.Since(start))
	for _, c := range rx {
		c.expect(fmt.Sprintf("ok %d", closePostings))
	}
}

// TestCloseDeliversAllUnicast: the same to one receiver process over
// unicast.
func TestCloseDeliversAllUnicast(t *testing.T) {
	port := freePort(t)
	rx := startClosers(t, 1, fmt.Sprintf("closeuc://:%d", port), closePostings)
	tx := open(t, fmt.Sprintf("closeuc://127.0.0.1:%d", port), WithBlockingPush(), WithLinger(time.Minute))
	pushInts(t, tx, 0, closePostings)
	start := time.Now()
	if err := tx.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	t.Logf("Close took %v", time.Since(start))
	rx[0].expect(fmt.Sprintf("ok %d", closePostings))
}

// TestFlushReturnsWhenAcknowledged: Flush after 5000 pushes returns nil,
// and at that moment every receiver's window has all 5000 (multicast to 3
// receiver processes, and unicast to one). The channel stays open and
// usable.
func TestFlushReturnsWhenAcknowledged(t *testing.T) {
	for _, c := range []struct{ name, rxURL, txURL string }{
		{"multicast", "", ""},
		{"unicast", "closefl://:%d", "closefl://127.0.0.1:%d"},
	} {
		t.Run(c.name, func(t *testing.T) {
			k, rxURL, txURL := 3, groupURL("closefl"), ""
			txURL = rxURL
			if c.rxURL != "" {
				port := freePort(t)
				k, rxURL, txURL = 1, fmt.Sprintf(c.rxURL, port), fmt.Sprintf(c.txURL, port)
			}
			rx := startClosers(t, k, rxURL, closePostings+1)
			tx := open(t, txURL, WithBlockingPush())
			pushInts(t, tx, 0, closePostings)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			start := time.Now()
			if err := tx.Flush(ctx); err != nil {
				t.Fatalf("Flush: %v", err)
			}
			t.Logf("Flush took %v", time.Since(start))
			// The packets the sender's stacks took: one per posting, or
			// one per batch of postings pushed while the window was full.
			var sent int
			for _, s := range tx.Stats().Streams {
				sent += int(s.Stack.Down)
			}
			if sent < 1 || sent > closePostings {
				t.Fatalf("the sender's stacks took %d packets for %d postings", sent, closePostings)
			}
			for _, r := range rx {
				// Acknowledged means received by the receiver's window.
				if d, w := r.count(); w != sent {
					t.Fatalf("receiver %x: its windows have %d packets (%d delivered) when Flush returned; want %d", r.id, w, d, sent)
				}
			}
			pushInts(t, tx, closePostings, 1)
			must(t, tx.Flush(ctx))
			for _, r := range rx {
				r.expect(fmt.Sprintf("ok %d", closePostings+1))
			}
		})
	}
}

// closeBound is how long a Close with the given linger may take: the
// linger, the scheduling delay the probe measured meanwhile (the linger's
// timer may fire that late, and the rest of Close may be held up as much),
// and what closing the same kind of channel costs when it has nothing to
// wait for (measured).
func closeBound(t *testing.T, linger, idleClose time.Duration, probe *testnet.SchedProbe) time.Duration {
	t.Helper()
	late := probe.Stop()
	b := linger + 2*late + idleClose
	t.Logf("bound %v: linger %v + 2 × scheduling delay %v + idle Close %v", b, linger, late, idleClose)
	return b
}

// idleCloseTime measures Close of a fresh channel on url with nothing to
// wait for.
func idleCloseTime(t *testing.T, url string) time.Duration {
	t.Helper()
	ch, err := Open(context.Background(), url)
	must(t, err)
	start := time.Now()
	must(t, ch.Close())
	return time.Since(start)
}

// waitReceivers waits until every stream of ch has heard from n
// receivers (their status read by ch's reader).
func waitReceivers(t *testing.T, ch *Channel, n int) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Millisecond) {
		known := n
		for _, os := range ch.og.all() {
			u, _ := os.st.Unacknowledged(stack.AllPackets)
			known = min(known, len(u.Receivers))
		}
		if known == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sender knows %d receivers, not %d", known, n)
		}
	}
}

// undelivered returns err as an *UndeliveredError, failing otherwise.
func undelivered(t *testing.T, err error) *UndeliveredError {
	t.Helper()
	var ue *UndeliveredError
	if !errors.Is(err, ErrUndelivered) || !errors.As(err, &ue) {
		t.Fatalf("Close returned %v; want an *UndeliveredError", err)
	}
	t.Logf("Close: %v", err)
	return ue
}

// TimingCloseUnreachableUnicast: the receiver process is killed after it
// acknowledged 10 postings; 100 more are pushed to its port; Close, with
// a linger of 1 s, returns within the linger (plus measured delays) with
// an error counting the 100 packets, lacked by that member.
func TestTimingCloseUnreachableUnicast(t *testing.T) {
	const linger = time.Second
	port := freePort(t)
	rx := startClosers(t, 1, fmt.Sprintf("closeun://:%d", port), 10)
	url := fmt.Sprintf("closeun://127.0.0.1:%d", port)
	idle := idleCloseTime(t, url)
	tx := open(t, url, WithBlockingPush(), WithLinger(linger))
	pushInts(t, tx, 0, 10)
	rx[0].expect("ok 10")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	must(t, tx.Flush(ctx))
	rx[0].kill()
	before := stackPackets(tx)
	pushInts(t, tx, 10, 100)
	want := stackPackets(tx) - before // the packets of the 100 postings (batched: fewer)
	probe := testnet.StartSchedProbe()
	start := time.Now()
	err := tx.Close()
	took := time.Since(start)
	bound := closeBound(t, linger, idle, probe)
	t.Logf("Close took %v", took)
	ue := undelivered(t, err)
	if took < linger || took > bound {
		t.Errorf("Close took %v; want the linger %v, and at most %v", took, linger, bound)
	}
	if ue.Packets != want || len(ue.Streams) != 1 || len(ue.Streams[0].Receivers) != 1 {
		t.Fatalf("undelivered %+v; want the %d packets of 100 postings on one stream", ue, want)
	}
	if r := ue.Streams[0].Receivers[0]; r.Member != rx[0].id || r.Packets != want || r.Reason != ReasonUnacknowledged {
		t.Fatalf("receiver %+v; want member %x lacking %d (%s)", r, rx[0].id, want, ReasonUnacknowledged)
	}
}

// TimingCloseSilentMulticast: of 3 receiver processes, one is killed after
// it acknowledged 10 postings; 100 more are pushed. With a linger of 1 s
// (under the window's receiver timeout of 2 s) Close returns within the
// linger with an error counting the 100 packets the killed member lacks,
// and the other two get all 110. With the receiver timeout at 300 ms and a
// linger of 10 s, Close gives the silent member up once it has been silent
// for the receiver timeout (DECISIONS §4), well before the linger.
func TestTimingCloseSilentMulticast(t *testing.T) {
	for _, c := range []struct {
		name       string
		qos        string
		linger     time.Duration
		rcvTimeout time.Duration
		reason     string
	}{
		{"linger", "reliable", time.Second, 0, ReasonUnacknowledged},
		{"rcvtimeout", "frag/order/window(rcvtimeout=300ms)", 10 * time.Second, 300 * time.Millisecond, ReasonSilent},
	} {
		t.Run(c.name, func(t *testing.T) {
			url := groupURL("closesm")
			rx := startClosers(t, 3, url, 10)
			idle := idleCloseTime(t, url)
			tx := open(t, url, WithBlockingPush(), WithLinger(c.linger), WithQoS(c.qos))
			pushInts(t, tx, 0, 10)
			for _, r := range rx {
				r.expect("ok 10")
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			// Flush waits for the receivers the sender knows: all three,
			// once their first status has been read.
			waitReceivers(t, tx, 3)
			must(t, tx.Flush(ctx))
			probe := testnet.StartSchedProbe()
			killed := time.Now()
			rx[0].kill()
			pushInts(t, tx, 10, 100)
			start := time.Now()
			err := tx.Close()
			took := time.Since(start)
			t.Logf("Close took %v", took)
			ue := undelivered(t, err)
			if c.rcvTimeout == 0 {
				if bound := closeBound(t, c.linger, idle, probe); took < c.linger || took > bound {
					t.Errorf("Close took %v; want the linger %v, and at most %v", took, c.linger, bound)
				}
			} else {
				// Silent since at most the kill: given up a receiver
				// timeout after its last status, seen at the next look
				// (every closePoll at most), plus the delays.
				if bound := closeBound(t, c.rcvTimeout+closePoll, idle, probe); time.Since(killed) > bound || took >= c.linger {
					t.Errorf("Close took %v (%v since the kill); want at most %v after the kill", took, time.Since(killed), bound)
				}
			}
			if ue.Packets != 100 || len(ue.Streams) != 1 || len(ue.Streams[0].Receivers) != 1 {
				t.Fatalf("undelivered %+v; want 100 packets on one stream, one receiver", ue)
			}
			if r := ue.Streams[0].Receivers[0]; r.Member != rx[0].id || r.Packets != 100 || r.Reason != c.reason {
				t.Fatalf("receiver %+v; want member %x lacking 100 (%s)", r, rx[0].id, c.reason)
			}
			for _, r := range rx[1:] {
				// They acknowledged all 110; delivery follows at once.
				for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Millisecond) {
					d, _ := r.count()
					if d == 110 {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("receiver %x has %d postings; want 110", r.id, d)
					}
				}
			}
		})
	}
}

// TestCloseConcurrentPushes: while pushers push as fast as they can on a
// lossy stream (20% loss each way: Close must go on repairing while it
// lingers), Close refuses new pushes with ErrClosed and returns nil once
// every posting whose Push returned nil is acknowledged; the receiver then
// has exactly those. Close again, concurrently or after, waits for the
// first and returns nil; Push and Flush after it return ErrClosed; no
// goroutine outlives the channels.
func TestCloseConcurrentPushes(t *testing.T) {
	checkGoroutines(t)
	url := memURL(t)
	rx := open(t, url)
	var got atomic.Int64
	_, err := rx.SubscribeFunc(func(*posting.Posting) { got.Add(1) })
	must(t, err)
	tx := open(t, url, WithBlockingPush(), WithLinger(time.Minute),
		WithQoS("frag/order/window/impair(loss=20%,seed=3)"))
	must(t, tx.Push(context.Background(), posting.New(-1))) // rx is known to tx
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	must(t, tx.Flush(ctx))
	var pushed atomic.Int64
	pushed.Add(1)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				err := tx.Push(ctx, posting.New(i, posting.WithStream(fmt.Sprint("s", i%3))))
				if err != nil {
					errs <- err
					return
				}
				pushed.Add(1)
			}
		})
	}
	for pushed.Load() < 2000 {
		time.Sleep(time.Millisecond)
	}
	var closes sync.WaitGroup
	var firstDone atomic.Bool
	for range 3 {
		closes.Go(func() {
			if err := tx.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if firstDone.Load() {
				return
			}
			firstDone.Store(true)
		})
	}
	closes.Wait()
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("Push during Close: %v; want ErrClosed", err)
		}
	}
	if n := got.Load(); n != pushed.Load() {
		t.Fatalf("receiver has %d postings; %d pushes returned nil", n, pushed.Load())
	}
	t.Logf("%d postings pushed and delivered; sender drops %v", pushed.Load(), tx.Stats().Drops)
	if err := tx.Push(ctx, posting.New(0)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Push after Close: %v", err)
	}
	if err := tx.Flush(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Flush after Close: %v", err)
	}
	if err := tx.Close(); err != nil {
		t.Fatalf("Close again: %v", err)
	}
}

// TestCloseUnicastPeerLeft: the peer of a unicast channel left (said
// goodbye) with postings unacknowledged: Close does not wait out its
// linger, and its error counts them, lacked by that member.
func TestCloseUnicastPeerLeft(t *testing.T) {
	port := freePort(t)
	srv := open(t, fmt.Sprintf("closepl://:%d", port))
	sub, err := srv.Subscribe()
	must(t, err)
	const linger = time.Minute
	cli := open(t, fmt.Sprintf("closepl://127.0.0.1:%d", port), WithBlockingPush(), WithLinger(linger))
	pushInts(t, cli, 0, 1)
	next(t, sub)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	must(t, cli.Flush(ctx))
	must(t, srv.Close())
	// Its goodbye has arrived once the client no longer lists it.
	for deadline := time.Now().Add(time.Minute); len(cli.Stats().Peers) != 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the client never heard the server's goodbye")
		}
	}
	before := stackPackets(cli)
	pushInts(t, cli, 1, 20)
	want := stackPackets(cli) - before // the packets of the 20 postings (batched: fewer)
	start := time.Now()
	ue := undelivered(t, cli.Close())
	if took := time.Since(start); took >= linger {
		t.Fatalf("Close took %v: it waited for a member that left", took)
	}
	if r := ue.Streams[0].Receivers; ue.Packets != want || len(r) != 1 || r[0].Member != srv.ID() || r[0].Reason != ReasonLeft {
		t.Fatalf("undelivered %+v; want %d packets (20 postings) lacked by %x (%s)", ue, want, srv.ID(), ReasonLeft)
	}
}

// TestFlushSkipsExpiredAndBestEffort: postings that cannot arrive (every
// packet lost) are not waited for when they are best effort, nor past
// their TTL when semi-reliable: Flush returns nil, after the TTL.
func TestFlushSkipsExpiredAndBestEffort(t *testing.T) {
	url := memURL(t)
	rx := open(t, url)
	_, err := rx.Subscribe()
	must(t, err)
	tx := open(t, url, WithLinger(0), WithStreamQoS("lost", "frag/order/window/impair(loss=100%)"),
		WithStreamQoS("be", "frag/order/window(mode=besteffort)/impair(loss=100%)"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	waitPeer(t, tx, rx.ID()) // a member waited for: it never reports status
	const ttl = 200 * time.Millisecond
	for i := range 10 {
		must(t, tx.Push(ctx, posting.New(i, posting.WithStream("be"))))
		must(t, tx.Push(ctx, posting.New(i, posting.WithStream("lost"), posting.WithTTL(ttl))))
	}
	start := time.Now()
	if err := tx.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if took := time.Since(start); took < ttl/2 {
		t.Fatalf("Flush returned after %v, before the postings' TTL of %v", took, ttl)
	}
	// A fully reliable posting that cannot arrive is reported: the
	// member never reported anything on the stream, so as undelivered to
	// no receiver in particular.
	must(t, tx.Push(ctx, posting.New(0, posting.WithStream("lost"))))
	short, cancel2 := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel2()
	err = tx.Flush(short)
	var ue *UndeliveredError
	if !errors.As(err, &ue) || !errors.Is(err, context.DeadlineExceeded) || ue.Packets != 1 ||
		ue.Streams[0].Stream != "lost" || ue.Streams[0].Receivers[0].Reason != ReasonNoReceiver {
		t.Fatalf("Flush of a lost posting: %v", err)
	}
	if !strings.Contains(err.Error(), `1 packets at Flush (context deadline exceeded); stream "lost" to everyone: 1 (no receiver`) {
		t.Fatalf("error text %q", err)
	}
}

// stackPackets sends ch's open batches down and returns the packets its
// streams' stacks have taken: one per posting pushed while the window had
// room, one per batch of postings pushed while it was full.
func stackPackets(ch *Channel) int {
	n := 0
	for _, os := range ch.og.all() {
		ch.og.flushBatch(os)
		n += int(os.st.Stats().Down)
	}
	return n
}
