package stack

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config describes a stack to assemble with [New].
type Config struct {
	// Layers, application side first. New takes ownership: it closes them
	// when assembly fails, and Stack.Close closes them.
	Layers []Layer
	// Wire takes every packet leaving the bottom of the stack (required). It
	// is called with the stack's lock held, in order, and must not call back
	// into the same stack.
	Wire Handler
	// Deliver takes every packet leaving the top of the stack (required). It
	// is called outside the stack's lock, in order, one packet at a time; it
	// may call into the stack (to reply on the same flow, say).
	Deliver Handler
	// Flush, when set, is called after each call into the stack (Down, Up, a
	// timer) that sent packets to Wire, with the lock still held: a
	// transport can collect the packets Wire gives it and write them as one
	// batch here.
	Flush func()
	// Events, when set, receives the layers' events, outside the lock.
	Events func(Event)
	// Clock drives the layers' timers; nil means SystemClock.
	Clock Clock
	// Pool supplies packets; nil means DefaultPool().
	Pool *Pool
	// Memory bounds buffered data across the stacks that share it; nil
	// means no bound beyond each layer's own limits.
	Memory *Budget
	// MTU is the largest packet Wire carries, in bytes (required, > 0).
	MTU int
	// Flow describes the flow the stack serves; it is passed to the layers.
	Flow Flow
	// Logger receives the layers' logs; nil discards them.
	Logger *slog.Logger
}

// Stack is an assembled chain of layers serving one flow. Packets enter at
// the top with [Stack.Down] and at the bottom with [Stack.Up]; timers fire
// from the configured clock. A Stack serialises everything that runs inside
// its layers, so it is safe for concurrent use while the layers themselves
// need no locks.
type Stack struct {
	mu        sync.Mutex
	layers    []Layer
	names     []string
	entryDown Handler
	entryUp   Handler
	wire      Handler
	deliver   Handler
	flush     func()
	onEvent   func(Event)
	clock     Clock
	pool      *Pool
	mtu       int
	overhead  int
	flow      Flow

	// roomers are the layers that implement Roomer; full is set when
	// one of them had no room at the end of the last call into the stack
	// (HasRoom's lock-free hint).
	roomers []Roomer
	full    atomic.Bool
	// backloggers are the layers that implement Backlogger; backlog is
	// set when one of them reported a backlog at the end of the last call
	// into the stack (Backlogged's lock-free hint).
	backloggers []Backlogger
	backlog     atomic.Bool

	closed   bool
	wrote    bool
	draining bool
	pending  []*Packet
	spareP   []*Packet
	events   []Event
	spareE   []Event

	deadlines []time.Time
	armed     time.Time
	timer     Timer
	now       time.Time // the clock's reading at the start of the current call

	stats    []LayerStats // one per layer, then the stack's own
	counters struct{ down, up, sent, delivered uint64 }
}

// LayerStats are one layer's counters.
type LayerStats struct {
	Name     string
	Drops    map[string]uint64 // packets dropped, by reason
	Counters map[string]uint64 // the layer's own counters
}

// Stats is a snapshot of a stack's counters.
type Stats struct {
	Down      uint64       // packets given to Down
	Up        uint64       // packets given to Up
	Sent      uint64       // packets that left the bottom for the wire
	Delivered uint64       // packets that left the top for delivery
	Layers    []LayerStats // per layer, application side first, then "stack"
}

// New assembles a stack: it checks the layers' declared requirements
// ([Check]), computes each layer's room below the MTU, and binds the layers
// once. Errors name the layer at fault (and the one it conflicts with) as a
// *[StackError].
func New(cfg Config) (*Stack, error) {
	s, err := newStack(cfg)
	if err != nil {
		for _, l := range cfg.Layers {
			if l != nil {
				l.Close()
			}
		}
		return nil, err
	}
	return s, nil
}

