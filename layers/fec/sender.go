package fec

import (
	"encoding/binary"
	"time"

	"github.com/rwanda-go/rwanda/layers/window"
	"github.com/rwanda-go/rwanda/stack"
)

// sblock is a block a sender keeps: copies of its data packets, each with
// its length in front, for parity now and on demand.
type sblock struct {
	id        uint32
	first     uint64   // Meta.Seq of its first data packet
	data      [][]byte // length-prefixed copies
	longest   int      // longest copy
	parity    int      // parity shards announced with the data
	next      int      // next parity index to send
	opened    time.Time
	deadline  time.Time // when all its data is obsolete; zero: never
	closed    bool
	roundEnd  time.Time // the current NAK round
	roundSent int       // parity sent in it
	want      int       // scratch: numbers a NAK asks of it
	meta      stack.Meta
	cost      int64 // bytes reserved
}

func (k *sblock) has(seq uint64) bool { return seq >= k.first && seq < k.first+uint64(len(k.data)) }

// sender is the sending half: blocks, proactive parity, parity for NAKs,
// and the receivers' loss reports.
type sender struct {
	l      *Layer
	cur    *sblock   // the open block
	kept   []*sblock // closed blocks, oldest first
	bytes  int64     // what cur and kept hold
	nextID uint32
	seq    uint16
	lastK  int // the size of the last block closed
	peers  map[uint64]*peerLoss
	spans  []window.Span
	rest   []window.Span
	touch  []*sblock
	buf    []byte
}

// peerLoss is one receiver's reported loss, smoothed.
type peerLoss struct {
	lost, expected float64 // decayed sums
	heard          time.Time
}

const maxPeers = 256

func (s *sender) init(l *Layer) { s.l, s.lastK = l, l.cfg.K }

// loss is the worst loss among receivers heard within ten report periods.
func (s *sender) loss(now time.Time) float64 {
	var worst float64
	for id, p := range s.peers {
		if now.Sub(p.heard) > 10*s.l.cfg.Report {
			delete(s.peers, id)
			continue
		}
		if p.expected > 0 {
			worst = max(worst, p.lost/p.expected)
		}
	}
	return worst
}

// report takes a receiver's loss report. Each report weighs as its
// packets; older ones decay by 7/8 a report, so the estimate spans about
// eight reports.
func (s *sender) report(peer uint64, ppm, n uint64, now time.Time) {
	if s.peers == nil {
		s.peers = make(map[uint64]*peerLoss)
	}
	p := s.peers[peer]
	if p == nil {
		if len(s.peers) >= maxPeers {
			var old uint64
			var at time.Time
			for id, q := range s.peers {
				if at.IsZero() || q.heard.Before(at) {
					old, at = id, q.heard
				}
			}
			delete(s.peers, old)
		}
		p = &peerLoss{}
		s.peers[peer] = p
	}
	n = min(n, 1<<20)
	p.lost = p.lost*7/8 + float64(n)*float64(ppm)/1e6
	p.expected = p.expected*7/8 + float64(n)
	p.heard = now
	s.l.Binding().Count("reports", 1)
}

// parityFor is the parity to send with a block of k data packets now.
func (s *sender) parityFor(k int, now time.Time) int {
	c := &s.l.cfg
	switch {
	case c.Fixed > 0:
		return min(c.Fixed, MaxShards-k)
	case c.Parity == Off:
		return 0
	}
	return ParityFor(k, s.loss(now), c.Residual)
}

