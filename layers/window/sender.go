package window

import (
	"container/heap"
	"time"
	"unsafe"

	"github.com/rwanda-go/rwanda/stack"
)

// Slot states.
const (
	slotFree      = iota
	slotOut       // sent, not yet acknowledged
	slotSacked    // selectively acknowledged (ack mode)
	slotAbandoned // given up: past its deadline, or evicted
)

// slot is one retained packet of the sender's window.
type slot struct {
	pk     *stack.Packet // retained; nil once acknowledged or abandoned
	mark   stack.Mark    // the payload, without the window header
	state  uint8
	inPipe bool // counted as in flight
	lost   bool // marked for retransmission
	tries  int
	// flown: abandoned while sent and not yet acknowledged. An ack for it
	// still says the network delivered a packet (congestion control and
	// the RTO count it), once.
	flown    bool
	sentAt   time.Time // last transmission
	deadline time.Time
	tag      *stack.Tag // the packet's parcel, when it has a latest-wins key; nil once finished
}

// sender is the sending half of the window: numbering, retention,
// retransmission, congestion and flow control.
type sender struct {
	l    *Layer
	cfg  Config
	nak  bool
	base uint64 // the 64-bit number of ISN

	slots    []slot // a ring of retransmission slots, grown up to Size as packets are outstanding
	peak     uint64 // the most packets outstanding since the ring last changed size or was idle
	una, nxt uint64 // oldest retained; next new number
	pipe     int    // packets in flight (sent, not acked, not marked lost)
	done     int    // sacked or abandoned slots in [una, nxt)
	lostN    int    // slots marked lost and not yet resent
	retxFrom uint64 // where to look for lost slots

	queue       []*stack.Packet // waiting for room in the window
	qhead       int
	queuedBytes int
	roomWanted  bool // Room reached zero: say "room" when it frees

	// Ack mode.
	peer         uint64 // the receiver (locked on its first ack)
	cwnd         float64
	ssthresh     float64
	rwnd         int
	srtt, rttvar time.Duration
	rto          time.Duration
	minRTT       time.Duration
	minRTTAt     time.Time
	hasRTT       bool
	backoff      int
	rtoAt        time.Time
	ptoAt        time.Time // tail loss probe
	probed       bool      // a probe went out since the last progress
	inRecovery   bool
	recoverUntil uint64
	highSacked   uint64
	rackSent     time.Time // latest transmission time of a packet the receiver has
	lastCut      time.Time
	// After F-RTO (RFC 5682): set when a retransmission timeout resent
	// only the oldest packet; the next acknowledgement with news says
	// whether the timeout was spurious (undone) or a loss (everything
	// resent).
	frtoAt       time.Time
	undoCwnd     float64 // the window and threshold before that timeout
	undoSsthresh float64
	undoRecovery bool      // whether a loss episode was open before it
	undoUntil    uint64    // and until where
	skipAt       time.Time // when a SKIP for the floor was last sent
	// The smallest round-trip sample of the current round (about one
	// smoothed round trip of samples) and of the last: what congestion
	// anticipation weighs, so that a burst of late samples (a receiver or
	// path that stalled for a moment) is not taken for a standing queue.
	roundMin, lastRoundMin time.Duration
	roundAt                time.Time

	// Nak mode.
	receivers map[uint64]*rcvInfo // at most cfg.MaxReceivers
	newest    *rcvInfo            // the receivers by when last heard: newest first,
	oldest    *rcvInfo            // oldest last
	byCum     rcvHeap             // the receivers by cum, lowest first
	heardAt   time.Time           // the last time any receiver was heard from (or the first send)
	hbAt      time.Time
	hbGap     time.Duration
	lastSync  time.Time
	// The pace of new packets (see firstHeartbeat): when the last was
	// sent, the smoothed gap between them, and whether the last gap was
	// within a quarter of it.
	lastNew time.Time
	pace    time.Duration
	steady  bool
	fresh   uint64 // new packets sent: answers to NAKs are earned from them
	repair  bucket // answers to NAKs, all receivers together
	nakMax  uint64 // the most numbers one NAK may ask for, in all its ranges

	skips []span // abandoned numbers to announce at the end of the call

	// Latest-wins keys (stack.Tag.Key): the newest numbered parcel of
	// each key with packets retained, and the parcels of each key queued.
	keyed map[string]*keyRun
	qkeys map[string]*queuedRun
	timed int // retained packets that have a deadline

	liveFrom []int32 // scratch for Unacknowledged
}

// keyRun is the newest numbered parcel of a latest-wins key while packets
// of it are retained. The packets of one parcel (frag's fragments) share
// one *stack.Tag, and every posting gets its own (see stack.Tag), so the
// pointer tells parcels apart.
type keyRun struct {
	tag  *stack.Tag
	seqs []uint64 // the parcel's numbers
	live int      // its packets still retained
}

// queuedRun is what the send queue holds of a latest-wins key.
type queuedRun struct {
	tag  *stack.Tag // the newest parcel queued
	head *stack.Tag // the parcel whose packet left the queue last: maybe partly numbered
	n    int        // packets of the key queued
}

// rcvInfo is what a nak-mode sender knows of one receiver.
type rcvInfo struct {
	id     uint64
	cum    uint64 // the receiver has everything below
	heard  time.Time
	newer  *rcvInfo // the list by when last heard
	older  *rcvInfo
	idx    int    // position in sender.byCum
	repair bucket // answers to this receiver's NAKs
}

// rcvCost is what tracking one receiver is charged to the memory budget:
// its record, its place in the heap and its map entry (an estimate).
const rcvCost = int64(unsafe.Sizeof(rcvInfo{})) + 8 + 48

// nakMaxCap bounds the numbers one NAK may ask for whatever the window:
// 16 on average for each of the maxRanges ranges a NAK carries.
const nakMaxCap = 16 * maxRanges

// bucket is a token bucket of answers to NAKs (nak mode). It fills when
// drawn from, with tokens earned by the new packets the sender has sent
// since (a multiple of the stream's own rate) and by the time passed (a
// floor, for slow streams), up to a burst. Only the clock readings the
// layer is given drive it.
type bucket struct {
	tokens float64
	fresh  uint64    // sender.fresh at the last fill
	at     time.Time // the clock at the last fill
}

func (b *bucket) fill(fresh uint64, now time.Time, perPacket, perSecond, burst float64) {
	t := b.tokens + float64(fresh-b.fresh)*perPacket
	if now.After(b.at) {
		t += now.Sub(b.at).Seconds() * perSecond
		b.at = now
	}
	b.tokens, b.fresh = min(t, burst), fresh
}

