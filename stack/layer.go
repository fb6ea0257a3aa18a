package stack

import (
	"log/slog"
	"time"
)

// Handler takes a packet one step further along a stack. It owns the packet
// it is given, even when it returns an error.
type Handler interface {
	Handle(p *Packet) error
}

// HandlerFunc adapts a function to a [Handler].
type HandlerFunc func(p *Packet) error

// Handle calls f(p).
func (f HandlerFunc) Handle(p *Packet) error { return f(p) }

// Layer is one protocol in a stack. Both directions push: the layer above
// calls Down with a packet on its way to the wire, the layer below calls Up
// with a packet on its way to the application. A layer passes packets on
// through the handlers it was given in [Layer.Bind]; it never holds pointers
// to its neighbours and never needs a goroutine of its own.
//
// The [Stack] serialises all calls into its layers (Bind, Down, Up, OnTimer,
// Close): a layer needs no locks for its own state. Calls must not block.
//
// Embed [Base] to get pass-through defaults and write only what the layer
// changes. Optional abilities are separate interfaces: [TimerHandler],
// [Capable].
type Layer interface {
	// Name is the layer's name, as in QoS strings ("frag").
	Name() string
	// Overhead is the most bytes the layer adds to a packet on its way down,
	// header and trailer together. The stack sums the overheads below each
	// layer to size packet headroom and the room left under the MTU.
	Overhead() int
	// Bind wires the layer into its stack, once, before any packet flows.
	// An error aborts the assembly (for example a parameter the position in
	// the stack makes impossible).
	Bind(b Binding) error
	// Down handles a packet from the layer above, on its way to the wire.
	Down(p *Packet) error
	// Up handles a packet from the layer below, on its way to the
	// application.
	Up(p *Packet) error
	// Close releases what the layer holds (packets, reservations). The stack
	// calls it once; no call follows it.
	Close() error
}

// TimerHandler is implemented by layers that schedule work with
// [Binding.SetTimer].
type TimerHandler interface {
	// OnTimer is called once the time given to SetTimer has come; now is the
	// stack clock's reading.
	OnTimer(now time.Time)
}

// Role says which end of a flow a stack serves.
type Role uint8

const (
	// Sender stacks carry one local stream out (and its feedback in).
	Sender Role = iota
	// Receiver stacks carry one remote sender's stream in (and feedback out).
	Receiver
)

func (r Role) String() string {
	if r == Receiver {
		return "receiver"
	}
	return "sender"
}

// Flow describes the flow a stack serves.
type Flow struct {
	Stream    string // the stream's name
	Role      Role
	Local     uint64 // this channel member's id
	Remote    uint64 // the remote member (the sender, for a Receiver stack); 0 when not known
	Multicast bool   // the channel is a multicast group
	// PointToPoint says the flow has exactly one receiver (a stream
	// addressed to one member, or a unicast channel to one peer), so
	// per-receiver acknowledgements make sense; otherwise a sender may
	// have many receivers and reliability works by NAKs.
	PointToPoint bool
	// CarrierControlled says the transport below controls flow and
	// congestion on every hop itself and loses datagrams only in bulk
	// (TCP to a broker: transport.CongestionController), so a reliability
	// layer need not acknowledge every few packets or run a congestion
	// window of its own, even when PointToPoint: NAKs for what the bulk
	// losses leave, and a status now and then to free a bounded window,
	// are enough.
	CarrierControlled bool
	// ID is the stream's id, unique among the streams of its sender (the
	// Local member for a Sender stack, Remote for a Receiver stack); 0 when
	// the stack's owner has no ids.
	ID uint32
	// Instance numbers the stacks the Local member has built, so it is
	// unique among them for the member's lifetime (a rebuilt flow gets a
	// new one): layers that must never reuse per-stack state across
	// rebuilds, such as nonce counters, include it in what they derive.
	Instance uint64
}

// Event is something a layer reports to the stack's owner: an unrecoverable
// gap, an expired parcel, a changed estimate. Events are handed to
// [Config.Events] outside the stack's lock, in order.
type Event struct {
	Layer  string    // the reporting layer's name
	Kind   string    // what happened, e.g. "parcel-expired"
	At     time.Time // the stack clock's time
	Seq    uint64    // a sequence number or parcel id it concerns, if any
	Detail string    // a short human-readable detail, if any
	Err    error     // an error it concerns, if any
}

