package channel

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/posting"
	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/transport"
)

// batchURL returns the zzpipe URL (unicast: end a's peer is end b) of a
// fresh pipe for t, with Ethernet-sized datagrams, without its end.
func batchURL(t *testing.T) string {
	return "batch+zzpipe://" + strings.ReplaceAll(t.Name(), "/", ".") + fmt.Sprint(hubSeq.Add(1)) + "?channel=batch&mtu=1472&end="
}

// orderly collects the postings a channel delivers, in order.
type orderly struct {
	mu  sync.Mutex
	got []*posting.Posting
}

func collectInOrder(t *testing.T, c *Channel) *orderly {
	t.Helper()
	o := &orderly{}
	if _, err := c.SubscribeFunc(func(p *posting.Posting) {
		o.mu.Lock()
		o.got = append(o.got, p)
		o.mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	return o
}

func (o *orderly) len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.got)
}

// check fails t unless o holds exactly n postings from sender, bodies
// 0..n-1 (8 bytes big-endian, then padding) with Seq 1..n, in order.
func (o *orderly) check(t *testing.T, sender uint64, n int) {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.got) != n {
		t.Fatalf("%d postings delivered, want %d", len(o.got), n)
	}
	for i, p := range o.got {
		b, _ := p.Body.([]byte)
		if len(b) < 8 || binary.BigEndian.Uint64(b) != uint64(i) || p.Seq != uint64(i+1) || p.Sender != sender || p.Stream != "s" {
			t.Fatalf("posting %d: seq %d, sender %x, stream %q, body %x", i, p.Seq, p.Sender, p.Stream, b)
		}
	}
}

// body64 is the 64-byte body of posting i.
func body64(i int) []byte {
	b := make([]byte, 64)
	binary.BigEndian.PutUint64(b, uint64(i))
	return b
}

// pushSmall pushes postings from..to-1 (64-byte bodies) on stream "s".
func pushSmall(t *testing.T, c *Channel, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		must(t, c.Push(context.Background(), posting.New(body64(i), posting.WithStream("s"))))
	}
}

// onlyStream returns c's one outgoing stream.
func onlyStream(t *testing.T, c *Channel) *outStream {
	t.Helper()
	s := c.og.current()
	if len(s) != 1 {
		t.Fatalf("%d streams", len(s))
	}
	return s[0]
}

// openBatch returns the number of postings in os's open batch.
func openBatch(os *outStream) int {
	os.mu.Lock()
	defer os.mu.Unlock()
	return os.batchN
}

// untilDelivered advances clock in steps of 10 ms (settling the channels'
// goroutines after each) until o holds n postings, for at most a minute of
// the clock's time.
func untilDelivered(t *testing.T, clock *stack.ManualClock, o *orderly, n int, chans ...*Channel) {
	t.Helper()
	for end := clock.Now().Add(time.Minute); o.len() < n; {
		if !clock.Now().Before(end) {
			t.Fatalf("%d of %d postings delivered after a minute of the clock", o.len(), n)
		}
		advance(t, clock, 10*time.Millisecond, chans...)
	}
}

// TestBatchWhileWindowFull: a reliable unicast sender whose receiver is
// not there yet (nothing is acknowledged: the window fills and a queue
// forms) puts the 64-byte postings pushed meanwhile several to a stack
// packet: 400 pushes make far fewer packets, and a receiver that comes
// later gets all 400 (repaired on the injected clock) in order, once
// each, each with its own Seq. Before batching every posting was a packet
// of its own (400).
func TestBatchWhileWindowFull(t *testing.T) {
	checkGoroutines(t)
	clock := stack.NewManualClock(stack.ManualEpoch)
	url := batchURL(t)
	tx := open(t, url+"a", WithClock(clock), WithQoS("reliable"), WithBlockingPush())
	const n = 400
	budget := 0
	pushSmall(t, tx, 0, n)
	os := onlyStream(t, tx)
	budget = os.batchBudget()
	packets := int(os.st.Stats().Down)
	t.Logf("%d pushes: %d stack packets (batches of up to %d bytes), %d postings in the open batch", n, packets, budget, openBatch(os))
	if packets >= n/4 {
		t.Fatalf("%d pushes made %d stack packets; want fewer than %d (several postings a packet)", n, packets, n/4)
	}
	if open := openBatch(os); open == 0 || open >= n {
		t.Fatalf("%d postings in the open batch after %d pushes with the window full", open, n)
	}
	if st := tx.Stats(); st.Sent.Postings != n || st.Streams[0].Postings != n {
		t.Fatalf("postings counted sent: %d, on the stream %d; want %d", st.Sent.Postings, st.Streams[0].Postings, n)
	}
	rx := open(t, url+"b", WithClock(clock), WithQoS("reliable"))
	got := collectInOrder(t, rx)
	untilDelivered(t, clock, got, n, rx, tx)
	advance(t, clock, time.Second, rx, tx) // nothing more comes
	got.check(t, tx.ID(), n)
	if d := rx.Stats().Drops; d["bad-batch"]+d["bad-posting"] != 0 {
		t.Fatalf("receiver drops %v", d)
	}
}

