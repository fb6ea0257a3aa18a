package order

import (
	"fmt"
	"time"

	"github.com/rwanda-go/rwanda/registry"
	"github.com/rwanda-go/rwanda/stack"
)

// Config is the order layer's configuration.
type Config struct {
	// Buffer bounds the packets held while waiting for a gap to fill.
	// When a packet would lie beyond it, the oldest gap is given up
	// (counted as "overflow") rather than holding more.
	Buffer int
}

// DefaultConfig holds up to 4096 packets.
func DefaultConfig() Config { return Config{Buffer: 4096} }

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.Buffer < 1 || c.Buffer > 1<<20 {
		return fmt.Errorf("order: buffer %d out of range 1..%d", c.Buffer, 1<<20)
	}
	return nil
}

const (
	empty   = 0
	held    = 1
	skipped = 2
)

// Layer delivers a flow's packets in sequence-number order (Meta.Seq, set
// by a sequencing layer below). With a reliable layer below it waits for
// gaps to fill, or to be skipped by a skip marker (timed obsolescence,
// unrecoverable loss); otherwise late packets are dropped, never waited
// for.
type Layer struct {
	stack.Base
	cfg     Config
	wait    bool
	started bool
	next    uint64
	ring    []*stack.Packet
	state   []uint8
	count   int       // packets held
	soonest time.Time // earliest deadline among held packets (may be stale-early)
	timerAt time.Time
}

// guard is how long before a held packet's deadline the layer stops
// waiting for the gap in front of it: what is missing had an earlier
// deadline (deadlines rise along a stream), so it is obsolete or about to
// be, while the held packet can still be delivered in time.
const guard = time.Millisecond

// New returns an order layer.
func New(cfg Config) (*Layer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Layer{cfg: cfg}, nil
}

// Name returns "order".
func (l *Layer) Name() string { return "order" }

// Capabilities: provides ordering, needs sequence numbers below.
func (l *Layer) Capabilities() stack.Capabilities {
	return stack.Capabilities{
		Provides: []stack.Capability{stack.CapOrdered},
		Requires: []stack.Requirement{{Cap: stack.CapSequenced, Where: stack.Below, Why: "ordering needs sequence numbers"}},
	}
}

// Bind learns whether a reliable layer below makes waiting worthwhile.
func (l *Layer) Bind(b stack.Binding) error {
	l.wait = b.HasBelow(stack.CapReliable)
	if l.wait {
		l.ring = make([]*stack.Packet, l.cfg.Buffer)
		l.state = make([]uint8, l.cfg.Buffer)
	}
	return l.Base.Bind(b)
}

// Waits reports whether the layer waits for gaps (a reliable layer is
// below it).
func (l *Layer) Waits() bool { return l.wait }

// Held is the number of packets waiting for a gap.
func (l *Layer) Held() int { return l.count }

// Next is the sequence number the layer delivers next.
func (l *Layer) Next() uint64 { return l.next }

// Up puts packets in order.
func (l *Layer) Up(p *stack.Packet) error {
	b := l.Binding()
	if first, n, ok := p.Skip(); ok {
		p.Release()
		l.skip(first, n)
		return nil
	}
	if p.Meta.Flags&stack.FlagSkip != 0 {
		b.Drop(p, "bad-skip")
		return nil
	}
	seq := p.Meta.Seq
	if !l.started {
		l.started, l.next = true, seq
	}
	if seq < l.next {
		b.Drop(p, "late")
		return nil
	}
	if !l.wait {
		if seq > l.next {
			b.Count("gaps", 1)
		}
		l.next = seq + 1
		return l.Base.Up(p)
	}
	if seq == l.next {
		l.next++
		err := l.Base.Up(p)
		l.release()
		return err
	}
	// Out of order: hold it, making room by giving up the oldest gaps.
	for seq >= l.next+uint64(l.cfg.Buffer) {
		b.Count("overflow", 1)
		l.giveUpGap()
	}
	if seq < l.next {
		b.Drop(p, "late")
		return nil
	}
	if seq == l.next {
		l.next++
		err := l.Base.Up(p)
		l.release()
		return err
	}
	i := seq % uint64(l.cfg.Buffer)
	if l.state[i] != empty {
		b.Drop(p, "duplicate")
		return nil
	}
	l.ring[i], l.state[i] = p, held
	l.count++
	if d := p.Meta.Deadline; !d.IsZero() && (l.timerAt.IsZero() || d.Before(l.soonest)) {
		l.soonest = d
		l.arm()
	}
	return nil
}

// arm keeps the timer at the soonest held deadline less the guard.
func (l *Layer) arm() {
	var t time.Time
	if l.count > 0 && !l.soonest.IsZero() {
		t = l.soonest.Add(-guard)
	}
	if !t.Equal(l.timerAt) {
		l.timerAt = t
		l.Binding().SetTimer(t)
	}
}

