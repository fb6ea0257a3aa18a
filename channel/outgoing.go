package channel

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rwanda-go/rwanda/filter"
	"github.com/rwanda-go/rwanda/layers/compress"
	"github.com/rwanda-go/rwanda/layers/frag"
	"github.com/rwanda-go/rwanda/posting"
	"github.com/rwanda-go/rwanda/registry"
	"github.com/rwanda-go/rwanda/sched"
	"github.com/rwanda-go/rwanda/stack"
)

// outgoing is the part of a channel that sends: its streams, each with
// its stack, created on first push and announced in-band; sender-side
// reconfiguration (a stream retired at an exact count, its successor
// announced); feedback from receivers into the streams' stacks; and the
// retired and idle streams' end. It writes frames into the outbox and
// knows nothing of members beyond their ids.
type outgoing struct {
	self uint64
	cfg  *config // read only
	// failingTo says why sends to member have been failing, or nil (the
	// channel's send-failure tracking; nil on a recording).
	failingTo func(member uint64) error
	env       registry.Env
	clock     stack.Clock
	pool      *stack.Pool
	mem       *stack.Budget
	log       *slog.Logger
	mtu       int  // the stacks' MTU
	multicast bool // everything goes to the group
	toPeer    bool // a unicast channel to the URL's peer: streams are point to point
	carrier   bool // the transport controls flow and congestion (stack.Flow.CarrierControlled)
	instances *atomic.Uint64
	out       *outbox
	link      *linkQueue // WithLinkRate: the send queue; nil: none
	cnt       *counters
	done      <-chan struct{} // closed when the channel closes
	// stop is closed, and stopping set, when Close begins: pushes,
	// new streams and reconfigurations are refused from then on, while
	// the streams go on sending and repairing what was pushed.
	stop     chan struct{}
	stopping atomic.Bool

	qos       string // canonical QoS of streams without their own
	media     [numMedia]mediaProfile
	streamQoS atomic.Pointer[map[string]string]

	// mtuLimit is the stacks' MTU since the path proved smaller (0: mtu;
	// see pmtu.go).
	mtuLimit atomic.Int64

	// last is the stream found or made by the latest stream call, or nil:
	// a push in a loop on one stream finds it without og.mu and the map.
	// It is set under mu, only to a stream in streams, and cleared under
	// mu whenever a stream leaves streams or the outgoing side closes.
	last atomic.Pointer[outStream]

	mu      sync.Mutex
	closed  bool
	streams map[streamKey]*outStream
	byID    map[uint32]*outStream
	retired []*outStream // replaced by reconfigure, draining
	nextID  uint32
	// owedTimer announces the streams owed an answer (answerQuery); nil
	// while none is armed.
	owedTimer stack.Timer
}

type streamKey struct {
	name   string
	target uint64 // 0: to everyone
	qos    string // media classes with different stacks get a stream each
}

// numMedia is the number of media classes.
const numMedia = int(posting.Control) + 1

type mediaProfile struct {
	qos string        // canonical
	ttl time.Duration // given to postings without one
}

// outStream is one stream this member sends, with its stack.
type outStream struct {
	og       *outgoing
	key      streamKey
	id       uint32
	epoch    uint32
	qos      string
	media    posting.Media // of the posting that opened it (classes sharing its QoS share it)
	st       *stack.Stack
	mem      *stack.Budget // its stack's share of the channel's budget
	seq      atomic.Uint64
	postings atomic.Uint64
	bytes    atomic.Uint64
	lastUse  atomic.Int64 // clock nanoseconds
	// announced is when it was last announced to everyone (clock
	// nanoseconds; 0: never); owed, that a QUERY for it came since and
	// waits for the next (answerQuery).
	announced atomic.Int64
	owed      atomic.Bool
	roomMu    sync.Mutex
	roomCh    chan struct{} // closed and replaced when the stack has room again
	// batchOpen is set while batch is not nil (read without mu).
	batchOpen atomic.Bool

	// mu is held by a push from the moment it checks that the stream is
	// current until its posting is in the stack and counted; reconfigure
	// takes it to retire the stream at an exact count.
	mu        sync.Mutex
	retired   bool
	retiredAt time.Time
	// The open batch (see batch.go): postings gathered into one stack
	// packet while the stack has a backlog; nil: none.
	batch      *stack.Packet
	batchN     int           // postings in batch
	batchMedia posting.Media // of batch's postings
	batchTimer stack.Timer   // sends batch after batchWait; nil until the first batch
	// refusal: a member refused the stream (a REFUSE frame); on a stream
	// to one member, or to the unicast peer, Push fails with it.
	refusal   atomic.Pointer[RefusedError]
	refusedBy map[uint64]bool // the members whose refusal was reported (og.mu)
	prev      uint32          // the stream this one replaced, 0: none
	prevCount uint64          // postings sent on prev
	policy    sched.Policy    // in the channel's send queue
	reliable  bool            // a layer of its stack retransmits (stack.CapReliable)
	timed     bool            // ... but gives up at a deadline (stack.CapTimed)
	fragMax   int64           // the lowest max of the frag layers of its stack (the body it carries); 0: none
	created   time.Time       // when its stack was built
	original  string          // the QoS before the adapter changed it; "": not changed
}