// TestBatchNotWithoutBacklog: with nothing waiting in the stack and the
// window nearly empty, a push goes alone, at once: one stack packet, no
// open batch, delivered without the clock moving (no added latency).
func TestBatchNotWithoutBacklog(t *testing.T) {
	checkGoroutines(t)
	clock := stack.NewManualClock(stack.ManualEpoch)
	url := batchURL(t)
	rx := open(t, url+"b", WithClock(clock), WithQoS("reliable"))
	got := collectInOrder(t, rx)
	tx := open(t, url+"a", WithClock(clock), WithQoS("reliable"), WithBlockingPush())
	advance(t, clock, 100*time.Millisecond, rx, tx)
	for i := range 5 {
		pushSmall(t, tx, i, i+1)
		os := onlyStream(t, tx)
		if d := os.st.Stats().Down; d != uint64(i+1) || openBatch(os) != 0 {
			t.Fatalf("push %d: %d stack packets, %d postings in the open batch; want %d and none", i, d, openBatch(os), i+1)
		}
		waitFor(t, fmt.Sprintf("posting %d, the clock standing still", i), func() bool { return got.len() == i+1 })
		advance(t, clock, 10*time.Millisecond, rx, tx) // acknowledged
	}
	got.check(t, tx.ID(), 5)
}

// TestBatchDeadline: an open batch whose stack keeps its backlog (nothing
// acknowledged, nothing pushed) goes down batchWait after its first
// posting joined it, on the injected clock, not before.
func TestBatchDeadline(t *testing.T) {
	checkGoroutines(t)
	clock := stack.NewManualClock(stack.ManualEpoch)
	tx := open(t, batchURL(t)+"a", WithClock(clock), WithQoS("reliable"), WithBlockingPush(), WithLinger(time.Millisecond))
	// Fill the window and its queue until a batch has just opened.
	os := (*outStream)(nil)
	for i := 0; ; i++ {
		if i == 1000 {
			t.Fatal("no batch opened in 1000 pushes with nothing acknowledged")
		}
		pushSmall(t, tx, i, i+1)
		if os = onlyStream(t, tx); openBatch(os) == 1 {
			break
		}
	}
	down := os.st.Stats().Down
	clock.Advance(batchWait - time.Nanosecond)
	if d, open := os.st.Stats().Down, openBatch(os); d != down || open != 1 {
		t.Fatalf("before the deadline: %d stack packets (was %d), %d postings open", d, down, open)
	}
	clock.Advance(time.Nanosecond)
	if d, open := os.st.Stats().Down, openBatch(os); d != down+1 || open != 0 {
		t.Fatalf("at the deadline: %d stack packets (was %d), %d postings open; want the batch sent", d, down, open)
	}
}

// TestBatchFlushAndClose: Flush sends the open batch before it waits (so
// its postings are waited for), and Close sends it before its linger;
// nothing batched is lost. The clock stands still until they have, so
// the batch deadline cannot be what sent it.
func TestBatchFlushAndClose(t *testing.T) {
	checkGoroutines(t)
	clock := stack.NewManualClock(stack.ManualEpoch)
	url := batchURL(t)
	tx := open(t, url+"a", WithClock(clock), WithQoS("reliable"), WithBlockingPush(), WithLinger(time.Minute))
	n0 := 300
	pushSmall(t, tx, 0, 300)
	os := onlyStream(t, tx)
	if openBatch(os) == 0 {
		pushSmall(t, tx, 300, 301) // the last batch had just filled
		n0 = 301
	}
	if openBatch(os) == 0 {
		t.Fatal("no open batch after 301 pushes with nothing acknowledged")
	}
	down := os.st.Stats().Down
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := tx.Flush(ctx); err == nil {
		t.Fatal("Flush returned nil with nothing acknowledged")
	}
	if d, open := os.st.Stats().Down, openBatch(os); d != down+1 || open != 0 {
		t.Fatalf("after Flush: %d stack packets (was %d), %d postings open; want the batch sent", d, down, open)
	}
	n := n0 + 300
	pushSmall(t, tx, n0, n)
	for ; openBatch(os) == 0; n++ { // the last batch may have just filled
		if n == n0+400 {
			t.Fatal("no open batch after 400 more pushes")
		}
		pushSmall(t, tx, n, n+1)
	}
	rx := open(t, url+"b", WithClock(clock), WithQoS("reliable"))
	got := collectInOrder(t, rx)
	closed := make(chan error, 1)
	go func() { closed <- tx.Close() }()
	waitFor(t, "Close to send the open batch", func() bool { return !os.batchOpen.Load() })
	for done := false; !done; {
		select {
		case err := <-closed:
			must(t, err)
			done = true
		default:
			clock.Advance(10 * time.Millisecond)
			settle(t, rx)
		}
	}
	untilDelivered(t, clock, got, n, rx)
	got.check(t, tx.ID(), n)
	if n := tx.Stats().Drops["batch-closed"]; n != 0 {
		t.Fatalf("%d batched postings dropped at Close", n)
	}
}

