package floor

import (
	"slices"
	"time"
)

// Core is one member's floor protocol as a deterministic state machine: it
// has no goroutines, reads no clock and does no I/O. Every call takes the
// member's own clock reading (any clock: only differences between its own
// readings matter, and they must not go backwards); what the member must
// send is collected for Outbox and what happened to it for Events; Deadline
// says when Tick must be called next. See the package documentation for
// the protocol. The parts live in files of their own: voter.go (promises),
// elect.go (elections), coordinator.go (the lease, the queue, grants,
// hand-overs), holder.go (requests and leases held).
//
// A Core is not safe for concurrent use: its owner serialises the calls
// (the Floor adapter does so under a lock).
type Core struct {
	cfg     Config
	self    Member
	origin  time.Time
	now     int64 // latest clock reading, ns from origin
	lease   int64 // L
	hb      int64
	stagger int64
	quorum  int
	voters  map[string]bool
	isVoter bool

	// What this member knows.
	view       State // the freshest state heard
	maxEpoch   uint64
	coord      Member // the coordinator last heard from
	coordEpoch uint64
	electAt    int64 // a follower stands for election then
	attempts   uint64
	seen       map[string]seenMember

	role role
	cand candidacy
	co   coordination
	vo   promise
	rq   requester
	ho   handoffState

	local  []Message // messages to this member itself, handled before returning
	out    []Message
	events []Event
	closed bool
}

type role uint8

const (
	follower role = iota
	candidate
	coordinator
)

type seenMember struct {
	m  Member
	at int64
}

// candidacy: a member standing for election.
type candidacy struct {
	epoch      uint64
	start      int64
	until      int64
	votes      map[string]int64 // voter → until when it is surely bound to us (our clock)
	refused    map[string]bool
	wait       int64 // the longest promise to another that refusals reported
	best       State
	designated bool   // named successor by a Handoff
	pred       Member // who named us
	guard      int64  // the holder may hold a lease from our predecessor until then
}

// coordination: this member is the coordinator.
type coordination struct {
	epoch     uint64
	start     int64
	acks      map[string]int64 // voter → until when it is surely bound to us
	leaseEnd  int64            // a majority is bound to us until then
	nextHB    int64
	seq       uint64
	confirmed bool  // the holder renewed under this coordinator
	confirmBy int64 // an unconfirmed holder is dropped then (unless holderEnd is later)
	holderEnd int64 // no lease we granted outlives this
	guard     int64 // no lease our predecessor granted outlives this
	takenBy   int64 // preempting: no lease beyond this (0: not preempting)
	lastEcho  int64 // the holder's latest clock reading we granted from
	recvAt    map[string]int64
}

// promise: this member as a voter.
type promise struct {
	bound      Member
	boundEpoch uint64
	boundTS    int64 // the bound member's clock in the message we bound on
	boundUntil int64
	votedEpoch uint64
	votedFor   Member
	seenEpoch  uint64 // the highest epoch a coordinator was heard at
	guardUntil int64  // a new incarnation honours its predecessor's promises
}

// requester: this member as requester and holder.
type requester struct {
	want     bool
	priority int
	ticket   uint64
	since    int64 // the request began: grants echoing earlier are stale
	sentAt   int64
	token    uint64 // nonzero: we are the holder
	tokenVer uint64 // the state version that made us holder
	leaseEnd int64
	renewAt  int64
	yieldAt  int64 // delayed preemption: release then
	valid    bool  // Granted reported and not yet Lapsed or Lost
	validTok uint64
}

type handoffState struct {
	msg   *Message
	until int64
	next  int64
}

const never = int64(1) << 62

// maxEpoch bounds epochs, so that epoch<<32 | grant number stays a token.
const maxEpoch = 1 << 31

// NewCore returns the protocol state of member cfg.Name, incarnation inc
// (drawn at random by the caller each time the member starts), at its clock
// reading now.
func NewCore(cfg Config, inc uint64, now time.Time) (*Core, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Core{
		cfg:     cfg,
		self:    Member{Name: cfg.Name, Inc: inc},
		origin:  now,
		lease:   int64(cfg.Lease),
		hb:      int64(cfg.Heartbeat),
		stagger: int64(cfg.Stagger),
		quorum:  len(cfg.Voters)/2 + 1,
		voters:  map[string]bool{},
		seen:    map[string]seenMember{},
	}
	for _, v := range cfg.Voters {
		c.voters[v] = true
	}
	c.isVoter = c.voters[cfg.Name]
	// A voter that starts may have promised something in an earlier life.
	c.vo.guardUntil = c.lease
	c.electAt = c.lease + c.electDelay()
	return c, nil
}

