package impair

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"time"

	"github.com/rwanda-go/rwanda/stack"
)

// DropLoss is the drop reason under which lost packets appear in the
// stack's statistics (stack.Stats, the impair layer's Drops). Losses are
// counted there only, not also as a counter.
const DropLoss = "impair-loss"

// The second PCG word of each direction's stream: "impair-d", "impair-u".
const (
	streamDown = 0x696d706169722d64
	streamUp   = 0x696d706169722d75
)

// Directions, as indexes into Layer.dirs.
const (
	down = 0
	up   = 1
)

// Layer damages the traffic that crosses it: it drops, holds back,
// delays, duplicates and corrupts packets, deterministically from a seed.
// Create one with [New] (or from a QoS string through the registry); a
// Layer serves one stack.
type Layer struct {
	stack.Base
	cfg          Config
	enter, leave float64 // Gilbert–Elliott transitions (Burst > 1)
	seed         int64
	bound        bool
	dirs         [2]direction
	queue        []entry // delayed packets, a min-heap by (at, seq)
	seq          uint64  // arrival counter, for ties in the queue
	timerAt      time.Time
}

// direction is the state of one impaired direction.
type direction struct {
	on        bool
	rng       rand.PCG
	bad       bool          // Gilbert–Elliott state
	held      *stack.Packet // the packet held back for reordering
	heldDup   bool          // it is to be duplicated when released
	heldUntil time.Time     // when the timer releases it
}

// entry is a delayed packet.
type entry struct {
	at   time.Time
	seq  uint64
	p    *stack.Packet
	dir  int
	hold bool
	dup  bool
}

// fate is what happens to one packet, drawn on its arrival.
type fate struct {
	lose, hold, dup, corrupt bool
	where                    uint64        // which byte to corrupt, and how
	offset                   time.Duration // jitter, in [-Jitter, +Jitter]
}

// New returns an impair layer with the given configuration.
func New(cfg Config) (*Layer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	l := &Layer{cfg: cfg}
	l.enter, l.leave = cfg.Transitions()
	return l, nil
}

// Name returns "impair".
func (l *Layer) Name() string { return "impair" }

// Overhead is zero: the layer adds no header.
func (l *Layer) Overhead() int { return 0 }

// Capabilities declares that the layer impairs traffic.
func (l *Layer) Capabilities() stack.Capabilities {
	return stack.Capabilities{Provides: []stack.Capability{stack.CapImpaired}}
}

// Config returns the layer's configuration (with Seed as given: 0 when the
// seed is picked at random; see [Layer.Seed]).
func (l *Layer) Config() Config { return l.cfg }

// Seed is the seed the layer's decisions come from: Config.Seed, or the
// random seed picked when the layer was bound if that was 0 (0 before
// then). Passing it as seed=N repeats the run's decisions.
func (l *Layer) Seed() int64 {
	if l.cfg.Seed != 0 {
		return l.cfg.Seed
	}
	return l.seed
}

// Pending is the number of packets the layer holds: delayed, or held back
// for reordering.
func (l *Layer) Pending() int {
	n := len(l.queue)
	for i := range l.dirs {
		if l.dirs[i].held != nil {
			n++
		}
	}
	return n
}

// Bind seeds the layer's random streams, picking a random seed when the
// configuration's is 0; a random seed is logged at level Info and reported
// as an event of kind "seed" (Detail "seed=N"), which the stack hands over
// with the first call into it.
func (l *Layer) Bind(b stack.Binding) error {
	if l.bound {
		return fmt.Errorf("impair: layer bound twice")
	}
	l.seed = l.cfg.Seed
	random := l.seed == 0
	for l.seed == 0 {
		l.seed = rand.Int64() // random, and non-negative, so easy to type
	}
	active := !l.cfg.Identity()
	for i, stream := range [2]uint64{streamDown, streamUp} {
		d := &l.dirs[i]
		d.on = active && l.cfg.Dir&(1<<i) != 0
		d.rng.Seed(uint64(l.seed), stream)
	}
	if active {
		if random {
			b.Logger.Info("impair: random seed; repeat this run's decisions with seed=N", "seed", l.seed, "dir", l.cfg.Dir.String())
			b.Emit(stack.Event{Kind: "seed", Detail: fmt.Sprintf("seed=%d", l.seed)})
		} else {
			b.Logger.Debug("impair: seeded", "seed", l.seed, "dir", l.cfg.Dir.String())
		}
	}
	l.bound = true
	return l.Base.Bind(b)
}

