package channel

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/internal/testnet"
	"github.com/rwanda-go/rwanda/posting"
)

// offsetAllowance is the configured part of how late a subscriber may see
// a posting: the receiver's clock-offset estimate admits up to the
// shortest one-way delay (tens of microseconds on loopback).
const offsetAllowance = 200 * time.Microsecond

// lateness records how far past its deadline a subscriber sees each
// posting. The library drops a posting whose time is up when it is about
// to deliver it, but between that check and the subscriber's function the
// receiving goroutine can be descheduled, by as much as the machine is
// busy; so a posting counts as late only beyond offsetAllowance plus the
// scheduling delay a probe measured during the test (DECISIONS §4).
type lateness struct {
	probe *testnet.SchedProbe
	mu    sync.Mutex
	overs []time.Duration
}

func newLateness() *lateness { return &lateness{probe: testnet.StartSchedProbe()} }

// see records p as the subscriber sees it.
func (l *lateness) see(p *posting.Posting) {
	if over := time.Since(p.Deadline()); over > 0 {
		l.mu.Lock()
		l.overs = append(l.overs, over)
		l.mu.Unlock()
	}
}

// judge stops the probe and counts the postings seen later than allowed.
func (l *lateness) judge() (late int, worst, allowed time.Duration) {
	allowed = offsetAllowance + l.probe.Stop()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, o := range l.overs {
		if o > allowed {
			late++
		}
		worst = max(worst, o)
	}
	return late, worst, allowed
}

// The damage every reliability test puts on the wire: 20% loss, 10%
// reordering, 5% duplication, in each direction (data and feedback), from
// a fixed seed so a failure repeats.
const damage = "impair(loss=20%,reorder=10%,dup=5%,seed=7)"

const nPostings = 20000

// collect counts postings 0..n-1 as they arrive and checks each arrives
// exactly once and in order.
type collect struct {
	mu   sync.Mutex
	next int
	err  error
	done chan struct{}
	n    int
}

func newCollect(n int) *collect { return &collect{n: n, done: make(chan struct{})} }

func (c *collect) add(p *posting.Posting) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil || c.next == c.n {
		if c.err == nil {
			c.err = fmt.Errorf("posting %v after all %d", p.Body, c.n)
		}
		return
	}
	if v, ok := p.Body.(int); !ok || v != c.next {
		c.err = fmt.Errorf("posting %d is %v", c.next, p.Body)
		close(c.done)
		return
	}
	c.next++
	if c.next == c.n {
		close(c.done)
	}
}

func (c *collect) wait(t *testing.T, d time.Duration) {
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
		t.Fatalf("%d of %d postings arrived", c.next, c.n)
	}
}

func windowCounter(st Stats, stream, name string) uint64 {
	var n uint64
	for _, s := range st.Streams {
		if s.Name == stream {
			for _, l := range s.Stack.Layers {
				if l.Name == "window" {
					n += l.Counters[name]
				}
			}
		}
	}
	return n
}

func windowDrops(st Stats, reason string) uint64 {
	var n uint64
	for _, s := range st.Streams {
		for _, l := range s.Stack.Layers {
			if l.Name == "window" {
				n += l.Drops[reason]
			}
		}
	}
	return n
}

func TestReliableUnicastThroughLoss(t *testing.T) {
	checkGoroutines(t)
	port := freePort(t)
	qos := "reliable/" + damage
	rx := open(t, fmt.Sprintf("rtest://:%d", port))
	got := newCollect(nPostings)
	rx.SubscribeFunc(got.add)
	tx := open(t, fmt.Sprintf("rtest://127.0.0.1:%d", port), WithQoS(qos), WithBlockingPush())
	ctx := context.Background()
	start := time.Now()
	for i := range nPostings {
		must(t, tx.Push(ctx, posting.New(i)))
	}
	got.wait(t, 120*time.Second)
	st := tx.Stats()
	t.Logf("%d postings through %s in %v: %d datagrams sent, %d retransmissions",
		nPostings, damage, time.Since(start).Round(time.Millisecond), st.Sent.Datagrams, windowCounter(st, "", "retransmits"))
	if windowCounter(st, "", "retransmits") == 0 {
		t.Fatal("no retransmissions through 20% loss")
	}
}

func TestReliableMulticastThroughLossThreeProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	url := groupURL("rtest")
	kids := startReceivers(t, url, nPostings, 3)
	tx := open(t, url, WithQoS("reliable/"+damage), WithBlockingPush())
	ctx := context.Background()
	start := time.Now()
	for i := range nPostings {
		must(t, tx.Push(ctx, posting.New(i)))
	}
	kids.wait(t, nPostings, 180*time.Second)
	st := tx.Stats()
	t.Logf("%d postings to 3 processes through %s in %v: %d datagrams, %d repairs",
		nPostings, damage, time.Since(start).Round(time.Millisecond), st.Sent.Datagrams, windowCounter(st, "", "retransmits"))
}

func TestSemiReliableThroughLoss(t *testing.T) {
	port := freePort(t)
	const ttl = 400 * time.Millisecond
	rx := open(t, fmt.Sprintf("rtest://:%d", port))
	var delivered atomic.Int64
	lat := newLateness()
	rx.SubscribeFunc(func(p *posting.Posting) {
		delivered.Add(1)
		lat.see(p)
	})
	tx := open(t, fmt.Sprintf("rtest://127.0.0.1:%d", port), WithQoS("frag/order/window/"+damage), WithBlockingPush())
	ctx := context.Background()
	// A media source: ten postings a millisecond (a burst of 20000 would
	// measure the queue, not the network).
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for i := range nPostings {
		if i%10 == 0 {
			<-tick.C
		}
		must(t, tx.Push(ctx, posting.New(i, posting.WithTTL(ttl))))
	}
	// Wait out every posting's TTL, then count.
	deadline := time.Now().Add(ttl + 2*time.Second)
	for delivered.Load() < nPostings && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // waiting on the receiving goroutine
	}
	time.Sleep(ttl) // anything still to come would be after its obsolescence
	n := delivered.Load()
	late, worst, allowed := lat.judge()
	t.Logf("semi-reliable, TTL %v: %d of %d delivered, %d late (worst %v, allowed %v), %d abandoned by the sender",
		ttl, n, nPostings, late, worst, allowed, windowCounter(tx.Stats(), "", "abandoned"))
	if late != 0 && !raceEnabled {
		t.Fatalf("%d postings delivered after their obsolescence", late)
	}
	if n < nPostings*99/100 {
		t.Fatalf("only %d of %d delivered with time to spare", n, nPostings)
	}
}

func TestSemiReliableTightTTL(t *testing.T) {
	port := freePort(t)
	rx := open(t, fmt.Sprintf("rtest://:%d", port))
	var delivered atomic.Int64
	lat := newLateness()
	rx.SubscribeFunc(func(p *posting.Posting) {
		delivered.Add(1)
		lat.see(p)
	})
	// A 2 ms one-way delay and a TTL of 6 ms: a repair takes a round trip
	// and more, so what the first transmission loses runs out of time and
	// must be abandoned, never delivered late.
	tight := "frag/order/window/impair(loss=20%,reorder=10%,dup=5%,delay=2ms,seed=7)"
	tx := open(t, fmt.Sprintf("rtest://127.0.0.1:%d", port), WithQoS(tight), WithBlockingPush())
	ctx := context.Background()
	const n, ttl = 2000, 6 * time.Millisecond
	// A media source: one posting every 500 µs (a burst of 2000 would
	// mostly expire in the send queue, never reaching the wire).
	tick := time.NewTicker(500 * time.Microsecond)
	defer tick.Stop()
	for i := range n {
		<-tick.C
		must(t, tx.Push(ctx, posting.New(i, posting.WithTTL(ttl))))
	}
	time.Sleep(500 * time.Millisecond) // every TTL has run out; nothing may arrive after
	late, worst, allowed := lat.judge()
	t.Logf("TTL %v: %d of %d delivered, %d late (worst %v, allowed %v), %d abandoned, %d expired unsent, %d dropped obsolete",
		ttl, delivered.Load(), n, late, worst, allowed, windowCounter(tx.Stats(), "", "abandoned"),
		windowDrops(tx.Stats(), "expired"), rx.Stats().Drops["obsolete"])
	for _, f := range rx.Stats().Flows {
		for _, l := range f.Stack.Layers {
			t.Logf("receiver %s: drops %v counters %v", l.Name, l.Drops, l.Counters)
		}
	}
	if late != 0 && !raceEnabled {
		t.Fatalf("%d postings delivered after their obsolescence", late)
	}
	if delivered.Load() == 0 || delivered.Load() == n {
		t.Fatalf("delivered %d of %d: the test did not exercise obsolescence", delivered.Load(), n)
	}
}

