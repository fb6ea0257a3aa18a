package fec

import (
	"encoding/binary"
	"slices"
	"time"

	"github.com/rwanda-go/rwanda/stack"
)

// rblock is what a receiver knows of a block: copies of the data packets
// it got (length-prefixed) and the parity shards.
type rblock struct {
	id        uint32
	k         int // data packets; 0 until a parity shard says
	announced int // parity sent with the data
	size      int // shard size; 0 until a parity shard says
	data      [][]byte
	have      int
	parity    [][]byte // by index
	nparity   int
	done      bool // every data packet had or rebuilt
	at        time.Time
	meta      stack.Meta
	cost      int64
}

// maxBlocks bounds the blocks a receiver knows of, whatever their bytes
// (parity it could not use costs none).
const maxBlocks = 4096

// held is a packet held back behind a loss.
type held struct {
	p   *stack.Packet
	idx int
}

// receiver is the receiving half: it passes data up, holds what follows
// a loss while parity is coming, rebuilds lost packets, and reports loss.
type receiver struct {
	l      *Layer
	blocks map[uint32]*rblock
	order  []uint32 // block ids, oldest first
	bytes  int64

	holding   bool
	holdID    uint32
	holdUntil time.Time
	held      []held

	// Loss measurement, since the last report.
	started  bool
	last     uint16
	expected uint64
	received uint64
	reportAt time.Time
}

func (r *receiver) init(l *Layer) { r.l = l }

// track counts a DATA or PARITY packet's number for the loss report.
func (r *receiver) track(seq uint16, now time.Time) {
	switch d := int16(seq - r.last); {
	case !r.started:
		r.started, r.expected = true, 1
		r.last = seq
	case d > 0:
		r.expected += uint64(d)
		r.last = seq
	}
	r.received++
	if r.reportAt.IsZero() {
		r.reportAt = now.Add(r.l.cfg.Report)
	}
}

// block returns the block id, made when new; nil when the id is too old
// to be one the receiver still keeps.
func (r *receiver) block(id uint32, now time.Time) *rblock {
	if k := r.blocks[id]; k != nil {
		return k
	}
	if n := len(r.order); n > 0 && int32(id-r.order[n-1]) <= -1024 {
		return nil
	}
	if r.blocks == nil {
		r.blocks = make(map[uint32]*rblock)
	}
	for len(r.order) >= maxBlocks {
		r.dropOldest()
	}
	k := &rblock{id: id, at: now}
	r.blocks[id] = k
	r.order = append(r.order, id)
	return k
}

// keep copies b (a packet's bytes) with its length in front into k,
// charged to the budgets; false when they refuse.
func (r *receiver) keep(k *rblock, b []byte) ([]byte, bool) {
	n := int64(len(b) + lenPrefix)
	for r.bytes+n > int64(r.l.cfg.Buffer) && len(r.order) > 0 && r.order[0] != k.id {
		r.dropOldest()
	}
	if r.bytes+n > int64(r.l.cfg.Buffer) {
		r.l.Binding().Count("buffer-full", 1) // k alone fills the buffer
		return nil, false
	}
	if !r.l.Binding().Memory.Reserve(n) {
		r.l.Binding().Count("no-memory", 1)
		return nil, false
	}
	c := make([]byte, n)
	binary.BigEndian.PutUint16(c, uint16(len(b)))
	copy(c[lenPrefix:], b)
	k.cost += n
	r.bytes += n
	return c, true
}

func (r *receiver) data(p *stack.Packet, h Header, now time.Time) {
	l, b := r.l, r.l.Binding()
	r.track(h.Seq, now)
	if r.holding && h.Block != r.holdID {
		r.release() // a later block: the held one's parity is not coming
	}
	k := r.block(h.Block, now)
	idx := int(h.Index)
	if k == nil {
		l.Base.Up(p)
		return
	}
	switch {
	case k.k > 0 && idx >= k.k:
		b.Drop(p, "inconsistent") // beyond the block's size
		return
	case k.done || (idx < len(k.data) && k.data[idx] != nil):
		b.Drop(p, "duplicate")
		return
	}
	if len(k.data) <= idx {
		k.data = slices.Grow(k.data, idx+1-len(k.data))[:idx+1]
	}
	if k.size > 0 && p.Len()+lenPrefix > k.size {
		b.Count("inconsistent", 1) // longer than the block's shards: not usable for repair
	} else if c, ok := r.keep(k, p.Bytes()); ok {
		k.data[idx] = c
		k.have++
	}
	if k.have == 1 || k.meta.Media == 0 {
		k.meta = stack.Meta{Peer: p.Meta.Peer, Media: p.Meta.Media, Flags: p.Meta.Flags & stack.FlagDroppable}
	}
	k.announced = int(h.Parity)
	gap := false
	for j := range idx {
		if k.data[j] == nil {
			gap = true
			break
		}
	}
	switch {
	case r.holding:
		r.held = append(r.held, held{p, idx})
	case gap && h.Parity > 0 && l.cfg.Hold > 0:
		r.holding, r.holdID, r.holdUntil = true, k.id, now.Add(l.cfg.Hold)
		r.held = append(r.held, held{p, idx})
		b.Count("held", 1)
	default:
		l.Base.Up(p)
	}
	r.settle(k)
}

