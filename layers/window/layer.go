package window

import (
	"time"

	"github.com/rwanda-go/rwanda/stack"
)

// Layer is the sliding window. One Layer serves one stack: a sender's
// stack uses its sending half (and takes feedback from below), a
// receiver's stack its receiving half.
type Layer struct {
	stack.Base
	cfg      Config
	snd      sender
	rcv      receiver
	timerAt  time.Time
	ranges   int   // ranges a control message may carry under this MTU
	reserved int64 // bytes reserved from the memory budget for the slots and the bitmap
	m        msg
	scratch  []byte
	n        struct{ sent, retransmits, received, acks uint64 } // per-packet counters
}

// Counters reports the per-packet counters (stack.Counted).
func (l *Layer) Counters() map[string]uint64 {
	m := make(map[string]uint64, 4)
	for k, v := range map[string]uint64{"sent": l.n.sent, "retransmits": l.n.retransmits, "received": l.n.received, "acks": l.n.acks} {
		if v > 0 {
			m[k] = v
		}
	}
	return m
}

// New returns a window layer with the given configuration.
func New(cfg Config) (*Layer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Layer{cfg: cfg, scratch: make([]byte, 0, maxControl)}, nil
}

// Name returns "window".
func (l *Layer) Name() string { return "window" }

// Overhead is the longest DATA header.
func (l *Layer) Overhead() int { return maxDataHeader }

// Capabilities: sequence numbers always; reliability unless best effort;
// timed with a ttl.
func (l *Layer) Capabilities() stack.Capabilities {
	c := stack.Capabilities{Provides: []stack.Capability{stack.CapSequenced}}
	if l.cfg.Mode == Reliable {
		c.Provides = append(c.Provides, stack.CapReliable)
	}
	if l.cfg.TTL > 0 {
		c.Provides = append(c.Provides, stack.CapTimed)
	}
	return c
}

// Config returns the layer's configuration.
func (l *Layer) Config() Config { return l.cfg }

// Bind picks the feedback mode from the flow, checks that control
// messages fit under the MTU, and allocates the window: the receiver's
// bitmap and, on a sender's stack, the retransmission slots (a receiver's
// stack allocates them if it ever sends). Their bytes are reserved from
// the memory budget (b.Memory); when it refuses, Bind fails with an error
// wrapping [ErrMemory] and holds nothing.
func (l *Layer) Bind(b stack.Binding) error {
	if err := l.Base.Bind(b); err != nil {
		return err
	}
	if room := b.Room(); rangesFor(room) < minRanges {
		return errRoom(room)
	}
	l.ranges = rangesFor(b.Room())
	l.snd.init(l, nakFor(l.cfg.Feedback, b.Flow))
	err := l.rcv.init(l)
	if err == nil && b.Flow.Role == stack.Sender {
		err = l.snd.alloc()
	}
	if err != nil {
		l.unreserve()
		return err
	}
	return nil
}

// nakFor reports whether a sender with feedback f runs nak mode on flow:
// Auto picks it for flows that may have many receivers, and for flows to
// one receiver over a transport that controls flow and congestion itself
// (stack.Flow.CarrierControlled), where ack mode's acknowledgements and
// congestion window would do again what the carrier does.
func nakFor(f Feedback, flow stack.Flow) bool {
	switch f {
	case Nak:
		return true
	case Ack:
		return false
	}
	return !flow.PointToPoint || flow.CarrierControlled
}

// unreserve gives the budget back what the layer reserved.
func (l *Layer) unreserve() {
	l.Binding().Memory.Release(l.reserved)
	l.reserved = 0
}

// Down numbers a packet and sends it when the window has room (else it
// waits in the queue; see Room).
func (l *Layer) Down(p *stack.Packet) error {
	now := l.Binding().Now()
	err := l.snd.send(p, now)
	l.end()
	return err
}

// Up handles data and heartbeats from a sender, and feedback from
// receivers.
func (l *Layer) Up(p *stack.Packet) error {
	b := l.Binding()
	n, err := decode(p.Bytes(), &l.m)
	if err != nil {
		b.Drop(p, "malformed")
		return nil
	}
	now := b.Now()
	switch l.m.typ {
	case msgData:
		p.Consume(n)
		l.rcv.onData(p, &l.m, now)
		p = nil
	case msgSync:
		l.rcv.onSync(&l.m, now)
		l.rcv.statusNews(now)
	case msgSkip:
		l.rcv.onSkip(&l.m, now)
		l.rcv.statusNews(now)
	case msgAck:
		l.snd.onAck(p.Meta.Peer, &l.m, now)
	case msgStatus:
		l.snd.onStatus(p.Meta.Peer, &l.m, now)
	case msgNak:
		if p.Meta.Flags&stack.FlagOverheard != 0 {
			l.rcv.onOverheardNak(&l.m, now)
		} else {
			l.snd.onNak(p.Meta.Peer, &l.m, now)
		}
	}
	if p != nil {
		p.Release()
	}
	l.end()
	return nil
}

