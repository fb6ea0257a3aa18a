package floor

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// A scripted network of Cores on one manual clock: messages take delay to
// arrive (unless cut), timers fire when due. Tests read as scripts: act,
// run for a while, expect.

type tnet struct {
	t      *testing.T
	now    time.Duration
	base   time.Time
	delay  time.Duration
	cores  map[string]*Core
	clock  map[string]func(time.Duration) time.Time // each member's own clock
	names  []string
	q      []tmsg
	cut    func(from, to string, m *Message) bool
	events map[string][]Event
	maxTok uint64
}

type tmsg struct {
	at   time.Duration
	to   string
	m    Message
	from string
}

func newNet(t *testing.T, cfg Config, names ...string) *tnet {
	t.Helper()
	n := &tnet{t: t, base: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), delay: time.Millisecond,
		cores: map[string]*Core{}, clock: map[string]func(time.Duration) time.Time{}, events: map[string][]Event{}}
	for i, name := range names {
		// Clocks an hour apart, drifting ±80 ppm.
		off := time.Duration(i) * time.Hour
		drift := 80e-6 * float64(1-2*(i%2))
		n.clock[name] = func(g time.Duration) time.Time {
			return n.base.Add(off + time.Duration(float64(g)*(1+drift)))
		}
		n.names = append(n.names, name)
		n.start(cfg, name)
	}
	return n
}

func (n *tnet) start(cfg Config, name string) {
	cfg.Name = name
	c, err := NewCore(cfg, uint64(len(n.events[name])+1)<<8|uint64(len(name)), n.clock[name](n.now))
	if err != nil {
		n.t.Fatal(err)
	}
	n.cores[name] = c
	n.flush(name)
}

func (n *tnet) local(name string) time.Time { return n.clock[name](n.now) }

func (n *tnet) flush(name string) {
	c := n.cores[name]
	for _, m := range c.Outbox() {
		for _, to := range n.names {
			if to != name && (n.cut == nil || !n.cut(name, to, &m)) {
				n.q = append(n.q, tmsg{at: n.now + n.delay, to: to, m: m, from: name})
			}
		}
	}
	n.events[name] = append(n.events[name], c.Events()...)
}

// run advances the global clock by d, delivering and firing what falls due,
// and checks that at most one member holds a valid lease at every step.
func (n *tnet) run(d time.Duration) {
	end := n.now + d
	for {
		next := end
		for _, m := range n.q {
			next = min(next, m.at)
		}
		for _, name := range n.names {
			if c := n.cores[name]; c != nil {
				if dl := c.Deadline(); !dl.IsZero() {
					// The global instant this member's clock reaches dl.
					g := n.now
					for n.clock[name](g).Before(dl) && g < next {
						g += max(time.Duration(float64(dl.Sub(n.clock[name](g)))/(1+1e-4)), 1)
					}
					next = min(next, g)
				}
			}
		}
		n.now = next
		var due []tmsg
		n.q = slices.DeleteFunc(n.q, func(m tmsg) bool {
			if m.at <= n.now {
				due = append(due, m)
				return true
			}
			return false
		})
		for _, m := range due {
			if c := n.cores[m.to]; c != nil {
				c.Receive(n.local(m.to), &m.m)
				n.flush(m.to)
			}
		}
		for _, name := range n.names {
			if c := n.cores[name]; c != nil {
				c.Tick(n.local(name))
				n.flush(name)
			}
		}
		n.checkSafety()
		if n.now >= end {
			return
		}
	}
}

func (n *tnet) checkSafety() {
	var hs []string
	for _, name := range n.names {
		if c := n.cores[name]; c != nil {
			if tok, ok := c.Holding(n.local(name)); ok {
				hs = append(hs, name)
				if tok < n.maxTok {
					n.t.Fatalf("%v: %s holds token %x after %x", n.now, name, tok, n.maxTok)
				}
				n.maxTok = tok
			}
		}
	}
	if len(hs) > 1 {
		n.t.Fatalf("%v: %d holders: %v", n.now, len(hs), hs)
	}
}

func (n *tnet) request(name string, prio int) {
	n.cores[name].Request(n.local(name), prio)
	n.flush(name)
}

func (n *tnet) release(name string) {
	n.cores[name].Release(n.local(name))
	n.flush(name)
}

func (n *tnet) crash(name string) { n.cores[name] = nil }

// holder is the member holding a valid lease now, or "".
func (n *tnet) holder() string {
	for _, name := range n.names {
		if c := n.cores[name]; c != nil {
			if _, ok := c.Holding(n.local(name)); ok {
				return name
			}
		}
	}
	return ""
}