// Self is this member.
func (c *Core) Self() Member { return c.self }

// Config is the configuration with defaults applied.
func (c *Core) Config() Config { return c.cfg }

func (c *Core) clock(now time.Time) int64 {
	t := int64(now.Sub(c.origin))
	if t < c.now {
		t = c.now
	}
	c.now = t
	return t
}

func (c *Core) at(t int64) time.Time { return c.origin.Add(time.Duration(t)) }

// short is (1−ε)·d: how long a lease of d counts for its beneficiary.
func (c *Core) short(d int64) int64 { return int64(float64(d) * (1 - c.cfg.Margin)) }

// long is (1+ε)·d.
func (c *Core) long(d int64) int64 { return int64(float64(d) * (1 + c.cfg.Margin)) }

// Receive handles a message from another member.
func (c *Core) Receive(now time.Time, m *Message) {
	t := c.clock(now)
	if c.closed || m == nil || m.From.Name == c.self.Name || m.Epoch >= maxEpoch || m.State != nil && m.State.Epoch >= maxEpoch {
		return // ours, an earlier incarnation's, or nonsense
	}
	c.seen[m.From.Name] = seenMember{m.From, t}
	c.noteEpoch(m.Epoch)
	if !m.To.IsZero() && m.To != c.self {
		return
	}
	c.handle(t, m)
	c.settle(t)
}

// Tick runs the timers due at now.
func (c *Core) Tick(now time.Time) {
	t := c.clock(now)
	if c.closed {
		return
	}
	c.settle(t)
}

// Request asks for the floor with a priority (used by the Priority and
// preemptive policies; higher wins). Granted reports success. A request
// made while one is pending or the floor is held changes nothing.
func (c *Core) Request(now time.Time, priority int) {
	t := c.clock(now)
	if c.closed || c.rq.want || c.rq.token != 0 {
		return
	}
	c.rq.want, c.rq.priority, c.rq.since, c.rq.ticket = true, priority, t, 0
	c.sendRequest(t)
	c.settle(t)
}

// Release gives the floor back, or withdraws a pending request.
func (c *Core) Release(now time.Time) {
	t := c.clock(now)
	if c.closed {
		return
	}
	c.release(t, ReasonReleased)
	c.settle(t)
}

// Leave releases what this member holds or requested and, if it
// coordinates, hands the coordination to another member; the Core does
// nothing after it.
func (c *Core) Leave(now time.Time) {
	t := c.clock(now)
	if c.closed {
		return
	}
	c.release(t, ReasonClosed)
	c.settle(t)
	switch c.role {
	case coordinator:
		c.resign(t)
	case candidate:
		c.abandon(t)
	}
	c.settle(t)
	c.closed = true
}

// Outbox returns the messages to send to the other members (every message
// goes to all of them; the addressed ones are ignored by the others) and
// empties it.
func (c *Core) Outbox() []Message {
	o := c.out
	c.out = nil
	return o
}

// Events returns what happened since the last call and empties the list.
func (c *Core) Events() []Event {
	e := c.events
	c.events = nil
	return e
}

// Holding reports whether this member holds the floor with a valid lease at
// now (its clock), and under which fencing token.
func (c *Core) Holding(now time.Time) (token uint64, ok bool) {
	t := int64(now.Sub(c.origin))
	if c.rq.token != 0 && t < c.rq.leaseEnd && !c.closed {
		return c.rq.token, true
	}
	return 0, false
}

// LeaseEnd is when this member's lease ends on its clock (the zero time if
// it holds none).
func (c *Core) LeaseEnd() time.Time {
	if c.rq.token == 0 {
		return time.Time{}
	}
	return c.at(c.rq.leaseEnd)
}