func newStack(cfg Config) (*Stack, error) {
	bad := func(format string, a ...any) error {
		return &StackError{Index: -1, OtherIndex: -1, Reason: fmt.Sprintf(format, a...), Err: ErrConfig}
	}
	if cfg.Wire == nil {
		return nil, bad("Config.Wire is nil")
	}
	if cfg.Deliver == nil {
		return nil, bad("Config.Deliver is nil")
	}
	if cfg.MTU <= 0 {
		return nil, bad("Config.MTU is %d; it must be positive", cfg.MTU)
	}
	n := len(cfg.Layers)
	s := &Stack{
		layers:    append([]Layer(nil), cfg.Layers...),
		names:     make([]string, n),
		wire:      cfg.Wire,
		deliver:   cfg.Deliver,
		flush:     cfg.Flush,
		onEvent:   cfg.Events,
		clock:     cfg.Clock,
		pool:      cfg.Pool,
		mtu:       cfg.MTU,
		flow:      cfg.Flow,
		deadlines: make([]time.Time, n),
		stats:     make([]LayerStats, n+1),
	}
	if s.clock == nil {
		s.clock = SystemClock
	}
	if s.pool == nil {
		s.pool = defaultPool
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	for i, l := range s.layers {
		if l == nil {
			return nil, bad("layer %d is nil", i)
		}
		s.names[i] = l.Name()
		s.stats[i].Name = s.names[i]
		if r, ok := l.(Roomer); ok {
			s.roomers = append(s.roomers, r)
		}
		if b, ok := l.(Backlogger); ok {
			s.backloggers = append(s.backloggers, b)
		}
		o := l.Overhead()
		if o < 0 {
			return nil, &StackError{Layer: s.names[i], Index: i, OtherIndex: -1,
				Reason: fmt.Sprintf("declares a negative overhead %d", o), Err: ErrConfig}
		}
		s.overhead += o
	}
	s.stats[n].Name = "stack"
	if s.overhead >= s.mtu {
		return nil, bad("the layers' overhead of %d bytes leaves no room under the MTU of %d", s.overhead, s.mtu)
	}
	if err := Check(s.layers); err != nil {
		return nil, err
	}

	// Wire the chain once: each layer's neighbours as handlers.
	below := make([]int, n)
	for i := n - 2; i >= 0; i-- {
		below[i] = below[i+1] + s.layers[i+1].Overhead()
	}
	wireH := HandlerFunc(s.toWire)
	appH := HandlerFunc(s.toApp)
	for i, l := range s.layers {
		b := Binding{
			Down: wireH, Up: appH,
			Clock: s.clock, MTU: s.mtu, Below: below[i], Index: i,
			Pool: s.pool, Memory: cfg.Memory, Flow: s.flow,
			Logger: logger.With("layer", s.names[i]), s: s, own: l.Overhead(),
			below: s.layers[i+1:],
		}
		if i+1 < n {
			b.Down = HandlerFunc(s.layers[i+1].Down)
		}
		if i > 0 {
			b.Up = HandlerFunc(s.layers[i-1].Up)
		}
		if err := l.Bind(b); err != nil {
			var se *StackError
			if errors.As(err, &se) {
				return nil, err
			}
			return nil, &StackError{Layer: s.names[i], Index: i, OtherIndex: -1, Reason: err.Error(), Err: errors.Join(ErrBind, err)}
		}
	}
	if n == 0 {
		s.entryDown, s.entryUp = wireH, appH
	} else {
		s.entryDown = HandlerFunc(s.layers[0].Down)
		s.entryUp = HandlerFunc(s.layers[n-1].Up)
	}
	return s, nil
}

// Down sends a packet from the application through the layers toward the
// wire. The stack takes ownership of p. Errors are the layers' (or Wire's),
// such as [ErrTooLarge], or [ErrClosed].
func (s *Stack) Down(p *Packet) error { return s.DownAt(p, s.clock.Now()) }

// DownAt is Down for a caller that has just read the stack's clock: now is
// the time the layers see. It saves reading the clock twice on busy paths.
func (s *Stack) DownAt(p *Packet, now time.Time) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		p.Release()
		return ErrClosed
	}
	s.counters.down++
	s.now = now
	err := s.entryDown.Handle(p)
	s.unlockAndDrain()
	return err
}