// rcvHeap orders receivers by cum, so the floor every receiver has is at
// hand without a pass over them all (container/heap).
type rcvHeap []*rcvInfo

func (h rcvHeap) Len() int           { return len(h) }
func (h rcvHeap) Less(i, j int) bool { return h[i].cum < h[j].cum }
func (h rcvHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}
func (h *rcvHeap) Push(x any) {
	r := x.(*rcvInfo)
	r.idx = len(*h)
	*h = append(*h, r)
}
func (h *rcvHeap) Pop() any {
	old := *h
	r := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return r
}

func (s *sender) init(l *Layer, nak bool) {
	s.l, s.cfg, s.nak = l, l.cfg, nak
	s.base = 1<<32 + uint64(l.cfg.ISN)
	s.una, s.nxt, s.retxFrom = s.base, s.base, s.base
	s.cwnd = float64(l.cfg.InitialWnd)
	s.ssthresh = float64(l.cfg.Size)
	s.rwnd = l.cfg.Size
	s.rto = l.cfg.InitialRTO
	s.receivers = make(map[uint64]*rcvInfo)
	s.hbGap = l.cfg.Heartbeat
	s.nakMax = uint64(min(l.cfg.Size/4, nakMaxCap))
	s.repair = bucket{tokens: s.burst()}
}

// minSlots is the ring a sender starts with: the slots grow with the
// packets outstanding, up to Size, and shrink back when idle.
const minSlots = 16

// slotSize is what one retransmission slot takes.
const slotSize = int64(unsafe.Sizeof(slot{}))

// alloc allocates the first retransmission slots (a best-effort window
// has none), charging them to the memory budget.
func (s *sender) alloc() error {
	if s.slots != nil || s.cfg.Mode == BestEffort {
		return nil
	}
	return s.resize(min(minSlots, s.cfg.Size))
}

// resize lays the outstanding slots out in a ring of n (at least nxt-una),
// charging the difference to the memory budget.
func (s *sender) resize(n int) error {
	delta, mem := int64(n-len(s.slots))*slotSize, s.l.Binding().Memory
	if delta > 0 && !mem.Reserve(delta) {
		return errMemory("retransmission slots", n, delta, mem)
	}
	if delta < 0 {
		mem.Release(-delta)
	}
	s.l.reserved += delta
	ring := make([]slot, n)
	for seq := s.una; seq < s.nxt; seq++ {
		ring[seq%uint64(n)] = *s.slot(seq)
	}
	s.slots, s.peak = ring, s.nxt-s.una
	return nil
}

// ringRoom makes room in the ring for one more packet, doubling it up to
// Size; it reports false when the ring is at Size or the budget refuses
// ("no-memory": the window then acts as full until packets are
// acknowledged).
func (s *sender) ringRoom() bool {
	if s.nxt-s.una < uint64(len(s.slots)) {
		return true
	}
	if len(s.slots) >= s.cfg.Size {
		return false
	}
	if err := s.resize(min(2*len(s.slots), s.cfg.Size)); err != nil {
		s.l.Binding().Count("no-memory", 1)
		return false
	}
	return true
}

// number assigns the next sequence number (after canSend).
func (s *sender) number() uint64 {
	seq := s.nxt
	s.nxt++
	s.peak = max(s.peak, s.nxt-s.una)
	return seq
}

// burst is the most answers to NAKs all receivers together may have in
// hand: what a window of new packets earns them. One receiver may have a
// quarter of it.
func (s *sender) burst() float64     { return s.cfg.RepairRatio * float64(s.cfg.Size) }
func (s *sender) peerBurst() float64 { return s.burst() / 4 }

// fill tops up the sender's and r's repair buckets: all receivers together
// earn RepairRatio answers per new packet sent and RepairFloor per second,
// up to RepairRatio windows' worth; one receiver a quarter of each.
func (s *sender) fill(r *rcvInfo, now time.Time) {
	s.repair.fill(s.fresh, now, s.cfg.RepairRatio, s.cfg.RepairFloor, s.burst())
	r.repair.fill(s.fresh, now, s.cfg.RepairRatio/4, s.cfg.RepairFloor/4, s.peerBurst())
}

// draw takes one answer to a NAK from r's bucket and the sender's; when
// either is empty it takes nothing and returns the counter to charge.
func (s *sender) draw(r *rcvInfo) string {
	switch {
	case r.repair.tokens < 1:
		return "repair-limited-peer"
	case s.repair.tokens < 1:
		return "repair-limited"
	}
	r.repair.tokens--
	s.repair.tokens--
	return ""
}

func (s *sender) slot(seq uint64) *slot { return &s.slots[seq%uint64(len(s.slots))] }

// unwrap maps a 32-bit number from the wire to the 64-bit one nearest ref.
func unwrap(ref uint64, v uint32) uint64 { return ref + uint64(int64(int32(v-uint32(ref)))) }

// send takes a packet from the layer above.
func (s *sender) send(p *stack.Packet, now time.Time) error {
	if s.slots == nil && s.cfg.Mode == Reliable {
		// A receiver's stack allocates its sending half when first used.
		if err := s.alloc(); err != nil {
			p.Release()
			return err
		}
	}
	if s.cfg.Mode == BestEffort {
		seq := s.nxt
		s.una = seq // nothing is retained: the floor is the packet itself
		s.nxt++
		s.push(p, seq, flagBestEffort, time.Time{}, now)
		p.Meta.Seq = seq
		s.l.n.sent++
		return s.l.Base.Down(p)
	}
	if p.Meta.Deadline.IsZero() && s.cfg.TTL > 0 {
		p.Meta.Deadline = now.Add(s.cfg.TTL)
	}
	if s.qhead == len(s.queue) && s.lostN == 0 && s.canSend(now) && p.Meta.Deadline.IsZero() {
		// Nothing waits and the window is open: straight out.
		seq := s.number()
		sl := s.slot(seq)
		*sl = slot{pk: p, mark: p.Mark(), state: slotOut}
		s.numbered(seq, sl)
		return s.transmit(seq, sl, now)
	}
	if t := p.Meta.Tag; t != nil && t.Key != "" {
		s.supersedeQueued(t)
	}
	s.queue = append(s.queue, p)
	s.queuedBytes += p.Len()
	return s.pump(now)
}

