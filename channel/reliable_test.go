package channel

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/posting"
)

// offsetAllowance is the configured part of how late a subscriber may see
// a posting on loopback: the receiver's clock-offset estimate admits up to
// the shortest one-way delay (tens of microseconds on loopback; a test
// that delays packets adds its delay).
const offsetAllowance = 200 * time.Microsecond

// stallLog measures how late this process's goroutines run, and when: a
// goroutine sleeps a short interval over and over, keeps the largest
// overshoot, and logs each one longer than offCPU with the time it woke.
// A timing test widens its configured bounds by what it measured
// (DECISIONS §4) rather than by a constant tuned to one machine: the
// largest delay bounds how late one step can be, and the stalls summed
// over a span say how long in it the process was off the CPU.
type stallLog struct {
	stop, done chan struct{}
	mu         sync.Mutex
	stalls     []stall // in order of end, not overlapping
	max        time.Duration
}

// stall is one overshoot: the process could not run during (end-d, end].
type stall struct {
	end time.Time
	d   time.Duration
}

// stallInterval is the probe's sleep: short, so it samples often.
const stallInterval = 200 * time.Microsecond

// offCPU is how late the probe may wake while this process is merely busy:
// Go's timers wake a short sleep up to a millisecond late, and a runnable
// goroutine waits for a processor behind the process's own goroutines
// about as long as the scheduler's time slice (10 ms). A longer delay
// means the process was off the CPU (a loaded machine) or stopped (a
// garbage collection), and within counts it.
const offCPU = 10 * time.Millisecond

func startStallLog() *stallLog {
	l := &stallLog{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for {
			select {
			case <-l.stop:
				return
			default:
			}
			t0 := time.Now()
			time.Sleep(stallInterval) // the probe: how late does a sleeping goroutine wake?
			now := time.Now()
			over := now.Sub(t0) - stallInterval
			l.mu.Lock()
			l.max = max(l.max, over)
			if over > offCPU {
				l.stalls = append(l.stalls, stall{now, over})
			}
			l.mu.Unlock()
		}
	}()
	return l
}

// Stop ends the probe (it may be called more than once) and returns the
// largest delay seen.
func (l *stallLog) Stop() time.Duration {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	<-l.done
	return l.Max()
}

// Max is the largest delay seen so far.
func (l *stallLog) Max() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.max
}

// within sums the stalls that overlap [from, to]: how long in that span
// this process was off the CPU.
func (l *stallLog) within(from, to time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var sum time.Duration
	// Start at the first stall ending after from.
	i, _ := slices.BinarySearchFunc(l.stalls, from, func(s stall, t time.Time) int { return s.end.Compare(t) })
	for _, s := range l.stalls[i:] {
		a, b := s.end.Add(-s.d), s.end
		if a.After(to) {
			break
		}
		if a.Before(from) {
			a = from
		}
		if b.After(to) {
			b = to
		}
		sum += b.Sub(a)
	}
	return sum
}

// lateness records how far past its deadline a subscriber sees each
// posting. The library drops a posting whose time is up when it is about
// to deliver it, judging its age without a common clock (its offset
// estimate includes the shortest one-way delay, and the scheduling delay
// of the posting that set it), and between that check and the
// subscriber's function the receiving goroutine can be descheduled again;
// so a posting counts as late only beyond the configured one-way delay
// plus offsetAllowance plus twice the largest scheduling delay measured
// during the test (DECISIONS §4). The same holds with and without the race
// detector: it slows the process, which the probe measures.
type lateness struct {
	probe  *stallLog
	oneWay time.Duration
	mu     sync.Mutex
	overs  []time.Duration
}

func newLateness(oneWay time.Duration) *lateness {
	return &lateness{probe: startStallLog(), oneWay: oneWay}
}

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
	allowed = l.oneWay + offsetAllowance + 2*l.probe.Stop()
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

