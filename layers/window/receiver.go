package window

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/rwanda-go/rwanda/stack"
)

// receiver is the receiving half of the window: duplicate suppression,
// acknowledgements (ack mode) or NAKs and status (nak mode), and skip
// markers for what will never come. Packets go up as they arrive; an order
// layer above puts them in sequence.
type receiver struct {
	l   *Layer
	cfg Config

	started    bool
	nak        bool // the sender runs nak mode
	bestEffort bool
	base       uint64
	next       uint64   // everything below is had or skipped
	high       uint64   // one past the highest number had
	newest     uint64   // the last data packet received (echoed in acks)
	have       []uint64 // bitmap over the window, bit seq%Size

	// Ack mode.
	ackAt   time.Time
	pending int

	// Nak mode.
	rng         *rand.Rand
	nakAt       time.Time
	nakLow      uint64
	nakTries    int
	nakFirst    time.Time     // when the current lowest gap was first NAKed
	nakSentAt   time.Time     // when the last NAK left (cleared by the first repair)
	nakPutOff   bool          // an overheard NAK put ours off; no other may until our lowest gap is repaired or ours leaves
	repairRTT   time.Duration // smoothed time from a NAK to its first repair
	statusAt    time.Time
	statusSent  bool          // the first status went
	statusNext  uint64        // next at the last status
	phase       time.Duration // this member's offset in the grid of Status intervals (statusPhase)
	sinceStatus int

	// Semi-reliable streams (Config.TTL set), behind a relay that thins:
	// a packet marked stack.FlagThinned makes what is missing below it
	// go at once ("thinned"). Otherwise a gap below a packet with a
	// deadline is given up at that packet's deadline (arrival plus the
	// larger of its time left and Config.TTL), when what is missing,
	// sent before it, is past its time left too: receivers stop
	// NAKing droppable data that can no longer arrive in time (a relay
	// that thinned it absorbs those NAKs; DECISIONS §2). expireTo is the
	// packet's number: the gaps below it go.
	expireAt time.Time
	expireTo uint64
	lastDue  time.Time // the deadline of the newest packet, so reckoned

	spans []span
}

// init allocates the receiver's bitmap, charging it to the memory budget.
func (r *receiver) init(l *Layer) error {
	r.l, r.cfg = l, l.cfg
	r.base = 1<<32 + uint64(l.cfg.ISN)
	words := (l.cfg.Size + 63) / 64
	n, mem := int64(words)*8, l.Binding().Memory
	if !mem.Reserve(n) {
		return errMemory("receive bitmap", l.cfg.Size, n, mem)
	}
	l.reserved += n
	r.have = make([]uint64, words)
	seed := uint64(l.cfg.Seed) ^ l.Binding().Flow.Local
	r.rng = rand.New(rand.NewPCG(seed, 0x77696e646f77))
	r.phase = statusPhase(l.Binding().Flow.Local, l.cfg.Status)
	return nil
}

// statusPhase is where in each Status interval the member local reports
// (see sendStatus): the same for all its flows, so their statuses leave
// together, and spread over the interval between members, so that the
// members of a group, whose clocks roughly agree, do not all report at
// the same instant.
func statusPhase(local uint64, status time.Duration) time.Duration {
	if status <= 0 {
		return 0
	}
	return time.Duration(local % uint64(status))
}

// close drops the bitmap (its reservation is the layer's to release).
func (r *receiver) close() { r.have = nil }

func (r *receiver) bit(seq uint64) (int, uint64) {
	i := seq % uint64(r.cfg.Size)
	return int(i / 64), 1 << (i % 64)
}

func (r *receiver) has(seq uint64) bool {
	w, b := r.bit(seq)
	return r.have[w]&b != 0
}

func (r *receiver) set(seq uint64) {
	w, b := r.bit(seq)
	r.have[w] |= b
}

func (r *receiver) unset(seq uint64) {
	w, b := r.bit(seq)
	r.have[w] &^= b
}

// start fixes where the flow begins. A receiver of a point-to-point flow,
// or of a stream whose beginning the sender still holds, starts at the
// sender's floor and recovers everything from there; a late joiner of a
// multicast stream starts with the first number it sees.
func (r *receiver) start(seq, floor uint64, nak bool) {
	r.started, r.nak = true, nak
	if !nak || uint32(floor) == r.cfg.ISN {
		r.next = floor
	} else {
		r.next = seq
	}
	r.high = r.next
	// Tell the ordering layer where the sequence begins. In nak mode the
	// first status follows at once: from onSync, or, from onData, once the
	// first packet is had, so that it acknowledges it.
	r.up(stack.NewSkip(r.l.Binding().Pool, r.next-1, 1))
}