// Coordinating reports whether this member is the coordinator with a valid
// lease at now, and its epoch.
func (c *Core) Coordinating(now time.Time) (epoch uint64, ok bool) {
	t := int64(now.Sub(c.origin))
	if c.role == coordinator && t < c.co.leaseEnd && !c.closed {
		return c.co.epoch, true
	}
	return 0, false
}

// KnownEpoch is the highest epoch this member has heard of; VoterEpoch
// the highest this voter will refuse to vote at or below.
func (c *Core) KnownEpoch() uint64 {
	return max(c.maxEpoch, c.view.Epoch, c.coordEpoch, c.vo.votedEpoch, c.vo.seenEpoch)
}

// VoterEpoch: see KnownEpoch.
func (c *Core) VoterEpoch() uint64 { return max(c.vo.votedEpoch, c.vo.seenEpoch) }

// Requesting reports whether this member wants the floor and does not hold
// it yet.
func (c *Core) Requesting() bool { return c.rq.want && c.rq.token == 0 }

// State returns the freshest floor state this member knows (a copy).
func (c *Core) State() State { return c.view.clone() }

// Deadline is when Tick must be called next (on this member's clock).
func (c *Core) Deadline() time.Time {
	if c.closed {
		return time.Time{}
	}
	d := never
	min := func(x int64) {
		if x < d {
			d = x
		}
	}
	switch c.role {
	case follower:
		min(c.electAt)
	case candidate:
		min(c.cand.until)
	case coordinator:
		min(c.co.leaseEnd)
		min(c.co.nextHB)
		if h := c.view.Holder; !h.IsZero() {
			if !c.co.confirmed {
				min(max(c.co.confirmBy, c.co.holderEnd, c.co.guard))
			} else {
				min(max(c.co.holderEnd, c.co.guard))
			}
		}
	}
	if c.rq.want && c.rq.token == 0 && c.view.find(c.self.Name) < 0 {
		min(c.rq.sentAt + 2*c.hb)
	}
	if c.rq.token != 0 {
		min(c.rq.renewAt)
		if c.rq.valid {
			min(c.rq.leaseEnd)
		}
		if c.rq.yieldAt != 0 {
			min(c.rq.yieldAt)
		}
	}
	if c.ho.msg != nil {
		min(c.ho.next)
	}
	if d < c.now {
		d = c.now
	}
	return c.at(d)
}

// send queues m for the others and, if it concerns this member, for itself.
func (c *Core) send(m Message) {
	m.From = c.self
	m.Resource = ""
	if m.To == c.self {
		c.local = append(c.local, m)
		return
	}
	c.out = append(c.out, m)
	if m.To.IsZero() {
		c.local = append(c.local, m)
	}
}

func (c *Core) emit(t int64, e Event) {
	e.At = c.at(t)
	c.events = append(c.events, e)
}

// settle handles this member's messages to itself and the timers due,
// until nothing more happens.
func (c *Core) settle(t int64) {
	for range 64 {
		for len(c.local) > 0 {
			m := c.local[0]
			c.local = c.local[1:]
			c.handle(t, &m)
		}
		c.timers(t)
		if len(c.local) == 0 {
			break
		}
	}
	c.checkHolding(t)
}

func (c *Core) handle(t int64, m *Message) {
	switch m.Kind {
	case KindHeartbeat:
		c.onHeartbeat(t, m)
	case KindAck:
		c.onAck(t, m)
	case KindVoteRequest:
		c.onVoteRequest(t, m)
	case KindVote:
		c.onVote(t, m)
	case KindHandoff:
		c.onHandoff(t, m)
	case KindAbdicate:
		c.onAbdicate(t, m)
	case KindGrant:
		c.onGrant(t, m)
	case KindTaken:
		c.onTaken(t, m)
	case KindRequest, KindWithdraw, KindRenew, KindRelease:
		if c.role == coordinator {
			c.coHandle(t, m)
		}
	}
}