// TestSemiReliableThroughLoss: with a TTL well above what repairs through
// the damage take, the window repairs what is lost in time. Half the TTL
// is the configured budget for repairs (retransmission timeouts from 20 ms,
// doubling, through 20% loss each way); the other half is for what this
// machine adds, measured during the test: how long it took to carry the
// posting's neighbours (queueing behind a busy sender or a race-slowed
// stack) and how long, within the posting's lifetime, a probe found the
// process unable to run. A posting for which that exceeds half the TTL is
// at risk: it may be abandoned, never delivered late. Of the others at
// least 99% must arrive.
func TestSemiReliableThroughLoss(t *testing.T) {
	port := freePort(t)
	const ttl = 400 * time.Millisecond
	const repairBudget = ttl / 2
	rx := open(t, fmt.Sprintf("rtest://:%d", port))
	var delivered atomic.Int64
	// When each posting was pushed, and how long after that the subscriber
	// saw it (0: never), in nanoseconds since base. Atomics: the receiving
	// goroutine learns of a posting through a socket, which the race
	// detector does not count as synchronisation.
	base := time.Now()
	pushed := make([]atomic.Int64, nPostings)
	seen := make([]atomic.Int64, nPostings)
	lat := newLateness(0)
	rx.SubscribeFunc(func(p *posting.Posting) {
		delivered.Add(1)
		i := p.Body.(int)
		seen[i].Store(max(int64(time.Since(base))-pushed[i].Load(), 1))
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
		pushed[i].Store(int64(time.Since(base)))
		must(t, tx.Push(ctx, posting.New(i, posting.WithTTL(ttl))))
	}
	// Wait out every posting's TTL (and what the machine's delays add),
	// then count.
	deadline := time.Now().Add(ttl + 2*time.Second + lat.probe.Max())
	for delivered.Load() < nPostings && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // waiting on the receiving goroutine
	}
	time.Sleep(ttl) // anything still to come would be after its obsolescence
	n := delivered.Load()
	late, worst, allowed := lat.judge()
	took := make([]time.Duration, nPostings)
	for i := range took {
		took[i] = time.Duration(seen[i].Load())
	}
	carry := carryDelays(took)
	var atRisk, missing, missingAtRisk int
	var worstCarry time.Duration
	for i := range nPostings {
		worstCarry = max(worstCarry, carry[i])
		at := base.Add(time.Duration(pushed[i].Load()))
		risky := carry[i]+lat.probe.within(at, at.Add(ttl)) > ttl-repairBudget
		if risky {
			atRisk++
		}
		if took[i] == 0 {
			missing++
			if risky {
				missingAtRisk++
			}
		}
	}
	t.Logf("semi-reliable, TTL %v: %d of %d delivered, %d late (worst %v, allowed %v), %d abandoned by the sender; "+
		"%d postings at risk (the machine took more than %v of their lifetime; carrying a posting took up to %v), %d of them missing, %d missing of the %d others",
		ttl, n, nPostings, late, worst, allowed, windowCounter(tx.Stats(), "", "abandoned"),
		atRisk, ttl-repairBudget, worstCarry.Round(time.Millisecond), missingAtRisk, missing-missingAtRisk, nPostings-atRisk)
	if late != 0 {
		t.Fatalf("%d postings delivered after their obsolescence", late)
	}
	if safe, lost := nPostings-atRisk, missing-missingAtRisk; lost > safe/100 {
		t.Fatalf("%d of the %d postings the machine left time to repair were not delivered", lost, safe)
	}
}

// carryDelays estimates, for each posting, how long the machine took to
// carry postings at the time it was pushed: the median time to delivery
// of the carryNeighbours delivered postings nearest it in push order
// (took[i] is posting i's, 0 when it never arrived). Most of them went
// through at the first try, so the median is queueing and scheduling, not
// repair. With nothing delivered at all, it is 0 for every posting.
func carryDelays(took []time.Duration) []time.Duration {
	const carryNeighbours = 21
	var got []int // delivered postings, in push order
	for i, d := range took {
		if d > 0 {
			got = append(got, i)
		}
	}
	out := make([]time.Duration, len(took))
	if len(got) == 0 {
		return out
	}
	near := make([]time.Duration, 0, carryNeighbours)
	for i := range took {
		// Widen [lo, hi) around i's place in got, nearest first.
		hi, _ := slices.BinarySearch(got, i)
		lo := hi
		for hi-lo < carryNeighbours && (lo > 0 || hi < len(got)) {
			if lo == 0 || hi < len(got) && got[hi]-i < i-got[lo-1] {
				hi++
			} else {
				lo--
			}
		}
		near = near[:0]
		for _, j := range got[lo:hi] {
			near = append(near, took[j])
		}
		slices.Sort(near)
		out[i] = near[len(near)/2]
	}
	return out
}

func TestSemiReliableTightTTL(t *testing.T) {
	port := freePort(t)
	rx := open(t, fmt.Sprintf("rtest://:%d", port))
	// A 2 ms one-way delay and a TTL of 6 ms: a repair takes a round trip
	// and more, so what the first transmission loses runs out of time and
	// must be abandoned, never delivered late (the receiver cannot tell the
	// one-way delay from clock offset: it is part of the allowance).
	const oneWay = 2 * time.Millisecond
	var delivered atomic.Int64
	lat := newLateness(oneWay)
	rx.SubscribeFunc(func(p *posting.Posting) {
		delivered.Add(1)
		lat.see(p)
	})
	tight := fmt.Sprintf("frag/order/window/impair(loss=20%%,reorder=10%%,dup=5%%,delay=%v,seed=7)", oneWay)
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
	time.Sleep(500*time.Millisecond + lat.probe.Max()) // every TTL has run out; nothing may arrive after
	late, worst, allowed := lat.judge()
	t.Logf("TTL %v: %d of %d delivered, %d late (worst %v, allowed %v), %d abandoned, %d expired unsent, %d dropped obsolete",
		ttl, delivered.Load(), n, late, worst, allowed, windowCounter(tx.Stats(), "", "abandoned"),
		windowDrops(tx.Stats(), "expired"), rx.Stats().Drops["obsolete"])
	for _, f := range rx.Stats().Flows {
		for _, l := range f.Stack.Layers {
			t.Logf("receiver %s: drops %v counters %v", l.Name, l.Drops, l.Counters)
		}
	}
	if late != 0 {
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
	// Wait until deliveries stop (nothing will be repaired): no new one for
	// 100 ms plus the largest scheduling delay measured meanwhile, so a
	// receiver that was merely not running is not taken for done.
	probe := startStallLog()
	for prev, since := int64(-1), time.Now(); ; {
		time.Sleep(10 * time.Millisecond) // waiting on the receiving goroutine
		if n := delivered.Load(); n != prev {
			prev, since = n, time.Now()
		} else if time.Since(since) > 100*time.Millisecond+probe.Max() {
			break
		}
	}
	probe.Stop()
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