// room is how many more bytes the queue takes before it is full.
func (s *sender) room() int {
	if s.cfg.Mode == BestEffort {
		return s.cfg.Queue
	}
	r := s.cfg.Queue - s.queuedBytes
	if r <= 0 {
		s.roomWanted = true
	}
	return r
}

// canSend reports whether the window lets one more new packet out.
func (s *sender) canSend(now time.Time) bool {
	if s.nxt-s.una >= uint64(s.cfg.Size) {
		if !s.nak {
			return false
		}
		s.release(now)
		if s.nxt-s.una >= uint64(s.cfg.Size) && len(s.receivers) == 0 && now.Sub(s.heardAt) >= s.cfg.RcvTimeout {
			// Nobody has been heard from for a receiver timeout: there is
			// nobody to wait for; make room.
			s.evictOldest()
		}
		return s.nxt-s.una < uint64(s.cfg.Size) && s.ringRoom()
	}
	if !s.ringRoom() {
		return false
	}
	if s.nak {
		return true
	}
	return float64(s.pipe) < min(s.cwnd, float64(s.rwnd))
}

// pump sends retransmissions, then new packets, as the window allows.
func (s *sender) pump(now time.Time) error {
	var err error
	if !s.nak && s.lostN > 0 {
		s.resendLost(now)
	}
	for s.qhead < len(s.queue) && s.canSend(now) {
		p := s.queue[s.qhead]
		s.queue[s.qhead] = nil
		s.qhead++
		s.queuedBytes -= p.Len()
		s.dequeued(p.Meta.Tag)
		if d := p.Meta.Deadline; !d.IsZero() && !now.Add(s.minRTT/2).Before(d) {
			s.l.Binding().Drop(p, "expired") // obsolete before it could arrive
			continue
		}
		seq := s.number()
		sl := s.slot(seq)
		*sl = slot{pk: p, mark: p.Mark(), state: slotOut, tries: 0, deadline: p.Meta.Deadline}
		if !sl.deadline.IsZero() {
			s.timed++
		}
		s.numbered(seq, sl)
		if e := s.transmit(seq, sl, now); e != nil && err == nil {
			err = e
		}
	}
	if s.qhead == len(s.queue) {
		s.queue, s.qhead = s.queue[:0], 0
	} else if s.qhead > 1024 && s.qhead*2 > len(s.queue) {
		n := copy(s.queue, s.queue[s.qhead:])
		clear(s.queue[n:])
		s.queue, s.qhead = s.queue[:n], 0
	}
	if s.roomWanted && s.queuedBytes < s.cfg.Queue/2 {
		s.roomWanted = false
		s.l.Binding().Emit(stack.Event{Kind: "room"})
	}
	return err
}

// supersedeQueued drops from the send queue, never sent, the packets of
// the parcels that a new parcel with tag t (and t's latest-wins key)
// supersedes: those of older parcels of the key still entirely queued
// (counted "superseded"). A parcel partly numbered (some of its fragments
// sent) is left whole: superseding its rest would only waste what was
// sent, and its retained packets are superseded once t's are numbered. It
// scans the queue only when a parcel of the key other than t is queued;
// the scan costs the queue's length.
func (s *sender) supersedeQueued(t *stack.Tag) {
	if s.qkeys == nil {
		s.qkeys = make(map[string]*queuedRun)
	}
	r := s.qkeys[t.Key]
	if r == nil {
		r = &queuedRun{}
		s.qkeys[t.Key] = r
	}
	if r.n > 0 && r.tag != t {
		j := s.qhead
		for i := s.qhead; i < len(s.queue); i++ {
			q := s.queue[i]
			if qt := q.Meta.Tag; qt != nil && qt != t && qt != r.head && qt.Key == t.Key {
				s.queuedBytes -= q.Len()
				r.n--
				s.l.Binding().Drop(q, "superseded")
				continue
			}
			s.queue[j] = q
			j++
		}
		clear(s.queue[j:])
		s.queue = s.queue[:j]
	}
	r.tag = t
	r.n++
}

// dequeued notes that a packet of the parcel with tag t left the queue.
func (s *sender) dequeued(t *stack.Tag) {
	if t == nil || t.Key == "" {
		return
	}
	if r := s.qkeys[t.Key]; r != nil {
		r.head = t
		if r.n--; r.n <= 0 {
			delete(s.qkeys, t.Key)
		}
	}
}

// numbered notes that the packet in sl was numbered seq. When it is of a
// newer parcel than the newest numbered of its latest-wins key, the older
// parcel's packets not yet acknowledged are abandoned (counted
// "superseded"): never retransmitted, and the receivers are told to skip
// them as for expired parcels, so order does not wait. The send queue is
// first in, first out, so every packet of the older parcel was numbered
// before the newer parcel's first: a parcel is never superseded by its
// own fragments, and the newest parcel of a key is never abandoned for
// its key (whatever parcel supersedes it will itself be delivered or
// superseded in turn, so the latest value gets through).
func (s *sender) numbered(seq uint64, sl *slot) {
	t := sl.pk.Meta.Tag
	if t == nil || t.Key == "" {
		return
	}
	sl.tag = t
	if s.keyed == nil {
		s.keyed = make(map[string]*keyRun)
	}
	r := s.keyed[t.Key]
	switch {
	case r == nil:
		r = &keyRun{tag: t}
		s.keyed[t.Key] = r
	case r.tag != t:
		old := r.tag
		for _, q := range r.seqs {
			if q < s.una || q >= seq {
				continue
			}
			if o := s.slot(q); o.tag == old && o.pk != nil && o.state == slotOut {
				s.abandon(q, o, "superseded") // finish may forget r: put it back below
			}
		}
		r.tag, r.seqs, r.live = t, r.seqs[:0], 0
		s.keyed[t.Key] = r
	}
	r.seqs = append(r.seqs, seq)
	r.live++
}

// unkey notes that sl's packet is no longer retained.
func (s *sender) unkey(sl *slot) {
	t := sl.tag
	sl.tag = nil
	if r := s.keyed[t.Key]; r != nil && r.tag == t {
		if r.live--; r.live <= 0 {
			delete(s.keyed, t.Key)
		}
	}
}

// push writes the DATA header for seq onto p.
func (s *sender) push(p *stack.Packet, seq uint64, flags byte, deadline time.Time, now time.Time) {
	if s.nak {
		flags |= flagNak
	}
	var ttl time.Duration
	if !deadline.IsZero() {
		// What is left when it arrives: less the one-way trip (half the
		// smallest round trip: the smoothed one includes queueing and the
		// receiver's ack delay).
		ttl = max(deadline.Sub(now)-s.minRTT/2, time.Microsecond)
	}
	var scratch [maxDataHeader]byte
	h := appendData(scratch[:0], flags, uint32(seq), uint32(s.una), ttl)
	copy(p.Push(len(h)), h)
}

