package frag

import (
	"time"

	"github.com/rwanda-go/rwanda/stack"
)

// Drop reasons counted by the reassembler.
const (
	dropMalformed = "malformed" // header inconsistent with the parcel's earlier fragments
	dropDuplicate = "duplicate" // fragment already held, or of a parcel already delivered
	dropTooLarge  = "too-large" // parcel larger than Config.Largest (Max and the header allowance)
	dropNoMemory  = "no-memory" // no budget left for a fragment even after evicting other parcels
	dropEvicted   = "evicted"   // incomplete parcel pushed out to make room, or left without room to grow (counted per parcel)
	dropExpired   = "expired"   // incomplete parcel timed out (counted per parcel)
	dropObsolete  = "obsolete"  // incomplete parcel past its deadline (counted per parcel)
	dropClosed    = "closed"    // incomplete parcel discarded at Close (counted per parcel)
	recentParcels = 64          // completed parcel ids remembered to drop late duplicates
)

// Costs charged to the budgets besides the bytes of packets and buffers.
const (
	// partialCost is a parcel's bookkeeping (its partial and its entry in
	// the parts map), its bitmap of fragments aside.
	partialCost = 256
	// heldCost is a held fragment's entry in its parcel's list, besides
	// its packet's buffer.
	heldCost = 16
)

// partial is one incomplete parcel. It holds the fragments that arrive as
// the packets they came in until they justify a buffer of the parcel's size
// (see place); from then on it copies each fragment straight into place.
type partial struct {
	h        Header     // Parcel, Count, Size as first seen (Index unused)
	got      int        // fragments held
	have     []uint64   // which fragments are held
	held     []fragment // fragments kept as they came, while buf is nil
	heldCost int64      // what held costs: the fragments' buffers and entries
	buf      *stack.Packet
	last     int // payload length of the last fragment, once held
	meta     stack.Meta
	expires  time.Time // Timeout after the first fragment
	obsolete time.Time // the parcel's deadline, from its fragments' metadata; zero: none
	reserved int64     // bytes taken from the budgets for this parcel
	older    *partial  // toward the oldest
	newer    *partial  // toward the newest
}

// fragment is a fragment held as its packet, the header consumed.
type fragment struct {
	index uint16
	p     *stack.Packet
}

// size is the parcel's buffer: every fragment at its full size.
func (pt *partial) size() int64 { return int64(pt.h.Count) * int64(pt.h.Size) }

// reassembler holds incomplete parcels of one flow. It is a pure core: no
// goroutines, no clock of its own; every call takes now.
//
// Memory grows with what arrives, never with what a header declares. A
// parcel costs its bookkeeping and bitmap (partialCost plus a bit a
// fragment) from its first fragment; then each fragment is held as the
// packet it came in, costing that packet's buffer, until what the parcel
// holds reaches half its size. Then one buffer of the parcel's size is
// allocated, the held fragments are copied into it and given back, and
// later fragments are copied straight into place: each byte is copied once,
// and a parcel's buffer costs at most twice what its fragments already
// made the flow hold. Everything is reserved from the flow's budget
// (Config.Buffer) and the channel's (stack.Budget) before it is held.
type reassembler struct {
	cfg    Config
	pool   *stack.Pool
	shared *stack.Budget // the channel's budget; nil = none

	parts          map[uint32]*partial
	peak           int // most entries parts has had since it was made
	oldest, newest *partial
	used           int64 // bytes reserved by this flow
	recent         [recentParcels]uint32
	recentN        int
	free           []*partial
	soonest        time.Time // earliest obsolete among the partials (may be stale-early)

	drops  func(reason string, n uint64) // counts drops
	reasmd uint64                        // parcels completed
}

func newReassembler(cfg Config, pool *stack.Pool, shared *stack.Budget, drops func(string, uint64)) *reassembler {
	return &reassembler{cfg: cfg, pool: pool, shared: shared, parts: make(map[uint32]*partial), drops: drops}
}

// bitmapWords is the size of the bitmap of a parcel of count fragments.
func bitmapWords(count uint16) int { return (int(count) + 63) / 64 }