// Binding is what a layer is given when it is wired into a stack: its
// neighbours as handlers, the clock, the room it has, and hooks back into the
// stack. Its methods may be called only from within the layer's own calls
// (Bind, Down, Up, OnTimer).
type Binding struct {
	// Down passes a packet to the layer below (at the bottom: the wire).
	Down Handler
	// Up passes a packet to the layer above (at the top: delivery).
	Up Handler
	// Clock is the stack's clock.
	Clock Clock
	// MTU is the largest packet the transport carries, in bytes.
	MTU int
	// Below is the summed [Layer.Overhead] of the layers below this one: a
	// packet this layer sends down may be at most MTU-Below bytes long.
	Below int
	// Index is the layer's position, 0 being the application side.
	Index int
	// Pool is the stack's packet pool.
	Pool *Pool
	// Memory is the budget shared by the stacks of a channel for buffered
	// data (reassembly, reordering, retransmission); nil means unlimited.
	Memory *Budget
	// Flow describes the flow the stack serves.
	Flow Flow
	// Logger is the stack's logger (never nil).
	Logger *slog.Logger

	s     *Stack
	own   int     // this layer's own overhead
	below []Layer // the layers below this one
}

// HasBelow reports whether a layer below this one provides c (as declared
// through [Capable]): an ordering layer waits for gaps to fill only when a
// reliable layer is below it.
func (b Binding) HasBelow(c Capability) bool {
	for _, l := range b.below {
		if CapabilitiesOf(l).Has(c) {
			return true
		}
	}
	return false
}

// Now is the stack clock's time. Within one call into the stack (a Down,
// an Up, a timer) it is read once and stays the same, so layers agree on
// it and the clock is not read for every layer.
func (b Binding) Now() time.Time {
	if b.s != nil && !b.s.now.IsZero() {
		return b.s.now
	}
	return b.Clock.Now()
}

// Room is how many bytes a packet this layer sends down may hold: MTU less
// the overhead of the layers below.
func (b Binding) Room() int { return b.MTU - b.Below }

// NewPacket returns an empty packet for this layer to fill and send down
// (a fragment, an acknowledgement), with headroom and tailroom for this
// layer's own overhead and every layer's below, and room for size bytes.
func (b Binding) NewPacket(size int) *Packet {
	return b.Pool.get(b.Below+b.own, size, b.Below+b.own)
}

// SetTimer asks for the layer's OnTimer at t (the layer must implement
// [TimerHandler]). Each layer has one timer: a later call replaces the
// earlier one; the zero time cancels it.
func (b Binding) SetTimer(t time.Time) {
	if b.s != nil {
		b.s.setTimer(b.Index, t)
	}
}

// Drop releases p and counts it as dropped by this layer for reason. Reasons
// should be short constant strings ("duplicate", "expired", "malformed").
func (b Binding) Drop(p *Packet, reason string) {
	if p != nil {
		p.Release()
	}
	if b.s != nil {
		b.s.drop(b.Index, reason)
	}
}

// Count adds n to one of the layer's named counters, reported by
// [Stack.Stats].
func (b Binding) Count(name string, n uint64) {
	if b.s != nil {
		b.s.count(b.Index, name, n)
	}
}

// Emit reports an event to the stack's owner. The event's Layer and At are
// filled in when empty.
func (b Binding) Emit(e Event) {
	if b.s != nil {
		b.s.emit(b.Index, e)
	}
}

// Base is a pass-through layer to embed: it stores the [Binding] and passes
// packets on unchanged in both directions. A layer embedding Base writes Name
// and only the methods it changes, and calls Base.Bind from its own Bind.
type Base struct {
	b Binding
}

// Bind stores the binding.
func (l *Base) Bind(b Binding) error {
	l.b = b
	return nil
}

// Binding returns the binding stored by Bind.
func (l *Base) Binding() *Binding { return &l.b }

// Overhead reports zero bytes.
func (l *Base) Overhead() int { return 0 }

// Down passes p to the layer below.
func (l *Base) Down(p *Packet) error { return l.b.Down.Handle(p) }

// Up passes p to the layer above.
func (l *Base) Up(p *Packet) error { return l.b.Up.Handle(p) }

// Close does nothing.
func (l *Base) Close() error { return nil }