func (r *receiver) up(p *stack.Packet) { r.l.Base.Up(p) }

// onData handles a DATA packet whose header is consumed.
func (r *receiver) onData(p *stack.Packet, m *msg, now time.Time) {
	b := r.l.Binding()
	nak := m.flags&flagNak != 0
	if !r.started {
		seq := unwrap(r.base, m.seq)
		r.start(seq, seq-uint64(m.seq-m.floor), nak)
	}
	r.bestEffort = m.flags&flagBestEffort != 0
	seq := unwrap(r.next, m.seq)
	size := uint64(r.cfg.Size)
	switch {
	case seq < r.next:
		r.newest = seq
		b.Drop(p, "duplicate")
		r.dupAck(now)
		return
	case seq >= r.next+size:
		switch {
		case r.bestEffort:
			r.slide(seq - size + 1)
		case r.nak:
			// The sender has moved on past our oldest gap, so it no longer
			// keeps that data for us: give the gap up and make room.
			r.giveUp(seq-size+1, now)
		default:
			b.Drop(p, "beyond-window") // the sender ignored our window
			return
		}
	case r.has(seq):
		r.newest = seq
		b.Drop(p, "duplicate")
		r.dupAck(now)
		return
	}
	if p.Meta.Flags&stack.FlagThinned != 0 && r.cfg.TTL > 0 && m.ttl > 0 && r.nak && seq > r.next {
		// A relay dropped data of this stream sent before this packet
		// and absorbs our NAKs for it: what we lack below is gone.
		r.skip(r.next, seq, "thinned")
	}
	r.set(seq)
	r.newest = seq
	if m.flags&flagRetransmit != 0 && !r.nakSentAt.IsZero() {
		// The first repair after a NAK times the repair loop.
		sample := now.Sub(r.nakSentAt)
		if r.repairRTT == 0 {
			r.repairRTT = sample
		} else {
			r.repairRTT = (3*r.repairRTT + sample) / 4
		}
		r.nakSentAt = time.Time{}
	}
	inOrder := seq == r.next
	if inOrder && m.flags&flagRetransmit != 0 {
		r.nakPutOff = false // our lowest gap was repaired: overheard NAKs may stand for ours again
	}
	if seq >= r.high {
		r.high = seq + 1
	}
	r.advance()
	if r.cfg.TTL > 0 && m.ttl > 0 && !r.bestEffort && r.nak {
		due := now.Add(max(m.ttl, r.cfg.TTL))
		if seq+1 == r.high {
			r.lastDue = due
		}
		if r.next < seq && r.expireAt.IsZero() {
			r.expireAt, r.expireTo = due, seq
		}
	}
	p.Meta.Seq = seq
	if m.ttl > 0 {
		p.Meta.Deadline = now.Add(m.ttl)
	}
	r.l.n.received++
	switch {
	case r.bestEffort:
		if r.nak && !r.statusSent {
			r.sendStatus(now) // the first: who listens
		}
	case !r.nak:
		if !inOrder || r.next < r.high {
			r.sendAck(now)
		} else if r.pending++; r.pending >= r.ackEvery(m) {
			r.sendAck(now)
		} else if r.ackAt.IsZero() {
			r.ackAt = now.Add(r.cfg.AckDelay)
		}
	default:
		// The first status leaves with the first packet.
		if r.sinceStatus++; r.sinceStatus >= max(r.cfg.Size/4, 1) || !r.statusSent {
			r.sendStatus(now)
		} else {
			r.statusNews(now)
		}
		switch {
		case r.next >= r.high:
			r.nakAt, r.nakTries, r.nakPutOff = time.Time{}, 0, false // nothing missing any more
		case m.flags&flagRetransmit != 0 && !r.nakAt.IsZero() && r.nakAt.After(now.Add(r.nakInterval())):
			r.nakAt = now.Add(r.nakInterval()) // repairs are coming: ask for the rest soon
		default:
			r.scheduleNak(now)
		}
	}
	r.up(p)
}

// ackEvery is how many in-order packets the receiver takes before it
// acknowledges them (ack mode): AckEvery, or, when the sender has more
// in flight than 8×AckEvery (the DATA header's distance to its floor),
// an eighth of that, up to 8×AckEvery. The sender then still hears about
// eight times a window, while a fast flow of small packets costs both
// ends fewer acknowledgements (after QUIC's ack frequency). A gap is
// acknowledged at once and AckDelay bounds the wait, as always.
func (r *receiver) ackEvery(m *msg) int {
	flight := int(min(m.seq-m.floor, 1<<20)) + 1
	return max(r.cfg.AckEvery, min(flight/8, ackEveryMax*r.cfg.AckEvery))
}