// transmit sends (or resends) a retained slot.
func (s *sender) transmit(seq uint64, sl *slot, now time.Time) error {
	var flags byte
	if sl.tries > 0 {
		flags |= flagRetransmit
		s.l.n.retransmits++
	} else {
		s.l.n.sent++
		s.fresh++
	}
	if s.heardAt.IsZero() {
		s.heardAt = now // the grace period before evicting starts with the stream
	}
	sl.tries++
	sl.sentAt = now
	if sl.lost {
		sl.lost = false
		s.lostN--
	}
	p := sl.pk
	p.Restore(sl.mark)
	s.push(p, seq, flags, sl.deadline, now)
	p.Meta.Peer = 0
	// For the layers below (fec): the number, and whether this is a
	// repeat, as stack.Meta documents them on the way down.
	p.Meta.Seq = seq
	if flags&flagRetransmit != 0 {
		p.Meta.Flags |= stack.FlagRetransmit
	} else {
		p.Meta.Flags &^= stack.FlagRetransmit
	}
	p.Retain()
	if !sl.inPipe {
		sl.inPipe = true
		s.pipe++
	}
	if s.nak {
		s.hbGap = s.firstHeartbeat(now, flags&flagRetransmit == 0)
		s.hbAt = now.Add(s.hbGap)
	} else {
		if s.rtoAt.IsZero() {
			s.rtoAt = now.Add(s.currentRTO())
		}
		if s.ptoAt.IsZero() && !s.probed {
			s.ptoAt = now.Add(s.pto())
		}
	}
	return s.l.Base.Down(p)
}

// pto is the tail loss probe timeout (after RFC 8985): two round trips
// plus twice the receiver's ack delay (so a delayed ack is not mistaken
// for a loss), and never later than the retransmission timeout.
func (s *sender) pto() time.Duration {
	if !s.hasRTT {
		return s.currentRTO() / 2
	}
	return min(2*s.srtt+2*s.cfg.AckDelay, s.currentRTO())
}

// probe sends one packet when acknowledgements have stopped coming: new
// data if the queue has some, else the newest outstanding packet again,
// so the receiver's answer (with its selective acks) shows what is lost,
// without waiting for the retransmission timeout.
func (s *sender) probe(now time.Time) {
	s.ptoAt, s.probed = time.Time{}, true
	if s.una == s.nxt {
		return
	}
	s.l.Binding().Count("tlp", 1)
	if s.qhead < len(s.queue) && s.nxt-s.una < uint64(s.cfg.Size) && float64(s.pipe) < float64(s.rwnd) {
		s.cwnd++ // let exactly one new packet out
		s.pump(now)
		s.cwnd--
		return
	}
	for seq := s.nxt - 1; seq >= s.una && seq+1 > s.una; seq-- {
		sl := s.slot(seq)
		if sl.state == slotOut {
			if !sl.deadline.IsZero() && !now.Before(sl.deadline) {
				s.abandon(seq, sl, "abandoned")
				return
			}
			s.transmit(seq, sl, now)
			return
		}
		if seq == s.una {
			return
		}
	}
}

func (s *sender) currentRTO() time.Duration {
	return min(s.rto<<min(s.backoff, 30), s.cfg.MaxRTO)
}

// finish drops a slot's packet (acknowledged or abandoned).
func (s *sender) finish(sl *slot, state uint8) {
	if sl.pk != nil {
		if !sl.deadline.IsZero() {
			s.timed--
		}
		if sl.tag != nil {
			s.unkey(sl)
		}
		sl.pk.Release()
		sl.pk = nil
	}
	if sl.inPipe {
		sl.inPipe = false
		s.pipe--
	}
	if sl.lost {
		sl.lost = false
		s.lostN--
	}
	if state == slotFree {
		sl.flown = false
	}
	sl.state = state
}

// abandon gives up a slot past its deadline (or evicted) and queues a SKIP.
func (s *sender) abandon(seq uint64, sl *slot, reason string) {
	if sl.state == slotAbandoned || sl.state == slotFree {
		return
	}
	if sl.state == slotSacked {
		s.done--
	}
	flown := sl.state == slotOut
	s.finish(sl, slotAbandoned)
	sl.flown = flown
	s.done++
	s.l.Binding().Count(reason, 1)
	s.addSkip(seq)
}

func (s *sender) addSkip(seq uint64) {
	v := uint32(seq)
	if n := len(s.skips); n > 0 && s.skips[n-1].to == v {
		s.skips[n-1].to++
		return
	}
	s.skips = append(s.skips, span{v, v + 1})
}

// flushSkips sends the SKIPs queued during this call.
func (s *sender) flushSkips() {
	for len(s.skips) > 0 {
		n := min(len(s.skips), s.l.ranges)
		s.l.control(appendSkip(s.l.scratch[:0], s.skips[:n]))
		s.skips = s.skips[n:]
	}
	s.skips = s.skips[:0]
}

// advance moves una over acknowledged, abandoned or (nak mode) released
// slots at the bottom of the window.
func (s *sender) advance(upTo uint64) {
	for s.una < upTo && s.una < s.nxt {
		sl := s.slot(s.una)
		if sl.state == slotSacked || sl.state == slotAbandoned {
			s.done--
		}
		s.finish(sl, slotFree)
		s.una++
	}
	if s.retxFrom < s.una {
		s.retxFrom = s.una
	}
	if s.una == s.nxt {
		if len(s.slots) > minSlots && s.peak*4 <= uint64(len(s.slots)) {
			// Idle, and the ring is four times what was outstanding at
			// most since the last idle moment: give the slack back.
			s.resize(max(minSlots, len(s.slots)/2)) // releases budget: cannot fail
		}
		s.peak = 0
	}
}

// ---- ack mode ----

