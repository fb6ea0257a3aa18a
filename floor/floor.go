package floor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/posting"
	"github.com/rwanda-go/rwanda/stack"
)

// Errors a Grant ends with, and of Floor's methods.
var (
	ErrClosed   = errors.New("floor: closed")
	ErrReleased = errors.New("floor: released")
	ErrLapsed   = errors.New("floor: lease lapsed")
	ErrTaken    = errors.New("floor: taken by a request of higher priority")
	ErrDropped  = errors.New("floor: given to another member")
	ErrNotHeld  = errors.New("floor: not held")
	// ErrWithdrawn: Request returned because the request was withdrawn
	// (Release) or dropped before it was granted.
	ErrWithdrawn = errors.New("floor: request withdrawn")
)

// Stream is the channel stream a floor's messages travel on.
func Stream(resource string) string { return "floor/" + resource }

// Option configures Open.
type Option func(*options) error

type options struct {
	clock  stack.Clock
	events func(Event)
	log    *slog.Logger
}

// WithClock sets the clock that drives the floor's timers (default the
// system clock; tests pass a *stack.ManualClock).
func WithClock(c stack.Clock) Option {
	return func(o *options) error {
		if c == nil {
			return errors.New("floor: WithClock(nil)")
		}
		o.clock = c
		return nil
	}
}

// WithEvents has f called with every Event, in order, on the floor's own
// goroutine, which also sends the floor's messages: f must not block, and
// may call the Floor's methods but Request (which waits for messages that
// goroutine would send).
func WithEvents(f func(Event)) Option {
	return func(o *options) error { o.events = f; return nil }
}

// WithLogger sets where the floor logs what it cannot send (default: nowhere).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error { o.log = l; return nil }
}

// Floor is one member's handle on a floor (an exclusive resource: who may
// draw, speak, present) shared over a channel: it runs the protocol's Core
// on the channel's postings, on stream Stream(resource), and the Core's
// timers on its clock. All methods are safe for concurrent use.
type Floor struct {
	ch       *channel.Channel
	resource string
	stream   string
	o        options

	mu      sync.Mutex
	core    *Core
	timer   stack.Timer
	out     []Message
	evs     []Event
	grant   *Grant        // the current grant (valid, or ended and not replaced)
	granted chan struct{} // closed (and replaced) when a grant starts or a request ends
	watch   chan struct{}
	closed  bool

	sub  *channel.Subscription
	wake chan struct{}
	done chan struct{}
	wg   sync.WaitGroup
}

// Grant is the floor granted to this member. It ends (Done is closed) when
// the member releases it, loses it, or its lease lapses; Err then says
// why. After a lapse the member may be granted the floor again, as a new
// Grant (Floor.Grant, Event Granted), usually with a new token.
type Grant struct {
	// Token is the fencing token: tokens increase with every grant, so a
	// resource that remembers the highest token it saw (see Fence) can
	// refuse a holder whose lease ran out without its knowing.
	Token uint64
	f     *Floor
	done  chan struct{}
	err   error
}

// Done is closed when the grant ends.
func (g *Grant) Done() <-chan struct{} { return g.done }

// Err is nil while the grant lasts, then why it ended.
func (g *Grant) Err() error {
	g.f.mu.Lock()
	defer g.f.mu.Unlock()
	return g.err
}

// Valid reports whether the grant's lease is valid now. A holder checks it
// (or the Token, at the resource) before each action on the floor.
func (g *Grant) Valid() bool {
	g.f.mu.Lock()
	defer g.f.mu.Unlock()
	if g.err != nil {
		return false
	}
	tok, ok := g.f.core.Holding(g.f.o.clock.Now())
	return ok && tok == g.Token
}

// Release gives the floor back (Floor.Release, if this grant is current).
func (g *Grant) Release() error {
	g.f.mu.Lock()
	if g.err != nil {
		g.f.mu.Unlock()
		return ErrNotHeld
	}
	g.f.mu.Unlock()
	return g.f.Release()
}

