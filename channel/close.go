package channel

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rwanda-go/rwanda/stack"
)

// ErrUndelivered is wrapped by an *[UndeliveredError]: postings pushed on
// reliable streams were not acknowledged by receivers this member knows.
var ErrUndelivered = errors.New("channel: pushed postings not acknowledged")

// Why a receiver's packets are counted as undelivered ([Undelivered]).
const (
	// ReasonUnacknowledged: the receiver was still lacking them when the
	// wait ended (the linger, or Flush's context).
	ReasonUnacknowledged = "not acknowledged in time"
	// ReasonSilent: the receiver fell silent for the window's receiver
	// timeout, lacking them; the sender no longer keeps them for it.
	ReasonSilent = "receiver silent"
	// ReasonLeft: the one receiver of a point-to-point stream left (said
	// goodbye, or was forgotten as silent) lacking them.
	ReasonLeft = "receiver left"
	// ReasonNoReceiver: no receiver reported anything on the stream
	// while the wait lasted, though members that may receive it were
	// known (Member is 0); the wait gives them a receiver timeout from
	// the stream's start.
	ReasonNoReceiver = "no receiver acknowledged anything"
	// ReasonRefused: the one receiver of a point-to-point stream refused
	// the stream (its receive policy or its limits).
	ReasonRefused = "stream refused"
	// ReasonEnded: the stream's stack was closed (an idle or retired
	// stream ended) while the receiver lacked them.
	ReasonEnded = "stream ended"
)

// UndeliveredError is what [Channel.Close] and [Channel.Flush] return when
// postings pushed on reliable streams were not acknowledged by every
// receiver they waited for. Counts are of the window's packets: a posting
// is one packet unless it was fragmented (then one per fragment) or
// pushed while its stream's window was full (then it may share a packet
// with the small postings pushed around it), and packets a receiver lacks
// on several streams count on each.
type UndeliveredError struct {
	// Packets is the sum over Streams of each stream's Packets.
	Packets int
	// Streams are the streams with packets not acknowledged, in id order.
	Streams []UndeliveredStream
	// Linger is the linger of the Close that returned it (0 from Flush).
	Linger time.Duration
	// Err is why a Flush ended early: its context's error, or ErrClosed;
	// nil for Close, and for a Flush that ended because the receivers
	// lacking packets fell silent or left.
	Err error

	byClose bool
}

// UndeliveredStream is what one stream's receivers did not acknowledge.
type UndeliveredStream struct {
	Stream string
	Target uint64 // the member the stream is addressed to; 0: everyone
	// Packets is the most packets any one of Receivers lacks.
	Packets int
	// Receivers lack packets of the stream, by member id.
	Receivers []Undelivered
}

// Undelivered is what one receiver lacks on a stream.
type Undelivered struct {
	// Member is the receiver's member id; 0 for the peer of a unicast
	// channel that never acknowledged anything (its id is not known), and
	// with ReasonNoReceiver.
	Member  uint64
	Packets int
	Reason  string // one of the Reason constants
}

func (e *UndeliveredError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v: %d packets", ErrUndelivered, e.Packets)
	switch {
	case e.byClose:
		fmt.Fprintf(&b, " at Close (linger %v)", e.Linger)
	case e.Err != nil:
		fmt.Fprintf(&b, " at Flush (%v)", e.Err)
	default:
		b.WriteString(" at Flush")
	}
	const most = 4
	for i, s := range e.Streams {
		if i == most {
			fmt.Fprintf(&b, "; and %d more streams", len(e.Streams)-most)
			break
		}
		to := "everyone"
		if s.Target != 0 {
			to = fmt.Sprintf("member %016x", s.Target)
		}
		fmt.Fprintf(&b, "; stream %q to %s:", s.Stream, to)
		for j, r := range s.Receivers {
			if j == most {
				fmt.Fprintf(&b, " and %d more receivers", len(s.Receivers)-most)
				break
			}
			if j > 0 {
				b.WriteString(",")
			}
			who := "the peer"
			switch {
			case r.Reason == ReasonNoReceiver:
				fmt.Fprintf(&b, " %d (%s)", r.Packets, r.Reason)
				continue
			case r.Member != 0:
				who = fmt.Sprintf("member %016x", r.Member)
			}
			fmt.Fprintf(&b, " %s lacks %d (%s)", who, r.Packets, r.Reason)
		}
	}
	return b.String()
}

// Unwrap returns ErrUndelivered and, for a Flush that ended early, why.
func (e *UndeliveredError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrUndelivered, e.Err}
	}
	return []error{ErrUndelivered}
}