// OnTimer gives up the gaps in front of held packets whose deadline is
// near, and delivers them while they are still on time.
func (l *Layer) OnTimer(now time.Time) {
	l.timerAt = time.Time{}
	if l.count == 0 {
		l.soonest = time.Time{}
		return
	}
	// Find the last held packet due within the guard; everything missing
	// in front of it is given up.
	var upTo uint64
	found := false
	l.soonest = time.Time{}
	for s := l.next; s < l.next+uint64(l.cfg.Buffer); s++ {
		i := s % uint64(l.cfg.Buffer)
		if l.state[i] != held {
			continue
		}
		d := l.ring[i].Meta.Deadline
		if d.IsZero() {
			continue
		}
		if !d.Add(-guard).After(now) {
			upTo, found = s, true
		} else if l.soonest.IsZero() || d.Before(l.soonest) {
			l.soonest = d
		}
	}
	if found {
		for l.next < upTo {
			if i := l.next % uint64(l.cfg.Buffer); l.state[i] == empty {
				l.Binding().Count("gave-up-for-time", 1)
				l.state[i] = skipped
			}
			l.release()
			if l.next < upTo && l.state[l.next%uint64(l.cfg.Buffer)] == empty {
				continue
			}
		}
		l.release()
	}
	l.arm()
}

// skip handles a skip marker: [first, first+n) will never come.
func (l *Layer) skip(first, n uint64) {
	end := first + n
	if !l.started {
		l.started, l.next = true, end
		return
	}
	if end <= l.next {
		return
	}
	if !l.wait {
		l.next = end
		return
	}
	if end > l.next+uint64(l.cfg.Buffer) {
		// A jump past the buffer: deliver what is held, in order, and
		// start again at end.
		for l.next < end && l.count > 0 {
			l.deliverOrDrop()
		}
		l.next = end
		return
	}
	for s := max(first, l.next); s < end; s++ {
		if i := s % uint64(l.cfg.Buffer); l.state[i] == empty {
			l.state[i] = skipped
		}
	}
	l.release()
}

// release delivers what is now in order.
func (l *Layer) release() {
	for {
		i := l.next % uint64(l.cfg.Buffer)
		switch l.state[i] {
		case held:
			p := l.ring[i]
			l.ring[i], l.state[i] = nil, empty
			l.count--
			l.next++
			l.up(p)
		case skipped:
			l.state[i] = empty
			l.next++
		default:
			if l.count == 0 && !l.timerAt.IsZero() {
				l.soonest = time.Time{}
				l.arm()
			}
			return
		}
	}
}

// up delivers a packet that waited for a gap, unless it became obsolete
// while it waited (its parcel's deadline passed): that one is dropped.
func (l *Layer) up(p *stack.Packet) {
	if d := p.Meta.Deadline; !d.IsZero() && l.Binding().Now().After(d) {
		l.Binding().Drop(p, "obsolete")
		return
	}
	l.Base.Up(p)
}

// giveUpGap skips the slot at next (missing), then delivers what follows.
func (l *Layer) giveUpGap() {
	i := l.next % uint64(l.cfg.Buffer)
	if l.state[i] == empty {
		l.next++
	}
	l.release()
}

// deliverOrDrop moves next on by one, delivering a held packet there.
func (l *Layer) deliverOrDrop() {
	i := l.next % uint64(l.cfg.Buffer)
	if l.state[i] == held {
		p := l.ring[i]
		l.ring[i] = nil
		l.count--
		l.up(p)
	}
	l.state[i] = empty
	l.next++
}

// Close releases held packets.
func (l *Layer) Close() error {
	for i, p := range l.ring {
		if p != nil {
			p.Release()
			l.ring[i] = nil
		}
	}
	l.count = 0
	return nil
}

// Info describes the layer to the registry.
func Info() registry.Info {
	return registry.Info{
		Summary: "delivers each flow in sequence order: waits for gaps over a reliable layer, drops late packets over an unreliable one",
		Params: []registry.ParamInfo{
			{Name: "buffer", Kind: registry.IntParam, Max: "16384", Default: "4096", Doc: "packets held waiting for a gap; beyond it the oldest gap is given up"},
		},
		Capabilities: (&Layer{}).Capabilities(),
	}
}

func build(_ registry.Env, p *registry.Params) (stack.Layer, error) {
	n := p.Int("buffer")
	if n < 1 || n > 1<<20 {
		return nil, p.Errorf("buffer", "buffer %d out of range 1..%d", n, 1<<20)
	}
	return New(Config{Buffer: int(n)})
}

// Builder returns the layer's builder.
func Builder() registry.Builder { return registry.NewBuilder(Info(), build) }

func init() { registry.Register("order", Builder()) }