// qosFor returns the canonical QoS of the stack that carries the postings
// of media class m on a stream.
func (og *outgoing) qosFor(stream string, m posting.Media) string {
	if q, ok := (*og.streamQoS.Load())[stream]; ok {
		return q
	}
	if m.Valid() {
		return og.media[m].qos
	}
	return og.qos
}

// profileOf returns the medium whose profile (stack and default TTL)
// carries a posting of class m classified for reason why: m itself, but
// Data for a class found by content sniffing unless WithSniffStacks, so
// that a body's first bytes never weaken or repeat its delivery.
func (og *outgoing) profileOf(m posting.Media, why filter.Reason) posting.Media {
	if why == filter.ByContent && !og.cfg.sniffStacks {
		return posting.Data
	}
	return m
}

// push sends p on its stream to target (0: everyone). It fills in p's
// Media, TTL (its profile's, when p has none), Sender, Seq and Sent.
func (og *outgoing) push(ctx context.Context, p *posting.Posting, target uint64) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("channel: %w", err)
	}
	m, why := og.cfg.classifier.Classify(p)
	p.Media = m
	prof := og.profileOf(m, why)
	if p.TTL == 0 {
		p.TTL = og.media[prof].ttl
	}
	for {
		os, err := og.stream(p.Stream, target, og.qosFor(p.Stream, prof), m)
		if err != nil {
			return err
		}
		if retry, err := og.pushOn(ctx, os, p); !retry {
			return err
		}
	}
}