// Down impairs p when the layer impairs the down direction, and passes it
// on otherwise.
func (l *Layer) Down(p *stack.Packet) error { return l.handle(down, p) }

// Up impairs p when the layer impairs the up direction, and passes it on
// otherwise.
func (l *Layer) Up(p *stack.Packet) error { return l.handle(up, p) }

// OnTimer releases the delayed packets whose time has come and the held
// packets whose wait is over, in time order.
func (l *Layer) OnTimer(now time.Time) {
	l.timerAt = time.Time{}
	l.releaseDue(now)
	l.arm()
}

// Close releases every packet the layer holds.
func (l *Layer) Close() error {
	for i := range l.queue {
		l.queue[i].p.Release()
		l.queue[i] = entry{}
	}
	l.queue = nil
	for i := range l.dirs {
		if d := &l.dirs[i]; d.held != nil {
			d.held.Release()
			d.held = nil
		}
	}
	l.bound = false
	return nil
}

// pass hands p to the neighbour in direction dir.
func (l *Layer) pass(dir int, p *stack.Packet) error {
	if dir == down {
		return l.Base.Down(p)
	}
	return l.Base.Up(p)
}

// handle applies the packet's fate. Only the error of p's own immediate
// passage is returned; packets released along with it (a held packet, a
// duplicate) and packets released later by the timer have their errors
// dropped, as a network would.
func (l *Layer) handle(dir int, p *stack.Packet) error {
	d := &l.dirs[dir]
	if !d.on || !l.bound || p.Flags&stack.FlagSkip != 0 {
		return l.pass(dir, p)
	}
	b := l.Binding()
	now := b.Now()
	defer l.arm()
	l.releaseDue(now) // what is due goes before p
	f := l.decide(d)
	if f.lose {
		b.Drop(p, DropLoss)
		return nil
	}
	if f.corrupt && p.Len() > 0 {
		p = p.Writable() // p may be shared with a retransmission buffer
		bs := p.Bytes()
		pos, _ := bits.Mul64(f.where, uint64(len(bs)))
		bs[pos] ^= byte(1 + uint32(f.where)%255)
		b.Count("corrupted", 1)
	}
	if l.cfg.Delay > 0 || l.cfg.Jitter > 0 {
		if wait := l.cfg.Delay + f.offset; wait > 0 {
			l.push(entry{at: now.Add(wait), seq: l.seq, p: p, dir: dir, hold: f.hold, dup: f.dup})
			l.seq++
			b.Count("delayed", 1)
			return nil
		}
	}
	return l.output(dir, p, f.hold, f.dup, now)
}

// decide draws p's fate: always six draws per packet from the direction's
// stream, whatever the configuration, so that each kind of decision for
// the n-th packet depends only on the seed and n, not on the other
// parameters.
func (l *Layer) decide(d *direction) fate {
	var f fate
	x := unit(d.rng.Uint64())
	if l.cfg.Burst > 1 {
		if d.bad {
			d.bad = x >= l.leave
		} else {
			d.bad = x < l.enter
		}
		f.lose = d.bad
	} else {
		f.lose = x < l.cfg.Loss
	}
	f.hold = unit(d.rng.Uint64()) < l.cfg.Reorder
	f.dup = unit(d.rng.Uint64()) < l.cfg.Dup
	f.corrupt = unit(d.rng.Uint64()) < l.cfg.Corrupt
	f.where = d.rng.Uint64()
	j := d.rng.Uint64()
	if l.cfg.Jitter > 0 {
		off, _ := bits.Mul64(j, uint64(2*l.cfg.Jitter+1)) // uniform in [0, 2·Jitter]
		f.offset = time.Duration(off) - l.cfg.Jitter
	}
	return f
}

