package window

import (
	"time"

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
	pk       *stack.Packet // retained; nil once acknowledged or abandoned
	mark     stack.Mark    // the payload, without the window header
	state    uint8
	inPipe   bool // counted as in flight
	lost     bool // marked for retransmission
	tries    int
	sentAt   time.Time // last transmission
	deadline time.Time
}

// sender is the sending half of the window: numbering, retention,
// retransmission, congestion and flow control.
type sender struct {
	l    *Layer
	cfg  Config
	nak  bool
	base uint64 // the 64-bit number of ISN

	slots    []slot
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
	skipAt       time.Time // when a SKIP for the floor was last sent

	// Nak mode.
	receivers map[uint64]*rcvInfo
	heardAt   time.Time // the last time any receiver was heard from (or the first send)
	hbAt      time.Time
	hbGap     time.Duration
	lastSync  time.Time

	skips []span // abandoned numbers to announce at the end of the call
	timed int    // retained packets that have a deadline
}

type rcvInfo struct {
	cum   uint64
	heard time.Time
}

func (s *sender) init(l *Layer, nak bool) {
	s.l, s.cfg, s.nak = l, l.cfg, nak
	s.base = 1<<32 + uint64(l.cfg.ISN)
	s.una, s.nxt, s.retxFrom = s.base, s.base, s.base
	s.slots = make([]slot, l.cfg.Size)
	s.cwnd = float64(l.cfg.InitialWnd)
	s.ssthresh = float64(l.cfg.Size)
	s.rwnd = l.cfg.Size
	s.rto = l.cfg.InitialRTO
	s.receivers = make(map[uint64]*rcvInfo)
	s.hbGap = l.cfg.Heartbeat
}

func (s *sender) slot(seq uint64) *slot { return &s.slots[seq%uint64(len(s.slots))] }

// unwrap maps a 32-bit number from the wire to the 64-bit one nearest ref.
func unwrap(ref uint64, v uint32) uint64 { return ref + uint64(int64(int32(v-uint32(ref)))) }