// ackEveryMax bounds ackEvery, in multiples of Config.AckEvery.
const ackEveryMax = 8

// giveUp declares everything missing below n unrecoverable.
func (r *receiver) giveUp(n uint64, now time.Time) {
	if lost := r.missing(r.next, n); lost > 0 {
		r.l.Binding().Emit(stack.Event{Kind: "unrecoverable-gap", Seq: r.next,
			Detail: fmt.Sprintf("%d packets below %d: the sender moved on", lost, n)})
	}
	r.skip(r.next, n, "unrecoverable")
}

// dupAck answers a duplicate in ack mode: the sender may have missed our
// acknowledgement.
func (r *receiver) dupAck(now time.Time) {
	if !r.nak && !r.bestEffort {
		r.sendAck(now)
	}
}

// advance moves next over what is had.
func (r *receiver) advance() {
	for r.next < r.high && r.has(r.next) {
		r.unset(r.next)
		r.next++
	}
}

// slide moves the window of a best-effort flow to n, forgetting what
// never came (nothing will).
func (r *receiver) slide(n uint64) {
	if n <= r.next {
		return
	}
	b := r.l.Binding()
	if n-r.next >= uint64(r.cfg.Size) {
		// A jump past the whole window: everything in it goes.
		had := uint64(0)
		for seq := r.next; seq < r.high && seq < r.next+uint64(r.cfg.Size); seq++ {
			if r.has(seq) {
				had++
			}
		}
		b.Count("lost", n-r.next-had)
		clear(r.have)
		r.next, r.high = n, max(r.high, n)
		return
	}
	for ; r.next < n; r.next++ {
		if !r.has(r.next) {
			b.Count("lost", 1)
		}
		r.unset(r.next)
	}
	r.high = max(r.high, r.next)
}

// skip marks [from, to) as never coming: each missing number is had from
// now on, and skip markers go up so an ordering layer can move on.
func (r *receiver) skip(from, to uint64, reason string) {
	from = max(from, r.next)
	if to <= from {
		return
	}
	lim := r.next + uint64(r.cfg.Size)
	if to <= lim {
		r.skipIn(from, to, reason)
		r.high = max(r.high, to)
		r.advance()
		return
	}
	// Part of it lies beyond the window: skip what is inside, then jump.
	b := r.l.Binding()
	if from < lim {
		r.skipIn(from, lim, reason)
	}
	jump := max(from, lim)
	b.Count(reason, to-jump)
	r.up(stack.NewSkip(b.Pool, jump, to-jump))
	clear(r.have)
	r.next, r.high = to, max(r.high, to)
}

func (r *receiver) skipIn(from, to uint64, reason string) {
	b := r.l.Binding()
	var run uint64
	for seq := from; seq < to; seq++ {
		if r.has(seq) {
			if run > 0 {
				r.up(stack.NewSkip(b.Pool, seq-run, run))
				run = 0
			}
			continue
		}
		r.set(seq)
		run++
		b.Count(reason, 1)
	}
	if run > 0 {
		r.up(stack.NewSkip(b.Pool, to-run, run))
	}
}

// onSync handles the sender's heartbeat (nak mode).
func (r *receiver) onSync(m *msg, now time.Time) {
	if !r.started {
		next := unwrap(r.base, m.seq)
		floor := next - uint64(m.seq-m.floor)
		if uint32(floor) == r.cfg.ISN {
			r.start(floor, floor, true)
		} else {
			r.start(next, floor, true)
		}
		r.sendStatus(now)
	}
	next := unwrap(r.next, m.seq)
	floor := next - uint64(m.seq-m.floor)
	if floor > r.next {
		lost := r.missing(r.next, floor)
		if lost > 0 {
			r.l.Binding().Emit(stack.Event{Kind: "unrecoverable-gap", Seq: r.next,
				Detail: fmt.Sprintf("%d packets below %d are gone from the sender", lost, floor)})
		}
		r.skip(r.next, floor, "unrecoverable")
	}
	if next > r.high && next <= r.next+uint64(r.cfg.Size) {
		r.high = next // a loss at the tail: ask for it
		r.scheduleNak(now)
	}
}

// missing counts the numbers in [from, to) not had (within the window).
func (r *receiver) missing(from, to uint64) uint64 {
	n := uint64(0)
	for seq := from; seq < to && seq < r.next+uint64(r.cfg.Size); seq++ {
		if seq >= r.high || !r.has(seq) {
			n++
		}
	}
	if lim := r.next + uint64(r.cfg.Size); to > lim {
		n += to - lim
	}
	return n
}