// unit maps a random word to [0, 1).
func unit(x uint64) float64 { return float64(x>>11) / (1 << 53) }

// output lets p leave the layer at time at (its arrival, or the end of its
// delay), unless it is to be held back and nothing is held yet in its
// direction. A packet that leaves releases the held packet right after it.
func (l *Layer) output(dir int, p *stack.Packet, hold, dup bool, at time.Time) error {
	d := &l.dirs[dir]
	if hold && d.held == nil {
		d.held, d.heldDup, d.heldUntil = p, dup, at.Add(l.cfg.ReorderWait)
		return nil
	}
	q, qdup := d.held, d.heldDup
	d.held = nil // before passing p on: calls out may come back in
	err := l.send(dir, p, dup)
	if q != nil {
		l.Binding().Count("reordered", 1)
		l.send(dir, q, qdup)
	}
	return err
}

// send passes p on, followed by a clone of it when dup is set.
func (l *Layer) send(dir int, p *stack.Packet, dup bool) error {
	var c *stack.Packet
	if dup {
		c = p.Clone()
	}
	err := l.pass(dir, p)
	if c != nil {
		l.Binding().Count("duplicated", 1)
		l.pass(dir, c)
	}
	return err
}

// releaseDue lets out, in time order, every delayed packet and every held
// packet whose time is at or before now. At equal times delayed packets go
// first (in arrival order), then the held packets (down before up).
func (l *Layer) releaseDue(now time.Time) {
	for {
		best, at := -1, now // -1: none; 0, 1: a held packet; 2: the queue's head
		if len(l.queue) > 0 && !l.queue[0].at.After(at) {
			best, at = 2, l.queue[0].at
		}
		for i := range l.dirs {
			if d := &l.dirs[i]; d.held != nil && (d.heldUntil.Before(at) || best < 0 && d.heldUntil.Equal(at)) {
				best, at = i, d.heldUntil
			}
		}
		switch best {
		case -1:
			return
		case 2:
			e := l.pop()
			l.output(e.dir, e.p, e.hold, e.dup, e.at)
		default:
			d := &l.dirs[best]
			q := d.held
			d.held = nil
			l.send(best, q, d.heldDup)
		}
	}
}

// arm keeps the stack timer at the earliest time something is due.
func (l *Layer) arm() {
	if !l.bound {
		return
	}
	var t time.Time
	if len(l.queue) > 0 {
		t = l.queue[0].at
	}
	for i := range l.dirs {
		if d := &l.dirs[i]; d.held != nil && (t.IsZero() || d.heldUntil.Before(t)) {
			t = d.heldUntil
		}
	}
	if !t.Equal(l.timerAt) {
		l.timerAt = t
		l.Binding().SetTimer(t)
	}
}

// The delay queue: a binary min-heap on (at, seq), written out to avoid
// boxing entries through container/heap.

func (l *Layer) less(i, j int) bool {
	a, b := &l.queue[i], &l.queue[j]
	if !a.at.Equal(b.at) {
		return a.at.Before(b.at)
	}
	return a.seq < b.seq
}

func (l *Layer) push(e entry) {
	l.queue = append(l.queue, e)
	for i := len(l.queue) - 1; i > 0; {
		parent := (i - 1) / 2
		if !l.less(i, parent) {
			break
		}
		l.queue[i], l.queue[parent] = l.queue[parent], l.queue[i]
		i = parent
	}
}

func (l *Layer) pop() entry {
	q := l.queue
	e := q[0]
	last := len(q) - 1
	q[0] = q[last]
	q[last] = entry{}
	l.queue = q[:last]
	for i := 0; ; {
		small, left := i, 2*i+1
		if left < last && l.less(left, small) {
			small = left
		}
		if right := left + 1; right < last && l.less(right, small) {
			small = right
		}
		if small == i {
			break
		}
		l.queue[i], l.queue[small] = l.queue[small], l.queue[i]
		i = small
	}
	return e
}