// onAck handles a receiver's acknowledgement. Its cost is bounded whatever
// it says: its selective ranges count only up to the number of packets
// outstanding in all (the rest is ignored and counted "ack-excess"), and
// loss detection runs only when the acknowledgement acknowledged something
// new, which only the sender's own packets can be.
func (s *sender) onAck(from uint64, m *msg, now time.Time) {
	b := s.l.Binding()
	if s.nak || s.cfg.Mode == BestEffort || s.slots == nil {
		b.Count("stray-feedback", 1)
		return
	}
	if s.peer == 0 {
		s.peer = from
	} else if from != s.peer {
		b.Count("foreign-ack", 1)
		return
	}
	cum := unwrap(s.una, m.seq)
	if cum > s.nxt || cum < s.una-uint64(s.cfg.Size) {
		b.Count("bad-ack", 1)
		return
	}
	// The round-trip sample comes from the packet that made the receiver
	// answer, if this ack is the first news of it and it went out once.
	var sample time.Duration = -1
	if newest := unwrap(s.una, m.floor); newest >= s.una && newest < s.nxt {
		if sl := s.slot(newest); sl.delivered() && sl.tries == 1 {
			sample = now.Sub(sl.sentAt)
		}
	}
	// Packets abandoned in flight (their deadline passed) that arrive
	// count as delivered here: the network carried them. Without this a
	// queue of postings near their deadline starves the window: what it
	// sends is abandoned before the ack, no ack counts, the window never
	// opens and the RTO backs off.
	newly := 0
	original := false // news of a packet not resent since an F-RTO timeout
	for seq := s.una; seq < cum; seq++ {
		sl := s.slot(seq)
		if sl.delivered() {
			newly++
			if sl.sentAt.After(s.rackSent) {
				s.rackSent = sl.sentAt
			}
			original = original || sl.sentAt.Before(s.frtoAt)
		}
	}
	if cum > s.una {
		s.advance(cum)
	}
	left, excess := s.nxt-s.una, uint64(0) // what is outstanding: a receiver's ranges never overlap
	for _, sp := range m.spans {
		from, to := unwrap(s.una, sp.from), unwrap(s.una, sp.to)
		from, to = max(from, s.una), min(to, s.nxt)
		if from >= to {
			continue
		}
		if to-from > left {
			excess += to - from - left
			to = from + left
		}
		left -= to - from
		for seq := from; seq < to; seq++ {
			sl := s.slot(seq)
			if sl.state == slotAbandoned && sl.flown {
				sl.flown = false // counted once; it stays abandoned
				newly++
				continue
			}
			if sl.state != slotOut {
				continue
			}
			if sl.sentAt.After(s.rackSent) {
				s.rackSent = sl.sentAt
			}
			original = original || sl.sentAt.Before(s.frtoAt)
			s.finish(sl, slotSacked)
			s.done++
			newly++
			s.highSacked = max(s.highSacked, seq)
		}
	}
	if excess > 0 {
		b.Count("ack-excess", excess)
	}
	s.rwnd = int(m.rwnd)
	if sample >= 0 {
		s.updateRTT(sample, now)
	}
	if newly > 0 && !s.frtoAt.IsZero() {
		s.frto(original)
	}
	if newly > 0 {
		s.backoff = 0
		s.probed = false
		s.grow(newly, now)
	}
	if s.inRecovery && s.una >= s.recoverUntil {
		s.inRecovery = false
	}
	if newly > 0 {
		// Without news, the evidence detectLoss weighs is unchanged.
		s.detectLoss(now)
	}
	// The receiver is stuck on numbers we abandoned: tell it again, at
	// most once per round trip (and per holdoff, before there is one).
	if s.una < s.nxt && s.slot(s.una).state == slotAbandoned && now.Sub(s.skipAt) >= max(s.srtt, s.cfg.Holdoff) {
		s.skipAt = now
		s.skipAbandoned()
	}
	if s.una == s.nxt || s.pipe == 0 && s.lostN == 0 {
		s.rtoAt, s.ptoAt = time.Time{}, time.Time{}
	} else if newly > 0 {
		s.rtoAt = now.Add(s.currentRTO())
		s.ptoAt = now.Add(s.pto())
	}
	s.pump(now)
}

// delivered says whether an acknowledgement of the slot is news of a
// packet the network carried: one out, or abandoned while out and not yet
// counted.
func (sl *slot) delivered() bool {
	return sl.state == slotOut || sl.state == slotAbandoned && sl.flown
}

// skipAbandoned re-announces every abandoned number in the window.
func (s *sender) skipAbandoned() {
	for seq := s.una; seq < s.nxt; seq++ {
		if s.slot(seq).state == slotAbandoned {
			s.addSkip(seq)
		}
	}
}

// updateRTT folds in a round-trip sample as RFC 6298 says.
func (s *sender) updateRTT(r time.Duration, now time.Time) {
	if !s.hasRTT {
		s.srtt, s.rttvar, s.hasRTT = r, r/2, true
	} else {
		d := s.srtt - r
		if d < 0 {
			d = -d
		}
		s.rttvar = (3*s.rttvar + d) / 4
		s.srtt = (7*s.srtt + r) / 8
	}
	s.rto = min(max(s.srtt+max(4*s.rttvar, time.Millisecond), s.cfg.MinRTO), s.cfg.MaxRTO)
	if s.minRTT == 0 || r < s.minRTT || now.Sub(s.minRTTAt) > 10*time.Second {
		s.minRTT, s.minRTTAt = r, now
	}
	if s.roundAt.IsZero() || now.Sub(s.roundAt) >= s.srtt {
		s.lastRoundMin, s.roundMin, s.roundAt = s.roundMin, r, now
	} else {
		s.roundMin = min(s.roundMin, r)
	}
}

// queueRTT is the round trip congestion anticipation weighs: the smallest
// sample of the last round or of this one so far. A queue raises every
// sample of a round; a stall raises only those of what was in flight
// when it began, and the samples of what is sent after it are low again.
func (s *sender) queueRTT() time.Duration {
	if s.lastRoundMin == 0 {
		return s.roundMin
	}
	return min(s.lastRoundMin, s.roundMin)
}

// congested reports what the rising RTT says: 0 no, 1 hold the window, 2
// cut it (congestion anticipation: queues are growing before any loss). It
// weighs queueRTT, not srtt.
func (s *sender) congested() int {
	if !s.cfg.Anticipate || !s.hasRTT || s.minRTT == 0 || s.cwnd < float64(2*s.cfg.AckEvery) {
		// Below two acknowledgements' worth of packets in flight the
		// receiver acknowledges on its timer, and the samples measure
		// the ack delay (and how late the timer fires), not queues.
		return 0
	}
	margin, rtt := s.cfg.MinRTO/4, s.queueRTT()
	switch {
	case rtt > 4*s.minRTT+2*margin:
		return 2
	case rtt > 2*s.minRTT+margin:
		return 1
	}
	return 0
}