// pushOn sends p on os; retry says os was retired meanwhile and p must go
// on its replacement.
func (og *outgoing) pushOn(ctx context.Context, os *outStream, p *posting.Posting) (retry bool, err error) {
	if og.out.full() {
		if !og.cfg.blockingPush {
			og.cnt.drop("backpressure")
			return false, ErrBackpressure
		}
		if err := og.out.waitRoom(ctx); err != nil {
			return false, err
		}
	}
	if !os.st.HasRoom() {
		if err := og.roomFor(ctx, os); err != nil {
			return false, err
		}
	}
	if r := os.refusal.Load(); r != nil && (os.key.target != 0 || og.toPeer) {
		return false, r
	}
	if os.key.target != 0 && og.failingTo != nil {
		if err := og.failingTo(os.key.target); err != nil {
			return false, err // nothing sent to that member gets out: say why
		}
	}
	os.mu.Lock()
	if og.stopping.Load() {
		os.mu.Unlock()
		return false, ErrClosed
	}
	if os.retired {
		os.mu.Unlock()
		return true, nil
	}
	now := og.clock.Now()
	p.Sender = og.self
	p.Seq = os.seq.Add(1)
	p.Sent = now
	// The flow carries the stream and the sender: leave them out.
	q := *p
	q.Stream, q.Sender = "", 0
	if (os.batch != nil || os.st.Backlogged()) && os.batchable(&q) {
		// The stack's queue holds packets not sent yet: q would wait
		// there anyway, so it joins the open batch (see batch.go).
		n, ok, sent, err := og.addToBatch(os, &q, now)
		if err != nil {
			os.mu.Unlock()
			p.Seq = 0
			os.seq.Add(^uint64(0))
			if sent {
				og.out.flushNow(true) // the batch before q went
			}
			return false, err
		}
		if ok {
			os.postings.Add(1) // counted before the stream can be retired
			os.mu.Unlock()
			if sent {
				// A batch that went while the stream is still behind
				// (full) is left to the outbox's writer, which sends
				// what accumulates meanwhile in one call: written by
				// the pusher, each batch cost a system call of its own
				// (a third of the sender's CPU at 64 B postings).
				og.out.flushNow(!os.st.Backlogged())
			}
			os.lastUse.Store(now.UnixNano())
			os.bytes.Add(uint64(n))
			og.cnt.sent.postings.Add(1)
			return false, nil
		}
	}
	if os.batch != nil {
		// What was batched goes first; the outbox's writer sends it if
		// q fails below before its own flush.
		og.sendBatch(os, now, false)
	}
	pk := os.st.NewPacket(sizeHint(p))
	if err := pk.AppendWith(q.AppendBinary); err != nil {
		os.mu.Unlock()
		pk.Release()
		return false, fmt.Errorf("channel: %w", err)
	}
	n := pk.Len()
	if limit := os.bodyLimit(og.cfg.maxPosting); int64(n) > limit {
		// The encoding is over the limit; the body (which the limit
		// bounds) may not be.
		if body := bodySize(&q, n); body > limit {
			os.mu.Unlock()
			pk.Release()
			p.Seq = 0
			os.seq.Add(^uint64(0))
			return false, og.tooLarge(os, body)
		}
	}
	pk.Meta.Media = p.Media
	pk.Meta.Deadline = p.Deadline()
	if p.Key != "" || p.Frame != 0 {
		pk.Meta.Tag = &stack.Tag{Key: p.Key, Frame: p.Frame}
	}
	if p.FrameEnd {
		pk.Meta.Flags |= stack.FlagFrameEnd
	}
	if !os.reliable || os.timed || p.TTL != 0 {
		// Relays may drop it (DECISIONS §2): best effort, or
		// semi-reliable with a time to live.
		pk.Meta.Flags |= stack.FlagDroppable
	}
	og.out.direct.Add(1)
	err = os.st.DownAt(pk, now)
	og.out.direct.Add(-1)
	if err == nil {
		os.postings.Add(1) // counted before the stream can be retired
	}
	os.mu.Unlock()
	// The write (a syscall, when the path is idle) happens outside the
	// stream's lock, so other pushers on the stream are not held up by it.
	og.out.flushPushed()
	if errors.Is(err, frag.ErrTooLarge) || errors.Is(err, compress.ErrTooLarge) {
		// A layer's own max, lower than the channel's checks foresaw.
		return false, fmt.Errorf("%w: stream %q's stack %q refused it (raise that layer's max in the QoS: WithQoS, WithStreamQoS or WithMediaProfile): %w",
			ErrTooLarge, os.key.name, os.qos, err)
	}
	if err != nil {
		return false, err
	}
	os.lastUse.Store(now.UnixNano())
	os.bytes.Add(uint64(n))
	og.cnt.sent.postings.Add(1)
	return false, nil
}

// bodyLimit is the largest body os carries: the channel's largest posting
// (WithMaxPosting), or its stack's frag max when that is lower.
func (os *outStream) bodyLimit(maxPosting int64) int64 {
	if os.fragMax > 0 && os.fragMax < maxPosting {
		return os.fragMax
	}
	return maxPosting
}

// bodySize returns the size of p's body as WithMaxPosting counts it, given
// the length n of p's whole encoding: a []byte or string body's bytes,
// else (a typed body: its type name and msgpack encoding) what the
// encoding holds beyond the header.
func bodySize(p *posting.Posting, n int) int64 {
	switch b := p.Body.(type) {
	case nil:
		return 0
	case []byte:
		return int64(len(b))
	case string:
		return int64(len(b))
	}
	h := *p
	h.Body = nil
	hdr, err := h.AppendBinary(nil)
	if err != nil {
		return int64(n)
	}
	return int64(n - len(hdr))
}