// Open joins the floor resource on ch as cfg.Name. Members of a floor must
// agree on its Config (but Name). The floor's stream may carry any QoS: the
// protocol needs neither reliability nor order (a best-effort stack,
// channel.WithStreamQoS(floor.Stream(resource), "frag"), avoids repair
// delays; the default reliable stack works too).
func Open(ch *channel.Channel, resource string, cfg Config, opts ...Option) (*Floor, error) {
	o := options{clock: stack.SystemClock}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if resource == "" || len(Stream(resource)) > posting.MaxStreamLen {
		return nil, fmt.Errorf("%w: resource name %q is empty or too long", ErrConfig, resource)
	}
	core, err := NewCore(cfg, ch.ID(), o.clock.Now())
	if err != nil {
		return nil, err
	}
	f := &Floor{ch: ch, resource: resource, stream: Stream(resource), o: o, core: core,
		granted: make(chan struct{}), watch: make(chan struct{}),
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	f.sub, err = ch.SubscribeFunc(f.receive, channel.Streams(f.stream))
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.collect()
	f.mu.Unlock()
	f.wg.Add(1)
	go f.loop()
	return f, nil
}

// receive runs on the channel's receiving goroutine: it hands the message
// to the core and leaves sending to the loop.
func (f *Floor) receive(p *posting.Posting) {
	m, ok := p.Body.(Message)
	if !ok || m.Resource != f.resource || m.From.Inc != p.Sender {
		return // not ours, or not its sender's (an incarnation is a member id)
	}
	f.mu.Lock()
	if !f.closed {
		f.core.Receive(f.o.clock.Now(), &m)
		f.collect()
	}
	f.mu.Unlock()
}

// collect takes the core's output and events and sets the timer; f.mu is
// held.
func (f *Floor) collect() {
	out, evs := f.core.Outbox(), f.core.Events()
	if len(out) == 0 && len(evs) == 0 && f.timer != nil {
		f.arm()
		return
	}
	f.out = append(f.out, out...)
	for _, e := range evs {
		f.apply(e)
	}
	f.evs = append(f.evs, evs...)
	f.arm()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *Floor) arm() {
	d := f.core.Deadline()
	if d.IsZero() {
		return
	}
	wait := max(d.Sub(f.o.clock.Now()), 0)
	if f.timer == nil {
		f.timer = f.o.clock.AfterFunc(wait, f.tick)
	} else {
		f.timer.Reset(wait)
	}
}

func (f *Floor) tick() {
	f.mu.Lock()
	if !f.closed {
		f.core.Tick(f.o.clock.Now())
		f.collect()
	}
	f.mu.Unlock()
}

// apply updates the grants from an event; f.mu is held.
func (f *Floor) apply(e Event) {
	switch e.Kind {
	case Granted:
		f.end(nil)
		f.grant = &Grant{Token: e.Token, f: f, done: make(chan struct{})}
		f.notify()
	case Lapsed:
		f.end(ErrLapsed)
	case Lost:
		f.notify()
		f.end(map[Reason]error{ReasonTaken: ErrTaken, ReasonDropped: ErrDropped, ReasonClosed: ErrClosed,
			ReasonRegranted: ErrLapsed}[e.Reason])
	case Changed:
		close(f.watch)
		f.watch = make(chan struct{})
	}
}

// notify wakes the Requests waiting; f.mu is held.
func (f *Floor) notify() {
	close(f.granted)
	f.granted = make(chan struct{})
}

// end ends the current grant with err (ErrReleased if nil).
func (f *Floor) end(err error) {
	g := f.grant
	if g == nil || g.err != nil {
		return
	}
	if err == nil {
		err = ErrReleased
	}
	g.err = err
	close(g.done)
}

// loop pushes what the core sends and delivers events, in order.
func (f *Floor) loop() {
	defer f.wg.Done()
	for {
		select {
		case <-f.wake:
		case <-f.done:
			f.flush()
			return
		}
		f.flush()
	}
}

func (f *Floor) flush() {
	f.mu.Lock()
	out, evs := f.out, f.evs
	f.out, f.evs = nil, nil
	f.mu.Unlock()
	for i := range out {
		out[i].Resource = f.resource
		p := posting.New(out[i], posting.WithStream(f.stream), posting.WithMedia(posting.Control))
		if err := f.ch.Push(context.Background(), p); err != nil && f.o.log != nil {
			f.o.log.Warn("floor: push", "resource", f.resource, "kind", out[i].Kind, "err", err)
		}
	}
	if f.o.events != nil {
		for _, e := range evs {
			f.o.events(e)
		}
	}
}

// Request asks for the floor with a priority (for the Priority and
// preemptive policies; higher wins) and waits until it is granted, or
// until ctx is done (then the request is withdrawn and ctx's error
// returned), or the request is withdrawn by Release (ErrWithdrawn). If the
// floor is held already, it returns the current grant.
func (f *Floor) Request(ctx context.Context, priority int) (*Grant, error) {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil, ErrClosed
	}
	if g := f.grant; g != nil && g.err == nil {
		f.mu.Unlock()
		return g, nil
	}
	f.core.Request(f.o.clock.Now(), priority)
	f.collect()
	if g := f.grant; g != nil && g.err == nil {
		f.mu.Unlock()
		return g, nil // granted at once: we coordinate
	}
	wait := f.granted
	f.mu.Unlock()
	for {
		select {
		case <-wait:
		case <-ctx.Done():
			f.mu.Lock()
			if g := f.grant; g != nil && g.err == nil {
				f.mu.Unlock()
				return g, nil // granted as ctx ended: the grant wins
			}
			if !f.closed && f.core.Requesting() {
				f.core.Release(f.o.clock.Now())
				f.collect()
			}
			f.mu.Unlock()
			return nil, ctx.Err()
		case <-f.done:
			return nil, ErrClosed
		}
		f.mu.Lock()
		g, requesting := f.grant, f.core.Requesting()
		held := g != nil && g.err == nil
		wait = f.granted
		f.mu.Unlock()
		if held {
			return g, nil
		}
		if !requesting {
			return nil, ErrWithdrawn
		}
	}
}