// grow opens the congestion window for newly acknowledged packets: slow
// start below ssthresh, additive increase above, held or cut when the RTT
// says queues are building.
func (s *sender) grow(newly int, now time.Time) {
	switch s.congested() {
	case 2:
		if now.Sub(s.lastCut) >= s.srtt {
			s.lastCut = now
			s.cwnd = max(s.cwnd*7/8, 2)
			s.ssthresh = s.cwnd
			s.l.Binding().Count("anticipated", 1)
		}
		return
	case 1:
		return
	}
	if s.cwnd < s.ssthresh {
		s.cwnd += float64(newly)
	} else {
		s.cwnd += float64(newly) / s.cwnd
	}
	s.cwnd = min(s.cwnd, float64(s.cfg.Size))
}

// cut shrinks the window once per loss episode. A loss while the RTT
// shows no queue building is taken for random loss (a noisy link), not
// congestion: the window gives up an eighth, not half, and not below the
// initial window. A loss with queues building halves it.
func (s *sender) cut(now time.Time) {
	if s.inRecovery {
		return
	}
	s.inRecovery = true
	s.recoverUntil = s.nxt
	if s.hasRTT && s.congested() == 0 {
		s.cwnd = max(s.cwnd*7/8, float64(s.cfg.InitialWnd))
		s.ssthresh = s.cwnd
		s.l.Binding().Count("random-loss", 1)
	} else {
		s.ssthresh = max(float64(s.pipe)/2, 2)
		s.cwnd = s.ssthresh
	}
	s.lastCut = now
}

// detectLoss marks as lost the packets with at least three selectively
// acknowledged packets above them, and resends them (fast retransmit: a
// duplicate threshold, with no reordering window). A packet already
// retransmitted counts as lost again only once a packet sent after that
// retransmission has arrived (RACK's send-time rule), so one loss is never
// repaired twice on the strength of the same acks.
func (s *sender) detectLoss(now time.Time) {
	if s.highSacked < s.una {
		return
	}
	above := 0
	found := false
	for seq := s.highSacked; seq >= s.una && seq+1 > s.una; seq-- {
		sl := s.slot(seq)
		switch {
		case sl.state == slotSacked:
			above++
		case sl.state == slotOut && !sl.lost && above >= 3 && (sl.tries == 1 || sl.sentAt.Before(s.rackSent)):
			s.markLost(seq, sl)
			found = true
		}
		if seq == s.una {
			break
		}
	}
	if found {
		s.l.Binding().Count("fast-retransmit", 1)
		s.cut(now)
		s.resendLost(now)
	}
}

func (s *sender) markLost(seq uint64, sl *slot) {
	if sl.inPipe {
		sl.inPipe = false
		s.pipe--
	}
	if !sl.lost {
		sl.lost = true
		s.lostN++
	}
	if seq < s.retxFrom {
		s.retxFrom = seq
	}
}

// resendLost retransmits lost packets in order while the window allows,
// abandoning those that could no longer arrive in time.
func (s *sender) resendLost(now time.Time) {
	for seq := max(s.retxFrom, s.una); seq < s.nxt && s.lostN > 0; seq++ {
		sl := s.slot(seq)
		s.retxFrom = seq
		if !sl.lost {
			continue
		}
		if !sl.deadline.IsZero() && !now.Add(s.minRTT/2).Before(sl.deadline) {
			s.abandon(seq, sl, "abandoned")
			continue
		}
		if float64(s.pipe) >= max(s.cwnd, 1) {
			return
		}
		s.transmit(seq, sl, now)
	}
}

// onRTO handles the retransmission timer: back off, collapse the window,
// and resend from the oldest unacknowledged packet.
func (s *sender) onRTO(now time.Time) {
	s.rtoAt, s.ptoAt = time.Time{}, time.Time{}
	if s.una == s.nxt {
		return
	}
	b := s.l.Binding()
	b.Count("rto", 1)
	if s.backoff < 30 {
		s.backoff++
	}
	first := s.slot(s.una)
	if first.state == slotOut && (!s.frtoAt.IsZero() || s.hasRTT && s.pipe > 1) &&
		(first.deadline.IsZero() || now.Add(s.minRTT/2).Before(first.deadline)) {
		// After F-RTO (RFC 5682, with selective acks): resend only the
		// oldest packet (again, with the timer backed off, while nothing
		// is heard). If the first news is of packets sent before the
		// first timeout and not resent since, the originals were only
		// late (a receiver or a path that stalled): the timeout is
		// undone. Otherwise it was a loss (frto).
		if s.frtoAt.IsZero() {
			s.undoCwnd, s.undoSsthresh = s.cwnd, s.ssthresh
			s.undoRecovery, s.undoUntil = s.inRecovery, s.recoverUntil
			s.frtoAt = now
			s.ssthresh = max(float64(s.pipe)/2, 2)
			s.cwnd = 1
			s.inRecovery = true
			s.recoverUntil = s.nxt
		}
		s.transmit(s.una, first, now)
		s.rtoAt = now.Add(s.currentRTO())
		return
	}
	s.frtoAt = time.Time{}
	s.ssthresh = max(float64(s.pipe)/2, 2)
	s.cwnd = 1
	s.inRecovery = true
	s.recoverUntil = s.nxt
	s.loseAll()
	if s.slot(s.una).state == slotAbandoned {
		s.skipAbandoned()
	}
	s.resendLost(now)
	if s.una < s.nxt {
		s.rtoAt = now.Add(s.currentRTO())
	}
}

// loseAll marks every packet in flight lost.
func (s *sender) loseAll() {
	for seq := s.una; seq < s.nxt; seq++ {
		if sl := s.slot(seq); sl.state == slotOut {
			s.markLost(seq, sl)
		}
	}
}

// frto ends an F-RTO episode with the first acknowledgement that brings
// news. News of a packet sent before the timeout and not resent since
// (original) says the timeout was spurious: the window and threshold go
// back to what they were (RFC 4015's response, counted "spurious-rto").
// Otherwise only the resent packet got through: the timeout was a loss,
// and everything still in flight is marked lost and resent as the window
// allows (a conventional timeout, one round trip later).
func (s *sender) frto(original bool) {
	s.frtoAt = time.Time{}
	if original {
		s.l.Binding().Count("spurious-rto", 1)
		s.cwnd, s.ssthresh = max(s.cwnd, s.undoCwnd), s.undoSsthresh
		s.inRecovery, s.recoverUntil = s.undoRecovery, s.undoUntil
		return
	}
	s.loseAll()
}

