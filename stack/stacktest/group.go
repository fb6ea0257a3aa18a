package stacktest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/rwanda-go/rwanda/stack"
)

// Group is a multicast harness: one sender stack and several receiver
// stacks on one ManualClock. What the sender sends is queued for every
// receiver; what a receiver sends (feedback) is queued for the sender and,
// marked stack.FlagOverheard, for the other receivers, as on a multicast
// group where everyone hears everyone. Nothing moves until the test
// delivers it, and a Filter per receiver scripts its losses.
type Group struct {
	Sender    *stack.Stack
	Receivers []*stack.Stack
	Got       []*Collector // what reached the top of each receiver
	Events    []*EventLog  // each receiver's events
	Clock     *stack.ManualClock
	Pool      *stack.Pool

	mu      sync.Mutex
	toRcv   [][]*stack.Packet // per receiver: packets from the sender
	toSnd   []*stack.Packet   // feedback for the sender
	heard   [][]*stack.Packet // per receiver: feedback overheard from the others
	filters []Filter          // per receiver, on data towards it
	sent    []int             // per receiver: packets offered to the filter
	fbLoss  []Filter          // per receiver, on its feedback
	fbSent  []int
}

// GroupConfig configures [NewGroup].
type GroupConfig struct {
	MTU   int
	Clock *stack.ManualClock
	Pool  *stack.Pool
}

// NewGroup builds a sender from layers() and n receivers, each from a
// fresh layers(); member ids are 1 for the sender and 2.. for receivers.
// A cleanup closes everything and checks for leaked packets.
func NewGroup(t testing.TB, n int, layers func() []stack.Layer, cfg GroupConfig) (*Group, error) {
	if cfg.MTU == 0 {
		cfg.MTU = 1500
	}
	if cfg.Clock == nil {
		cfg.Clock = stack.NewManualClock(stack.ManualEpoch)
	}
	own := cfg.Pool == nil
	if own {
		cfg.Pool = stack.NewPool()
	}
	g := &Group{Clock: cfg.Clock, Pool: cfg.Pool, toRcv: make([][]*stack.Packet, n), heard: make([][]*stack.Packet, n),
		filters: make([]Filter, n), sent: make([]int, n), fbLoss: make([]Filter, n), fbSent: make([]int, n)}
	var err error
	g.Sender, err = stack.New(stack.Config{Layers: layers(), MTU: cfg.MTU, Clock: cfg.Clock, Pool: cfg.Pool,
		Flow:    stack.Flow{Role: stack.Sender, Local: 1, Multicast: true},
		Wire:    stack.HandlerFunc(g.fromSender),
		Deliver: stack.HandlerFunc(func(p *stack.Packet) error { p.Release(); return nil })})
	if err != nil {
		return nil, err
	}
	for i := range n {
		c, ev := &Collector{}, &EventLog{}
		r, err := stack.New(stack.Config{Layers: layers(), MTU: cfg.MTU, Clock: cfg.Clock, Pool: cfg.Pool,
			Flow:    stack.Flow{Role: stack.Receiver, Local: uint64(2 + i), Remote: 1, Multicast: true},
			Wire:    stack.HandlerFunc(func(p *stack.Packet) error { return g.fromReceiver(i, p) }),
			Deliver: c, Events: ev.Add})
		if err != nil {
			g.Close()
			return nil, fmt.Errorf("receiver %d: %w", i, err)
		}
		g.Receivers, g.Got, g.Events = append(g.Receivers, r), append(g.Got, c), append(g.Events, ev)
	}
	if t != nil {
		t.Cleanup(func() {
			g.Close()
			if own && g.Pool.Outstanding() != 0 {
				t.Errorf("stacktest: %d packets not released after closing the group", g.Pool.Outstanding())
			}
		})
	}
	return g, nil
}

// SetFilter scripts what receiver i loses of the sender's packets (the
// filter sees Direction AtoB and the count of packets offered to i).
func (g *Group) SetFilter(i int, f Filter) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.filters[i] = f
}

// SetFeedbackFilter scripts losses of receiver i's feedback (Direction
// BtoA, counted per receiver); a lost feedback packet reaches no one.
func (g *Group) SetFeedbackFilter(i int, f Filter) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.fbLoss[i] = f
}

func (g *Group) fromSender(p *stack.Packet) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i := range g.toRcv {
		copies := 1
		if f := g.filters[i]; f != nil {
			copies = f(AtoB, g.sent[i], p.Bytes())
		}
		g.sent[i]++
		for range copies {
			g.toRcv[i] = append(g.toRcv[i], g.Pool.FromBytes(0, p.Bytes()))
		}
	}
	p.Release()
	return nil
}

func (g *Group) fromReceiver(i int, p *stack.Packet) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	copies := 1
	if f := g.fbLoss[i]; f != nil {
		copies = f(BtoA, g.fbSent[i], p.Bytes())
	}
	g.fbSent[i]++
	if copies > 0 {
		q := g.Pool.FromBytes(0, p.Bytes())
		q.Meta.Peer = uint64(2 + i)
		g.toSnd = append(g.toSnd, q)
		for j := range g.heard {
			if j != i {
				h := g.Pool.FromBytes(0, p.Bytes())
				h.Meta.Peer = uint64(2 + i)
				h.Meta.Flags |= stack.FlagOverheard
				g.heard[j] = append(g.heard[j], h)
			}
		}
	}
	p.Release()
	return nil
}

// Flush delivers everything queued, in rounds (sender's packets to each
// receiver, overheard feedback, feedback to the sender), until nothing is
// left. It returns the packets delivered.
func (g *Group) Flush() int {
	total := 0
	for round := 0; ; round++ {
		if round > 100000 {
			panic("stacktest: Group.Flush does not go quiet")
		}
		g.mu.Lock()
		toRcv, heard, toSnd := g.toRcv, g.heard, g.toSnd
		g.toRcv, g.heard, g.toSnd = make([][]*stack.Packet, len(toRcv)), make([][]*stack.Packet, len(heard)), nil
		g.mu.Unlock()
		n := 0
		for i, q := range toRcv {
			for _, p := range q {
				g.Receivers[i].Up(p)
				n++
			}
		}
		for i, q := range heard {
			for _, p := range q {
				g.Receivers[i].Up(p)
				n++
			}
		}
		for _, p := range toSnd {
			g.Sender.Up(p)
			n++
		}
		if n == 0 {
			return total
		}
		total += n
	}
}

// Close closes every stack and releases queued packets.
func (g *Group) Close() {
	if g.Sender != nil {
		g.Sender.Close()
	}
	for _, r := range g.Receivers {
		r.Close()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, q := range append(g.toRcv, append(g.heard, g.toSnd)...) {
		for _, p := range q {
			p.Release()
		}
	}
	g.toRcv, g.heard, g.toSnd = make([][]*stack.Packet, len(g.toRcv)), make([][]*stack.Packet, len(g.heard)), nil
}
