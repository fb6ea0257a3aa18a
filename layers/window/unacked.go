package window

import (
	"time"

	"github.com/rwanda-go/rwanda/stack"
)

// Unacknowledged describes what the sender holds that its receivers have
// not acknowledged (stack.Acknowledger), counting the packets numbered
// below below (queued packets count with the numbers they will take).
// Packets past their deadline and packets given up are not counted.
//
// Ack mode (point to point): the one receiver, with the packets it has
// neither acknowledged cumulatively nor selectively; its ID is 0 until
// its first acknowledgement. Nak mode: every receiver heard from within
// RcvTimeout, each with the packets at or above its status that the
// sender still holds; a receiver whose status is below the floor lacks
// what it reported and can still be repaired, nothing more.
func (l *Layer) Unacknowledged(now time.Time, below uint64) stack.Unacked {
	return l.snd.unacked(now, below)
}

func (s *sender) unacked(now time.Time, below uint64) stack.Unacked {
	if s.cfg.Mode == BestEffort || s.slots == nil {
		return stack.Unacked{End: s.nxt}
	}
	queued := s.queue[s.qhead:]
	u := stack.Unacked{End: s.nxt + uint64(len(queued)), One: !s.nak, Timeout: s.cfg.RcvTimeout}
	if !s.nak {
		u.Timeout = 0 // the one receiver is never forgotten
	}
	alive := func(d time.Time) bool { return d.IsZero() || now.Before(d) }
	// Queued packets are numbered in order from nxt when they leave.
	q := 0
	for i, p := range queued {
		if s.nxt+uint64(i) >= below {
			break
		}
		if alive(p.Meta.Deadline) {
			q++
		}
	}
	hi := max(min(s.nxt, below), s.una)
	if !s.nak {
		n := q
		for seq := s.una; seq < hi; seq++ {
			if sl := s.slot(seq); sl.state == slotOut && sl.pk != nil && alive(sl.deadline) {
				n++
			}
		}
		u.Held = n
		u.Receivers = []stack.ReceiverAcks{{ID: s.peer, Lacks: n}}
		return u
	}
	// Nak mode: every slot in [una, nxt) is kept for somebody unless it was
	// given up (abandoned) or is past its deadline. lacks(lo) counts the
	// live ones in [lo, hi).
	var lacks func(lo uint64) int
	if s.timed == 0 && s.done == 0 {
		lacks = func(lo uint64) int { return int(hi - lo) }
	} else {
		n := int(hi - s.una)
		if cap(s.liveFrom) < n+1 {
			s.liveFrom = make([]int32, n+1)
		}
		live := s.liveFrom[:n+1]
		live[n] = 0
		for i := n - 1; i >= 0; i-- {
			live[i] = live[i+1]
			if sl := s.slot(s.una + uint64(i)); sl.pk != nil && sl.state == slotOut && alive(sl.deadline) {
				live[i]++
			}
		}
		lacks = func(lo uint64) int { return int(live[lo-s.una]) }
	}
	u.Held = lacks(s.una) + q
	for r := s.newest; r != nil; r = r.older {
		if now.Sub(r.heard) >= s.cfg.RcvTimeout {
			break // and every one heard before it
		}
		lo := min(max(r.cum, s.una), hi)
		u.Receivers = append(u.Receivers, stack.ReceiverAcks{ID: r.id, Lacks: lacks(lo) + q, Heard: r.heard})
	}
	return u
}

// FlushFeedback sends the receiver's feedback now (stack.FeedbackFlusher):
// in ack mode an acknowledgement, when one is due; in nak mode a status.
// A receiver about to close calls it so that its sender knows what it has
// (and need not wait for it) before its goodbye.
func (l *Layer) FlushFeedback(now time.Time) {
	r := &l.rcv
	if r.started && !r.bestEffort && r.have != nil {
		switch {
		case r.nak:
			r.sendStatus(now)
		case r.pending > 0 || !r.ackAt.IsZero():
			r.sendAck(now)
		}
	}
	l.end()
}