// onSkip handles numbers the sender abandoned.
func (r *receiver) onSkip(m *msg, now time.Time) {
	if !r.started {
		return
	}
	for _, sp := range m.spans {
		from := unwrap(r.next, sp.from)
		to := from + uint64(sp.to-sp.from)
		if to <= r.next || from >= r.next+uint64(r.cfg.Size) {
			continue
		}
		r.skip(from, to, "skipped")
	}
	if !r.nak {
		r.sendAck(now)
	}
}

// sendAck sends a cumulative and selective acknowledgement.
func (r *receiver) sendAck(now time.Time) {
	r.pending, r.ackAt = 0, time.Time{}
	r.spans = r.spans[:0]
	in := false
	var from uint64
	for seq := r.next; seq < r.high && len(r.spans) < r.l.ranges; seq++ {
		h := r.has(seq)
		switch {
		case h && !in:
			in, from = true, seq
		case !h && in:
			in = false
			r.spans = append(r.spans, span{uint32(from), uint32(seq)})
		}
	}
	if in && len(r.spans) < r.l.ranges {
		r.spans = append(r.spans, span{uint32(from), uint32(r.high)})
	}
	rwnd := uint64(r.cfg.Size) - (r.high - r.next)
	r.l.n.acks++
	r.l.controlFor(appendAck(r.l.scratch[:0], uint32(r.next), uint16(min(rwnd, 65535)), uint32(r.newest), r.spans))
}

// statusNews brings the next status forward to the next Status interval
// on the grid when how far the receiver has everything moved since the
// last.
func (r *receiver) statusNews(now time.Time) {
	if r.next == r.statusNext || !r.statusSent {
		return
	}
	if !r.statusAt.IsZero() && r.statusAt.Sub(now) <= r.cfg.Status {
		return // due at the next point of the grid already
	}
	if due := onGrid(now, r.cfg.Status, r.cfg.Status, r.phase); r.statusAt.IsZero() || due.Before(r.statusAt) {
		r.statusAt = due
	}
}

// onGrid is the time on the grid of step (multiples of step since the zero
// time, plus phase) at or before now+gap, and after now: gap from now when
// now is on the grid, as a timer fired on time is, and sooner once when
// not.
func onGrid(now time.Time, gap, step, phase time.Duration) time.Time {
	if step <= 0 {
		return now.Add(gap)
	}
	t := now.Add(gap - phase).Truncate(step).Add(phase)
	if !t.After(now) {
		t = t.Add(step)
	}
	return t
}

// sendStatus reports how far the receiver has everything: with the first
// packet; within a Status interval of news (how far it has everything
// moved: statusNews), at most once per interval; and otherwise four
// times per receiver timeout, so that a lost one or two do not make the
// sender forget it. Times are on the clock's grid of Status intervals
// (multiples of Status since the zero time, offset by the member's
// phase), so that a member's flows report at the same instants, and a
// channel bundles their statuses into one datagram. A receiver of a flow
// at 30 packets a second thus reports 20 times a second, and at 5 packets
// 5 times, not 20: on a group where every member sends, each member
// reports on every other's flow.
func (r *receiver) sendStatus(now time.Time) {
	r.statusSent = true
	r.statusNext = r.next
	r.sinceStatus = 0
	r.statusAt = onGrid(now, max(r.cfg.RcvTimeout/4, r.cfg.Status), r.cfg.Status, r.phase) // a keepalive, unless news comes
	r.l.controlFor(appendStatus(r.l.scratch[:0], uint32(r.next)))
}

// scheduleNak arms a NAK after a random delay, so that one receiver's NAK
// (heard by the others) can stand for all of them.
func (r *receiver) scheduleNak(now time.Time) {
	if !r.nakAt.IsZero() {
		return
	}
	r.nakAt = now.Add(time.Duration(r.rng.Int64N(int64(r.cfg.NakDelay) + 1)))
}

// gaps lists the missing ranges in [next, high).
func (r *receiver) gaps() []span {
	r.spans = r.spans[:0]
	in := false
	var from uint64
	for seq := r.next; seq < r.high && len(r.spans) < r.l.ranges; seq++ {
		h := r.has(seq)
		switch {
		case !h && !in:
			in, from = true, seq
		case h && in:
			in = false
			r.spans = append(r.spans, span{uint32(from), uint32(seq)})
		}
	}
	if in && len(r.spans) < r.l.ranges {
		r.spans = append(r.spans, span{uint32(from), uint32(r.high)})
	}
	return r.spans
}

