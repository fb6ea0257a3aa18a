package floor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The fault-injection harness: members run their Cores on one injected
// global clock, each reading a local clock of its own (an offset of up to
// an hour either way and a drift of up to ±100 ppm), over a network that
// delays, duplicates, reorders, loses and partitions, with crashes and
// restarts. After every event it checks safety: at most one member holds a
// valid lease (by its own clock) at that instant of the global clock, and
// fencing tokens never go back. Runs with crashes only also check liveness:
// after the holder or the coordinator crashes (or both), a live member
// holds the floor again, and the coordinator's queue holds every request
// that was queued at the crash, in the same order, within one second.

type scenario uint8

const (
	crashOnly  scenario = iota // delay, jitter (reordering) and duplicates; crashes, never restarted
	partitions                 // and loss; partitions that heal
	chaos                      // all of it: loss, late messages, partitions, crashes and restarts
)

func (s scenario) String() string { return [...]string{"crash", "partition", "chaos"}[s] }

type simResult struct {
	seed       uint64
	scen       scenario
	mode       Mode
	policy     Policy
	members    int
	violations []string
	liveness   []time.Duration // crash-only runs: crash → granted again with the queue
	grants     int
	events     int
	trace      []string
}

type simEvent struct {
	at   time.Duration
	seq  uint64
	kind uint8 // evDeliver, evWake, evAction
	to   int
	msg  *Message
	gen  uint64
	act  func()
}

const (
	evDeliver = iota
	evWake
	evAction
)

// eventHeap is a binary min-heap of events by (at, seq); the events live in
// a slab, so the heap itself holds no pointers.
type eventHeap struct {
	h    []heapKey
	slab []simEvent
	free []int32
}

type heapKey struct {
	at  time.Duration
	seq uint64
	i   int32
}

func (k heapKey) less(o heapKey) bool { return k.at < o.at || k.at == o.at && k.seq < o.seq }

func (q *eventHeap) push(e simEvent) {
	var i int32
	if n := len(q.free); n > 0 {
		i, q.free = q.free[n-1], q.free[:n-1]
		q.slab[i] = e
	} else {
		i = int32(len(q.slab))
		q.slab = append(q.slab, e)
	}
	h := append(q.h, heapKey{e.at, e.seq, i})
	for j := len(h) - 1; j > 0; {
		p := (j - 1) / 2
		if !h[j].less(h[p]) {
			break
		}
		h[j], h[p] = h[p], h[j]
		j = p
	}
	q.h = h
}