func (n *tnet) coordinator() string {
	for _, name := range n.names {
		if c := n.cores[name]; c != nil {
			if _, ok := c.Coordinating(n.local(name)); ok {
				return name
			}
		}
	}
	return ""
}

// queue is the coordinator's queue, by name.
func (n *tnet) queue() []string {
	co := n.coordinator()
	if co == "" {
		return nil
	}
	var q []string
	for _, e := range n.cores[co].State().Queue {
		q = append(q, e.Member.Name)
	}
	return q
}

func (n *tnet) expect(holder, coordinator string, queue ...string) {
	n.t.Helper()
	if h, c, q := n.holder(), n.coordinator(), n.queue(); h != holder || c != coordinator || !slices.Equal(q, queue) {
		n.t.Fatalf("%v: holder %q, coordinator %q, queue %q; want %q, %q, %q", n.now, h, c, q, holder, coordinator, queue)
	}
}

func (n *tnet) saw(name string, k EventKind, r Reason) bool {
	for _, e := range n.events[name] {
		if e.Kind == k && (k != Lost || e.Reason == r) {
			return true
		}
	}
	return false
}

var abc = []string{"a", "b", "c"}

func TestCoreGrantQueueRelease(t *testing.T) {
	n := newNet(t, Config{Voters: abc}, abc...)
	n.run(time.Second)
	n.expect("", "a") // the first voter coordinates a localised resource
	n.request("b", 0)
	n.run(10 * time.Millisecond)
	n.expect("b", "a")
	n.request("c", 0)
	n.run(5 * time.Millisecond) // a's own request would reach it first
	n.request("a", 0)
	n.run(10 * time.Millisecond)
	n.expect("b", "a", "c", "a")
	n.run(2 * time.Second) // renewals keep the lease
	n.expect("b", "a", "c", "a")
	n.release("b")
	n.run(10 * time.Millisecond)
	n.expect("c", "a", "a")
	n.release("c")
	n.run(10 * time.Millisecond)
	n.expect("a", "a")
	n.release("a")
	n.run(10 * time.Millisecond)
	n.expect("", "a")
	if !n.saw("b", Granted, 0) || !n.saw("b", Lost, ReasonReleased) {
		t.Fatalf("b's events: %v", n.events["b"])
	}
}

func TestCoreWithdraw(t *testing.T) {
	n := newNet(t, Config{Voters: abc}, abc...)
	n.run(time.Second)
	n.request("b", 0)
	n.request("c", 0)
	n.run(10 * time.Millisecond)
	n.expect("b", "a", "c")
	n.release("c") // withdraws the request
	n.run(10 * time.Millisecond)
	n.expect("b", "a")
}

func TestCoreEverywhereMigrates(t *testing.T) {
	n := newNet(t, Config{Voters: abc, Mode: Everywhere}, abc...)
	n.run(time.Second)
	n.request("b", 0)
	n.run(20 * time.Millisecond)
	n.expect("b", "b") // the coordination moved with the floor
	n.request("c", 0)
	n.run(20 * time.Millisecond)
	n.expect("b", "b", "c")
	n.release("b")
	n.run(20 * time.Millisecond)
	n.expect("c", "c")
	n.run(time.Second)
	n.expect("c", "c")
}

func TestCorePriority(t *testing.T) {
	n := newNet(t, Config{Voters: abc, Policy: Priority}, abc...)
	n.run(time.Second)
	n.request("a", 0)
	n.run(10 * time.Millisecond)
	n.request("b", 1)
	n.request("c", 5)
	n.run(10 * time.Millisecond)
	n.expect("a", "a", "c", "b") // by priority, and a keeps the floor
}

func TestCorePreemptive(t *testing.T) {
	n := newNet(t, Config{Voters: abc, Policy: Preemptive}, abc...)
	n.run(time.Second)
	n.request("b", 1)
	n.run(10 * time.Millisecond)
	n.request("c", 5)
	n.run(10 * time.Millisecond)
	n.expect("c", "a")
	if !n.saw("b", Lost, ReasonTaken) {
		t.Fatalf("b's events: %v", n.events["b"])
	}
}

func TestCoreDelayedPreemptive(t *testing.T) {
	grace := 200 * time.Millisecond
	n := newNet(t, Config{Voters: abc, Policy: DelayedPreemptive, Grace: grace}, abc...)
	n.run(time.Second)
	n.request("b", 1)
	n.run(10 * time.Millisecond)
	n.request("c", 5)
	n.run(10 * time.Millisecond)
	n.expect("b", "a", "c") // b keeps it for its grace period
	if !n.saw("b", Preempted, 0) {
		t.Fatalf("b's events: %v", n.events["b"])
	}
	n.run(grace)
	n.expect("c", "a")
}