// ---- nak mode ----

// touchReceiver returns the record of receiver from, heard now. A new one
// starts at the floor with a full repair bucket, after the receivers timed
// out are forgotten and, when MaxReceivers are still tracked or the memory
// budget refuses another, the least recently heard. Nil means the budget
// refuses and nobody is left to forget (counted "receiver-refused").
func (s *sender) touchReceiver(from uint64, now time.Time) *rcvInfo {
	r := s.receivers[from]
	if r != nil {
		s.unlink(r)
	} else {
		s.expireReceivers(now)
		for len(s.receivers) >= s.cfg.MaxReceivers {
			s.forget(s.oldest, "receiver-evicted")
		}
		for !s.l.Binding().Memory.Reserve(rcvCost) {
			if s.oldest == nil {
				s.l.Binding().Count("receiver-refused", 1)
				return nil
			}
			s.forget(s.oldest, "receiver-evicted")
		}
		r = &rcvInfo{id: from, cum: s.una, repair: bucket{tokens: s.peerBurst(), fresh: s.fresh, at: now}}
		s.receivers[from] = r
		heap.Push(&s.byCum, r)
	}
	r.heard = now
	r.newer, r.older = nil, s.newest
	if s.newest != nil {
		s.newest.newer = r
	} else {
		s.oldest = r
	}
	s.newest = r
	s.heardAt = now
	return r
}

// unlink takes r out of the list by when last heard.
func (s *sender) unlink(r *rcvInfo) {
	if r.newer != nil {
		r.newer.older = r.older
	} else {
		s.newest = r.older
	}
	if r.older != nil {
		r.older.newer = r.newer
	} else {
		s.oldest = r.newer
	}
	r.newer, r.older = nil, nil
}

// forget stops tracking r, counting why.
func (s *sender) forget(r *rcvInfo, reason string) {
	s.unlink(r)
	heap.Remove(&s.byCum, r.idx)
	delete(s.receivers, r.id)
	s.l.Binding().Memory.Release(rcvCost)
	s.l.Binding().Count(reason, 1)
}

// expireReceivers forgets the receivers not heard from for RcvTimeout,
// oldest first: the cost is the number forgotten.
func (s *sender) expireReceivers(now time.Time) {
	for s.oldest != nil && now.Sub(s.oldest.heard) >= s.cfg.RcvTimeout {
		s.forget(s.oldest, "receiver-timeout")
	}
}

// release frees what every live receiver has, and abandoned slots at the
// bottom.
func (s *sender) release(now time.Time) {
	s.expireReceivers(now)
	if s.slots == nil {
		return
	}
	low := s.una
	if len(s.byCum) > 0 {
		low = min(max(s.byCum[0].cum, s.una), s.nxt)
	}
	s.advance(low)
	for s.una < s.nxt && s.slot(s.una).state == slotAbandoned {
		s.advance(s.una + 1)
	}
}

func (s *sender) evictOldest() {
	sl := s.slot(s.una)
	s.abandon(s.una, sl, "evicted")
	s.advance(s.una + 1)
}

// onStatus takes a receiver's status: how far it has everything.
func (s *sender) onStatus(from uint64, m *msg, now time.Time) {
	if !s.nak || s.slots == nil {
		if s.nak && s.cfg.Mode == BestEffort {
			s.touchReceiver(from, now) // nothing to free: only who listens
		} else {
			s.l.Binding().Count("stray-feedback", 1)
		}
		return
	}
	r := s.touchReceiver(from, now)
	if r == nil {
		return
	}
	if cum := unwrap(s.una, m.seq); cum > r.cum && cum <= s.nxt {
		r.cum = cum
		heap.Fix(&s.byCum, r.idx)
	}
	s.release(now)
	s.pump(now)
}

// onNak answers a receiver's NAK: it repairs what the receiver misses (a
// packet at most once per holdoff), announces again what was abandoned,
// and says what is gone for good. What a NAK may cost is bounded: its
// ranges count only within [floor, next) and up to nakMax numbers in all
// (the rest is ignored and counted "nak-excess"); every answer (a repair,
// the first SKIP range, a SYNC) is drawn from the NAKing receiver's repair
// bucket and the sender's, and once either is empty the rest of the NAK is
// refused and counted ("repair-limited-peer", "repair-limited"): the
// receiver asks again.
func (s *sender) onNak(from uint64, m *msg, now time.Time) {
	b := s.l.Binding()
	if !s.nak || s.slots == nil {
		b.Count("stray-feedback", 1)
		return
	}
	r := s.touchReceiver(from, now)
	if r == nil {
		return
	}
	s.fill(r, now)

	// What is asked, clipped to what is retained and to nakMax in all.
	var want [maxRanges]struct{ lo, hi uint64 }
	n, left := 0, s.nakMax
	var excess uint64
	gone, bogus := false, false
	for _, sp := range m.spans[:min(len(m.spans), maxRanges)] {
		lo := unwrap(s.una, sp.from)
		hi := lo + uint64(sp.to-sp.from)
		if lo < s.una {
			gone, lo = true, s.una
		}
		if hi > s.nxt {
			bogus, hi = true, s.nxt // never sent
		}
		if lo >= hi {
			continue
		}
		if hi-lo > left {
			excess += hi - lo - left
			hi = lo + left
		}
		if lo < hi {
			left -= hi - lo
			want[n].lo, want[n].hi = lo, hi
			n++
		}
	}

	var suppressed uint64
	reskips := 0
answer:
	for i, w := range want[:n] {
		for seq := w.lo; seq < w.hi; seq++ {
			sl := s.slot(seq)
			limit := ""
			switch {
			case sl.state == slotAbandoned:
				limit = s.reskip(seq, r, &reskips)
			case sl.pk == nil:
			case sl.tries > 1 && now.Sub(sl.sentAt) < s.cfg.Holdoff:
				suppressed++ // repaired a moment ago
			case !sl.deadline.IsZero() && !now.Before(sl.deadline):
				s.abandon(seq, sl, "abandoned")
			default:
				if limit = s.draw(r); limit == "" {
					s.transmit(seq, sl, now)
				}
			}
			if limit != "" {
				refused := w.hi - seq
				for _, w := range want[i+1 : n] {
					refused += w.hi - w.lo
				}
				b.Count(limit, refused)
				break answer
			}
		}
	}
	if gone && now.Sub(s.lastSync) >= s.cfg.Holdoff { // one SYNC per holdoff says it for all
		if limit := s.draw(r); limit == "" {
			s.sync(now)
		} else {
			b.Count(limit, 1)
		}
	}
	if suppressed > 0 {
		b.Count("repair-suppressed", suppressed)
	}
	if excess > 0 {
		b.Count("nak-excess", excess)
	}
	if bogus {
		b.Count("bad-nak", 1)
	}
}