// Up passes a packet received from the wire up through the layers. The stack
// takes ownership of p. A non-nil error says why the packet was dropped; it
// has been counted already, so callers may ignore it.
func (s *Stack) Up(p *Packet) error { return s.UpAt(p, s.clock.Now()) }

// UpAt is Up for a caller that has just read the stack's clock.
func (s *Stack) UpAt(p *Packet, now time.Time) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		p.Release()
		return ErrClosed
	}
	s.counters.up++
	s.now = now
	err := s.entryUp.Handle(p)
	if err != nil {
		s.stats[len(s.layers)].drop("error")
	}
	s.unlockAndDrain()
	return err
}

// NewPacket returns an empty packet with headroom and tailroom for all the
// layers' overhead and room for size bytes of payload, from the stack's pool.
func (s *Stack) NewPacket(size int) *Packet {
	return s.pool.get(s.overhead, size, s.overhead)
}

// Roomer is implemented by layers that queue packets and can run out of
// room (a sliding window waiting for acknowledgements).
type Roomer interface {
	// Room is how many more payload bytes the layer will take without
	// growing its queue past its limit. It is advisory: a layer still
	// accepts what it is given (a parcel is never split by a refusal), so
	// callers check Room before sending and wait for an event of kind
	// "room" when it is zero.
	Room() int
}

// Room is the smallest Room of the layers that implement [Roomer], or -1
// when none does (no limit).
func (s *Stack) Room() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.room()
}

func (s *Stack) room() int {
	room := -1
	for _, r := range s.roomers {
		if n := max(r.Room(), 0); room < 0 || n < room {
			room = n
		}
	}
	return room
}

// HasRoom is a hint, read without the stack's lock: false when a layer
// that implements [Roomer] had no room at the end of the last call into
// the stack (Down, Up or a timer). A caller that finds it true may send
// without asking [Stack.Room] (whose answer is advisory too); one that
// finds it false asks Room before waiting.
func (s *Stack) HasRoom() bool { return !s.full.Load() }

// Backlogger is implemented by layers that can tell when their sender is
// ahead of the path: packets queued that they cannot send yet (a sliding
// window waiting for acknowledgements), or a flight of unacknowledged
// packets that what is sent next will follow anyway.
type Backlogger interface {
	// Backlog is how many packets the layer holds that it has not sent
	// yet (retained copies of packets already sent do not count); a
	// layer may also report a positive number with nothing queued when
	// its sender is that far ahead of its receivers' acknowledgements.
	Backlog() int
}

// Backlogged is a hint, read without the stack's lock: true when a layer
// that implements [Backlogger] reported a backlog at the end of the last
// call into the stack (Down, Up or a timer). A sender that finds it true
// may gather what it sends next into fewer, larger packets: what it
// gives to Down now would wait in a queue, or follow a flight of
// unacknowledged packets, anyway.
func (s *Stack) Backlogged() bool { return s.backlog.Load() }

// Measures are what a measuring layer (layers/monitor) knows of its flow.
type Measures struct {
	Rate       float64       // bytes per second arriving at the receiver(s), over recent packets
	PacketRate float64       // packets per second, likewise
	Loss       float64       // fraction of packets lost recently, 0 to 1 (the worst receiver's)
	RTT        time.Duration // round-trip time (the worst receiver's); 0: not known
	Jitter     time.Duration // interarrival jitter (RFC 3550)
	Packets    uint64        // packets measured so far
	Receivers  int           // receivers reporting
}

// Measurer is implemented by layers that measure their flow.
type Measurer interface {
	Measure() Measures
}

// Measure returns the figures of the first layer that measures the flow
// ([Measurer]), read under the stack's lock, or false when none does.
func (s *Stack) Measure() (Measures, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.layers {
		if m, ok := l.(Measurer); ok {
			return m.Measure(), true
		}
	}
	return Measures{}, false
}

