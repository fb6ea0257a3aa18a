package channel

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rwanda-go/rwanda/posting"
	"github.com/rwanda-go/rwanda/stack"
)

// Overflow is what a subscription does when its queue is full.
type Overflow uint8

const (
	// DropOldest discards the oldest queued posting to make room (the
	// default: live media wants the latest).
	DropOldest Overflow = iota
	// DropNewest discards the posting that does not fit.
	DropNewest
	// FailSlow ends the subscription with ErrSlowConsumer.
	FailSlow
)

func (o Overflow) String() string {
	switch o {
	case DropOldest:
		return "drop-oldest"
	case DropNewest:
		return "drop-newest"
	case FailSlow:
		return "fail"
	}
	return fmt.Sprintf("Overflow(%d)", o)
}

// SubOption selects what a subscription receives and how it queues.
type SubOption func(*subConfig) error

type subConfig struct {
	media    []posting.Media
	streams  []string
	senders  []uint64
	queue    int
	overflow Overflow
	noRetain bool
}

// NoRetain is a promise a SubscribeFunc function makes: it does not keep
// the posting it is given, its Body or anything aliasing them after it
// returns (it copies what it keeps, with [posting.Posting.Clone] or
// bytes.Clone). In return a posting with a []byte body (or none) reaches
// it without an allocation: the channel decodes into a posting it reuses,
// and the body aliases the received datagram (see [posting.Borrower]).
// While every subscription of the channel is a NoRetain function, receiving
// such postings allocates nothing in the steady state; a queued
// subscription, or a SubscribeFunc without NoRetain, gets a copy of its
// own. Subscribe refuses it (a queue keeps postings).
func NoRetain() SubOption {
	return func(c *subConfig) error {
		c.noRetain = true
		return nil
	}
}

// Media keeps only postings of the given media classes.
func Media(m ...posting.Media) SubOption {
	return func(c *subConfig) error {
		for _, x := range m {
			if !x.Valid() {
				return fmt.Errorf("channel: Media: invalid media class %d", x)
			}
		}
		c.media = append(c.media, m...)
		return nil
	}
}

// Streams keeps only postings of the named streams.
func Streams(names ...string) SubOption {
	return func(c *subConfig) error {
		c.streams = append(c.streams, names...)
		return nil
	}
}

// Senders keeps only postings from the given members: with no other
// option, one subscription that recomposes all the streams and media of a
// sender (each stream and medium travels on a stack of its own) in the
// order they arrive.
func Senders(ids ...uint64) SubOption {
	return func(c *subConfig) error {
		c.senders = append(c.senders, ids...)
		return nil
	}
}

// Queue sets the subscription's queue length (default 1024 postings) and
// what happens when it is full (default DropOldest). Drops are counted in
// the subscription's and the channel's stats.
func Queue(n int, overflow Overflow) SubOption {
	return func(c *subConfig) error {
		if n < 1 || n > 1<<20 {
			return fmt.Errorf("channel: Queue: length %d out of range 1..%d", n, 1<<20)
		}
		if overflow > FailSlow {
			return fmt.Errorf("channel: Queue: unknown overflow policy %d", overflow)
		}
		c.queue, c.overflow = n, overflow
		return nil
	}
}

// Subscription receives the postings of a channel that match its options.
// Postings are shared between subscriptions: treat them as read-only.
type Subscription struct {
	subs  *subscribers // the channel's
	cnt   *counters    // the channel's
	clock stack.Clock  // the channel's
	// reliable says whether a posting came on a reliable stream.
	reliable func(*posting.Posting) bool
	cfg      subConfig
	fn       func(*posting.Posting) // SubscribeFunc; nil for queued subscriptions
	q        chan *posting.Posting
	mu       sync.Mutex // serialises senders on q with Close
	done     chan struct{}
	err      error // why it ended, under mu

	pushers int // blocking senders (replay) in flight, under mu

	delivered  atomic.Uint64
	dropped    atomic.Uint64
	superseded atomic.Uint64
	closed     atomic.Bool

	// keys counts the keyed postings put in q by (sender, stream, key),
	// under mu. Readers take from q without the lock, so a count is an
	// upper bound: recounted whenever q is rebuilt (see supersedeLocked),
	// cleared when q is seen empty.
	keys map[subKey]int

	// Drops of postings from reliable streams, reported as events
	// ("slow-consumer") at most once per slowReportEvery: under mu.
	reliableDrops uint64    // since the last report
	reportedAt    time.Time // the last report
}