// tooLarge is the error for a body of body bytes over what os carries: it
// names the limit and how to raise it.
func (og *outgoing) tooLarge(os *outStream, body int64) error {
	maxPosting := og.cfg.maxPosting
	if os.fragMax > 0 && os.fragMax < maxPosting {
		return fmt.Errorf("%w: a body of %d bytes on stream %q is over the %d bytes of frag(max=...) in its stack %q; raise frag's max in the stream's QoS (WithQoS, WithStreamQoS or WithMediaProfile), up to the channel's WithMaxPosting of %d bytes",
			ErrTooLarge, body, os.key.name, os.fragMax, os.qos, maxPosting)
	}
	raise := "raise it with channel.WithMaxPosting (up to 1 GiB; WithMemory at least ten times it)"
	if os.fragMax > 0 {
		raise += fmt.Sprintf(" and frag(max=...) in the stream's QoS %q (now %d bytes; beyond 16 MiB, every member's Policy.Limits[\"frag.max\"] too)", os.qos, os.fragMax)
	}
	return fmt.Errorf("%w: a body of %d bytes on stream %q is over the channel's limit of %d bytes (WithMaxPosting; default 16 MiB or a tenth of WithMemory); %s",
		ErrTooLarge, body, os.key.name, maxPosting, raise)
}

// sizeHint guesses the encoded size of p, so the packet's buffer is big
// enough the first time.
func sizeHint(p *posting.Posting) int {
	const header = 64
	switch b := p.Body.(type) {
	case []byte:
		return header + len(b)
	case string:
		return header + len(b)
	}
	return 256
}

// roomFor waits until os's stack has room (or reports ErrBackpressure).
func (og *outgoing) roomFor(ctx context.Context, os *outStream) error {
	for {
		os.roomMu.Lock()
		wait := os.roomCh
		os.roomMu.Unlock()
		if os.st.Room() != 0 {
			return nil
		}
		if !og.cfg.blockingPush {
			og.cnt.drop("backpressure")
			return ErrBackpressure
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return ctx.Err()
		case <-og.done:
			return ErrClosed
		case <-og.stop:
			return ErrClosed
		}
	}
}

// stream returns the outgoing stream for (name, target), creating it and
// announcing it on first use.
func (og *outgoing) stream(name string, target uint64, qos string, m posting.Media) (*outStream, error) {
	if os := og.last.Load(); os != nil && os.key.target == target && os.key.name == name && os.key.qos == qos {
		if og.stopping.Load() {
			return nil, ErrClosed
		}
		return os, nil // a push that finds it retired meanwhile asks again
	}
	key := streamKey{name, target, qos}
	og.mu.Lock()
	if og.closed || og.stopping.Load() {
		og.mu.Unlock()
		return nil, ErrClosed
	}
	if os := og.streams[key]; os != nil {
		og.last.Store(os)
		og.mu.Unlock()
		return os, nil
	}
	if len(og.streams) >= og.cfg.maxFlows {
		og.mu.Unlock()
		return nil, fmt.Errorf("%w: %d (raise it with channel.WithLimits)", ErrTooManyStreams, len(og.streams))
	}
	og.nextID++
	os := &outStream{og: og, key: key, id: og.nextID, qos: qos, media: m, roomCh: make(chan struct{})}
	og.mu.Unlock()
	if err := og.build(os); err != nil {
		return nil, err
	}
	og.mu.Lock()
	if old := og.streams[key]; old != nil || og.closed || og.stopping.Load() {
		og.mu.Unlock()
		os.st.Close()
		if old == nil {
			return nil, ErrClosed
		}
		return old, nil
	}
	og.streams[key] = os
	og.byID[os.id] = os
	og.last.Store(os)
	og.mu.Unlock()
	og.applyMTU(os.st)
	og.announce(os, og.dst(os.key.target))
	return os, nil
}