// Drainer is implemented by layers that keep packets to send or repair
// after they were given them (a reliability window): Drained reports that
// nothing is left, so the stack can be closed without losing anything.
type Drainer interface {
	Drained() bool
}

// Drained reports whether every layer that keeps packets ([Drainer]) has
// none left to send or repair.
func (s *Stack) Drained() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.layers {
		if d, ok := l.(Drainer); ok && !d.Drained() {
			return false
		}
	}
	return true
}

// Overhead is the summed overhead of all layers: the headroom of packets
// made by [Stack.NewPacket].
func (s *Stack) Overhead() int { return s.overhead }

// MTU is the largest packet the stack sends to its wire.
func (s *Stack) MTU() int { return s.mtu }

// Pool is the stack's packet pool.
func (s *Stack) Pool() *Pool { return s.pool }

// Clock is the stack's clock.
func (s *Stack) Clock() Clock { return s.clock }

// Flow describes the flow the stack serves.
func (s *Stack) Flow() Flow { return s.flow }

// Layers returns the stack's layers, application side first.
func (s *Stack) Layers() []Layer { return append([]Layer(nil), s.layers...) }

// Names returns the layers' names, application side first.
func (s *Stack) Names() []string { return append([]string(nil), s.names...) }

// String returns the layers' names joined by "/", e.g. "frag/window".
func (s *Stack) String() string { return strings.Join(s.names, "/") }

// Deadline is the earliest time any layer asked for a timer, or the zero
// time when none is set.
func (s *Stack) Deadline() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.earliest()
}

// Stats returns a snapshot of the stack's counters.
func (s *Stack) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{
		Down: s.counters.down, Up: s.counters.up,
		Sent: s.counters.sent, Delivered: s.counters.delivered,
		Layers: make([]LayerStats, len(s.stats)),
	}
	for i, ls := range s.stats {
		st.Layers[i] = LayerStats{Name: ls.Name, Drops: maps.Clone(ls.Drops), Counters: maps.Clone(ls.Counters)}
		if i < len(s.layers) {
			if c, ok := s.layers[i].(Counted); ok {
				for k, v := range c.Counters() {
					if st.Layers[i].Counters == nil {
						st.Layers[i].Counters = make(map[string]uint64)
					}
					st.Layers[i].Counters[k] += v
				}
			}
		}
	}
	return st
}

// Counted is implemented by layers that keep their busiest counters in
// fields of their own (cheaper per packet than [Binding.Count]); Stats
// merges them in. Counters is called with the stack's lock held.
type Counted interface {
	Counters() map[string]uint64
}

// Close closes the layers, application side first, stops the stack's timer
// and releases packets awaiting delivery. Calls after the first return nil;
// Down and Up on a closed stack return [ErrClosed].
func (s *Stack) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	if s.timer != nil {
		s.timer.Stop()
	}
	var errs []error
	for i, l := range s.layers {
		if err := l.Close(); err != nil {
			errs = append(errs, fmt.Errorf("stack: closing %s (layer %d): %w", s.names[i], i, err))
		}
	}
	pending := s.pending
	s.pending = nil
	s.events = nil
	s.mu.Unlock()
	for _, p := range pending {
		p.Release()
	}
	return errors.Join(errs...)
}

// toWire is the bottom layer's Down handler.
func (s *Stack) toWire(p *Packet) error {
	if p.Len() > s.mtu {
		n := p.Len()
		s.stats[len(s.layers)].drop("too-large")
		p.Release()
		return fmt.Errorf("%w: %d bytes, MTU %d", ErrTooLarge, n, s.mtu)
	}
	s.counters.sent++
	s.wrote = true
	return s.wire.Handle(p)
}