// OnTimer runs the retransmission, heartbeat, acknowledgement, NAK and
// status timers.
func (l *Layer) OnTimer(now time.Time) {
	l.timerAt = time.Time{}
	l.snd.onTimer(now)
	l.rcv.onTimer(now)
	l.end()
}

// end finishes every call: queued SKIPs go out and the timer is re-armed.
func (l *Layer) end() {
	l.snd.flushSkips()
	t := l.snd.deadline()
	if d := l.rcv.deadline(); !d.IsZero() && (t.IsZero() || d.Before(t)) {
		t = d
	}
	if !t.Equal(l.timerAt) {
		l.timerAt = t
		l.Binding().SetTimer(t)
	}
}

// control sends a control message the window built.
func (l *Layer) control(b []byte) {
	l.controlFlags(b, stack.FlagControl)
}

// controlFor sends feedback only the sender needs (a status, an
// acknowledgement): other receivers on a multicast channel skip it
// unread (stack.FlagForSender).
func (l *Layer) controlFor(b []byte) {
	l.controlFlags(b, stack.FlagControl|stack.FlagForSender)
}

func (l *Layer) controlFlags(b []byte, f stack.Flags) {
	pk := l.Binding().NewPacket(len(b))
	pk.Append(b)
	pk.Meta.Flags = f
	l.Base.Down(pk)
}

// Room is how many more bytes the sender's queue takes (stack.Roomer).
func (l *Layer) Room() int { return l.snd.room() }

// Backlog is how many packets wait in the sender's queue for room in the
// window, or, in ack mode, 1 when none waits but a sixteenth of the window
// or more is unacknowledged (stack.Backlogger): either way the sender is
// ahead of its receivers' acknowledgements, streaming. (In nak mode
// packets stay unacknowledged for their retention, however slowly they
// are sent: only the queue counts.)
func (l *Layer) Backlog() int {
	s := &l.snd
	if n := len(s.queue) - s.qhead; n > 0 {
		return n
	}
	if s.cfg.Mode == Reliable && !s.nak && s.nxt-s.una >= uint64(max(s.cfg.Size/16, 2)) {
		return 1
	}
	return 0
}

// Close releases retained and queued packets, and gives the memory
// budget back what the window reserved.
func (l *Layer) Close() error {
	l.snd.close()
	l.rcv.close()
	l.unreserve()
	return nil
}

// State is a snapshot of the window, for tests and monitoring.
type State struct {
	Feedback Feedback
	// Sender.
	Next, Floor  uint64 // next number to send; oldest retained
	InFlight     int    // packets sent and not acknowledged or lost
	Queued       int    // packets waiting for room
	QueuedBytes  int
	Cwnd         float64 // congestion window, packets (ack mode)
	Ssthresh     float64
	Rwnd         int // the receiver's advertised window
	SRTT, RTTVar time.Duration
	RTO          time.Duration // including backoff
	MinRTT       time.Duration
	Backoff      int // RTO doublings since the last progress
	InRecovery   bool
	Receivers    int // receivers heard from (nak mode)
	// Receiver.
	RcvNext, RcvHigh uint64 // everything below RcvNext is had or skipped; RcvHigh is one past the highest had
}

// Drained reports that the sender has nothing queued and nothing
// unacknowledged (stack.Drainer): everything it was given has arrived, or
// been given up as its mode allows.
func (l *Layer) Drained() bool {
	s := &l.snd
	return s.una == s.nxt && len(s.queue)-s.qhead == 0
}

// State returns a snapshot of the window. Call it only when no packet is
// in flight through the stack (tests on a ManualClock).
func (l *Layer) State() State {
	s, r := &l.snd, &l.rcv
	fb := Ack
	if s.nak {
		fb = Nak
	}
	return State{
		Feedback: fb, Next: s.nxt, Floor: s.una, InFlight: s.pipe,
		Queued: len(s.queue) - s.qhead, QueuedBytes: s.queuedBytes,
		Cwnd: s.cwnd, Ssthresh: s.ssthresh, Rwnd: s.rwnd,
		SRTT: s.srtt, RTTVar: s.rttvar, RTO: s.currentRTO(), MinRTT: s.minRTT,
		Backoff: s.backoff, InRecovery: s.inRecovery, Receivers: len(s.receivers),
		RcvNext: r.next, RcvHigh: r.high,
	}
}