// build builds os's stack.
func (og *outgoing) build(os *outStream) error {
	layers, err := og.cfg.registry.Build(os.qos, og.env)
	if err != nil {
		return fmt.Errorf("channel: stream %q: %w", os.key.name, err)
	}
	target := os.key.target
	os.created = og.clock.Now()
	os.mem = og.mem.Share()
	os.st, err = stack.New(stack.Config{
		Layers: layers, Wire: stack.HandlerFunc(os.wire), Deliver: stack.HandlerFunc(og.unexpected),
		Flush: og.out.flushHook, Events: os.event, Clock: og.clock, Pool: og.pool, Memory: os.mem,
		MTU: og.mtu, Logger: og.log,
		Flow: stack.Flow{Stream: os.key.name, Role: stack.Sender, Local: og.self, Remote: target, Multicast: og.multicast,
			PointToPoint: target != 0 || og.toPeer, CarrierControlled: og.carrier, ID: os.id, Instance: og.instances.Add(1)},
	})
	if err != nil {
		return fmt.Errorf("channel: stream %q: %w", os.key.name, err)
	}
	og.applyMTU(os.st)
	for _, l := range layers {
		if s, ok := l.(sched.Scheduled); ok {
			os.policy = s.Policy()
		}
		provides := stack.CapabilitiesOf(l).Provides
		if slices.Contains(provides, stack.CapReliable) {
			os.reliable = true
		}
		if slices.Contains(provides, stack.CapTimed) {
			os.timed = true
		}
		if f, ok := l.(*frag.Layer); ok && (os.fragMax == 0 || f.Config().Max < os.fragMax) {
			os.fragMax = f.Config().Max
		}
	}
	return nil
}

// reconfigure moves a stream to the stack of q (canonical): see
// [Channel.Reconfigure]. original is what an adapter moved the stream away
// from ("" for a change by the application).
func (og *outgoing) reconfigure(stream, q, original string) error {
	// Build the replacements first (outside the lock), then swap.
	og.mu.Lock()
	if og.closed || og.stopping.Load() {
		og.mu.Unlock()
		return ErrClosed
	}
	var olds, news []*outStream
	for k, os := range og.streams {
		if k.name == stream && k.qos != q {
			og.nextID++
			n := &outStream{og: og, key: streamKey{k.name, k.target, q}, id: og.nextID, epoch: os.epoch + 1, qos: q,
				media: os.media, prev: os.id, original: original, roomCh: make(chan struct{})}
			if original == q {
				n.original = "" // back where it started
			}
			olds, news = append(olds, os), append(news, n)
		}
	}
	og.mu.Unlock()
	for i, n := range news {
		if err := og.build(n); err != nil {
			for _, b := range news[:i] {
				b.st.Close()
			}
			return err
		}
	}
	// Hold the old streams (waiting for pushes in progress on them) while
	// the swap happens, so no push lands between the count and the swap.
	// Lock order: a stream's mu before og.mu (see doc.go); streams in id
	// order.
	slices.SortFunc(olds, func(a, b *outStream) int { return cmp.Compare(a.id, b.id) })
	slices.SortFunc(news, func(a, b *outStream) int { return cmp.Compare(a.prev, b.prev) })
	for _, old := range olds {
		old.mu.Lock()
	}
	now := og.clock.Now()
	og.mu.Lock()
	m := maps.Clone(*og.streamQoS.Load())
	m[stream] = q
	og.streamQoS.Store(&m)
	var announce, unused []*outStream
	for i, old := range olds {
		n := news[i]
		if old.retired || og.closed || og.stopping.Load() || og.streams[old.key] != old || og.streams[n.key] != nil {
			unused = append(unused, n) // closed, or changed meanwhile
			continue
		}
		og.flushBatchLocked(old) // its postings are counted: they go on it
		old.retired, old.retiredAt = true, now
		n.prevCount = old.postings.Load()
		n.seq.Store(old.seq.Load())
		delete(og.streams, old.key)
		og.last.Store(nil)
		og.retired = append(og.retired, old)
		og.streams[n.key] = n
		og.byID[n.id] = n
		announce = append(announce, n)
	}
	og.mu.Unlock()
	for _, old := range olds {
		old.mu.Unlock()
	}
	for _, n := range unused {
		n.st.Close()
	}
	for _, n := range announce {
		og.announce(n, og.dst(n.key.target))
	}
	og.out.flushNow(true)
	return nil
}