// The coordinator of a localised resource dies while b holds the floor and
// c waits: a new coordinator is elected, b keeps the floor (under a new
// token) and c its place, within a second.
func TestCoreCoordinatorCrashKeepsQueue(t *testing.T) {
	n := newNet(t, Config{Voters: abc}, abc...)
	n.run(time.Second)
	n.request("b", 0)
	n.run(10 * time.Millisecond)
	n.request("c", 0)
	n.run(10 * time.Millisecond)
	n.expect("b", "a", "c")
	tok, _ := n.cores["b"].Holding(n.local("b"))
	n.crash("a")
	n.run(time.Second)
	n.expect("b", "b", "c")
	if tok2, _ := n.cores["b"].Holding(n.local("b")); tok2 <= tok {
		t.Fatalf("token %x after %x", tok2, tok)
	}
	n.release("b")
	n.run(10 * time.Millisecond)
	n.expect("c", "b")
}

// The holder of an everywhere resource is its coordinator: when it dies
// the next in the queue takes both.
func TestCoreEverywhereHolderCrash(t *testing.T) {
	n := newNet(t, Config{Voters: abc, Mode: Everywhere}, abc...)
	n.run(time.Second)
	n.request("a", 0)
	n.run(20 * time.Millisecond)
	n.request("c", 0)
	n.run(20 * time.Millisecond)
	n.expect("a", "a", "c")
	n.crash("a")
	n.run(time.Second)
	n.expect("c", "c")
}

// A holder cut off from its coordinator stops holding before the floor
// goes to anyone else.
func TestCorePartitionedHolder(t *testing.T) {
	n := newNet(t, Config{Voters: abc}, abc...)
	n.run(time.Second)
	n.request("b", 0)
	n.run(10 * time.Millisecond)
	n.request("c", 0)
	n.run(10 * time.Millisecond)
	n.cut = func(from, to string, _ *Message) bool { return from == "b" || to == "b" }
	n.run(2 * time.Second) // run checks safety at every step
	n.expect("c", "a")
	if !n.saw("b", Lapsed, 0) {
		t.Fatalf("b's events: %v", n.events["b"])
	}
}

// A coordinator left in a minority keeps nothing: its lease lapses, the
// majority elects another, and when the network heals it steps down.
func TestCoreMinorityCoordinator(t *testing.T) {
	five := []string{"a", "b", "c", "d", "e"}
	n := newNet(t, Config{Voters: five}, five...)
	n.run(time.Second)
	n.request("a", 0)
	n.run(10 * time.Millisecond)
	n.expect("a", "a")
	side := func(s string) bool { return s == "a" || s == "b" }
	n.cut = func(from, to string, _ *Message) bool { return side(from) != side(to) }
	n.request("d", 0)
	n.run(2 * time.Second)
	n.expect("d", "c")
	n.cut = nil
	n.run(time.Second)
	n.expect("d", "c")
}

// A release sent before the holder asked again must not end the tenure the
// new request started, however late it arrives (seed 9409 of the harness).
func TestCoreStaleReleaseIgnored(t *testing.T) {
	n := newNet(t, Config{Voters: abc}, abc...)
	n.run(time.Second)
	n.request("b", 0)
	n.run(10 * time.Millisecond)
	n.release("b")
	stale := slices.Clone(n.q[len(n.q)-2:]) // b's Release, to a and c
	n.q = n.q[:len(n.q)-2]
	n.run(time.Millisecond / 2)
	n.request("b", 0)
	n.run(10 * time.Millisecond)
	n.expect("b", "a")
	tok2, _ := n.cores["b"].Holding(n.local("b"))
	for _, m := range stale {
		if m.m.Kind != KindRelease {
			n.t.Fatalf("not a release: %v", &m.m)
		}
		m.m.Token = tok2 // the worst case: the same token
		m.at = n.now
		n.q = append(n.q, m)
	}
	n.request("c", 0)
	n.run(50 * time.Millisecond)
	n.expect("b", "a", "c")
}

// A voter restarted under the same name keeps its earlier incarnation's
// promise: it votes for nobody for a lease.
func TestCoreRestartedVoterWaits(t *testing.T) {
	n := newNet(t, Config{Voters: abc}, abc...)
	n.run(time.Second)
	n.crash("b")
	n.start(Config{Voters: abc}, "b")
	ok, wait := n.cores["b"].mayBind(0, Member{Name: "c", Inc: 1}, 99, true)
	if ok || wait != n.cores["b"].lease {
		t.Fatalf("restarted voter may bind: %v, wait %v", ok, wait)
	}
	n.run(time.Second)
	n.expect("", "a")
}

