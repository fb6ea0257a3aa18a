package ratelimit

import (
	"time"

	"github.com/rwanda-go/rwanda/stack"
)

// eps absorbs float64 rounding when tokens are compared with a packet's
// length at the instant computed for it.
const eps = 1e-6

// Layer is the token-bucket rate limiter. Create one with [New] (or from a
// QoS string through the registry); a Layer serves one stack.
type Layer struct {
	stack.Base
	cfg   Config // as given
	eff   Config // with defaults resolved at Bind
	bound bool

	tokens   float64   // may be negative: a debt left by a large packet or by control packets
	filled   time.Time // when tokens were last brought up to date
	peakNext time.Time // the earliest the next packet may leave under the peak rate

	queue      []*stack.Packet // FIFO of delayed packets
	qhead      int
	queued     int // bytes in the queue
	timerAt    time.Time
	roomWanted bool // Room reported none: emit "room" when it frees

	n struct{ passed, delayed, thinned, control, bytes uint64 }
}

// New returns a ratelimit layer with the given configuration.
func New(cfg Config) (*Layer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Layer{cfg: cfg}, nil
}

// Name returns "ratelimit".
func (l *Layer) Name() string { return "ratelimit" }

// Overhead is zero: the layer adds no header.
func (l *Layer) Overhead() int { return 0 }

// Capabilities declares that the layer paces what leaves it.
func (l *Layer) Capabilities() stack.Capabilities {
	return stack.Capabilities{Provides: []stack.Capability{stack.CapRateLimited}}
}

// Config returns the layer's configuration: as given before the layer is
// bound, with the defaults resolved (Bucket, Queue) afterwards.
func (l *Layer) Config() Config {
	if l.bound {
		return l.eff
	}
	return l.cfg
}

// Bind resolves the defaults that depend on the MTU and fills the bucket.
func (l *Layer) Bind(b stack.Binding) error {
	if err := l.Base.Bind(b); err != nil {
		return err
	}
	l.eff = l.cfg.resolved(b.MTU)
	l.tokens = float64(l.eff.Bucket)
	l.filled = time.Time{}
	l.bound = true
	return nil
}

// Counters reports the layer's counters (stack.Counted): packets passed at
// once, delayed, thinned; control packets; bytes sent down; bytes queued.
func (l *Layer) Counters() map[string]uint64 {
	m := make(map[string]uint64, 6)
	for k, v := range map[string]uint64{"passed": l.n.passed, "delayed": l.n.delayed, "thinned": l.n.thinned,
		"control": l.n.control, "bytes": l.n.bytes, "queued": uint64(l.queued)} {
		if v > 0 {
			m[k] = v
		}
	}
	return m
}

// Pending is the number of packets held back.
func (l *Layer) Pending() int { return len(l.queue) - l.qhead }

// Drained reports that nothing is held back (stack.Drainer): a stack being
// retired may be closed without losing what it was given.
func (l *Layer) Drained() bool { return l.Pending() == 0 }

// Room is how many more bytes the layer holds back before its queue is
// full (stack.Roomer). A layer that reported no room emits a "room" event
// once its queue has drained below half.
func (l *Layer) Room() int {
	r := int(l.Config().Queue) - l.queued
	if r <= 0 {
		l.roomWanted = true
	}
	return r
}

// Down sends p at once when the bucket (and the peak rate) allow it and
// nothing waits before it, and otherwise queues it for its turn. Control
// packets and skip markers are never delayed. A packet whose deadline has
// passed, or would pass before its turn, is thinned.
func (l *Layer) Down(p *stack.Packet) error {
	if !l.bound {
		return l.Base.Down(p)
	}
	now := l.Binding().Now()
	l.refill(now)
	if p.Meta.Flags&stack.FlagSkip != 0 {
		return l.Base.Down(p)
	}
	if p.Meta.Flags&stack.FlagControl != 0 {
		// Control packets (acknowledgements, NAKs, reports) jump the queue
		// but pay for the room they take, without running up more than a
		// bucket of debt.
		n := float64(p.Len())
		l.tokens = max(l.tokens-n, min(l.tokens, -float64(l.eff.Bucket)))
		l.advancePeak(now, p.Len())
		if limit := now.Add(duration(float64(l.eff.Bucket), l.eff.Peak)); l.eff.Peak > 0 && l.peakNext.After(limit) {
			l.peakNext = limit // likewise for the peak spacing
		}
		l.n.control++
		l.n.bytes += uint64(p.Len())
		err := l.Base.Down(p)
		l.arm(now)
		return err
	}
	if d := p.Meta.Deadline; !d.IsZero() && now.After(d) {
		l.thin(p)
		return nil
	}
	if l.qhead == len(l.queue) && !l.readyAt(p.Len(), now).After(now) {
		l.n.passed++
		return l.send(p, now)
	}
	if d := p.Meta.Deadline; !d.IsZero() && l.estimate(p.Len(), now).After(d) {
		l.thin(p) // it could not leave before it is obsolete
		return nil
	}
	l.queue = append(l.queue, p)
	l.queued += p.Len()
	l.n.delayed++
	l.pump(now)
	return nil
}

