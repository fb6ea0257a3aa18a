package order

import (
	"fmt"
	"math/bits"
	"time"

	"github.com/rwanda-go/rwanda/registry"
	"github.com/rwanda-go/rwanda/stack"
)

// Config is the order layer's configuration.
type Config struct {
	// Buffer bounds how far ahead of the next sequence number to deliver
	// the layer holds packets while waiting for a gap to fill. When a
	// packet would lie beyond it, the oldest gap is given up (counted as
	// "overflow") rather than holding more. Nothing is allocated for it up
	// front: memory grows with the packets actually held.
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

// pageSize is how many consecutive sequence numbers a page covers.
const pageSize = 64

// What the layer's own structures cost, charged to the channel's budget
// beside the held packets' buffers.
const (
	// pageCost is a page and its entry in the map of pages.
	pageCost = 64
	// slotsCost is a page's array of packets, allocated when the page
	// first holds one.
	slotsCost = pageSize * 8
	// maxSpare is how many emptied pages are kept for reuse (uncharged).
	maxSpare = 4
	// mapKeep is how many pages the map may have held and still be kept
	// when it empties; a larger one is dropped (maps never shrink).
	mapKeep = 16
)

// page is the state of the pageSize sequence numbers from a multiple of
// pageSize: which are held, with their packets, and which a skip marker
// said will never come. The two sets are disjoint.
type page struct {
	held, skipped uint64 // bit i: sequence number base+i
	pkts          *[pageSize]*stack.Packet
	cost          int64 // reserved for the page: pageCost, and slotsCost once it holds packets
}

// Layer delivers a flow's packets in sequence-number order (Meta.Seq, set
// by a sequencing layer below). With a reliable layer below it waits for
// gaps to fill, or to be skipped by a skip marker (timed obsolescence,
// unrecoverable loss); otherwise late packets are dropped, never waited
// for.
//
// Waiting state lives in pages of 64 sequence numbers, made as packets are
// held (or skip markers land ahead of a gap) and dropped as soon as they
// are empty, so memory follows what is held, not Config.Buffer. Held
// packets' buffers and the pages are reserved from the channel's budget
// (stack.Binding.Memory); a refusal is counted ("no-memory") and the gaps
// in front of the packet are given up ("gave-up-for-memory") so that it
// is delivered rather than held.
type Layer struct {
	stack.Base
	cfg     Config
	wait    bool
	started bool
	next    uint64
	pages   map[uint64]*page // by sequence number / pageSize; nil while empty
	hiPage  uint64           // no page lies beyond it (may be stale-high)
	peak    int              // most pages the map has held since it was made
	spare   []*page          // emptied pages kept for reuse
	count   int              // packets held
	charged int64            // bytes reserved from the budget
	soonest time.Time        // earliest deadline among held packets (may be stale-early)
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

// Bind learns whether a reliable layer below makes waiting worthwhile. It
// allocates nothing: pages come as packets are held.
func (l *Layer) Bind(b stack.Binding) error {
	l.wait = b.HasBelow(stack.CapReliable)
	return l.Base.Bind(b)
}

// Waits reports whether the layer waits for gaps (a reliable layer is
// below it).
func (l *Layer) Waits() bool { return l.wait }

// Held is the number of packets waiting for a gap.
func (l *Layer) Held() int { return l.count }

// Reserved is the number of bytes the layer holds reserved from the
// channel's memory budget: the held packets' buffers and its pages.
func (l *Layer) Reserved() int64 { return l.charged }

// Next is the sequence number the layer delivers next.
func (l *Layer) Next() uint64 { return l.next }

// bufferCost is what holding p costs: its whole buffer.
func bufferCost(p *stack.Packet) int64 { return int64(p.Headroom() + p.Len() + p.Tailroom()) }

// charge reserves n bytes from the channel's budget.
func (l *Layer) charge(n int64) bool {
	if !l.Binding().Memory.Reserve(n) {
		return false
	}
	l.charged += n
	return true
}

// uncharge gives back n bytes reserved by charge.
func (l *Layer) uncharge(n int64) {
	l.Binding().Memory.Release(n)
	l.charged -= n
}

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
	if seq-l.next >= uint64(l.cfg.Buffer) {
		l.advance(seq-uint64(l.cfg.Buffer)+1, "overflow")
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
	key, bit := seq/pageSize, uint64(1)<<(seq%pageSize)
	pg := l.pages[key]
	if pg != nil && (pg.held|pg.skipped)&bit != 0 {
		b.Drop(p, "duplicate")
		return nil
	}
	cost := bufferCost(p)
	switch {
	case pg == nil:
		cost += pageCost + slotsCost
	case pg.cost < pageCost+slotsCost:
		cost += slotsCost
	}
	if !l.charge(cost) {
		// No memory to hold it: give up what it waits for instead, and
		// deliver it now.
		b.Count("no-memory", 1)
		l.advance(seq, "gave-up-for-memory")
		l.next++
		err := l.Base.Up(p)
		l.release()
		return err
	}
	if pg == nil {
		pg = l.newPage(key)
	}
	pg.cost = pageCost + slotsCost
	if pg.pkts == nil {
		pg.pkts = new([pageSize]*stack.Packet)
	}
	pg.pkts[seq%pageSize] = p
	pg.held |= bit
	l.count++
	if d := p.Meta.Deadline; !d.IsZero() && (l.timerAt.IsZero() || d.Before(l.soonest)) {
		l.soonest = d
		l.arm()
	}
	return nil
}

// newPage adds an empty page at key; its cost is the caller's to set
// once charged.
func (l *Layer) newPage(key uint64) *page {
	var pg *page
	if n := len(l.spare); n > 0 {
		pg, l.spare = l.spare[n-1], l.spare[:n-1]
	} else {
		pg = new(page)
	}
	if l.pages == nil {
		l.pages = make(map[uint64]*page)
	}
	l.pages[key] = pg
	l.peak = max(l.peak, len(l.pages))
	l.hiPage = max(l.hiPage, key)
	return pg
}

// dropPage removes the page at key once it is empty, giving back what it
// cost.
func (l *Layer) dropPage(key uint64, pg *page) {
	if pg.held|pg.skipped != 0 {
		return
	}
	l.uncharge(pg.cost)
	pg.cost = 0
	delete(l.pages, key)
	if len(l.pages) == 0 {
		l.hiPage = 0
		if l.peak > mapKeep {
			// A map never shrinks: after a burst, start afresh.
			l.pages, l.peak = nil, 0
		}
	}
	if len(l.spare) < maxSpare {
		l.spare = append(l.spare, pg)
	}
}

// take moves next past the sequence number at next: it returns the packet
// held there (its reservation given back), or reports whether a skip
// marker covered it (skipped) or nothing did (missing).
func (l *Layer) take() (p *stack.Packet, skipped bool) {
	key, i := l.next/pageSize, l.next%pageSize
	l.next++
	pg := l.pages[key]
	if pg == nil {
		return nil, false
	}
	bit := uint64(1) << i
	switch {
	case pg.held&bit != 0:
		p, pg.pkts[i] = pg.pkts[i], nil
		pg.held &^= bit
		l.count--
		l.uncharge(bufferCost(p))
	case pg.skipped&bit != 0:
		pg.skipped &^= bit
		skipped = true
	default:
		return nil, false
	}
	l.dropPage(key, pg)
	return p, skipped
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
	for key, pg := range l.pages {
		for h := pg.held; h != 0; h &= h - 1 {
			i := bits.TrailingZeros64(h)
			d := pg.pkts[i].Meta.Deadline
			if d.IsZero() {
				continue
			}
			if s := key*pageSize + uint64(i); !d.Add(-guard).After(now) {
				if !found || s > upTo {
					upTo, found = s, true
				}
			} else if l.soonest.IsZero() || d.Before(l.soonest) {
				l.soonest = d
			}
		}
	}
	if found {
		l.advance(upTo, "gave-up-for-time")
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
	if first <= l.next || end-l.next > uint64(l.cfg.Buffer) {
		// Nothing missing in front of it, or a jump past the buffer:
		// deliver what is held before end, in order, and go on from end.
		l.advance(end, "")
		return
	}
	// Ahead of a gap: remember it, for what it covers that is not held.
	for s := first; s < end; {
		key, i := s/pageSize, s%pageSize
		stop := min(end, (key+1)*pageSize)
		pg := l.pages[key]
		if pg == nil {
			if !l.charge(pageCost) {
				l.Binding().Count("no-memory", 1)
				l.advance(first, "gave-up-for-memory")
				l.advance(end, "")
				return
			}
			pg = l.newPage(key)
			pg.cost = pageCost
		}
		mask := ^uint64(0) << i
		if w := stop - key*pageSize; w < pageSize {
			mask &= uint64(1)<<w - 1
		}
		pg.skipped |= mask &^ pg.held
		s = stop
	}
	l.release()
}

// release delivers what is now in order.
func (l *Layer) release() {
	for len(l.pages) > 0 {
		pg := l.pages[l.next/pageSize]
		if pg == nil || (pg.held|pg.skipped)&(uint64(1)<<(l.next%pageSize)) == 0 {
			break
		}
		if p, _ := l.take(); p != nil {
			l.up(p)
		}
	}
	if l.count == 0 && !l.timerAt.IsZero() {
		l.soonest = time.Time{}
		l.arm()
	}
}

// advance moves next on to target, delivering in order what is held before
// it and giving up what is missing (counted under counter, when not
// empty), then delivers what is in order from there.
func (l *Layer) advance(target uint64, counter string) {
	var missing uint64
	for l.next < target {
		if len(l.pages) == 0 || l.next/pageSize > l.hiPage {
			// Nothing held or skipped from here: jump.
			missing += target - l.next
			l.next = target
			break
		}
		if l.pages[l.next/pageSize] == nil {
			// Nothing in this page: on to the next one.
			stop := min(target, (l.next/pageSize+1)*pageSize)
			missing += stop - l.next
			l.next = stop
			continue
		}
		p, skipped := l.take()
		switch {
		case p != nil:
			l.up(p)
		case !skipped:
			missing++
		}
	}
	if counter != "" && missing > 0 {
		l.Binding().Count(counter, missing)
	}
	l.release()
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

// Close releases held packets and what they and the pages reserved.
func (l *Layer) Close() error {
	for _, pg := range l.pages {
		for h := pg.held; h != 0; h &= h - 1 {
			i := bits.TrailingZeros64(h)
			pg.pkts[i].Release()
			pg.pkts[i] = nil
		}
	}
	l.Binding().Memory.Release(l.charged)
	l.pages, l.spare, l.count, l.charged, l.peak, l.hiPage = nil, nil, 0, 0, 0, 0
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