// add takes one fragment whose header h has been decoded and consumed from
// p (so p holds the payload). It returns the completed parcel when this
// fragment completes one. It always takes ownership of p.
func (r *reassembler) add(h Header, p *stack.Packet, now time.Time) *stack.Packet {
	pt := r.parts[h.Parcel]
	if pt == nil {
		if r.recentlyDone(h.Parcel) {
			r.drops(dropDuplicate, 1)
			p.Release()
			return nil
		}
		if least := int64(h.Count-1)*int64(h.Size) + 1; least > r.cfg.Largest() {
			r.drops(dropTooLarge, 1)
			p.Release()
			return nil
		}
		cost := int64(partialCost + 8*bitmapWords(h.Count))
		if !r.reserve(cost, nil) {
			r.drops(dropNoMemory, 1)
			p.Release()
			return nil
		}
		pt = r.newPartial(h, cost, now)
		pt.meta = p.Meta
		if d := p.Meta.Deadline; !d.IsZero() {
			pt.obsolete = d
			if r.soonest.IsZero() || d.Before(r.soonest) {
				r.soonest = d
			}
		}
	} else if h.Count != pt.h.Count || h.Size != pt.h.Size {
		r.drops(dropMalformed, 1)
		p.Release()
		return nil
	}
	word, bit := h.Index/64, uint64(1)<<(h.Index%64)
	if pt.have[word]&bit != 0 {
		r.drops(dropDuplicate, 1)
		p.Release()
		return nil
	}
	if h.Index == 0 {
		pt.meta = p.Meta
	}
	if h.Index == h.Count-1 {
		pt.last = p.Len()
	}
	if !r.place(pt, h.Index, p) {
		// No room for it even with every other parcel evicted: the
		// parcel cannot complete, so it goes too.
		r.drops(dropNoMemory, 1)
		r.drops(dropEvicted, 1)
		r.remove(pt)
		return nil
	}
	pt.have[word] |= bit
	pt.got++
	if pt.got < int(h.Count) {
		return nil
	}
	// Complete: hand the buffer over, trimmed to the parcel's true length.
	done := pt.buf
	pt.buf = nil
	done.Truncate(int(h.Count-1)*int(h.Size) + pt.last)
	done.Meta = pt.meta
	r.remember(h.Parcel)
	r.remove(pt)
	r.reasmd++
	return done
}

// place stores fragment index, whose payload is p, in pt: held as p while
// pt's fragments do not yet justify the parcel's buffer, else copied into
// it (allocated now if need be, from the fragments held so far). It
// reserves what that costs first, evicting other parcels as needed, and
// reports false, having released p, when the budgets cannot make room. It
// takes ownership of p.
func (r *reassembler) place(pt *partial, index uint16, p *stack.Packet) bool {
	if pt.buf == nil {
		size := pt.size()
		cost := int64(p.Headroom()+p.Len()+p.Tailroom()) + heldCost
		if pt.heldCost+cost < size/2 && pt.got+1 < int(pt.h.Count) {
			if !r.reserve(cost, pt) {
				p.Release()
				return false
			}
			pt.reserved += cost
			pt.heldCost += cost
			pt.held = append(pt.held, fragment{index, p})
			return true
		}
		// The fragments in hand, this one included, are worth half the
		// parcel or more (or complete it): allocate its buffer. What the
		// held fragments cost is given back as they are copied in.
		if !r.reserve(size-pt.heldCost, pt) {
			p.Release()
			return false
		}
		pt.reserved += size - pt.heldCost
		pt.heldCost = 0
		pt.buf = r.pool.Get(0, int(size), 0)
		buf := pt.buf.Extend(int(size))
		for i, f := range pt.held {
			copy(buf[int(f.index)*int(pt.h.Size):], f.p.Bytes())
			f.p.Release()
			pt.held[i] = fragment{}
		}
		pt.held = pt.held[:0]
	}
	copy(pt.buf.Bytes()[int(index)*int(pt.h.Size):], p.Bytes())
	p.Release()
	return true
}

// reserve takes n bytes from the flow's and the channel's budgets,
// evicting this flow's oldest incomplete parcels other than grow as
// needed: n is for a new parcel when grow is nil (which must also stay
// under Config.Parcels), else for grow, which keeps what it has.
func (r *reassembler) reserve(n int64, grow *partial) bool {
	mine := int64(0)
	if grow != nil {
		mine = grow.reserved
	}
	if mine+n > r.cfg.Buffer {
		return false
	}
	for (grow == nil && len(r.parts) >= r.cfg.Parcels) || r.used+n > r.cfg.Buffer {
		if !r.evictOldest(grow) {
			return false
		}
	}
	for !r.shared.Reserve(n) {
		if !r.evictOldest(grow) {
			return false
		}
	}
	r.used += n
	return true
}

// evictOldest removes the oldest incomplete parcel but keep, counting it
// as evicted, and reports false when there is none.
func (r *reassembler) evictOldest(keep *partial) bool {
	pt := r.oldest
	if pt != nil && pt == keep {
		pt = pt.newer
	}
	if pt == nil {
		return false
	}
	r.drops(dropEvicted, 1)
	r.remove(pt)
	return true
}

