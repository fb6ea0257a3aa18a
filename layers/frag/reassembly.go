package frag

import (
	"time"

	"github.com/rwanda-go/rwanda/stack"
)

// Drop reasons counted by the reassembler.
const (
	dropMalformed = "malformed" // header inconsistent with the parcel's earlier fragments
	dropDuplicate = "duplicate" // fragment already held, or of a parcel already delivered
	dropTooLarge  = "too-large" // parcel larger than Config.Max
	dropNoMemory  = "no-memory" // no budget left even after evicting older parcels
	dropEvicted   = "evicted"   // incomplete parcel pushed out for a newer one (counted per parcel)
	dropExpired   = "expired"   // incomplete parcel timed out (counted per parcel)
	dropObsolete  = "obsolete"  // incomplete parcel past its deadline (counted per parcel)
	dropClosed    = "closed"    // incomplete parcel discarded at Close (counted per parcel)
	recentParcels = 64          // completed parcel ids remembered to drop late duplicates
)

// partial is one incomplete parcel.
type partial struct {
	h        Header   // Parcel, Count, Size as first seen (Index unused)
	got      int      // fragments held
	have     []uint64 // which fragments are held
	buf      *stack.Packet
	last     int // payload length of the last fragment, once held
	meta     stack.Meta
	expires  time.Time // Timeout after the first fragment
	obsolete time.Time // the parcel's deadline, from its fragments' metadata; zero: none
	reserved int64
	older    *partial // toward the oldest
	newer    *partial // toward the newest
}

// reassembler holds incomplete parcels of one flow. It is a pure core: no
// goroutines, no clock of its own; every call takes now. It places each
// fragment straight into one buffer of the parcel's size, so a parcel is
// copied once on arrival and handed up without another copy.
type reassembler struct {
	cfg    Config
	pool   *stack.Pool
	shared *stack.Budget // the channel's budget; nil = none

	parts          map[uint32]*partial
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

// add takes one fragment whose header h has been decoded and consumed from
// p (so p holds the payload). It returns the completed parcel when this
// fragment completes one. It always takes ownership of p.
func (r *reassembler) add(h Header, p *stack.Packet, now time.Time) *stack.Packet {
	defer p.Release()
	pt := r.parts[h.Parcel]
	if pt == nil {
		if r.recentlyDone(h.Parcel) {
			r.drops(dropDuplicate, 1)
			return nil
		}
		size := int64(h.Count) * int64(h.Size)
		if max := int64(h.Count-1)*int64(h.Size) + 1; max > r.cfg.Max {
			r.drops(dropTooLarge, 1)
			return nil
		}
		if !r.reserve(size) {
			r.drops(dropNoMemory, 1)
			return nil
		}
		pt = r.newPartial(h, size, now)
		pt.meta = p.Meta
		if d := p.Meta.Deadline; !d.IsZero() {
			pt.obsolete = d
			if r.soonest.IsZero() || d.Before(r.soonest) {
				r.soonest = d
			}
		}
	} else if h.Count != pt.h.Count || h.Size != pt.h.Size {
		r.drops(dropMalformed, 1)
		return nil
	}
	word, bit := h.Index/64, uint64(1)<<(h.Index%64)
	if pt.have[word]&bit != 0 {
		r.drops(dropDuplicate, 1)
		return nil
	}
	pt.have[word] |= bit
	pt.got++
	copy(pt.buf.Bytes()[int(h.Index)*int(h.Size):], p.Bytes())
	if h.Index == 0 {
		pt.meta = p.Meta
	}
	if h.Index == h.Count-1 {
		pt.last = p.Len()
	}
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

// reserve takes size bytes from the flow's and the channel's budgets,
// evicting this flow's oldest incomplete parcels as needed (and to stay
// under Config.Parcels).
func (r *reassembler) reserve(size int64) bool {
	if size > r.cfg.Buffer {
		return false
	}
	for len(r.parts) >= r.cfg.Parcels || r.used+size > r.cfg.Buffer {
		if r.oldest == nil {
			return false
		}
		r.drops(dropEvicted, 1)
		r.remove(r.oldest)
	}
	for !r.shared.Reserve(size) {
		if r.oldest == nil {
			return false
		}
		r.drops(dropEvicted, 1)
		r.remove(r.oldest)
	}
	r.used += size
	return true
}

func (r *reassembler) newPartial(h Header, size int64, now time.Time) *partial {
	var pt *partial
	if n := len(r.free); n > 0 {
		pt, r.free = r.free[n-1], r.free[:n-1]
	} else {
		pt = &partial{}
	}
	words := (int(h.Count) + 63) / 64
	if cap(pt.have) >= words {
		pt.have = pt.have[:words]
		clear(pt.have)
	} else {
		pt.have = make([]uint64, words)
	}
	pt.h, pt.got, pt.last, pt.reserved, pt.obsolete = h, 0, 0, size, time.Time{}
	pt.expires = now.Add(r.cfg.Timeout)
	pt.buf = r.pool.Get(0, int(size), 0)
	pt.buf.Extend(int(size))
	// Link as the newest.
	pt.older, pt.newer = r.newest, nil
	if r.newest != nil {
		r.newest.newer = pt
	} else {
		r.oldest = pt
	}
	r.newest = pt
	r.parts[h.Parcel] = pt
	return pt
}

// remove unlinks pt, releases its buffer and reservation, and recycles it.
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
	if pt.buf != nil {
		pt.buf.Release()
		pt.buf = nil
	}
	r.used -= pt.reserved
	r.shared.Release(pt.reserved)
	pt.older, pt.newer, pt.meta = nil, nil, stack.Meta{}
	if len(r.free) < 16 {
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