// dst maps a member to an outbox destination: on multicast everything
// goes to the group.
func (og *outgoing) dst(member uint64) uint64 { return dstFor(og.multicast, member) }

// dstFor maps a member to an outbox destination.
func dstFor(multicast bool, member uint64) uint64 {
	if multicast {
		return everyone
	}
	return member
}

// wire is a stream stack's Wire: each packet becomes a DATA (or DATA_TO)
// frame.
func (os *outStream) wire(pk *stack.Packet) error {
	og := os.og
	dst := os.key.target
	if dst == 0 && pk.Meta.Peer != 0 {
		dst = pk.Meta.Peer // a packet for one member (a retransmission)
	}
	if pk.Meta.Flags&stack.FlagSealed == 0 {
		// The time left at this send; a signature above has bound it
		// already when the packet is sealed.
		var now time.Time
		if !pk.Meta.Deadline.IsZero() {
			now = og.clock.Now()
		}
		pk.Meta.StampLeft(now)
	}
	var scratch [maxFrameHeader]byte
	hdr := appendDataHeader(scratch[:0], os.key.target, os.id, &pk.Meta, pk.Len())
	if og.link != nil {
		og.link.push(os, og.dst(dst), hdr, pk)
		return nil
	}
	og.out.add(og.dst(dst), bundleOf(os.id, &pk.Meta), hdr, pk.Bytes())
	pk.Release()
	return nil
}

// unexpected receives packets that reach the top of a sender's stack: a
// layer there passed up something that is not a posting.
func (og *outgoing) unexpected(pk *stack.Packet) error {
	pk.Release()
	og.cnt.drop("unexpected")
	return nil
}

// maxRefusals is how many refusing members a stream remembers; beyond
// them every REFUSE is reported again (one per announcement).
const maxRefusals = 64

// refused handles member's REFUSE of stream id: the stream's first
// refusal by each member is an event ("stream-refused") and counted; a
// stream to that one member (or to the unicast peer) fails its pushes
// from then on with a *RefusedError, as nothing pushed on it could be
// delivered. A stream to everyone goes on for the members that take it.
func (og *outgoing) refused(member uint64, id uint32, why string) {
	og.mu.Lock()
	os := og.byID[id]
	if os == nil || os.refusedBy[member] {
		og.mu.Unlock()
		return // heard before: each announcement is refused again
	}
	if len(os.refusedBy) < maxRefusals {
		if os.refusedBy == nil {
			os.refusedBy = make(map[uint64]bool)
		}
		os.refusedBy[member] = true
	}
	og.mu.Unlock()
	os.refusal.Store(&RefusedError{Stream: os.key.name, Member: member, Reason: why})
	og.cnt.report(Event{Kind: "stream-refused", Stream: os.key.name, Member: member, Detail: why, At: og.clock.Now()})
}

// event handles an event of an outgoing stream's stack.
func (os *outStream) event(e stack.Event) {
	if e.Kind == "room" {
		os.roomMu.Lock()
		close(os.roomCh)
		os.roomCh = make(chan struct{})
		os.roomMu.Unlock()
		return
	}
	os.og.cnt.report(Event{Kind: e.Kind, Stream: os.key.name, Member: os.key.target, Layer: e.Layer, Seq: e.Seq, Detail: e.Detail, At: e.At})
}

// announce queues an ANNOUNCE of os for dst.
func (og *outgoing) announce(os *outStream, dst uint64) {
	a := announcement{stream: os.id, epoch: os.epoch, target: os.key.target, name: os.key.name, qos: os.qos, prev: os.prev, count: os.prevCount}
	var scratch [64]byte
	og.out.add(dst, bundle{}, appendAnnounce(scratch[:0], a), nil)
	if dst == everyone {
		os.announced.Store(og.clock.Now().UnixNano())
		os.owed.Store(false)
	}
}