// onNakTimer sends a NAK for what is still missing, backing off, and
// gives up a gap after NakLimit tries and RcvTimeout since its first NAK.
func (r *receiver) onNakTimer(now time.Time) {
	r.nakAt = time.Time{}
	gaps := r.gaps()
	if len(gaps) == 0 {
		r.nakTries = 0
		return
	}
	low := unwrap(r.next, gaps[0].from)
	if low == r.nakLow && r.nakTries > 0 {
		r.nakTries++
	} else {
		r.nakLow, r.nakTries, r.nakFirst = low, 1, now
	}
	b := r.l.Binding()
	if r.nakTries > r.cfg.NakLimit {
		// A sender that no longer has the data says so (a SYNC); NAKs
		// unanswered mean a sender that is silent — or only slow, paused
		// or starved of CPU. Give the gap up only once it has gone
		// unrepaired as long as a sender waits for a silent receiver.
		if wait := r.nakFirst.Add(r.cfg.RcvTimeout); now.Before(wait) {
			r.nakTries = r.cfg.NakLimit // stay at the limit: no more NAKs, give up at wait
			r.nakAt = wait
			return
		}
		hi := low + uint64(gaps[0].to-gaps[0].from)
		b.Emit(stack.Event{Kind: "unrecoverable-gap", Seq: low,
			Detail: fmt.Sprintf("%d packets from %d not repaired after %d NAKs", hi-low, low, r.cfg.NakLimit)})
		r.skip(low, hi, "unrecoverable")
		r.nakTries = 0
		if r.next < r.high {
			r.scheduleNak(now)
		}
		return
	}
	b.Count("naks", 1)
	r.nakPutOff = false
	r.l.control(appendNak(r.l.scratch[:0], gaps))
	r.nakSentAt = now
	r.nakAt = now.Add(r.nakInterval() << min(r.nakTries-1, 6))
}

// nakInterval is how long to wait for repairs before asking again: three
// times the measured NAK-to-repair time, once there is one, and never more
// than NakRetry.
func (r *receiver) nakInterval() time.Duration {
	if r.repairRTT == 0 {
		return r.cfg.NakRetry
	}
	return min(max(3*r.repairRTT, time.Millisecond), r.cfg.NakRetry)
}

// onOverheardNak suppresses our pending NAK when another receiver already
// asked for our lowest missing packet — once: another puts ours off again
// only after a repair has filled our lowest gap (the sender answers such
// NAKs) or ours has gone out. Forged NAKs the sender does not answer, sent
// again and again, thus delay each of our NAKs by one NAK interval at
// most instead of silencing us.
func (r *receiver) onOverheardNak(m *msg, now time.Time) {
	if !r.started || !r.nak || r.nakAt.IsZero() || r.next >= r.high || r.nakPutOff {
		return
	}
	low := r.next
	for low < r.high && r.has(low) {
		low++
	}
	for _, sp := range m.spans {
		from := unwrap(r.next, sp.from)
		if low >= from && low < from+uint64(sp.to-sp.from) {
			r.nakAt = now.Add(r.nakInterval())
			r.nakPutOff = true
			r.l.Binding().Count("naks-suppressed", 1)
			return
		}
	}
}

// onExpire gives up the gaps below expireTo, past their time left, and
// watches those left, if any, until the newest packet's deadline.
func (r *receiver) onExpire(now time.Time) {
	r.expireAt = time.Time{}
	if r.next < r.expireTo {
		r.skip(r.next, r.expireTo, "expired-gap")
		r.nakTries = 0
	}
	if r.next < r.high && r.lastDue.After(now) {
		// Everything missing now was sent before the newest packet (or
		// is it): gone once the newest is due.
		r.expireAt, r.expireTo = r.lastDue, r.high
	} else if r.next < r.high {
		r.skip(r.next, r.high, "expired-gap")
	}
	if r.next >= r.high {
		r.nakAt, r.nakTries, r.nakPutOff = time.Time{}, 0, false
	}
}

func (r *receiver) onTimer(now time.Time) {
	if !r.expireAt.IsZero() && !now.Before(r.expireAt) {
		r.onExpire(now)
	}
	if !r.ackAt.IsZero() && !now.Before(r.ackAt) {
		r.sendAck(now)
	}
	if !r.nakAt.IsZero() && !now.Before(r.nakAt) {
		r.onNakTimer(now)
	}
	r.statusNews(now) // a gap given up above
	if r.nak && !r.statusAt.IsZero() && !now.Before(r.statusAt) {
		r.sendStatus(now)
	}
}

func (r *receiver) deadline() time.Time {
	return earlier(earlier(r.ackAt, r.nakAt), earlier(r.statusAt, r.expireAt))
}