func (q *eventHeap) pop() simEvent {
	h := q.h
	top := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h = h[:n]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && h[l].less(h[m]) {
			m = l
		}
		if r < n && h[r].less(h[m]) {
			m = r
		}
		if m == i {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	q.h = h
	e := q.slab[top.i]
	q.slab[top.i] = simEvent{}
	q.free = append(q.free, top.i)
	return e
}

func (q *eventHeap) len() int { return len(q.h) }

type simMember struct {
	i      int
	name   string
	core   *Core
	alive  bool
	offset time.Duration
	drift  float64 // local rate is 1+drift
	gen    uint64
	group  int // partition side
	// the application
	wants   bool // requested, not yet granted
	holds   bool // granted (by events), not yet released or lost
	appGen  uint64
	crashes int
}

type sim struct {
	res         *simResult
	rng         *rand.Rand
	now         time.Duration
	base        time.Time
	q           eventHeap
	seq         uint64
	ms          []*simMember
	cfg         Config
	trace       bool
	end         time.Duration
	frozen      bool
	liveQ       []Member // crash-only: queued at the crash
	crashAt     time.Duration
	waiting     bool // a crash's liveness is being measured
	maxTok      uint64
	maxTokH     string
	forgetCheck time.Duration
	holder      string // the valid holder at the last check
	// network
	loss, dup, late float64
	delayMin, delay time.Duration
	lateMax         time.Duration
	voterCrashes    int
	maxVoterCrashes int
}

func (s *sim) localAt(m *simMember, g time.Duration) time.Time {
	return s.base.Add(m.offset + time.Duration(float64(g)*(1+m.drift)))
}

// globalAt is the first global instant at which m's clock reads local.
func (s *sim) globalAt(m *simMember, local time.Time) time.Duration {
	d := local.Sub(s.base) - m.offset
	g := time.Duration(math.Ceil(float64(d) / (1 + m.drift)))
	for s.localAt(m, g).Before(local) {
		g++
	}
	return g
}

func (s *sim) push(e simEvent) {
	s.seq++
	e.seq = s.seq
	s.q.push(e)
}

func (s *sim) at(d time.Duration, f func()) { s.push(simEvent{at: s.now + d, kind: evAction, act: f}) }

func (s *sim) logf(format string, a ...any) {
	if s.trace {
		s.res.trace = append(s.res.trace, fmt.Sprintf("%9.3fms ", float64(s.now)/1e6)+fmt.Sprintf(format, a...))
	}
}

func (s *sim) fail(format string, a ...any) {
	msg := fmt.Sprintf("t=%.3fms: ", float64(s.now)/1e6) + fmt.Sprintf(format, a...)
	s.res.violations = append(s.res.violations, msg)
	s.logf("VIOLATION %s", msg)
}

func (s *sim) uniform(a, b time.Duration) time.Duration {
	if b <= a {
		return a
	}
	return a + time.Duration(s.rng.Int64N(int64(b-a)))
}

// flush sends what m's core put out, reports its events to the application
// and sets its timer.
func (s *sim) flush(m *simMember) {
	for _, out := range m.core.Outbox() {
		msg := out
		s.logf("%s sends %v", m.name, &msg)
		for _, to := range s.ms {
			if to == m || to.group != m.group || s.rng.Float64() < s.loss {
				continue
			}
			copies := 1
			if s.rng.Float64() < s.dup {
				copies = 2
			}
			for range copies {
				d := s.uniform(s.delayMin, s.delay)
				if s.rng.Float64() < s.late {
					d = s.uniform(s.delay, s.lateMax)
				}
				s.push(simEvent{at: s.now + d, kind: evDeliver, to: to.i, msg: &msg})
			}
		}
	}
	for _, e := range m.core.Events() {
		s.logf("%s: %v", m.name, e)
		s.appEvent(m, e)
	}
	m.gen++
	if d := m.core.Deadline(); !d.IsZero() {
		s.push(simEvent{at: max(s.globalAt(m, d), s.now), kind: evWake, to: m.i, gen: m.gen})
	}
}

// The application: request after a pause, hold for a while, release; give
// up waiting now and then.
func (s *sim) appEvent(m *simMember, e Event) {
	switch e.Kind {
	case Granted:
		s.res.grants++
		if !m.holds {
			m.holds, m.wants = true, false
			s.schedule(m, s.uniform(20*time.Millisecond, 600*time.Millisecond), s.release)
		}
	case Lost:
		if e.Reason != ReasonRegranted && m.holds {
			m.holds = false
			s.schedule(m, s.uniform(50*time.Millisecond, 800*time.Millisecond), s.request)
		}
	}
}

func (s *sim) schedule(m *simMember, d time.Duration, f func(*simMember)) {
	m.appGen++
	g := m.appGen
	s.at(d, func() {
		if !m.alive || m.appGen != g {
			return
		}
		if s.frozen {
			s.schedule(m, 50*time.Millisecond, f)
			return
		}
		f(m)
	})
}

func (s *sim) request(m *simMember) {
	if m.holds || m.wants {
		return
	}
	m.wants = true
	m.core.Request(s.localAt(m, s.now), s.rng.IntN(4))
	s.logf("%s requests", m.name)
	s.flush(m)
	if s.rng.IntN(6) == 0 { // impatient: withdraws unless granted by then
		s.schedule(m, s.uniform(100*time.Millisecond, 2*time.Second), func(m *simMember) {
			if m.wants {
				s.logf("%s withdraws", m.name)
				m.wants = false
				m.core.Release(s.localAt(m, s.now))
				s.flush(m)
				s.schedule(m, s.uniform(50*time.Millisecond, 800*time.Millisecond), s.request)
			}
		})
	}
}

func (s *sim) release(m *simMember) {
	if !m.holds {
		return
	}
	m.holds = false
	s.logf("%s releases", m.name)
	m.core.Release(s.localAt(m, s.now))
	s.flush(m)
	s.schedule(m, s.uniform(50*time.Millisecond, 800*time.Millisecond), s.request)
}

func (s *sim) start(m *simMember) {
	inc := s.rng.Uint64() | 1
	var err error
	m.core, err = NewCore(s.cfg.withName(m.name), inc, s.localAt(m, s.now))
	if err != nil {
		panic(err)
	}
	m.alive, m.wants, m.holds = true, false, false
	s.logf("%s starts as %v", m.name, m.core.Self())
	s.flush(m)
	s.schedule(m, s.uniform(0, 500*time.Millisecond), s.request)
}

func (c Config) withName(n string) Config { c.Name = n; return c }

func (s *sim) crash(m *simMember) {
	s.logf("%s CRASHES", m.name)
	m.alive = false
	m.crashes++
	m.gen++
	if s.cfg.isVoter(m.name) {
		s.voterCrashes++
	}
}

func (c Config) isVoter(n string) bool { return slices.Contains(c.Voters, n) }

// coordinator is the member coordinating with a valid lease now, if any.
func (s *sim) coordinator() *simMember {
	for _, m := range s.ms {
		if m.alive {
			if _, ok := m.core.Coordinating(s.localAt(m, s.now)); ok {
				return m
			}
		}
	}
	return nil
}

// check is run after every event.
func (s *sim) check() {
	var holders []*simMember
	var toks []uint64
	for _, m := range s.ms {
		if !m.alive {
			continue
		}
		if t, ok := m.core.Holding(s.localAt(m, s.now)); ok {
			holders, toks = append(holders, m), append(toks, t)
			if m.name != s.holder || t > s.maxTok {
				switch {
				case t < s.maxTok:
					s.fail("fencing: %s holds token %x after token %x was held", m.name, t, s.maxTok)
				case t == s.maxTok && m.name != s.maxTokH:
					s.fail("fencing: %s holds token %x, %s's", m.name, t, s.maxTokH)
				}
				s.maxTok, s.maxTokH = t, m.name
			}
			s.holder = m.name
		}
	}
	if s.maxTok != 0 && s.now >= s.forgetCheck {
		// Epochs live in the members' memories: tokens keep increasing as
		// long as every majority of voters holds one that remembers.
		s.forgetCheck = s.now + time.Millisecond
		knows := 0
		for _, m := range s.ms {
			if m.alive && s.cfg.isVoter(m.name) && m.core.VoterEpoch() >= s.maxTok>>32 {
				knows++
			}
		}
		if knows < len(s.cfg.Voters)-len(s.cfg.Voters)/2 {
			s.logf("a majority of voters forgot epoch %d: tokens may start again", s.maxTok>>32)
			s.maxTok, s.maxTokH = 0, ""
		}
	}
	if len(holders) > 1 {
		var l []string
		for i, m := range holders {
			l = append(l, fmt.Sprintf("%s(token %x)", m.name, toks[i]))
		}
		s.fail("%d holders with valid leases: %s", len(holders), strings.Join(l, ", "))
	}
	if len(holders) == 0 {
		s.holder = ""
	}
	if s.waiting {
		s.checkLiveness(len(holders) == 1)
	}
}

func (s *sim) checkLiveness(held bool) {
	if s.now-s.crashAt > time.Second {
		s.fail("liveness: %v after the crash the floor is not granted again with the queue restored (queued then: %v)", s.now-s.crashAt, s.liveQ)
		s.waiting, s.frozen = false, false
		return
	}
	if !held {
		return
	}
	c := s.coordinator()
	if c == nil {
		return
	}
	st := c.core.State()
	last := -1
	for _, q := range s.liveQ {
		if st.Holder == q {
			continue
		}
		i := st.find(q.Name)
		if i < 0 || st.Queue[i].Member != q {
			return
		}
		if i < last {
			s.fail("queue order: %v was queued before %v, now after", s.liveQ, st.Queue)
		}
		last = i
	}
	d := s.now - s.crashAt
	s.res.liveness = append(s.res.liveness, d)
	s.logf("LIVE again %v after the crash", d)
	s.waiting, s.frozen = false, false
}

// maybeCrash crashes the holder, the coordinator or both, while the floor
// is held and requests are queued, if a majority of voters survives.
func (s *sim) maybeCrash() {
	defer s.at(s.uniform(300*time.Millisecond, 700*time.Millisecond), s.maybeCrash)
	if s.waiting || s.now > s.end-1500*time.Millisecond {
		return
	}
	c := s.coordinator()
	if c == nil {
		return
	}
	st := c.core.State()
	var h *simMember
	for _, m := range s.ms {
		if m.alive && st.Holder.Name == m.name {
			if _, ok := m.core.Holding(s.localAt(m, s.now)); ok {
				h = m
			}
		}
	}
	if h == nil || len(st.Queue) == 0 {
		return
	}
	victims := []*simMember{c}
	switch s.rng.IntN(3) {
	case 0:
		victims = []*simMember{h}
	case 1:
		if h != c {
			victims = append(victims, h)
		}
	}
	vc, alive := 0, 0
	for _, v := range victims {
		if s.cfg.isVoter(v.name) {
			vc++
		}
	}
	for _, m := range s.ms {
		if m.alive && !slices.Contains(victims, m) {
			alive++
		}
	}
	if s.voterCrashes+vc > s.maxVoterCrashes || alive < 2 {
		return
	}
	s.liveQ = s.liveQ[:0]
	for _, e := range st.Queue {
		for _, m := range s.ms {
			if m.alive && !slices.Contains(victims, m) && e.Member == m.core.Self() && m.core.Requesting() {
				s.liveQ = append(s.liveQ, e.Member)
			}
		}
	}
	if len(s.liveQ) == 0 {
		return
	}
	for _, v := range victims {
		s.crash(v)
	}
	s.crashAt, s.waiting, s.frozen = s.now, true, true
}

func (s *sim) partition() {
	defer s.at(s.uniform(200*time.Millisecond, 1500*time.Millisecond), s.partition)
	if s.rng.IntN(2) == 0 {
		for _, m := range s.ms {
			m.group = 0
		}
		s.logf("network healed")
		return
	}
	for _, m := range s.ms {
		m.group = s.rng.IntN(2)
	}
	s.logf("network partitioned: %v", s.groups())
}

func (s *sim) groups() string {
	var a, b []string
	for _, m := range s.ms {
		if m.group == 0 {
			a = append(a, m.name)
		} else {
			b = append(b, m.name)
		}
	}
	return fmt.Sprintf("%v | %v", a, b)
}

func (s *sim) chaosCrash() {
	defer s.at(s.uniform(200*time.Millisecond, 1200*time.Millisecond), s.chaosCrash)
	m := s.ms[s.rng.IntN(len(s.ms))]
	if m.alive {
		s.crash(m)
		s.at(s.uniform(0, 1500*time.Millisecond), func() {
			if s.cfg.isVoter(m.name) {
				s.voterCrashes--
			}
			s.start(m)
		})
	}
}

// runSim runs one seeded run.
func runSim(seed uint64, trace bool) *simResult {
	rng := rand.New(rand.NewPCG(seed, 0x666c6f6f72))
	res := &simResult{seed: seed, scen: scenario(seed % 3)}
	s := &sim{res: res, rng: rng, trace: trace, base: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	n := 3 + rng.IntN(4)
	nv := n
	if n > 3 && rng.IntN(2) == 0 {
		nv = 3 + rng.IntN(n-2) // some members do not vote
	}
	res.members = n
	res.mode, res.policy = Mode(rng.IntN(2)), Policy(rng.IntN(4))
	var voters []string
	for i := range n {
		m := &simMember{i: i, name: string(rune('a' + i))}
		m.offset = time.Duration(rng.Int64N(int64(2*time.Hour))) - time.Hour
		m.drift = (rng.Float64()*2 - 1) * 100e-6
		s.ms = append(s.ms, m)
		if i < nv {
			voters = append(voters, m.name)
		}
	}
	rng.Shuffle(len(voters), func(i, j int) { voters[i], voters[j] = voters[j], voters[i] })
	s.cfg = Config{Voters: voters, Mode: res.mode, Policy: res.policy}
	s.maxVoterCrashes = (len(voters) - 1) / 2
	s.delayMin, s.delay = 100*time.Microsecond, time.Duration(1+rng.IntN(5))*time.Millisecond
	s.dup = 0.02
	s.end = 6 * time.Second
	switch res.scen {
	case crashOnly:
		s.at(time.Second+s.uniform(0, 500*time.Millisecond), s.maybeCrash)
	case partitions:
		s.loss = 0.01
		s.at(s.uniform(500*time.Millisecond, time.Second), s.partition)
	case chaos:
		s.loss, s.dup, s.late, s.lateMax = 0.05, 0.05, 0.02, 3*time.Second
		s.at(s.uniform(500*time.Millisecond, time.Second), s.partition)
		s.at(s.uniform(500*time.Millisecond, time.Second), s.chaosCrash)
	}
	for _, m := range s.ms {
		s.at(s.uniform(0, 200*time.Millisecond), func() { s.start(m) })
	}
	var last time.Duration
	same := 0
	for s.q.len() > 0 {
		e := s.q.pop()
		if e.at > s.end {
			break
		}
		if same++; e.at != last {
			last, same = e.at, 0
		}
		if same > 10000 {
			s.fail("livelock: 10000 events at one instant")
			break
		}
		s.now = e.at
		res.events++
		switch e.kind {
		case evAction:
			e.act()
		case evDeliver:
			m := s.ms[e.to]
			if !m.alive {
				continue
			}
			m.core.Receive(s.localAt(m, s.now), e.msg)
			s.flush(m)
		case evWake:
			m := s.ms[e.to]
			if !m.alive || e.gen != m.gen {
				continue
			}
			m.core.Tick(s.localAt(m, s.now))
			s.flush(m)
		}
		s.check()
	}
	if s.waiting {
		s.fail("liveness: the run ended %v after a crash, before the floor was granted again", s.now-s.crashAt)
	}
	return res
}

func simRuns(t *testing.T) int {
	if v := os.Getenv("FLOOR_RUNS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("FLOOR_RUNS=%q: %v", v, err)
		}
		return n
	}
	if raceEnabled {
		return 1000
	}
	return 10000
}

// TestSimulation runs thousands of seeded runs of the harness (10 000, or 1
// 000 under the race detector; FLOOR_RUNS=N to choose, FLOOR_FIRST=S to
// start at seed S instead of 1). FLOOR_SEED=S runs one seed and prints its
// trace.
func TestSimulation(t *testing.T) {
	if v := os.Getenv("FLOOR_SEED"); v != "" {
		seed, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		r := runSim(seed, true)
		for _, l := range r.trace {
			t.Log(l)
		}
		t.Logf("seed %d: %v %v %v, %d members, %d grants, liveness %v", seed, r.scen, r.mode, r.policy, r.members, r.grants, r.liveness)
		for _, v := range r.violations {
			t.Error(v)
		}
		return
	}
	runs := simRuns(t)
	first := uint64(1)
	if v := os.Getenv("FLOOR_FIRST"); v != "" {
		var err error
		if first, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("FLOOR_FIRST=%q: %v", v, err)
		}
	}
	start := time.Now()
	results := make([]*simResult, runs)
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range next {
				results[i] = runSim(first+uint64(i), false)
			}
		})
	}
	for i := range runs {
		next <- i
	}
	close(next)
	wg.Wait()
	var failed []string
	var live []time.Duration
	var grants, events, violations int
	byScen, grantsBy := map[scenario]int{}, map[scenario]int{}
	for _, r := range results {
		byScen[r.scen]++
		grantsBy[r.scen] += r.grants
		grants += r.grants
		events += r.events
		live = append(live, r.liveness...)
		if len(r.violations) > 0 {
			violations += len(r.violations)
			failed = append(failed, fmt.Sprintf("seed %d (%v, %v, %v, %d members): %s", r.seed, r.scen, r.mode, r.policy, r.members, r.violations[0]))
		}
	}
	slices.Sort(live)
	pct := func(p float64) time.Duration {
		if len(live) == 0 {
			return 0
		}
		return live[min(len(live)-1, int(float64(len(live))*p))].Round(time.Millisecond)
	}
	t.Logf("%d runs (%d crash-only, %d with partitions, %d chaos) in %v: %d events, %d grants, %d safety or liveness violations",
		runs, byScen[crashOnly], byScen[partitions], byScen[chaos], time.Since(start).Round(time.Millisecond), events, grants, violations)
	t.Logf("grants per run: %.1f crash-only, %.1f with partitions, %.1f chaos (6 s of simulated time each)",
		float64(grantsBy[crashOnly])/float64(max(byScen[crashOnly], 1)), float64(grantsBy[partitions])/float64(max(byScen[partitions], 1)),
		float64(grantsBy[chaos])/float64(max(byScen[chaos], 1)))
	t.Logf("liveness after %d crashes: p50 %v, p90 %v, p99 %v, max %v", len(live), pct(0.5), pct(0.9), pct(0.99), pct(1))
	var hist []string
	for lo := time.Duration(0); lo < time.Second; lo += 100 * time.Millisecond {
		n := 0
		for _, d := range live {
			if d >= lo && d < lo+100*time.Millisecond {
				n++
			}
		}
		if n > 0 {
			hist = append(hist, fmt.Sprintf("%d–%dms: %d", lo/time.Millisecond, (lo+100*time.Millisecond)/time.Millisecond, n))
		}
	}
	t.Logf("liveness histogram: %s", strings.Join(hist, ", "))
	for i, f := range failed {
		if i == 20 {
			t.Errorf("... and %d more failing seeds", len(failed)-20)
			break
		}
		t.Errorf("%s\n\treplay: FLOOR_SEED=%s go test -run 'TestSimulation$' -v ./floor/", f, strings.Fields(f)[1])
	}
}