// Flush waits until everything pushed before it was called, on every
// reliable stream, is acknowledged by the receivers this member knows, or
// until ctx is done. The receivers are: on a stream to one member, and on
// a unicast channel to its peer, that member (it acknowledges everything);
// on a multicast stream (or one to every member of a unicast channel),
// every member that reported its status on the stream within the window's
// receiver timeout (2 s by default), receivers behind a relay included
// (their status travels through it). A receiver becomes known with its
// first status, which it sends with the first packet it gets; while no
// receiver has reported on a stream younger than the receiver timeout,
// the members that may receive it are waited for instead. A receiver that
// falls silent for the receiver timeout is no longer waited for, and one
// that leaves (says goodbye) is not waited for at all on a multicast
// stream.
//
// Best-effort postings are not waited for, nor postings past their TTL
// (semi-reliable postings are waited for until their deadline). Postings
// pushed while Flush waits are not waited for.
//
// Flush returns nil once all is acknowledged. Otherwise it returns an
// *[UndeliveredError] saying what was not, by stream and receiver: when
// ctx is done first (wrapping ctx's error), when the channel closes
// (wrapping ErrClosed), or when receivers fell silent or left lacking
// packets. It returns ErrClosed on a channel that is closing; a Flush
// under way when Close begins goes on until all is acknowledged or Close
// has finished lingering. On a file://
// channel, whose pushes are written when Push returns, it returns nil.
func (c *Channel) Flush(ctx context.Context) error {
	if c.closing.Load() {
		return ErrClosed
	}
	if c.rec != nil {
		return nil
	}
	marks := make(map[*outStream]uint64)
	for _, os := range c.og.all() {
		c.og.flushBatch(os) // what waits in a batch is pushed: wait for it too
		if u, ok := os.st.Unacknowledged(stack.AllPackets); ok {
			marks[os] = u.End
		}
	}
	return c.settle(ctx, c.ctx.Done(), marks, -1)
}

// linger is Close's wait (the linger), after pushes were stopped.
func (c *Channel) linger() error {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.linger)
	defer cancel()
	err := c.settle(ctx, nil, nil, c.cfg.linger)
	if err != nil {
		c.log.Warn("closing with postings not acknowledged", "err", err)
	}
	return err
}

// settle waits until the receivers of the streams have acknowledged what
// they must (marks: each stream's packets below its mark, streams not in
// it are not waited for; nil: everything, on every stream), until ctx is
// done, or until closed is; linger is Close's (-1: a Flush). It looks
// every few milliseconds (of real time:
// a linger is the application's wait, whatever the channel's clock).
func (c *Channel) settle(ctx context.Context, closed <-chan struct{}, marks map[*outStream]uint64, linger time.Duration) error {
	w := &waiter{c: c, marks: marks, streams: make(map[*outStream]*streamWait)}
	poll := closePoll / 16
	t := time.NewTimer(poll)
	defer t.Stop()
	for {
		if !w.check(c.clock.Now()) {
			return w.result(nil, linger)
		}
		select {
		case <-ctx.Done():
			if !w.check(c.clock.Now()) {
				return w.result(nil, linger)
			}
			return w.result(ctx.Err(), linger)
		case <-closed:
			return w.result(ErrClosed, linger)
		case <-t.C:
		}
		poll = min(2*poll, closePoll)
		t.Reset(poll)
	}
}

// closePoll is the longest a wait goes without looking at the streams
// again (it starts at a sixteenth of it, and doubles).
const closePoll = 10 * time.Millisecond

// waiter follows the receivers of the streams while Close or Flush waits.
type waiter struct {
	c       *Channel
	marks   map[*outStream]uint64
	streams map[*outStream]*streamWait
}

// streamWait is what a waiter knows of one stream's receivers.
type streamWait struct {
	os *outStream
	// lacking: the receivers waited for, with what they lacked at the
	// last look (Reason ""), or, under 0 with ReasonNoReceiver, the
	// members waited for while no receiver has reported.
	lacking map[uint64]Undelivered
	// lost: the receivers no longer waited for that lack packets.
	lost map[uint64]Undelivered
}