// reskip announces again an abandoned number a NAK asked for. The first
// SKIP range a NAK calls for is drawn from the repair buckets (it returns
// the counter to charge when they refuse), and one NAK calls for at most
// one SKIP message's worth of ranges.
func (s *sender) reskip(seq uint64, r *rcvInfo, started *int) string {
	v := uint32(seq)
	if n := len(s.skips); n > 0 && s.skips[n-1].to == v {
		s.skips[n-1].to++
		return ""
	}
	if *started >= s.l.ranges {
		return "" // the receiver asks again for the rest
	}
	if *started == 0 {
		if why := s.draw(r); why != "" {
			return why
		}
	}
	*started++
	s.skips = append(s.skips, span{v, v + 1})
	return ""
}

// maxPace is the longest gap between new packets that firstHeartbeat
// takes for a pace: a stream quiet for longer has none.
const maxPace = 500 * time.Millisecond

// firstHeartbeat is how long after a send (new, or a repair) the first
// heartbeat waits. A stream that sends new packets at a steady pace — the
// last gap within a quarter of the smoothed gap, of at most maxPace — is
// its own heartbeat: a receiver that lost a packet learns it from the
// next, due in one gap, so the heartbeat waits one and a half gaps and
// goes only when the pace breaks (a pointer updated 30 times a second
// would otherwise send a heartbeat 20 ms after each update, doubling its
// datagrams, for every member to read). Any other stream waits
// Config.Heartbeat.
func (s *sender) firstHeartbeat(now time.Time, fresh bool) time.Duration {
	if fresh {
		g := now.Sub(s.lastNew)
		switch {
		case s.lastNew.IsZero() || g > maxPace:
			s.pace, s.steady = 0, false
		case s.pace == 0:
			s.pace = g
		default:
			d := g - s.pace
			s.steady = max(d, -d) <= s.pace/4
			s.pace += d / 4
		}
		s.lastNew = now
	}
	if !s.steady {
		return s.cfg.Heartbeat
	}
	return max(s.cfg.Heartbeat, min(s.pace+s.pace/2, time.Second))
}

// sync sends a heartbeat: what was sent and what is gone.
func (s *sender) sync(now time.Time) {
	s.lastSync = now
	s.l.Binding().Count("heartbeats", 1)
	s.l.control(appendSync(s.l.scratch[:0], uint32(s.nxt), uint32(s.una)))
}

// onTimer runs the sender's timers.
func (s *sender) onTimer(now time.Time) {
	if !s.nak {
		switch {
		case !s.rtoAt.IsZero() && !now.Before(s.rtoAt):
			s.onRTO(now)
		case !s.ptoAt.IsZero() && !now.Before(s.ptoAt):
			s.probe(now)
		}
	} else {
		s.release(now)
		if !s.hbAt.IsZero() && !now.Before(s.hbAt) && s.nxt > s.base {
			s.sync(now)
			s.hbGap = min(2*s.hbGap, time.Second)
			s.hbAt = now.Add(s.hbGap)
		}
	}
	s.expire(now)
	s.pump(now)
}

// expire drops retained packets whose deadline has passed. In ack mode
// the sender knows which of them the receiver lacks: those are abandoned
// and skipped. In nak mode it does not: packets at the bottom of the
// buffer are let go and the heartbeat's floor tells receivers that
// whatever they lack below it is gone.
func (s *sender) expire(now time.Time) {
	if s.cfg.Mode == BestEffort || s.timed == 0 {
		return
	}
	if s.nak {
		moved := false
		for s.una < s.nxt {
			sl := s.slot(s.una)
			if sl.pk != nil && (sl.deadline.IsZero() || now.Before(sl.deadline)) {
				break
			}
			if sl.pk != nil {
				s.l.Binding().Count("expired", 1)
			}
			s.advance(s.una + 1)
			moved = true
		}
		if moved {
			s.sync(now)
		}
		return
	}
	for seq := s.una; seq < s.nxt; seq++ {
		sl := s.slot(seq)
		if sl.state != slotOut || sl.deadline.IsZero() {
			continue
		}
		if now.Before(sl.deadline) {
			break // deadlines rise with the numbers, near enough
		}
		s.abandon(seq, sl, "abandoned")
	}
}

// deadline is the sender's next timer.
func (s *sender) deadline() time.Time {
	// Run at the end of every call into the layer: plain comparisons, no
	// closure.
	t := earlier(s.rtoAt, s.ptoAt)
	if s.nak {
		t = earlier(t, s.hbAt)
		if s.qhead < len(s.queue) && len(s.receivers) == 0 && !s.heardAt.IsZero() {
			t = earlier(t, s.heardAt.Add(s.cfg.RcvTimeout)) // then evicting makes room
		}
		if s.una < s.nxt && s.oldest != nil {
			// Receivers may go quiet: look again when the least recently
			// heard would time out.
			t = earlier(t, s.oldest.heard.Add(s.cfg.RcvTimeout))
		}
	}
	for seq := s.una; s.timed > 0 && seq < s.nxt && seq < s.una+64; seq++ {
		if sl := s.slot(seq); sl.pk != nil && !sl.deadline.IsZero() {
			t = earlier(t, sl.deadline)
			break
		}
	}
	return t
}

// earlier returns the earlier of two deadlines, where the zero time is
// none.
func earlier(t, d time.Time) time.Time {
	if !d.IsZero() && (t.IsZero() || d.Before(t)) {
		return d
	}
	return t
}

// close releases everything the sender holds (the slots' reservation is
// the layer's to release).
func (s *sender) close() {
	for i := range s.slots {
		if s.slots[i].pk != nil {
			s.slots[i].pk.Release()
			s.slots[i].pk = nil
		}
	}
	s.slots = nil
	s.timed = 0
	s.liveFrom = nil
	for _, p := range s.queue[s.qhead:] {
		p.Release()
	}
	s.queue, s.qhead, s.queuedBytes = nil, 0, 0
	s.keyed, s.qkeys = nil, nil
	if n := len(s.receivers); n > 0 {
		s.l.Binding().Memory.Release(int64(n) * rcvCost)
		clear(s.receivers)
	}
	s.byCum, s.newest, s.oldest = nil, nil, nil
}