func TestCoreLeave(t *testing.T) {
	n := newNet(t, Config{Voters: abc}, abc...)
	n.run(time.Second)
	n.request("b", 0)
	n.run(10 * time.Millisecond)
	n.request("c", 0)
	n.run(10 * time.Millisecond)
	n.cores["a"].Leave(n.local("a"))
	n.flush("a")
	n.run(50 * time.Millisecond) // a hand-over, not an election
	n.crash("a")
	n.expect("b", "b", "c")
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []Config{
		{},
		{Name: "a"},
		{Name: "a", Voters: []string{"a", "a"}},
		{Name: "a", Voters: []string{"a"}, Heartbeat: time.Second},
		{Name: "a", Voters: []string{"a"}, Margin: 0.6},
		{Name: "a", Voters: []string{"a"}, Policy: 9},
	} {
		if _, err := NewCore(c, 1, time.Now()); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: %v", c, err)
		}
	}
}

func TestFence(t *testing.T) {
	var f Fence
	for i, c := range []struct {
		tok uint64
		ok  bool
	}{{1<<32 | 1, true}, {1<<32 | 1, true}, {1<<32 | 2, true}, {1<<32 | 1, false}, {2<<32 | 1, true}, {0, false}} {
		if err := f.Admit(c.tok); (err == nil) != c.ok {
			t.Errorf("%d: Admit(%x) = %v", i, c.tok, err)
		}
	}
	if f.Max() != 2<<32|1 {
		t.Errorf("Max %x", f.Max())
	}
}

// A candidate may stand twice at one epoch (a handoff re-sent after its
// first candidacy failed): the Abdicate of the first, arriving late, must
// not release the voters of the second (seed 46741 of the harness).
func TestCoreLateAbdicateOfEarlierCandidacy(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	v, err := NewCore(Config{Name: "e", Voters: []string{"a", "b", "c", "d", "e"}}, 7, t0)
	if err != nil {
		t.Fatal(err)
	}
	now := t0.Add(DefaultLease + 5*time.Millisecond) // past the voter's start guard, before it would stand
	v.Tick(now)
	v.Outbox()
	d, b := Member{Name: "d", Inc: 4}, Member{Name: "b", Inc: 2}
	vote := func(from Member, epoch uint64, ts int64) bool {
		v.Receive(now, &Message{Kind: KindVoteRequest, From: from, Epoch: epoch, TS: ts})
		out := v.Outbox()
		return len(out) == 1 && out[0].Kind == KindVote && !out[0].No
	}
	if !vote(d, 6, 100) || !vote(d, 6, 200) {
		t.Fatal("no votes for d")
	}
	v.Receive(now, &Message{Kind: KindAbdicate, From: d, Epoch: 6, TS: 100}) // the first candidacy's, late
	if vote(b, 7, 300) {
		t.Fatal("voted for b while bound to d's second candidacy")
	}
	v.Receive(now, &Message{Kind: KindAbdicate, From: d, Epoch: 6, TS: 200})
	if !vote(b, 7, 300) {
		t.Fatal("no vote for b after d abdicated")
	}
}

// A coordinator's state is its own: a state of its epoch from another
// member (two coordinators of one epoch after a majority restarted) is
// not adopted, and one of a later epoch makes it step down (seed 17186).
func TestCoreCoordinatorKeepsItsState(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	c, err := NewCore(Config{Name: "c", Voters: []string{"c"}}, 3, t0)
	if err != nil {
		t.Fatal(err)
	}
	now := t0.Add(time.Second)
	c.Tick(now)
	ep, ok := c.Coordinating(now)
	if !ok {
		t.Fatal("a single voter does not coordinate")
	}
	other := Member{Name: "b", Inc: 2}
	foreign := State{Epoch: ep, Version: 99, Coordinator: other, Holder: other, Token: ep<<32 | 4}
	c.Receive(now, &Message{Kind: KindHeartbeat, From: other, Epoch: ep, TS: 1, State: &foreign})
	if st := c.State(); st.Holder == other || st.Version == 99 {
		t.Fatalf("coordinator adopted a foreign state: %+v", st)
	}
	if _, ok := c.Coordinating(now); !ok {
		t.Fatal("coordinator stepped down for a state of its own epoch")
	}
	later := State{Epoch: ep + 1, Version: 1, Coordinator: other}
	c.Receive(now, &Message{Kind: KindHandoff, From: other, Epoch: ep + 1, Next: other, State: &later})
	if _, ok := c.Coordinating(now); ok {
		t.Fatal("coordinator kept on after a later epoch's state")
	}
}