// slowReportEvery is the least time between two "slow-consumer" events of
// one subscription.
const slowReportEvery = time.Second

// SubStats are a subscription's counters.
type SubStats struct {
	Delivered uint64 // postings handed to the subscriber (queued or called)
	Dropped   uint64 // postings dropped by the overflow policy
	// Superseded counts queued postings replaced by a newer posting with
	// the same latest-wins key, sender and stream (not drops: the
	// subscriber gets the newest value instead of the backlog).
	Superseded uint64
	Queued     int // postings waiting in the queue now
}

// subKey is what a latest-wins posting supersedes by: its sender, stream
// and key.
type subKey struct {
	sender      uint64
	stream, key string
}

func (s *Subscription) matches(p *posting.Posting) bool {
	if len(s.cfg.media) > 0 && !slices.Contains(s.cfg.media, p.Media) {
		return false
	}
	if len(s.cfg.streams) > 0 && !slices.Contains(s.cfg.streams, p.Stream) {
		return false
	}
	if len(s.cfg.senders) > 0 && !slices.Contains(s.cfg.senders, p.Sender) {
		return false
	}
	return true
}

// offer hands p to the subscription without blocking. It is called by the
// channel's delivery goroutines, never under a channel lock. Dropping a
// posting of a reliable stream loses what the stack guaranteed, so it is
// also reported (see dropLocked).
func (s *Subscription) offer(p *posting.Posting) {
	if s.closed.Load() || !s.matches(p) {
		return
	}
	if s.fn != nil {
		s.delivered.Add(1)
		s.fn(p)
		return
	}
	var report *Event
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return
	}
	if p.Key != "" && s.supersedeLocked(p) {
		s.mu.Unlock()
		return // in the place of the one it superseded
	}
	if s.tryQueue(p) {
		s.queuedLocked(p)
		s.mu.Unlock()
		return
	}
	switch s.cfg.overflow {
	case DropNewest:
		report = s.dropLocked(p)
	case DropOldest:
		select {
		case old := <-s.q:
			report = s.dropLocked(old)
		default:
		}
		if s.tryQueue(p) {
			s.queuedLocked(p)
		} else if r := s.dropLocked(p); r != nil { // the reader raced us; count the new one dropped
			report = r
		}
	case FailSlow:
		report = s.dropLocked(p)
		s.endLocked(ErrSlowConsumer)
	}
	s.mu.Unlock()
	if report != nil {
		s.cnt.report(*report) // user code: no lock held
	}
}

// tryQueue puts p in the queue if there is room. Delivered is counted
// before the send, so a reader that has taken p (Next, then Stats) sees it
// counted; it is taken back when the queue is full.
func (s *Subscription) tryQueue(p *posting.Posting) bool {
	s.delivered.Add(1)
	select {
	case s.q <- p:
		return true
	default:
		s.delivered.Add(^uint64(0))
		return false
	}
}

// queuedLocked notes that p was put in the queue.
func (s *Subscription) queuedLocked(p *posting.Posting) {
	if p.Key == "" {
		return
	}
	if s.keys == nil {
		s.keys = make(map[subKey]int)
	}
	s.keys[subKey{p.Sender, p.Stream, p.Key}]++
}