// toApp is the top layer's Up handler: it queues the packet for delivery
// outside the lock. Skip markers no layer consumed stop here: they are for
// ordering layers, never for the application.
func (s *Stack) toApp(p *Packet) error {
	if p.Meta.Flags&FlagSkip != 0 {
		p.Release()
		return nil
	}
	s.counters.delivered++
	s.pending = append(s.pending, p)
	return nil
}

// unlockAndDrain ends a call into the stack: it flushes the wire, re-arms the
// timer, releases the lock and hands queued packets and events to their
// handlers outside it, in order, with one goroutine draining at a time.
func (s *Stack) unlockAndDrain() {
	if len(s.roomers) > 0 {
		if full := s.room() == 0; full != s.full.Load() {
			s.full.Store(full)
		}
	}
	if len(s.backloggers) > 0 {
		backlog := false
		for _, b := range s.backloggers {
			if b.Backlog() > 0 {
				backlog = true
				break
			}
		}
		if backlog != s.backlog.Load() {
			s.backlog.Store(backlog)
		}
	}
	if s.wrote {
		s.wrote = false
		if s.flush != nil {
			s.flush()
		}
	}
	for {
		if s.draining || (len(s.pending) == 0 && len(s.events) == 0) {
			s.mu.Unlock()
			return
		}
		s.draining = true
		batch, evs := s.pending, s.events
		s.pending, s.events = s.spareP[:0], s.spareE[:0]
		s.mu.Unlock()
		for i, p := range batch {
			s.deliver.Handle(p)
			batch[i] = nil
		}
		for i := range evs {
			if s.onEvent != nil {
				s.onEvent(evs[i])
			}
			evs[i] = Event{}
		}
		s.mu.Lock()
		s.spareP, s.spareE = batch[:0], evs[:0]
		s.draining = false
	}
}

func (s *Stack) earliest() time.Time {
	var t time.Time
	for _, d := range s.deadlines {
		if !d.IsZero() && (t.IsZero() || d.Before(t)) {
			t = d
		}
	}
	return t
}

// setTimer records layer i's deadline and arms the stack's single clock
// timer when the new deadline is earlier than the armed one. A later or
// cancelled deadline leaves the armed timer alone: it re-arms when it fires.
func (s *Stack) setTimer(i int, t time.Time) {
	s.deadlines[i] = t
	if t.IsZero() || s.closed {
		return
	}
	if !s.armed.IsZero() && !t.Before(s.armed) {
		return
	}
	s.arm(t)
}

func (s *Stack) arm(t time.Time) {
	s.armed = t
	d := t.Sub(s.clock.Now())
	if s.timer == nil {
		s.timer = s.clock.AfterFunc(d, s.onTimer)
	} else {
		s.timer.Reset(d)
	}
}

func (s *Stack) onTimer() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.armed = time.Time{}
	now := s.clock.Now()
	s.now = now
	for i, d := range s.deadlines {
		if d.IsZero() || d.After(now) {
			continue
		}
		s.deadlines[i] = time.Time{}
		if th, ok := s.layers[i].(TimerHandler); ok {
			th.OnTimer(now)
		}
	}
	if t := s.earliest(); !t.IsZero() && (s.armed.IsZero() || t.Before(s.armed)) {
		s.arm(t)
	}
	s.unlockAndDrain()
}

func (s *Stack) count(i int, name string, n uint64) {
	ls := &s.stats[i]
	if ls.Counters == nil {
		ls.Counters = make(map[string]uint64)
	}
	ls.Counters[name] += n
}

func (s *Stack) drop(i int, reason string) { s.stats[i].drop(reason) }

func (ls *LayerStats) drop(reason string) {
	if ls.Drops == nil {
		ls.Drops = make(map[string]uint64)
	}
	ls.Drops[reason]++
}

func (s *Stack) emit(i int, e Event) {
	if e.Layer == "" {
		e.Layer = s.names[i]
	}
	if e.At.IsZero() {
		e.At = s.clock.Now()
	}
	if s.onEvent != nil {
		s.events = append(s.events, e)
	}
}
