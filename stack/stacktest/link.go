package stacktest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/rwanda-go/rwanda/stack"
)

// Direction is one way across a [Link].
type Direction uint8

const (
	// AtoB carries what stack A sends to stack B.
	AtoB Direction = iota
	// BtoA carries what stack B sends to stack A.
	BtoA
)

func (d Direction) String() string {
	if d == BtoA {
		return "B→A"
	}
	return "A→B"
}

// Filter decides the fate of the n-th packet (counting from 0) sent in
// direction d: how many copies arrive. 0 drops it, 1 passes it, 2 or more
// duplicate it. A filter must be deterministic (a function of its arguments
// or of a seeded generator) so tests repeat.
type Filter func(d Direction, n int, b []byte) int

// Link is a deterministic in-memory connection between two stacks. Packets a
// stack sends wait in a queue per direction until the test delivers them
// with [Link.Step], [Link.Flush] or [Link.DeliverAt]; nothing moves on its
// own, so a test decides exactly what arrives, when and in which order.
// Each delivered packet is a fresh copy with no headroom, as from a socket.
// A Link is safe for concurrent use.
type Link struct {
	mu      sync.Mutex
	pool    *stack.Pool
	filter  Filter
	queue   [2][]*stack.Packet
	dst     [2]*stack.Stack
	sent    [2]int
	arrived [2]int
	dropped [2]int
}

// NewLink returns a link whose copies come from pool (nil: the default).
func NewLink(pool *stack.Pool) *Link {
	if pool == nil {
		pool = stack.DefaultPool()
	}
	return &Link{pool: pool}
}

// Wire returns the handler to give as Config.Wire to the stack that sends
// in direction d.
func (l *Link) Wire(d Direction) stack.Handler {
	return stack.HandlerFunc(func(p *stack.Packet) error {
		l.mu.Lock()
		defer l.mu.Unlock()
		n := l.sent[d]
		l.sent[d]++
		copies := 1
		if l.filter != nil {
			copies = l.filter(d, n, p.Bytes())
		}
		if copies <= 0 {
			l.dropped[d]++
		}
		for range copies {
			l.queue[d] = append(l.queue[d], l.pool.FromBytes(0, p.Bytes()))
		}
		p.Release()
		return nil
	})
}

// Connect names the stacks at the two ends: packets sent AtoB go up into b,
// BtoA into a.
func (l *Link) Connect(a, b *stack.Stack) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dst[BtoA], l.dst[AtoB] = a, b
}

// SetFilter installs f for packets sent from now on (nil passes all).
func (l *Link) SetFilter(f Filter) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.filter = f
}

// Pending is the number of packets queued in direction d.
func (l *Link) Pending(d Direction) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.queue[d])
}

// Queued returns copies of the bytes of the packets queued in direction d,
// oldest first.
func (l *Link) Queued(d Direction) [][]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([][]byte, len(l.queue[d]))
	for i, p := range l.queue[d] {
		out[i] = append([]byte(nil), p.Bytes()...)
	}
	return out
}

// Counts returns how many packets were sent, delivered and dropped (by the
// filter, or by [Link.DropAt]) in direction d.
func (l *Link) Counts(d Direction) (sent, delivered, dropped int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sent[d], l.arrived[d], l.dropped[d]
}

// DeliverAt delivers the i-th queued packet in direction d (0 is the oldest)
// out of turn, to script reordering. It reports false when there is none.
func (l *Link) DeliverAt(d Direction, i int) bool {
	l.mu.Lock()
	if i < 0 || i >= len(l.queue[d]) {
		l.mu.Unlock()
		return false
	}
	p := l.queue[d][i]
	l.queue[d] = append(l.queue[d][:i], l.queue[d][i+1:]...)
	dst := l.dst[d]
	l.arrived[d]++
	l.mu.Unlock()
	if dst == nil {
		panic(fmt.Sprintf("stacktest: Link has no stack connected for %v; call Connect", d))
	}
	dst.Up(p)
	return true
}

// DropAt discards the i-th queued packet in direction d. It reports false
// when there is none.
func (l *Link) DropAt(d Direction, i int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if i < 0 || i >= len(l.queue[d]) {
		return false
	}
	l.queue[d][i].Release()
	l.queue[d] = append(l.queue[d][:i], l.queue[d][i+1:]...)
	l.dropped[d]++
	return true
}

// Step delivers the oldest packet queued in direction d; it reports false
// when the queue is empty.
func (l *Link) Step(d Direction) bool { return l.DeliverAt(d, 0) }

// Flush delivers queued packets in both directions, oldest first and
// alternating, including those sent in response, until both queues are
// empty. It returns the number delivered, and panics after a million (two
// layers answering each other forever).
func (l *Link) Flush() int {
	n := 0
	for {
		moved := false
		for _, d := range []Direction{AtoB, BtoA} {
			if l.Step(d) {
				moved = true
				n++
			}
		}
		if !moved {
			return n
		}
		if n > 1_000_000 {
			panic("stacktest: Link.Flush delivered a million packets without going quiet")
		}
	}
}

// Close releases queued packets.
func (l *Link) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for d := range l.queue {
		for _, p := range l.queue[d] {
			p.Release()
		}
		l.queue[d] = nil
	}
}