// supersedeLocked removes from the queue the postings p supersedes: those
// with p's sender, stream and latest-wins key (counted "superseded"), so
// the queue holds at most one posting per key. When no posting of p's
// sender and stream was queued after the one it supersedes, p takes that
// one's place (placed is true: p is queued and counted), so a key updated
// faster than the subscriber reads keeps its turn instead of going to the
// back at every update and waiting behind keys updated less often; where
// one was, p goes to the back (the caller queues it), so nothing of the
// stream is reordered.
//
// The queue is a Go channel that readers (Next, Postings) take from
// without the lock, so it is rebuilt in place: drained into a slice, then
// refilled with what is kept, in the same order. This is safe with
// concurrent readers: every writer to q holds mu (offer) or is a blocking
// replay sender counted in pushers, and the rebuild runs only with mu held
// and no pusher in flight, so nothing else enters q meanwhile; a reader
// that takes a posting during the drain gets the oldest, as it would
// have, and the refill (at most what was drained) always fits. Readers
// see the kept postings in their order. The rebuild runs only when keys
// says a posting with the same key may be queued (a count is an upper
// bound: readers do not decrement it), and costs at most the queue's
// length; it recounts keys from what it keeps. With a replay pusher in
// flight nothing is superseded (replay never drops).
func (s *Subscription) supersedeLocked(p *posting.Posting) (placed bool) {
	if len(s.q) == 0 {
		clear(s.keys) // the readers have taken everything counted
		return false
	}
	k := subKey{p.Sender, p.Stream, p.Key}
	if s.keys[k] == 0 || s.pushers > 0 {
		if len(s.keys) <= 2*cap(s.q) {
			return false
		}
		// Stale counts of keys the readers took long ago: recount below.
	}
	n := len(s.q)
	held := make([]*posting.Posting, 0, n)
	for range n {
		select {
		case x := <-s.q:
			held = append(held, x)
			continue
		default:
		}
		break // a reader took the rest
	}
	clear(s.keys)
	// place is where p goes: the last posting it supersedes, if no
	// posting of its stream from its sender follows that one.
	place := -1
	if s.pushers == 0 {
		for i := len(held) - 1; i >= 0; i-- {
			if x := held[i]; x.Sender == p.Sender && x.Stream == p.Stream {
				if x.Key == p.Key {
					place = i
				}
				break
			}
		}
	}
	var superseded uint64
	for i, x := range held {
		if x.Key == p.Key && x.Sender == p.Sender && x.Stream == p.Stream && s.pushers == 0 {
			superseded++
			if i != place {
				continue
			}
			x = p
			s.delivered.Add(1)
			placed = true
		}
		select {
		case s.q <- x:
			s.queuedLocked(x)
		default: // cannot happen: nothing else enters q meanwhile
			s.dropLocked(x)
		}
	}
	if superseded > 0 {
		s.superseded.Add(superseded)
		s.cnt.dropN("superseded", superseded)
	}
	return placed
}

// dropLocked counts a posting the overflow policy dropped. One from a
// reliable stream also makes an event ("slow-consumer", to WithEvents'
// function), at most one per slowReportEvery per subscription, saying how
// many were dropped since the last; it returns the event to report.
func (s *Subscription) dropLocked(p *posting.Posting) *Event {
	s.dropped.Add(1)
	s.cnt.drop("slow-consumer")
	if s.reliable == nil || !s.reliable(p) {
		return nil
	}
	s.reliableDrops++
	now := s.clock.Now()
	if !s.reportedAt.IsZero() && now.Sub(s.reportedAt) < slowReportEvery && !now.Before(s.reportedAt) {
		return nil
	}
	e := &Event{Kind: "slow-consumer", Stream: p.Stream, Member: p.Sender, At: now,
		Detail: fmt.Sprintf("a subscription (queue %d, %v) dropped %d postings of reliable streams", s.cfg.queue, s.cfg.overflow, s.reliableDrops)}
	s.reliableDrops, s.reportedAt = 0, now
	return e
}