func TestBestEffortNeverRetransmits(t *testing.T) {
	port := freePort(t)
	rx := open(t, fmt.Sprintf("rtest://:%d", port))
	var delivered atomic.Int64
	var last atomic.Int64
	last.Store(-1)
	var disorder atomic.Int64
	rx.SubscribeFunc(func(p *posting.Posting) {
		delivered.Add(1)
		v := int64(p.Body.(int))
		if v <= last.Load() {
			disorder.Add(1)
		}
		last.Store(v)
	})
	tx := open(t, fmt.Sprintf("rtest://127.0.0.1:%d", port), WithQoS("realtime/"+damage), WithBlockingPush())
	ctx := context.Background()
	for i := range nPostings {
		must(t, tx.Push(ctx, posting.New(i)))
	}
	// Wait until deliveries stop (nothing will be repaired).
	for prev := int64(-1); delivered.Load() != prev; {
		prev = delivered.Load()
		time.Sleep(100 * time.Millisecond) // waiting on the receiving goroutine
	}
	st := tx.Stats()
	n := delivered.Load()
	t.Logf("best effort: %d of %d delivered, %d datagrams sent", n, nPostings, st.Sent.Datagrams)
	if r := windowCounter(st, "", "retransmits"); r != 0 {
		t.Fatalf("%d retransmissions", r)
	}
	if disorder.Load() != 0 {
		t.Fatalf("%d postings out of order", disorder.Load())
	}
	// 20% loss on data, no repair: about 80% arrive (duplicates and
	// late reordered packets are dropped).
	if n < nPostings*70/100 || n > nPostings*90/100 {
		t.Fatalf("%d of %d delivered", n, nPostings)
	}
}

// receivers are child processes that each check they get 0..n-1 once and
// in order (receiverChild).
type receivers struct {
	kids []*exec.Cmd
	out  []chan string
}

func startReceivers(t *testing.T, url string, n, count int) *receivers {
	t.Helper()
	r := &receivers{}
	for range count {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"=receiver", "RWANDA_URL="+url, "RWANDA_N="+strconv.Itoa(n))
		stdout, _ := cmd.StdoutPipe()
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 4)
		go func() {
			s := bufio.NewScanner(stdout)
			for s.Scan() {
				lines <- s.Text()
			}
			close(lines)
		}()
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		r.kids, r.out = append(r.kids, cmd), append(r.out, lines)
	}
	for i, l := range r.out {
		select {
		case line := <-l:
			if line != "ready" {
				t.Fatalf("receiver %d: %q", i, line)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("receiver %d not ready", i)
		}
	}
	return r
}

func (r *receivers) wait(t *testing.T, n int, d time.Duration) {
	t.Helper()
	timeout := time.After(d)
	for i, l := range r.out {
		select {
		case line := <-l:
			if line != fmt.Sprintf("ok %d", n) {
				t.Fatalf("receiver %d: %q", i, line)
			}
		case <-timeout:
			t.Fatalf("receiver %d did not finish", i)
		}
		if err := r.kids[i].Wait(); err != nil {
			t.Fatalf("receiver %d: %v", i, err)
		}
	}
}