// data sends a data packet in the open block (opening one if needed).
func (s *sender) data(p *stack.Packet, now time.Time) error {
	l, b := s.l, s.l.Binding()
	// A block is a run of consecutive numbers (Meta.Seq, from the window
	// above; without one, every number is 0 and any packets make a run),
	// and never spans frames (relay metadata: a datagram of video holds
	// one frame's data or less, parity included).
	if k := s.cur; k != nil && (len(k.data) >= l.cfg.K || p.Meta.Seq != 0 && p.Meta.Seq != k.first+uint64(len(k.data)) ||
		p.Meta.Frame() != k.meta.Frame()) {
		s.closeBlock(now)
	}
	if s.cur == nil {
		// Its data says the parity a block the size of the last one
		// would get; it closes with the parity its own size calls for.
		parity := s.parityFor(s.lastK, now)
		if parity == 0 && !l.cfg.Repair {
			// Nothing will ever be sent for it: no block.
			p.Push(1)[0] = kindPass
			return l.Base.Down(p)
		}
		s.cur = &sblock{id: s.nextID, first: p.Meta.Seq, parity: parity, opened: now, meta: p.Meta}
		s.nextID++
	}
	k := s.cur
	n := int64(p.Len() + lenPrefix)
	if !b.Memory.Reserve(n) {
		b.Count("no-memory", 1)
		s.closeBlock(now)
		p.Push(1)[0] = kindPass
		return l.Base.Down(p)
	}
	c := make([]byte, n)
	binary.BigEndian.PutUint16(c, uint16(p.Len()))
	copy(c[lenPrefix:], p.Bytes())
	k.cost += n
	s.bytes += n
	idx := len(k.data)
	k.data = append(k.data, c)
	k.longest = max(k.longest, len(c))
	switch d := p.Meta.Deadline; {
	case idx == 0:
		k.deadline = d
	case k.deadline.IsZero() || d.IsZero():
		k.deadline = time.Time{}
	case d.After(k.deadline):
		k.deadline = d
	}
	if p.Meta.Flags&stack.FlagDroppable == 0 {
		k.meta.Flags &^= stack.FlagDroppable
	}
	Header{Kind: kindData, Seq: s.seq, Block: k.id, Index: uint8(idx), Parity: uint8(k.parity)}.put(p.Push(DataLen))
	s.seq++
	l.n.data++
	err := l.Base.Down(p)
	if len(k.data) >= l.cfg.K {
		s.closeBlock(now)
	}
	return err
}

// closeBlock closes the open block: its proactive parity goes out (unless
// its data is obsolete), and it is kept for NAKs.
func (s *sender) closeBlock(now time.Time) {
	k := s.cur
	if k == nil {
		return
	}
	s.cur = nil
	k.closed = true
	if len(k.data) == 0 {
		return // opened and refused its first packet (no memory)
	}
	b := s.l.Binding()
	b.Count("blocks", 1)
	s.lastK = len(k.data)
	if m := s.parityFor(len(k.data), now); k.parity > 0 {
		k.parity = max(m, 1) // receivers were told parity is coming
	} else {
		k.parity = m
	}
	k.next = 0
	if k.parity > 0 {
		if !k.deadline.IsZero() && !now.Before(k.deadline) {
			b.Count("expired", 1) // no parity for what is obsolete
		} else {
			s.sendParity(k, k.parity)
		}
	}
	if !s.l.cfg.Repair {
		s.free(k)
		return
	}
	s.kept = append(s.kept, k)
	for s.bytes > int64(s.l.cfg.Buffer) && len(s.kept) > 0 {
		s.dropOldest()
	}
}

// sendParity sends n more parity shards of k, from index k.next.
func (s *sender) sendParity(k *sblock, n int) {
	total := min(k.next+n, MaxShards-len(k.data))
	if total <= k.next {
		return
	}
	l, b := s.l, s.l.Binding()
	size := k.longest
	slab := make([]byte, (len(k.data)+total)*size)
	data := make([][]byte, len(k.data))
	for i, c := range k.data {
		data[i] = slab[i*size : (i+1)*size]
		copy(data[i], c)
	}
	parity := make([][]byte, total)
	for i := range parity {
		o := (len(k.data) + i) * size
		parity[i] = slab[o : o+size]
	}
	if err := encode(data, parity); err != nil {
		b.Count("encode-failed", 1)
		return
	}
	for i := k.next; i < total; i++ {
		p := b.NewPacket(size)
		p.Append(parity[i])
		Header{Kind: kindParity, Seq: s.seq, Block: k.id, Index: uint8(i), K: uint8(len(k.data)), Parity: uint8(k.parity)}.put(p.Push(ParityLen))
		s.seq++
		p.Meta.Media = k.meta.Media
		p.Meta.Deadline = k.deadline
		p.Meta.Flags = k.meta.Flags & stack.FlagDroppable
		if k.deadline.IsZero() {
			p.Meta.Flags = 0
		}
		if i >= k.parity {
			l.n.repair++
		}
		l.n.parity++
		l.n.parityBytes += uint64(size)
		l.Base.Down(p)
	}
	k.next = total
}