// send takes a packet from the layer above.
func (s *sender) send(p *stack.Packet, now time.Time) error {
	if s.cfg.Mode == BestEffort {
		seq := s.nxt
		s.una = seq // nothing is retained: the floor is the packet itself
		s.nxt++
		s.push(p, seq, flagBestEffort, time.Time{}, now)
		s.l.n.sent++
		return s.l.Base.Down(p)
	}
	if p.Meta.Deadline.IsZero() && s.cfg.TTL > 0 {
		p.Meta.Deadline = now.Add(s.cfg.TTL)
	}
	if s.qhead == len(s.queue) && s.lostN == 0 && s.canSend(now) && p.Meta.Deadline.IsZero() {
		// Nothing waits and the window is open: straight out.
		seq := s.nxt
		s.nxt++
		sl := s.slot(seq)
		*sl = slot{pk: p, mark: p.Mark(), state: slotOut}
		return s.transmit(seq, sl, now)
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
	if s.nxt-s.una >= uint64(len(s.slots)) {
		if !s.nak {
			return false
		}
		s.release(now)
		if s.nxt-s.una >= uint64(len(s.slots)) && len(s.liveReceivers(now)) == 0 && now.Sub(s.heardAt) >= s.cfg.RcvTimeout {
			// Nobody has been heard from for a receiver timeout: there is
			// nobody to wait for; make room.
			s.evictOldest()
		}
		return s.nxt-s.una < uint64(len(s.slots))
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
		if d := p.Meta.Deadline; !d.IsZero() && !now.Add(s.minRTT/2).Before(d) {
			s.l.Binding().Drop(p, "expired") // obsolete before it could arrive
			continue
		}
		seq := s.nxt
		s.nxt++
		sl := s.slot(seq)
		*sl = slot{pk: p, mark: p.Mark(), state: slotOut, tries: 0, deadline: p.Meta.Deadline}
		if !sl.deadline.IsZero() {
			s.timed++
		}
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
	p.Retain()
	if !sl.inPipe {
		sl.inPipe = true
		s.pipe++
	}
	if s.nak {
		s.hbGap = s.cfg.Heartbeat
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
	if s.qhead < len(s.queue) && s.nxt-s.una < uint64(len(s.slots)) && float64(s.pipe) < float64(s.rwnd) {
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
	s.finish(sl, slotAbandoned)
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
}

// ---- ack mode ----

// onAck handles a receiver's acknowledgement.
func (s *sender) onAck(from uint64, m *msg, now time.Time) {
	b := s.l.Binding()
	if s.nak || s.cfg.Mode == BestEffort {
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
	if cum > s.nxt || cum < s.una-uint64(len(s.slots)) {
		b.Count("bad-ack", 1)
		return
	}
	// The round-trip sample comes from the packet that made the receiver
	// answer, if this ack is the first news of it and it went out once.
	var sample time.Duration = -1
	if newest := unwrap(s.una, m.floor); newest >= s.una && newest < s.nxt {
		if sl := s.slot(newest); sl.state == slotOut && sl.tries == 1 {
			sample = now.Sub(sl.sentAt)
		}
	}
	newly := 0
	for seq := s.una; seq < cum; seq++ {
		sl := s.slot(seq)
		if sl.state == slotOut {
			newly++
			if sl.sentAt.After(s.rackSent) {
				s.rackSent = sl.sentAt
			}
		}
	}
	if cum > s.una {
		s.advance(cum)
	}
	for _, sp := range m.spans {
		from, to := unwrap(s.una, sp.from), unwrap(s.una, sp.to)
		from, to = max(from, s.una), min(to, s.nxt)
		for seq := from; seq < to; seq++ {
			sl := s.slot(seq)
			if sl.state != slotOut {
				continue
			}
			if sl.sentAt.After(s.rackSent) {
				s.rackSent = sl.sentAt
			}
			s.finish(sl, slotSacked)
			s.done++
			newly++
			s.highSacked = max(s.highSacked, seq)
		}
	}
	s.rwnd = int(m.rwnd)
	if sample >= 0 {
		s.updateRTT(sample, now)
	}
	if newly > 0 {
		s.backoff = 0
		s.probed = false
		s.grow(newly, now)
	}
	if s.inRecovery && s.una >= s.recoverUntil {
		s.inRecovery = false
	}
	s.detectLoss(now)
	// The receiver is stuck on numbers we abandoned: tell it again.
	if s.una < s.nxt && s.slot(s.una).state == slotAbandoned && now.Sub(s.skipAt) >= s.srtt {
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
}

// congested reports what the rising RTT says: 0 no, 1 hold the window, 2
// cut it (congestion anticipation: queues are growing before any loss).
func (s *sender) congested() int {
	if !s.cfg.Anticipate || !s.hasRTT || s.minRTT == 0 {
		return 0
	}
	margin := s.cfg.MinRTO / 4
	switch {
	case s.srtt > 4*s.minRTT+2*margin:
		return 2
	case s.srtt > 2*s.minRTT+margin:
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
	s.cwnd = min(s.cwnd, float64(len(s.slots)))
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
// acknowledged packets above them, and resends them (fast retransmit). A
// packet already retransmitted counts as lost again only once a packet
// sent after that retransmission has arrived (as RACK reasons), so one
// loss is never repaired twice on the strength of the same acks.
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
	s.ssthresh = max(float64(s.pipe)/2, 2)
	s.cwnd = 1
	s.inRecovery = true
	s.recoverUntil = s.nxt
	for seq := s.una; seq < s.nxt; seq++ {
		if sl := s.slot(seq); sl.state == slotOut {
			s.markLost(seq, sl)
		}
	}
	if s.slot(s.una).state == slotAbandoned {
		s.skipAbandoned()
	}
	s.resendLost(now)
	if s.una < s.nxt {
		s.rtoAt = now.Add(s.currentRTO())
	}
}

// ---- nak mode ----

func (s *sender) touchReceiver(from uint64, now time.Time) *rcvInfo {
	r := s.receivers[from]
	if r == nil {
		if len(s.receivers) >= 4096 {
			return nil
		}
		r = &rcvInfo{cum: s.una}
		s.receivers[from] = r
	}
	r.heard = now
	s.heardAt = now
	return r
}

func (s *sender) liveReceivers(now time.Time) map[uint64]*rcvInfo {
	for id, r := range s.receivers {
		if now.Sub(r.heard) >= s.cfg.RcvTimeout {
			delete(s.receivers, id)
			s.l.Binding().Count("receiver-timeout", 1)
		}
	}
	return s.receivers
}

// release frees what every live receiver has, and abandoned slots at the
// bottom.
func (s *sender) release(now time.Time) {
	low := s.una
	if rs := s.liveReceivers(now); len(rs) > 0 {
		low = s.nxt
		for _, r := range rs {
			low = min(low, max(r.cum, s.una))
		}
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

func (s *sender) onStatus(from uint64, m *msg, now time.Time) {
	r := s.touchReceiver(from, now)
	if r == nil {
		return
	}
	if cum := unwrap(s.una, m.seq); cum > r.cum && cum <= s.nxt {
		r.cum = cum
	}
	s.release(now)
	s.pump(now)
}

// onNak repairs what a receiver misses, at most once per holdoff per
// packet, and tells it what is gone for good.
func (s *sender) onNak(from uint64, m *msg, now time.Time) {
	s.touchReceiver(from, now)
	b := s.l.Binding()
	gone := false
	for _, sp := range m.spans {
		lo := unwrap(s.una, sp.from)
		hi := lo + uint64(sp.to-sp.from)
		if lo < s.una {
			gone, lo = true, s.una
		}
		for seq := lo; seq < hi && seq < s.nxt; seq++ {
			sl := s.slot(seq)
			switch {
			case sl.state == slotAbandoned:
				s.addSkip(seq)
			case sl.pk == nil:
			case sl.tries > 1 && now.Sub(sl.sentAt) < s.cfg.Holdoff:
				b.Count("repair-suppressed", 1) // repaired a moment ago
			case !sl.deadline.IsZero() && !now.Before(sl.deadline):
				s.abandon(seq, sl, "abandoned")
			default:
				s.transmit(seq, sl, now)
			}
		}
	}
	if gone {
		s.sync(now)
	}
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
	var t time.Time
	early := func(d time.Time) {
		if !d.IsZero() && (t.IsZero() || d.Before(t)) {
			t = d
		}
	}
	early(s.rtoAt)
	early(s.ptoAt)
	if s.nak {
		early(s.hbAt)
		if s.qhead < len(s.queue) && len(s.receivers) == 0 && !s.heardAt.IsZero() {
			early(s.heardAt.Add(s.cfg.RcvTimeout)) // then evicting makes room
		}
		if s.una < s.nxt {
			// Receivers may go quiet: look again when one would time out.
			for _, r := range s.receivers {
				early(r.heard.Add(s.cfg.RcvTimeout))
			}
		}
	}
	for seq := s.una; s.timed > 0 && seq < s.nxt && seq < s.una+64; seq++ {
		if sl := s.slot(seq); sl.pk != nil && !sl.deadline.IsZero() {
			early(sl.deadline)
			break
		}
	}
	return t
}

// close releases everything the sender holds.
func (s *sender) close() {
	for i := range s.slots {
		if s.slots[i].pk != nil {
			s.slots[i].pk.Release()
			s.slots[i].pk = nil
		}
	}
	s.timed = 0
	for _, p := range s.queue[s.qhead:] {
		p.Release()
	}
	s.queue, s.qhead, s.queuedBytes = nil, 0, 0
}