// Next returns the next posting, waiting until one arrives, ctx is done or
// the subscription ends. After the end it returns the reason: ErrClosed,
// or ErrSlowConsumer for a FailSlow subscription that fell behind.
func (s *Subscription) Next(ctx context.Context) (*posting.Posting, error) {
	if s.fn != nil {
		return nil, fmt.Errorf("%w: Next on a SubscribeFunc subscription", ErrUnsupported)
	}
	select {
	case p, ok := <-s.q:
		if ok {
			return p, nil
		}
		return nil, s.Err()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Postings returns the subscription's queue as a channel, closed when the
// subscription ends (then Err says why). It is nil for SubscribeFunc
// subscriptions.
func (s *Subscription) Postings() <-chan *posting.Posting { return s.q }

// Err returns why the subscription ended, or nil while it is live.
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Stats returns the subscription's counters.
func (s *Subscription) Stats() SubStats {
	return SubStats{Delivered: s.delivered.Load(), Dropped: s.dropped.Load(), Superseded: s.superseded.Load(), Queued: len(s.q)}
}

// Close ends the subscription; postings still queued can be read from
// Postings until it is drained. It is idempotent.
func (s *Subscription) Close() error {
	s.subs.remove(s)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endLocked(ErrClosed)
	return nil
}

func (s *Subscription) endLocked(err error) {
	if s.closed.Swap(true) {
		return
	}
	s.err = err
	close(s.done)
	if s.q != nil && s.pushers == 0 {
		close(s.q) // else the last blocking sender closes it
	}
}

// push delivers p waiting for room in the queue (replay never drops); it
// reports false when the subscription has ended.
func (s *Subscription) push(p *posting.Posting) bool {
	if s.fn != nil {
		if s.closed.Load() {
			return false
		}
		s.delivered.Add(1)
		s.fn(p)
		return true
	}
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return false
	}
	s.pushers++
	s.mu.Unlock()
	// Counted before the send, so that a reader that has taken it sees it
	// counted (Stats after Next); taken back if the subscription ends.
	s.delivered.Add(1)
	ok := false
	select {
	case s.q <- p:
		ok = true
	case <-s.done:
		s.delivered.Add(^uint64(0))
	}
	s.mu.Lock()
	s.pushers--
	if s.pushers == 0 && s.closed.Load() {
		close(s.q)
	}
	s.mu.Unlock()
	return ok
}

// subscribers is the channel's list of subscriptions: copied on write, so
// delivering a posting reads it without a lock.
type subscribers struct {
	mu   sync.Mutex // serialises writers
	list atomic.Pointer[[]*Subscription]
	// owners counts the subscriptions that keep what they are given:
	// queued ones and SubscribeFuncs without NoRetain. While it is zero,
	// flows decode into borrowed postings.
	owners atomic.Int32
}

// borrows reports whether s promised not to keep postings (NoRetain).
func (s *Subscription) borrows() bool { return s.fn != nil && s.cfg.noRetain }

func newSubscribers() *subscribers {
	s := &subscribers{}
	s.list.Store(&[]*Subscription{})
	return s
}

func (ss *subscribers) add(s *Subscription) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	list := append(slices.Clone(*ss.list.Load()), s)
	ss.list.Store(&list)
	if !s.borrows() {
		ss.owners.Add(1)
	}
}

func (ss *subscribers) remove(s *Subscription) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	old := *ss.list.Load()
	list := slices.DeleteFunc(slices.Clone(old), func(x *Subscription) bool { return x == s })
	ss.list.Store(&list)
	if len(list) < len(old) && !s.borrows() {
		ss.owners.Add(-1)
	}
}

// offer hands p to every subscription (each takes what matches).
func (ss *subscribers) offer(p *posting.Posting) {
	for _, s := range *ss.list.Load() {
		s.offer(p)
	}
}

// offerBorrowed hands p, a borrowed posting valid only during the call, to
// every subscription: NoRetain functions get it as it is, the others one
// copy made for them all.
func (ss *subscribers) offerBorrowed(p *posting.Posting) {
	var own *posting.Posting
	for _, s := range *ss.list.Load() {
		if s.borrows() {
			s.offer(p)
			continue
		}
		if own == nil {
			if s.closed.Load() || !s.matches(p) {
				continue
			}
			own = p.Clone()
		}
		s.offer(own)
	}
}

func (ss *subscribers) len() int { return len(*ss.list.Load()) }

// end ends every subscription with err and forgets them.
func (ss *subscribers) end(err error) {
	ss.mu.Lock()
	list := *ss.list.Load()
	ss.list.Store(&[]*Subscription{})
	ss.owners.Store(0)
	ss.mu.Unlock()
	for _, s := range list {
		s.mu.Lock()
		s.endLocked(err)
		s.mu.Unlock()
	}
}