// OnTimer releases the queued packets whose turn has come.
func (l *Layer) OnTimer(now time.Time) {
	l.timerAt = time.Time{}
	if !l.bound {
		return
	}
	l.refill(now)
	l.pump(now)
}

// Close releases the queued packets.
func (l *Layer) Close() error {
	for i := l.qhead; i < len(l.queue); i++ {
		l.queue[i].Release()
		l.queue[i] = nil
	}
	l.queue, l.qhead, l.queued = nil, 0, 0
	l.bound = false
	return nil
}

// refill brings the bucket up to now.
func (l *Layer) refill(now time.Time) {
	if l.filled.IsZero() {
		l.filled = now
		return
	}
	if el := now.Sub(l.filled); el > 0 {
		l.tokens = min(float64(l.eff.Bucket), l.tokens+float64(el)*float64(l.eff.Rate)/1e9)
		l.filled = now
	}
}

// readyAt is the earliest time, from now, a packet of n bytes may leave:
// when the bucket holds n tokens (or is full, for a packet larger than
// the bucket) and the peak rate's spacing has passed.
func (l *Layer) readyAt(n int, now time.Time) time.Time {
	t := now
	if need := min(float64(n), float64(l.eff.Bucket)) - l.tokens; need > eps {
		t = now.Add(duration(need, l.eff.Rate))
	}
	if l.eff.Peak > 0 && l.peakNext.After(t) {
		t = l.peakNext
	}
	return t
}

// estimate is when a packet of n bytes queued now would leave, supposing
// everything queued before it goes out first.
func (l *Layer) estimate(n int, now time.Time) time.Time {
	t := now
	if need := float64(l.queued) + min(float64(n), float64(l.eff.Bucket)) - l.tokens; need > eps {
		t = now.Add(duration(need, l.eff.Rate))
	}
	if l.eff.Peak > 0 {
		p := now
		if l.peakNext.After(p) {
			p = l.peakNext
		}
		if p = p.Add(duration(float64(l.queued), l.eff.Peak)); p.After(t) {
			t = p
		}
	}
	return t
}

// advancePeak spaces the next packet after one of n bytes leaving now.
func (l *Layer) advancePeak(now time.Time, n int) {
	if l.eff.Peak == 0 {
		return
	}
	if l.peakNext.Before(now) {
		l.peakNext = now
	}
	l.peakNext = l.peakNext.Add(duration(float64(n), l.eff.Peak))
}

// send takes p's tokens and passes it down.
func (l *Layer) send(p *stack.Packet, now time.Time) error {
	l.tokens -= float64(p.Len())
	l.advancePeak(now, p.Len())
	l.n.bytes += uint64(p.Len())
	return l.Base.Down(p)
}

// thin releases an obsolete packet and counts it.
func (l *Layer) thin(p *stack.Packet) {
	l.n.thinned++
	p.Release()
}

// pump sends the queued packets whose turn has come, thins the ones that
// can no longer leave in time, and arms the timer for the next.
func (l *Layer) pump(now time.Time) {
	for l.qhead < len(l.queue) {
		p := l.queue[l.qhead]
		t := l.readyAt(p.Len(), now)
		if d := p.Meta.Deadline; !d.IsZero() && t.After(d) {
			l.pop()
			l.thin(p)
			continue
		}
		if t.After(now) {
			break
		}
		l.pop()
		l.send(p, now) // an error below is the wire's: the packet is gone either way
	}
	if l.qhead == len(l.queue) {
		l.queue, l.qhead = l.queue[:0], 0
	} else if l.qhead > 1024 && l.qhead*2 > len(l.queue) {
		n := copy(l.queue, l.queue[l.qhead:])
		clear(l.queue[n:])
		l.queue, l.qhead = l.queue[:n], 0
	}
	if l.roomWanted && int64(l.queued) < l.eff.Queue/2 {
		l.roomWanted = false
		l.Binding().Emit(stack.Event{Kind: "room"})
	}
	l.arm(now)
}

// pop removes the queue's head.
func (l *Layer) pop() {
	p := l.queue[l.qhead]
	l.queue[l.qhead] = nil
	l.qhead++
	l.queued -= p.Len()
}

// arm keeps the stack timer at the time the queue's head may leave.
func (l *Layer) arm(now time.Time) {
	var t time.Time
	if l.qhead < len(l.queue) {
		t = l.readyAt(l.queue[l.qhead].Len(), now)
	}
	if !t.Equal(l.timerAt) {
		l.timerAt = t
		l.Binding().SetTimer(t)
	}
}