func (r *receiver) parity(p *stack.Packet, h Header, now time.Time) {
	l, b := r.l, r.l.Binding()
	r.track(h.Seq, now)
	if r.holding && h.Block != r.holdID {
		r.release()
	}
	k := r.block(h.Block, now)
	if k == nil {
		p.Release()
		return
	}
	size := p.Len()
	switch {
	case k.k != 0 && (k.k != int(h.K) || k.size != size):
		b.Drop(p, "inconsistent")
		return
	case int(h.K) < len(k.data):
		b.Drop(p, "inconsistent")
		return
	}
	for _, c := range k.data {
		if c != nil && len(c) > size {
			b.Drop(p, "inconsistent")
			return
		}
	}
	k.k, k.size, k.announced = int(h.K), size, int(h.Parity)
	idx := int(h.Index)
	if k.done || k.have >= k.k || (idx < len(k.parity) && k.parity[idx] != nil) {
		l.n.useless++
		p.Release()
		r.settle(k)
		return
	}
	if len(k.parity) <= idx {
		k.parity = slices.Grow(k.parity, idx+1-len(k.parity))[:idx+1]
	}
	if c, ok := r.keep(k, p.Bytes()); ok {
		k.parity[idx] = c[lenPrefix:]
		k.nparity++
	}
	p.Release()
	r.settle(k)
	if r.holding && r.holdID == k.id && !k.done && idx+1 >= k.announced {
		r.release() // the last parity sent with the data is in: no more coming
	}
}

// settle rebuilds k's missing data when it has enough shards, passes the
// rebuilt packets up (with what was held for them, in order), and marks
// it done when nothing is missing.
func (r *receiver) settle(k *rblock) {
	if k.done || k.k == 0 {
		return
	}
	if k.have >= k.k {
		k.done = true
		if r.holding && r.holdID == k.id {
			r.release()
		}
		return
	}
	if k.have+k.nparity < k.k {
		return
	}
	l, b := r.l, r.l.Binding()
	shards := make([][]byte, k.k+len(k.parity))
	slab := make([]byte, k.k*k.size)
	missing := make([]int, 0, k.k-k.have)
	for i := range k.k {
		if i < len(k.data) && k.data[i] != nil {
			shards[i] = slab[i*k.size : (i+1)*k.size]
			copy(shards[i], k.data[i])
		} else {
			shards[i] = slab[i*k.size : i*k.size]
			missing = append(missing, i)
		}
	}
	copy(shards[k.k:], k.parity)
	if err := reconstruct(k.k, shards); err != nil {
		b.Count("reconstruct-failed", 1)
		return
	}
	k.done = true
	var out []held
	for _, i := range missing {
		s := shards[i]
		n := int(binary.BigEndian.Uint16(s))
		if n+lenPrefix > len(s) {
			b.Drop(nil, "bad-shard")
			continue
		}
		p := b.Pool.FromBytes(0, s[lenPrefix:lenPrefix+n])
		p.Meta = k.meta
		out = append(out, held{p, i})
		l.n.recovered++
	}
	if r.holding && r.holdID == k.id {
		r.held = append(r.held, out...)
		r.release()
		return
	}
	for _, h := range out {
		l.Base.Up(h.p)
	}
}

// release passes up what was held, in block order.
func (r *receiver) release() {
	hs := r.held
	r.held, r.holding = r.held[:0], false
	slices.SortStableFunc(hs, func(a, b held) int { return a.idx - b.idx })
	for i, h := range hs {
		r.l.Base.Up(h.p)
		hs[i] = held{}
	}
}

func (r *receiver) free(k *rblock) {
	r.l.Binding().Memory.Release(k.cost)
	r.bytes -= k.cost
	k.cost, k.data, k.parity = 0, nil, nil
	delete(r.blocks, k.id)
}

func (r *receiver) dropOldest() {
	id := r.order[0]
	r.order = r.order[1:]
	if k := r.blocks[id]; k != nil {
		if r.holding && r.holdID == id {
			r.release()
		}
		r.free(k)
	}
}

func (r *receiver) timer(now time.Time) {
	if r.holding && !now.Before(r.holdUntil) {
		r.l.Binding().Count("hold-expired", 1)
		r.release()
	}
	for len(r.order) > 0 {
		k := r.blocks[r.order[0]]
		if k != nil && now.Sub(k.at) < r.l.cfg.Keep {
			break
		}
		r.dropOldest()
	}
	if !r.reportAt.IsZero() && !now.Before(r.reportAt) {
		r.reportAt = time.Time{}
		if r.expected > 0 {
			lost := r.expected - min(r.received, r.expected)
			ppm := lost * 1e6 / r.expected
			b := r.l.Binding()
			p := b.NewPacket(24)
			p.Append(appendReport(nil, ppm, r.expected))
			p.Meta.Flags = stack.FlagControl | stack.FlagForSender // only the sender uses it
			r.expected, r.received = 0, 0
			r.l.Base.Down(p)
		}
	}
}

func (r *receiver) deadline() time.Time {
	var t time.Time
	early := func(d time.Time) {
		if !d.IsZero() && (t.IsZero() || d.Before(t)) {
			t = d
		}
	}
	if r.holding {
		early(r.holdUntil)
	}
	early(r.reportAt)
	if len(r.order) > 0 {
		if k := r.blocks[r.order[0]]; k != nil {
			early(k.at.Add(r.l.cfg.Keep))
		} else {
			early(r.l.Binding().Now())
		}
	}
	return t
}

func (r *receiver) close() {
	for _, h := range r.held {
		h.p.Release()
	}
	r.held, r.holding = nil, false
	for len(r.order) > 0 {
		r.dropOldest()
	}
}