func (r *reassembler) newPartial(h Header, reserved int64, now time.Time) *partial {
	var pt *partial
	if n := len(r.free); n > 0 {
		pt, r.free = r.free[n-1], r.free[:n-1]
	} else {
		pt = &partial{}
	}
	words := bitmapWords(h.Count)
	if cap(pt.have) >= words {
		pt.have = pt.have[:words]
		clear(pt.have)
	} else {
		pt.have = make([]uint64, words)
	}
	pt.h, pt.got, pt.last, pt.reserved, pt.heldCost, pt.obsolete = h, 0, 0, reserved, 0, time.Time{}
	pt.expires = now.Add(r.cfg.Timeout)
	// Link as the newest.
	pt.older, pt.newer = r.newest, nil
	if r.newest != nil {
		r.newest.newer = pt
	} else {
		r.oldest = pt
	}
	r.newest = pt
	r.parts[h.Parcel] = pt
	r.peak = max(r.peak, len(r.parts))
	return pt
}

// Partials recycled keep their slices only up to these sizes, so the free
// list holds little memory the budgets do not see.
const (
	keepHave = 64  // bitmap words: parcels of up to 4096 fragments
	keepHeld = 256 // held fragment entries
)

// remove unlinks pt, releases its buffer, fragments and reservation, and
// recycles it.
func (r *reassembler) remove(pt *partial) {
	if pt.older != nil {
		pt.older.newer = pt.newer
	} else {
		r.oldest = pt.newer
	}
	if pt.newer != nil {
		pt.newer.older = pt.older
	} else {
		r.newest = pt.older
	}
	delete(r.parts, pt.h.Parcel)
	if len(r.parts) == 0 && r.peak > 2*recentParcels {
		// A map never shrinks: after a burst of parcels, start afresh.
		r.parts, r.peak = make(map[uint32]*partial), 0
	}
	if pt.buf != nil {
		pt.buf.Release()
		pt.buf = nil
	}
	for i, f := range pt.held {
		f.p.Release()
		pt.held[i] = fragment{}
	}
	pt.held = pt.held[:0]
	r.used -= pt.reserved
	r.shared.Release(pt.reserved)
	pt.older, pt.newer, pt.meta, pt.reserved, pt.heldCost = nil, nil, stack.Meta{}, 0, 0
	if len(r.free) < 16 {
		if cap(pt.have) > keepHave {
			pt.have = nil
		}
		if cap(pt.held) > keepHeld {
			pt.held = nil
		}
		r.free = append(r.free, pt)
	}
}

// expire drops incomplete parcels whose time is up: Timeout after their
// first fragment, or their deadline (the posting's time to obsolescence),
// whichever comes first. It returns the next expiry, or the zero time.
func (r *reassembler) expire(now time.Time) time.Time {
	for r.oldest != nil && !r.oldest.expires.After(now) {
		r.drops(dropExpired, 1)
		r.remove(r.oldest)
	}
	if !r.soonest.IsZero() && !r.soonest.After(now) {
		r.soonest = time.Time{}
		for pt := r.oldest; pt != nil; {
			next := pt.newer
			switch {
			case pt.obsolete.IsZero():
			case !pt.obsolete.After(now):
				r.drops(dropObsolete, 1)
				r.remove(pt)
			case r.soonest.IsZero() || pt.obsolete.Before(r.soonest):
				r.soonest = pt.obsolete
			}
			pt = next
		}
	}
	return r.deadline()
}

// deadline is the next expiry: the oldest parcel's timeout (they all live
// for the same Timeout, so the oldest goes first) or the earliest deadline,
// or the zero time.
func (r *reassembler) deadline() time.Time {
	if r.oldest == nil {
		return time.Time{}
	}
	if !r.soonest.IsZero() && r.soonest.Before(r.oldest.expires) {
		return r.soonest
	}
	return r.oldest.expires
}

func (r *reassembler) remember(id uint32) {
	r.recent[r.recentN%recentParcels] = id
	r.recentN++
}

func (r *reassembler) recentlyDone(id uint32) bool {
	n := min(r.recentN, recentParcels)
	for i := range n {
		if r.recent[i] == id {
			return true
		}
	}
	return false
}

// close discards every incomplete parcel.
func (r *reassembler) close() {
	for r.oldest != nil {
		r.drops(dropClosed, 1)
		r.remove(r.oldest)
	}
}