// answerQuery announces to member the streams it asked about (stream 0:
// all) that it may receive, if allow (the QUERY budgets, paths.answer)
// grants it. On multicast an announcement goes to everyone, so QUERYs for
// a stream announced less than queryRecent ago cost no budget and wait
// for one announcement at the end of that span, which answers them all:
// members that missed the same announcement ask together (late joiners,
// or the clients a gateway validated at once), and the group gets at
// most one announcement of a stream per span however many ask ("query-
// recent" counts them). Every QUERY is answered by an announcement sent
// after it arrived, within queryRecent.
func (og *outgoing) answerQuery(member uint64, stream uint32, now time.Time, allow func() bool) {
	recent := now.Add(-og.queryRecent()).UnixNano()
	og.mu.Lock()
	var list []*outStream
	var due int64
	for _, os := range og.streams {
		if (stream == 0 || os.id == stream) && (os.key.target == 0 || os.key.target == member) {
			if a := os.announced.Load(); og.multicast && a > recent {
				os.owed.Store(true)
				if due == 0 || a < due {
					due = a
				}
				continue
			}
			list = append(list, os)
		}
	}
	if due != 0 {
		og.cnt.drop("query-recent")
		if og.owedTimer == nil && !og.closed {
			og.armOwedLocked(due, now)
		}
	}
	og.mu.Unlock()
	if len(list) == 0 || !allow() {
		return
	}
	for _, os := range list {
		og.announce(os, og.dst(member))
	}
}

// announceOwed announces to everyone the streams a QUERY waits for
// (answerQuery), and arms itself again for those announced too recently.
func (og *outgoing) announceOwed() {
	now := og.clock.Now()
	recent := now.Add(-og.queryRecent()).UnixNano()
	og.mu.Lock()
	og.owedTimer = nil
	if og.closed {
		og.mu.Unlock()
		return
	}
	var list []*outStream
	var due int64
	for _, os := range og.streams {
		if !os.owed.Load() {
			continue
		}
		if a := os.announced.Load(); a > recent {
			if due == 0 || a < due {
				due = a
			}
			continue
		}
		list = append(list, os)
	}
	if due != 0 {
		og.armOwedLocked(due, now)
	}
	og.mu.Unlock()
	for _, os := range list {
		og.announce(os, everyone)
	}
}

// armOwedLocked arms announceOwed for the end of the span of the
// announcement made at due (clock nanoseconds); og.mu is held.
func (og *outgoing) armOwedLocked(due int64, now time.Time) {
	og.owedTimer = og.clock.AfterFunc(time.Unix(0, due).Add(og.queryRecent()).Sub(now), og.announceOwed)
}

// queryRecent is how long after an announcement to everyone a QUERY for
// the stream waits for the next (answerQuery): a sixteenth of the
// announce interval (a quarter of the time an asker waits before it asks
// again), and at most maxQueryRecent.
func (og *outgoing) queryRecent() time.Duration { return min(og.cfg.announce/16, maxQueryRecent) }

// maxQueryRecent bounds queryRecent: the members that missed the same
// announcement ask within milliseconds of each other (they joined
// together, or a gateway validated them at once), so a short span gathers
// their QUERYs, and a lone late joiner of a channel with a long announce
// interval does not wait long for its answer.
const maxQueryRecent = 50 * time.Millisecond

// feedback passes a FEEDBACK frame from member up the stack of the stream
// it names (current or retired).
func (og *outgoing) feedback(member uint64, stream uint32, payload []byte, now time.Time) {
	og.mu.Lock()
	os := og.byID[stream]
	og.mu.Unlock()
	if os == nil {
		og.cnt.drop("unknown-stream")
		return
	}
	pk := og.pool.FromBytes(0, payload)
	pk.Meta.Peer = member
	os.st.UpAt(pk, now)
	og.batchDrained(os)
}