// Delivered is one packet that reached the top of a stack.
type Delivered struct {
	Bytes []byte
	Meta  stack.Meta
}

// Collector is a Config.Deliver handler that keeps copies of what it is
// given. It is safe for concurrent use.
type Collector struct {
	mu  sync.Mutex
	got []Delivered
}

// Handle keeps a copy of p and releases it.
func (c *Collector) Handle(p *stack.Packet) error {
	d := Delivered{Bytes: append([]byte(nil), p.Bytes()...), Meta: p.Meta}
	p.Release()
	c.mu.Lock()
	c.got = append(c.got, d)
	c.mu.Unlock()
	return nil
}

// Take returns what was collected since the last Take.
func (c *Collector) Take() []Delivered {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.got
	c.got = nil
	return out
}

// Len is the number of packets collected and not yet taken.
func (c *Collector) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.got)
}

// Pair is two stacks joined by a [Link] on a shared [stack.ManualClock] and
// [stack.Pool]: A sends to B and B answers A. It is the harness for
// stack-to-stack tests: send, drop, advance, expect.
type Pair struct {
	A, B       *stack.Stack
	Link       *Link
	Clock      *stack.ManualClock
	Pool       *stack.Pool
	GotA, GotB *Collector // what reached the top of A and of B
	EventsA    *EventLog  // what A's layers reported
	EventsB    *EventLog  // what B's layers reported

	abandoned bool
}

// Abandon marks the pair unusable (a layer panicked with a stack's lock
// held): Close and the cleanup leave it alone instead of deadlocking.
func (p *Pair) Abandon() { p.abandoned = true }

// EventLog keeps a stack's events. It is safe for concurrent use.
type EventLog struct {
	mu sync.Mutex
	ev []stack.Event
}

// Add records e; it is a Config.Events function.
func (l *EventLog) Add(e stack.Event) {
	l.mu.Lock()
	l.ev = append(l.ev, e)
	l.mu.Unlock()
}

// Take returns the events recorded since the last Take.
func (l *EventLog) Take() []stack.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.ev
	l.ev = nil
	return out
}

// PairConfig configures [NewPair]. Zero fields take defaults.
type PairConfig struct {
	MTU    int                // default 1500
	Clock  *stack.ManualClock // default a new one at stack.ManualEpoch
	Pool   *stack.Pool        // default a new one (so leaks are the pair's own)
	Memory *stack.Budget      // shared budget for both stacks; default none
	Flow   stack.Flow         // A gets it with Role Sender, B with Role Receiver
}

// NewPair assembles stacks A and B from the given layers (application side
// first) and connects them. When t is not nil, a cleanup closes both stacks
// and the link and fails the test if any packet of the pair's pool leaked.
func NewPair(t testing.TB, a, b []stack.Layer, cfg PairConfig) (*Pair, error) {
	if cfg.MTU == 0 {
		cfg.MTU = 1500
	}
	if cfg.Clock == nil {
		cfg.Clock = stack.NewManualClock(stack.ManualEpoch)
	}
	ownPool := cfg.Pool == nil
	if ownPool {
		cfg.Pool = stack.NewPool()
	}
	p := &Pair{Link: NewLink(cfg.Pool), Clock: cfg.Clock, Pool: cfg.Pool, GotA: &Collector{}, GotB: &Collector{},
		EventsA: &EventLog{}, EventsB: &EventLog{}}
	flowA, flowB := cfg.Flow, cfg.Flow
	flowA.Role, flowB.Role = stack.Sender, stack.Receiver
	var err error
	p.A, err = stack.New(stack.Config{Layers: a, Wire: p.Link.Wire(AtoB), Deliver: p.GotA, MTU: cfg.MTU,
		Clock: cfg.Clock, Pool: cfg.Pool, Memory: cfg.Memory, Flow: flowA,
		Events: p.EventsA.Add})
	if err != nil {
		for _, l := range b {
			l.Close()
		}
		return nil, fmt.Errorf("stack A: %w", err)
	}
	p.B, err = stack.New(stack.Config{Layers: b, Wire: p.Link.Wire(BtoA), Deliver: p.GotB, MTU: cfg.MTU,
		Clock: cfg.Clock, Pool: cfg.Pool, Memory: cfg.Memory, Flow: flowB,
		Events: p.EventsB.Add})
	if err != nil {
		p.A.Close()
		return nil, fmt.Errorf("stack B: %w", err)
	}
	p.Link.Connect(p.A, p.B)
	if t != nil {
		t.Cleanup(func() {
			if p.abandoned {
				return
			}
			p.Close()
			if ownPool {
				if n := p.Pool.Outstanding(); n != 0 {
					t.Errorf("stacktest: %d packets not released after closing the pair", n)
				}
			}
		})
	}
	return p, nil
}

// Send puts a packet holding payload (and meta) into A's top.
func (p *Pair) Send(payload []byte, meta stack.Meta) error {
	pk := p.A.NewPacket(len(payload))
	pk.Append(payload)
	pk.Meta = meta
	return p.A.Down(pk)
}

// Close closes both stacks and the link. It may be called more than once.
func (p *Pair) Close() {
	if p.abandoned {
		return
	}
	p.A.Close()
	p.B.Close()
	p.Link.Close()
	p.GotA.Take()
	p.GotB.Take()
}