// batchOf encodes postings as a batch packet's payload.
func batchOf(t testing.TB, entries ...[]byte) []byte {
	b := []byte{batchMarker}
	for _, e := range entries {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(e)))
		b = append(b, e...)
	}
	return b
}

// encoded returns the encoding of a posting with body s.
func encoded(t testing.TB, s string) []byte {
	b, err := posting.New(s).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReceiveBatch: a batch packet's postings are delivered in order, each
// counted; a malformed batch is dropped whole and counted "bad-batch"; an
// entry that does not decode is dropped alone ("bad-posting").
func TestReceiveBatch(t *testing.T) {
	c := open(t, memURL(t))
	sub, _ := c.Subscribe()
	from := transport.IPAddr(netip.MustParseAddrPort("192.0.2.9:9"))
	a, b, x := encoded(t, "a"), encoded(t, "b"), encoded(t, "x")
	data := func(payload []byte) []byte {
		d := appendDgramHeader(nil, 7)
		d = appendAnnounce(d, announcement{stream: 1, name: "s", qos: "frag"})
		payload = append([]byte{0}, payload...) // frag's "whole parcel" header
		d = appendDataHeader(d, 0, 1, &stack.Meta{}, len(payload))
		return append(d, payload...)
	}
	c.receive(data(batchOf(t, a, b, x)), from)
	for _, want := range []string{"a", "b", "x"} {
		if p := next(t, sub); p.Body != want || p.Sender != 7 || p.Stream != "s" {
			t.Fatalf("got %v, want %q", p, want)
		}
	}
	if n := c.Stats().Received.Postings; n != 3 {
		t.Fatalf("%d postings counted received, want 3", n)
	}
	malformed := [][]byte{
		{batchMarker},                     // no entry
		batchOf(t, a, nil),                // an empty entry
		append(batchOf(t, a), 5),          // a length cut short
		append(batchOf(t, a), 9, 0, 1, 2), // an entry running past the end
		batchOf(t, a)[:len(a)],            // the only entry cut short
	}
	for _, m := range malformed {
		c.receive(data(m), from)
	}
	if n := c.Stats().Drops["bad-batch"]; n != uint64(len(malformed)) {
		t.Fatalf("%d bad-batch drops, want %d", n, len(malformed))
	}
	c.receive(data(batchOf(t, a, []byte{batchMarker, 1, 2}, b)), from)
	for _, want := range []string{"a", "b"} {
		if p := next(t, sub); p.Body != want {
			t.Fatalf("got %v, want %q", p, want)
		}
	}
	if st := c.Stats(); st.Drops["bad-posting"] != 1 || st.Received.Postings != 5 {
		t.Fatalf("bad-posting drops %d, received %d; want 1 and 5", st.Drops["bad-posting"], st.Received.Postings)
	}
	expectNone(t, sub)
}

// TestBatchMarkerIsNoVersion: a batch's first byte can never start a
// posting's encoding (its version).
func TestBatchMarkerIsNoVersion(t *testing.T) {
	if batchMarker == posting.Version || batchMarker == 1 {
		t.Fatalf("batch marker %#x is a posting wire version", batchMarker)
	}
	if _, err := posting.Decode([]byte{batchMarker, 0, 0, 0}); err == nil {
		t.Fatal("a batch decodes as a posting")
	}
}

// FuzzSplitBatch: splitBatch never panics, calls f only for a well-formed
// batch, with entries that tile it exactly, and agrees with countBatch.
func FuzzSplitBatch(f *testing.F) {
	a, _ := posting.New("a").MarshalBinary()
	f.Add(batchOf(f, a, a))
	f.Add([]byte{batchMarker})
	f.Add([]byte{batchMarker, 1})
	f.Add([]byte{batchMarker, 0, 0})
	f.Add([]byte{batchMarker, 1, 0, 7})
	f.Add([]byte{batchMarker, 2, 0, 7})
	f.Add(a)
	f.Fuzz(func(t *testing.T, b []byte) {
		var entries [][]byte
		ok := splitBatch(b, func(e []byte) { entries = append(entries, e) })
		if ok != (countBatch(b) > 0) || len(entries) != countBatch(b) {
			t.Fatalf("splitBatch %v with %d entries, countBatch %d", ok, len(entries), countBatch(b))
		}
		if !ok {
			return
		}
		if !bytes.Equal(batchOf(t, entries...), b) {
			t.Fatalf("entries %x do not rebuild %x", entries, b)
		}
	})
}

// TestBatchUDP: over real UDP on loopback, 20000 64-byte postings pushed
// as fast as the sender goes all arrive, in order, once each, whether or
// not they were batched (how many were is up to the scheduler: logged).
func TestBatchUDP(t *testing.T) {
	checkGoroutines(t)
	port := freePort(t)
	rx := open(t, fmt.Sprintf("batchudp://:%d?mtu=1472", port))
	got := collectInOrder(t, rx)
	tx := open(t, fmt.Sprintf("batchudp://127.0.0.1:%d?mtu=1472", port), WithBlockingPush())
	const n = 20000
	pushSmall(t, tx, 0, n)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	must(t, tx.Flush(ctx))
	packets := onlyStream(t, tx).st.Stats().Down
	waitFor(t, "every posting", func() bool { return got.len() >= n })
	got.check(t, tx.ID(), n)
	t.Logf("%d postings in %d stack packets", n, packets)
	if d := rx.Stats().Drops; d["bad-batch"]+d["bad-posting"] != 0 {
		t.Fatalf("receiver drops %v", d)
	}
}

// TestBatchAllocs: batching allocates nothing: pushing a reused 64-byte
// posting into an open batch (the window full, nothing acknowledged), and
// receiving a batch of three through a NoRetain SubscribeFunc.
func TestBatchAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own account")
	}
	clock := stack.NewManualClock(stack.ManualEpoch)
	tx := open(t, batchURL(t)+"a", WithClock(clock), WithQoS("reliable"), WithBlockingPush(), WithLinger(time.Millisecond))
	ctx := context.Background()
	p := posting.New(make([]byte, 64), posting.WithStream("s"))
	push := func() {
		q := *p
		if err := tx.Push(ctx, &q); err != nil {
			t.Fatal(err)
		}
	}
	for range 200 { // the stream, its stack, the window and the pools warm up
		push()
	}
	os := onlyStream(t, tx)
	before := os.st.Stats().Down
	if n := testing.AllocsPerRun(1000, push); n != 0 {
		t.Fatalf("%v allocations per push into a batch; want none", n)
	}
	if packets := os.st.Stats().Down - before; packets > 1001/10 {
		t.Fatalf("1001 pushes made %d stack packets: not batched", packets)
	}

	rx := open(t, memURL(t))
	var got atomic.Int64
	if _, err := rx.SubscribeFunc(func(p *posting.Posting) { got.Add(1) }, NoRetain()); err != nil {
		t.Fatal(err)
	}
	from := transport.IPAddr(netip.MustParseAddrPort("192.0.2.9:9"))
	enc, _ := posting.New(make([]byte, 64)).MarshalBinary()
	payload := append([]byte{0}, batchOf(t, enc, enc, enc)...) // frag's "whole parcel" header
	d := appendDataHeader(appendDgramHeader(nil, 7), 0, 1, &stack.Meta{}, len(payload))
	d = append(d, payload...)
	rx.receive(append(appendAnnounce(appendDgramHeader(nil, 7), announcement{stream: 1, name: "s", qos: "frag"}), d[10:]...), from)
	runs := 0
	receive := func() {
		rx.receive(d, from)
		runs++
		for deadline := time.Now().Add(10 * time.Second); got.Load() < int64(3*(runs+1)); {
			if time.Now().After(deadline) {
				t.Fatalf("%d postings delivered of %d", got.Load(), 3*(runs+1))
			}
			runtime.Gosched()
		}
	}
	receive()
	if n := testing.AllocsPerRun(1000, receive); n != 0 {
		t.Fatalf("%v allocations per batch of three received; want none", n)
	}
}