// maintain ends the streams that are done at now — retired ones once
// drained (or after drainMax, for receivers that never answer), streams
// addressed to one member once idle for idleMax — and re-announces the
// others.
func (og *outgoing) maintain(now time.Time, drainMax, idleMax time.Duration) {
	og.mu.Lock()
	if og.closed {
		og.mu.Unlock()
		return
	}
	var done []*outStream
	kept := og.retired[:0]
	for _, os := range og.retired {
		if os.st.Drained() || now.Sub(os.retiredAt) > drainMax {
			delete(og.byID, os.id)
			done = append(done, os)
			continue
		}
		kept = append(kept, os)
	}
	clear(og.retired[len(kept):])
	og.retired = kept
	list := make([]*outStream, 0, len(og.streams))
	for k, os := range og.streams {
		// Idle for idleMax: a stream to one member goes (that member may
		// be gone); one to everyone once it holds nothing unacknowledged.
		// A push on its name opens and announces a new one.
		if now.UnixNano()-os.lastUse.Load() > int64(idleMax) && (k.target != 0 || os.st.Drained()) && os.mu.TryLock() {
			// TryLock: a stream's mu comes before og.mu, and a stream a
			// push holds is not idle. Marked retired, a push that already
			// holds the stream goes on a new one.
			os.retired, os.retiredAt = true, now
			og.last.Store(nil) // before a push can see it retired: its retry must not find it again
			og.flushBatchLocked(os)
			os.mu.Unlock()
			delete(og.streams, k)
			delete(og.byID, os.id)
			done = append(done, os)
			continue
		}
		list = append(list, os)
	}
	og.mu.Unlock()
	for _, os := range done {
		og.dropBatch(os)
		os.st.Close()
	}
	for _, os := range list {
		og.announce(os, og.dst(os.key.target))
	}
}

// current returns the current (not retired) streams.
func (og *outgoing) current() []*outStream {
	og.mu.Lock()
	defer og.mu.Unlock()
	return slices.Collect(maps.Values(og.streams))
}

// retiredCount is the number of retired streams still draining.
func (og *outgoing) retiredCount() int {
	og.mu.Lock()
	defer og.mu.Unlock()
	return len(og.retired)
}

// stats describes the current streams, in id order.
func (og *outgoing) stats() []StreamStats {
	var out []StreamStats
	for _, os := range og.current() {
		out = append(out, StreamStats{Name: os.key.name, Media: os.media, Target: os.key.target, ID: os.id, QoS: os.qos,
			Postings: os.postings.Load(), Bytes: os.bytes.Load(), Memory: os.mem.Used(), Stack: os.st.Stats()})
	}
	slices.SortFunc(out, func(a, b StreamStats) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// stopPushes refuses pushes, new streams and reconfigurations from now on
// (ErrClosed; pushes waiting for room wake up to it), and returns once the
// pushes in progress have put their postings in their stacks. The streams
// go on sending and repairing until close.
func (og *outgoing) stopPushes() {
	og.mu.Lock()
	if og.stopping.Swap(true) {
		og.mu.Unlock()
		return
	}
	if og.stop != nil {
		close(og.stop)
	}
	list := slices.Collect(maps.Values(og.streams))
	og.mu.Unlock()
	for _, os := range list {
		// A push holds its stream's mu from its check until its posting is
		// in the stack or its open batch: once it is free, the posting is
		// there, and the batch goes down too.
		os.mu.Lock()
		og.flushBatchLocked(os)
		os.mu.Unlock()
	}
}

// all returns the streams whose stacks are open: the current ones and the
// retired ones still draining, in id order.
func (og *outgoing) all() []*outStream {
	og.mu.Lock()
	list := append(slices.Collect(maps.Values(og.streams)), og.retired...)
	og.mu.Unlock()
	slices.SortFunc(list, func(a, b *outStream) int { return cmp.Compare(a.id, b.id) })
	return list
}

// refusers returns the members that refused os.
func (og *outgoing) refusers(os *outStream) map[uint64]bool {
	og.mu.Lock()
	defer og.mu.Unlock()
	return maps.Clone(os.refusedBy)
}

// close refuses new streams and reconfigurations from now on.
func (og *outgoing) close() {
	og.mu.Lock()
	og.closed = true
	og.last.Store(nil)
	if og.owedTimer != nil {
		og.owedTimer.Stop()
		og.owedTimer = nil
	}
	og.mu.Unlock()
}

// closeStacks closes every stream's stack, the retired ones' too (their
// timers would otherwise go on repairing into a closed outbox).
func (og *outgoing) closeStacks() {
	og.mu.Lock()
	list := append(slices.Collect(maps.Values(og.streams)), og.retired...)
	og.last.Store(nil)
	clear(og.streams)
	clear(og.byID)
	og.retired = nil
	og.mu.Unlock()
	for _, os := range list {
		og.dropBatch(os)
		os.st.Close()
	}
}