func (c *Core) timers(t int64) {
	switch c.role {
	case follower:
		if t >= c.electAt {
			c.stand(t, 0, false, 0)
		}
	case candidate:
		if t >= c.cand.until {
			c.abandon(t)
		}
	case coordinator:
		if t >= c.co.leaseEnd {
			// A coordinator whose majority lapsed may have been replaced:
			// it must be elected again, at a new epoch, before it grants.
			c.stepDown(t)
			c.stand(t, 0, false, 0)
			break
		}
		c.schedule(t)
		if t >= c.co.nextHB {
			c.heartbeat(t)
		}
	}
	if c.rq.want && c.rq.token == 0 && t >= c.rq.sentAt+2*c.hb && c.view.find(c.self.Name) < 0 {
		c.sendRequest(t)
	}
	if c.rq.token != 0 {
		if c.rq.yieldAt != 0 && t >= c.rq.yieldAt {
			c.release(t, ReasonTaken)
		} else if t >= c.rq.renewAt {
			c.send(Message{Kind: KindRenew, Token: c.rq.token, TS: t})
			c.rq.renewAt = t + c.hb
		}
	}
	if c.ho.msg != nil {
		if t >= c.ho.until {
			c.ho.msg = nil
		} else if t >= c.ho.next {
			c.out = append(c.out, *c.ho.msg)
			c.ho.next = t + c.hb
		}
	}
}

// checkHolding reports the holder's lease starting and lapsing.
func (c *Core) checkHolding(t int64) {
	r := &c.rq
	valid := r.token != 0 && t < r.leaseEnd
	switch {
	case valid && (!r.valid || r.validTok != r.token):
		r.valid, r.validTok = true, r.token
		c.emit(t, Event{Kind: Granted, Token: r.token, Until: c.at(r.leaseEnd)})
	case !valid && r.valid:
		r.valid = false
		if r.token == r.validTok {
			c.emit(t, Event{Kind: Lapsed, Token: r.token})
		}
	}
}

func (c *Core) noteEpoch(e uint64) {
	if e > c.maxEpoch {
		c.maxEpoch = e
	}
}

// learn adopts a state fresher than the one known.
func (c *Core) learn(t int64, s *State) {
	if s == nil || !s.newer(&c.view) {
		return
	}
	if c.role == coordinator {
		if s.Epoch <= c.co.epoch {
			return // ours is the state of our epoch
		}
		c.stepDown(t) // the floor went on without us
	}
	c.view = s.clone()
	c.noteEpoch(s.Epoch)
	c.emit(t, Event{Kind: Changed})
	r := &c.rq
	if r.token != 0 && c.view.Holder != c.self {
		te := r.token >> 32
		if c.view.Epoch > te || c.view.Epoch == te && c.view.Version >= r.tokenVer {
			c.lose(t, ReasonDropped)
		}
	}
	if !r.want && r.token == 0 && t-r.sentAt >= c.hb {
		if i := c.view.find(c.self.Name); i >= 0 && c.view.Queue[i].Member == c.self {
			c.send(Message{Kind: KindWithdraw, Ticket: r.ticket, TS: t}) // it was lost
			r.sentAt = t
		}
	}
	if r.want && r.token == 0 {
		if i := c.view.find(c.self.Name); i >= 0 && c.view.Queue[i].Member == c.self {
			r.ticket = c.view.Queue[i].Ticket
		} else if c.view.Holder == c.self {
			// We were given the floor and missed the grant: ask again.
			if t-r.sentAt >= c.hb/4 {
				c.sendRequest(t)
			}
		} else if t-r.sentAt >= c.hb && i < 0 {
			c.sendRequest(t) // the coordinator does not know our request
		}
	}
}

// rank orders the members who should stand for election when the
// coordinator falls silent: the holder and the queue first for an
// everywhere resource (the coordination goes where the floor goes), the
// voters first for a localised one.
func (c *Core) rank() []string {
	names := make([]string, 0, 8)
	add := func(n string) {
		if n != "" && n != c.coord.Name && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	floor := func() {
		add(c.view.Holder.Name)
		for _, e := range c.view.Queue {
			add(e.Member.Name)
		}
	}
	if c.cfg.Mode == Everywhere {
		floor()
		for _, v := range c.cfg.Voters {
			add(v)
		}
	} else {
		for _, v := range c.cfg.Voters {
			add(v)
		}
		floor()
	}
	return names
}

func (c *Core) electDelay() int64 {
	r := slices.Index(c.rank(), c.self.Name)
	if r < 0 {
		r = len(c.rank())
	}
	return c.lease + c.stagger/2 + int64(r)*c.stagger
}