// check looks at every stream once and reports whether some receiver is
// still waited for.
func (w *waiter) check(now time.Time) (waiting bool) {
	var members map[uint64]bool // the members known now (not pending)
	memberSet := func() map[uint64]bool {
		if members == nil {
			list := w.c.members.list()
			members = make(map[uint64]bool, len(list))
			for _, p := range list {
				members[p.ID] = true
			}
		}
		return members
	}
	seen := make(map[*outStream]bool)
	for _, os := range w.c.og.all() {
		below := uint64(stack.AllPackets)
		if w.marks != nil {
			m, ok := w.marks[os]
			if !ok {
				continue // opened after Flush began
			}
			below = m
		}
		u, ok := os.st.Unacknowledged(below)
		if !ok {
			continue // closed meanwhile (see below), or nothing acknowledges
		}
		seen[os] = true
		sw := w.streams[os]
		if sw == nil {
			sw = &streamWait{os: os, lost: make(map[uint64]Undelivered)}
			w.streams[os] = sw
		}
		lacking := make(map[uint64]Undelivered)
		if u.One {
			// Point to point: the one receiver acknowledges everything.
			r := u.Receivers[0]
			id := r.ID
			if id == 0 {
				id = os.key.target
			}
			switch refusal := os.refusal.Load(); {
			case r.Lacks == 0:
			case refusal != nil && (id == 0 || refusal.Member == id):
				sw.lost[refusal.Member] = Undelivered{Member: refusal.Member, Packets: r.Lacks, Reason: ReasonRefused}
			case r.ID != 0 && !memberSet()[r.ID]:
				sw.lost[id] = Undelivered{Member: id, Packets: r.Lacks, Reason: ReasonLeft}
			default:
				lacking[id] = Undelivered{Member: id, Packets: r.Lacks}
				waiting = true
			}
			sw.lacking = lacking
			continue
		}
		// Many receivers: those that report their status, while they do.
		ms := memberSet()
		heard := make(map[uint64]bool, len(u.Receivers))
		for _, r := range u.Receivers {
			heard[r.ID] = true
			if !ms[r.ID] {
				continue // it left: a stream to everyone goes on without it
			}
			delete(sw.lost, r.ID) // heard again
			if r.Lacks > 0 {
				lacking[r.ID] = Undelivered{Member: r.ID, Packets: r.Lacks}
				waiting = true
			}
		}
		for id, l := range sw.lacking {
			if id != 0 && !heard[id] && ms[id] {
				// Forgotten by the window while lacking packets: silent.
				sw.lost[id] = Undelivered{Member: id, Packets: l.Packets, Reason: ReasonSilent}
			}
		}
		// While no receiver has reported on a young stream (its first
		// packets may still be on their way), the members that may
		// receive it are waited for, until one reports or the stream is a
		// receiver timeout old; if none has by then, or by the end of the
		// wait, the stream's packets count as undelivered to nobody in
		// particular.
		if len(u.Receivers) == 0 && u.Held > 0 && w.awaitMembers(os, ms) {
			nobody := Undelivered{Packets: u.Held, Reason: ReasonNoReceiver}
			switch {
			case now.Sub(os.created) < u.Timeout:
				lacking[0] = nobody
				waiting = true
			case sw.lacking[0].Reason == ReasonNoReceiver:
				sw.lost[0] = nobody
			}
		} else {
			delete(sw.lost, 0)
		}
		sw.lacking = lacking
	}
	for os, sw := range w.streams {
		if !seen[os] && len(sw.lacking) > 0 && !os.st.Drained() {
			// Its stack was closed (an idle or retired stream ended)
			// before all was acknowledged: what its receivers lacked is
			// lost. (Drained, it was acknowledged since the last look.)
			for id, l := range sw.lacking {
				if l.Reason == "" {
					l.Reason = ReasonEnded
				}
				sw.lost[id] = l
			}
		}
		if !seen[os] {
			sw.lacking = nil
		}
	}
	return waiting
}

// awaitMembers reports whether some member of ms may receive os: it is
// addressed to everyone, or to that member, and the member has not
// refused it.
func (w *waiter) awaitMembers(os *outStream, ms map[uint64]bool) bool {
	if os.key.target != 0 {
		return ms[os.key.target] && !w.c.og.refusers(os)[os.key.target]
	}
	refused := w.c.og.refusers(os)
	for id := range ms {
		if !refused[id] {
			return true
		}
	}
	return false
}

// result is the outcome of the wait: nil when no receiver lacks anything,
// else an *UndeliveredError; why is what ended the wait early (nil: it
// ended because nothing is waited for any more, or the linger is over);
// linger is Close's (-1: a Flush).
func (w *waiter) result(why error, linger time.Duration) error {
	e := &UndeliveredError{Linger: max(linger, 0), Err: why, byClose: linger >= 0}
	var list []*streamWait
	for _, sw := range w.streams {
		list = append(list, sw)
	}
	slices.SortFunc(list, func(a, b *streamWait) int { return cmp.Compare(a.os.id, b.os.id) })
	for _, sw := range list {
		s := UndeliveredStream{Stream: sw.os.key.name, Target: sw.os.key.target}
		for _, l := range sw.lost {
			s.Receivers = append(s.Receivers, l)
		}
		for id, l := range sw.lacking {
			if _, ok := sw.lost[id]; ok {
				continue
			}
			if l.Reason == "" {
				l.Reason = ReasonUnacknowledged
			}
			s.Receivers = append(s.Receivers, l)
		}
		if len(s.Receivers) == 0 {
			continue
		}
		slices.SortFunc(s.Receivers, func(a, b Undelivered) int { return cmp.Compare(a.Member, b.Member) })
		for _, r := range s.Receivers {
			s.Packets = max(s.Packets, r.Packets)
		}
		e.Packets += s.Packets
		e.Streams = append(e.Streams, s)
	}
	if len(e.Streams) == 0 {
		if errors.Is(why, ErrClosed) {
			return ErrClosed
		}
		return nil
	}
	return e
}

// flushFeedback has every incoming flow send its delayed feedback
// (acknowledgements, status) now: a member about to leave tells the
// senders what it has, so that they need not wait for it.
func (in *incoming) flushFeedback() {
	in.mu.Lock()
	list := make([]*stack.Stack, 0, len(in.flows))
	for _, fl := range in.flows {
		list = append(list, fl.st)
	}
	in.mu.Unlock()
	for _, st := range list {
		st.FlushFeedback()
	}
}
