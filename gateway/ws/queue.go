package ws

import (
	"time"

	"github.com/rwanda-go/rwanda/posting"
)

// outq is a client's bounded queue of postings to write, with the
// thinning rules of the package doc. It is not safe for concurrent use:
// the client's lock guards it. Time is an input, so the rules are tested
// without a clock.
type outq struct {
	max int
	q   []entry

	superseded, expired, dropped uint64
}

// entry is a queued posting and, for one with a TTL, when it expires on
// the handler's clock (zero: never).
type entry struct {
	p        *posting.Posting
	deadline time.Time
}

// offer queues p, which expires at deadline (zero: never), at now. It
// reports false when the queue is full of postings that may not be
// dropped: the client is too slow.
func (o *outq) offer(p *posting.Posting, deadline, now time.Time) bool {
	if p.Key != "" {
		for i, e := range o.q {
			q := e.p
			if q.Key == p.Key && q.Sender == p.Sender && q.Stream == p.Stream {
				o.q = append(o.q[:i], o.q[i+1:]...)
				o.superseded++
				break // at most one per key is queued
			}
		}
	}
	if len(o.q) >= o.max {
		o.dropExpired(now)
	}
	if len(o.q) >= o.max {
		for i, e := range o.q {
			if e.p.TTL > 0 {
				o.q = append(o.q[:i], o.q[i+1:]...)
				o.dropped++
				break
			}
		}
	}
	if len(o.q) >= o.max {
		return false
	}
	o.q = append(o.q, entry{p, deadline})
	return true
}

// dropExpired removes the postings whose TTL has run out at now.
func (o *outq) dropExpired(now time.Time) {
	k := 0
	for _, e := range o.q {
		if e.expired(now) {
			o.expired++
			continue
		}
		o.q[k] = e
		k++
	}
	clear(o.q[k:])
	o.q = o.q[:k]
}

// take moves the queued postings into buf (reused) and empties the queue.
func (o *outq) take(buf []entry) []entry {
	buf = append(buf[:0], o.q...)
	clear(o.q)
	o.q = o.q[:0]
	return buf
}

// expired says whether e's TTL has run out at now.
func (e entry) expired(now time.Time) bool {
	return !e.deadline.IsZero() && !now.Before(e.deadline)
}