// nak answers what it can of a NAK with parity and returns the NAK to
// pass up to the window: the numbers it answered taken out, or nil when
// none is left. A block is
// answered when it is kept and not obsolete: the first NAK for it in a
// round gets as many new parity shards as it asks numbers of the block,
// later NAKs in the round only what they ask beyond that, so one repair
// serves every receiver missing no more than the round sent.
func (s *sender) nak(p *stack.Packet, now time.Time) *stack.Packet {
	spans, ok := window.NakSpans(p.Bytes(), s.spans[:0])
	s.spans = spans
	if !ok {
		return p
	}
	if k := s.cur; k != nil {
		for _, sp := range spans {
			if d := int32(uint32(k.first) - sp.From); (d <= 0 && int32(sp.From-uint32(k.first)) < int32(len(k.data))) || (d > 0 && d < int32(sp.To-sp.From)) {
				s.closeBlock(now) // a NAK for the open block closes it
				break
			}
		}
	}
	if len(s.kept) == 0 {
		return p
	}
	rest, touch := s.rest[:0], s.touch[:0]
	base := s.kept[0].first
	unwrap := func(v uint32) uint64 { return base + uint64(int64(int32(v-uint32(base)))) }
	for _, sp := range spans {
		lo := unwrap(sp.From)
		hi := lo + uint64(sp.To-sp.From)
		for lo < hi {
			k := s.find(lo)
			if k == nil {
				// Up to the next kept block: the window's.
				end := hi
				for _, q := range s.kept {
					if q.first > lo && q.first < end {
						end = q.first
					}
				}
				rest = append(rest, window.Span{From: uint32(lo), To: uint32(end)})
				lo = end
				continue
			}
			end := min(hi, k.first+uint64(len(k.data)))
			if !k.deadline.IsZero() && !now.Before(k.deadline) {
				rest = append(rest, window.Span{From: uint32(lo), To: uint32(end)})
			} else {
				if k.want == 0 {
					touch = append(touch, k)
				}
				k.want += int(end - lo)
			}
			lo = end
		}
	}
	s.rest, s.touch = rest, touch
	if len(touch) == 0 {
		return p
	}
	b := s.l.Binding()
	for _, k := range touch {
		if !now.Before(k.roundEnd) {
			k.roundEnd, k.roundSent = now.Add(s.l.cfg.Round), 0
		}
		// At most a block's worth of parity per round.
		extra := min(k.want, len(k.data)) - k.roundSent
		if extra > 0 {
			before := k.next
			s.sendParity(k, extra)
			k.roundSent += k.next - before
			k.roundEnd = now.Add(s.l.cfg.Round) // the round lasts until a round trip after its last parity
			b.Count("nak-answered", 1)
		} else {
			b.Count("nak-suppressed", 1)
		}
		k.want = 0
	}
	if len(rest) == 0 {
		p.Release() // all answered: nothing for the window (a NAK without ranges is malformed)
		return nil
	}
	s.buf = window.AppendNak(s.buf[:0], rest)
	q := b.Pool.FromBytes(0, s.buf)
	q.Meta = p.Meta
	p.Release()
	return q
}

// find returns the kept block holding seq, or nil.
func (s *sender) find(seq uint64) *sblock {
	for i := len(s.kept) - 1; i >= 0; i-- {
		if k := s.kept[i]; k.has(seq) {
			return k
		} else if k.first+uint64(len(k.data)) <= seq {
			return nil
		}
	}
	return nil
}

func (s *sender) free(k *sblock) {
	s.l.Binding().Memory.Release(k.cost)
	s.bytes -= k.cost
	k.cost, k.data = 0, nil
}

func (s *sender) dropOldest() {
	s.free(s.kept[0])
	s.kept[0] = nil
	s.kept = s.kept[1:]
}

// closesByTime says whether k closes after Wait. A block with parity to
// send closes then (at the end of its burst when Wait is 0); one without
// has nothing to send until a NAK asks, so it stays open until it is
// full or a NAK touches it: the larger the block, the more receivers'
// different losses one parity shard repairs.
func (s *sender) closesByTime(k *sblock) bool { return k.parity > 0 || s.l.cfg.Wait > 0 }

func (s *sender) timer(now time.Time) {
	if k := s.cur; k != nil && s.closesByTime(k) && !now.Before(k.opened.Add(s.l.cfg.Wait)) {
		s.closeBlock(now)
	}
	for len(s.kept) > 0 {
		k := s.kept[0]
		if now.Sub(k.opened) < s.l.cfg.Keep && (k.deadline.IsZero() || now.Before(k.deadline)) {
			break
		}
		s.dropOldest()
	}
}

func (s *sender) deadline() time.Time {
	var t time.Time
	if s.cur != nil && s.closesByTime(s.cur) {
		t = s.cur.opened.Add(s.l.cfg.Wait)
	}
	if len(s.kept) > 0 {
		k := s.kept[0]
		d := k.opened.Add(s.l.cfg.Keep)
		if !k.deadline.IsZero() && k.deadline.Before(d) {
			d = k.deadline
		}
		if t.IsZero() || d.Before(t) {
			t = d
		}
	}
	return t
}

func (s *sender) close() {
	if s.cur != nil {
		s.free(s.cur)
		s.cur = nil
	}
	for len(s.kept) > 0 {
		s.dropOldest()
	}
}