// Release gives the floor back, or withdraws a pending request.
func (f *Floor) Release() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return ErrClosed
	}
	f.core.Release(f.o.clock.Now())
	f.collect()
	f.notify()
	return nil
}

// Grant returns the current grant, or nil if this member does not hold the
// floor with a valid lease.
func (f *Floor) Grant() *Grant {
	f.mu.Lock()
	defer f.mu.Unlock()
	if g := f.grant; g != nil && g.err == nil {
		return g
	}
	return nil
}

// State returns the freshest state of the floor this member knows: the
// coordinator, the holder, the queue. It is what the coordinator last said
// (in a heartbeat, at most Config.Heartbeat ago when all is well).
func (f *Floor) State() State {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.core.State()
}

// Holder is the member the floor was last granted to, as State says.
func (f *Floor) Holder() Member { return f.State().Holder }

// Queue lists the waiting requests, first served first, as State says.
func (f *Floor) Queue() []Entry { return f.State().Queue }

// Changed returns a channel closed at the next change of State.
func (f *Floor) Changed() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.watch
}

// Coordinating reports whether this member is the floor's coordinator now.
func (f *Floor) Coordinating() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.core.Coordinating(f.o.clock.Now())
	return ok
}

// Self is this member (its name and incarnation: the channel's member id).
func (f *Floor) Self() Member { return f.core.Self() }

// Close leaves the floor: it releases what this member holds or requested,
// hands the coordination over if it coordinates, sends that, and stops.
// It does not close the channel. It is idempotent.
func (f *Floor) Close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.core.Leave(f.o.clock.Now())
	f.collect()
	f.closed = true
	f.end(ErrClosed)
	if f.timer != nil {
		f.timer.Stop()
	}
	f.mu.Unlock()
	f.sub.Close()
	close(f.done)
	f.wg.Wait()
	return nil
}
