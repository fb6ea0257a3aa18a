package channel

import (
	"cmp"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rwanda-go/rwanda/posting"
	"github.com/rwanda-go/rwanda/registry"
	"github.com/rwanda-go/rwanda/stack"
)

// incoming is the part of a channel that receives: the streams other
// members announce, checked against the receive policy; data frames held
// until their stream's late announcement; one flow per (remote sender,
// stream) with the mirror stack built from the announcement; a replacing
// flow's postings held until the flow it follows has handed up its share;
// and delivery of decoded postings, in order, to deliver.
//
// It keeps state only for senders that membership knows (skewOf answers
// non-nil), and drops it when told the sender is gone (forget).
type incoming struct {
	self      uint64
	cfg       *config // read only
	env       registry.Env
	clock     stack.Clock
	timers    *timerBatch // the stacks' clock: their timers due together run together
	pool      *stack.Pool
	mem       *stack.Budget
	log       *slog.Logger
	mtu       int  // the stacks' MTU
	multicast bool // feedback and queries go to the group
	carrier   bool // the transport controls flow and congestion (stack.Flow.CarrierControlled)
	instances *atomic.Uint64
	out       *outbox                    // feedback and queries
	skewOf    func(uint64) *skewEstimate // membership: a member's clock offset, nil for a stranger
	deliver   func(*posting.Posting)     // decoded postings, in each flow's order
	// deliverBorrowed takes postings valid only during the call (see
	// posting.Borrower), while subs has no owner (NoRetain).
	deliverBorrowed func(*posting.Posting)
	subs            *subscribers
	cnt             *counters

	mu        sync.Mutex
	closed    bool
	senders   map[uint64]*remoteSender
	flows     map[flowKey]*inFlow
	announced int // streams announced by all senders
	// gone remembers, for flows closed while their sender may still
	// retransmit (forgotten, reclaimed, evicted), the highest posting Seq
	// they handed up: a flow built anew for the same (sender, stream)
	// starts at the sender's oldest retained packet, which may be one
	// already delivered whose acknowledgement the sender never got, and
	// must not deliver it again (see goneFlow).
	gone map[flowKey]goneFlow
}

// goneFlow is what is kept of a closed flow: the highest posting Seq it
// handed up, and when it closed. Sender ids are random per instance and
// a sender never reuses a stream id, so the record can only ever refuse
// true duplicates; it is kept for goneKeep (or until the flow is built
// again), at most WithLimits' flows of them.
type goneFlow struct {
	seq uint64
	at  time.Time
}

// goneKeep is how long, in announce intervals, a closed flow's record is
// kept: the sender closes an idle stream after thirty (outgoing.maintain),
// and retransmits what is unacknowledged at least every 10 s (the
// window's largest RTO) meanwhile.
const goneKeep = 30

type flowKey struct {
	sender uint64
	stream uint32
}

// remoteSender is what incoming keeps of one member that sends.
type remoteSender struct {
	skew      *skewEstimate // membership's, shared by the sender's flows
	streams   map[uint32]*streamInfo
	reliable  map[string]bool // stream names whose flow's stack is reliable
	lastQuery time.Time
	held      []heldFrame
	heldBytes int
}

type streamInfo struct {
	announcement
	refused error     // the policy or the registry refused it
	build   string    // the QoS this member builds: qos within its limits
	heard   time.Time // its latest announcement (senders repeat them every interval)
}

// heldFrame is a data frame that arrived before its stream's announcement
// (a late joiner): it is kept, bounded, and replayed when the announcement
// comes, instead of being lost.
type heldFrame struct {
	stream  uint32
	relay   stack.Meta
	payload []byte
	at      time.Time
}

const (
	maxHeldFrames = 64      // per member
	maxHeldBytes  = 1 << 20 // per member
)

// inFlow is one (remote sender, stream) this member receives, with the
// mirror stack.
type inFlow struct {
	in       *incoming
	sender   uint64
	id       uint32
	name     string
	qos      string
	st       *stack.Stack
	mem      *stack.Budget // its stack's share of the channel's budget
	reliable bool          // a layer of its stack retransmits (stack.CapReliable)
	postings atomic.Uint64
	bytes    atomic.Uint64
	lastUse  atomic.Int64
	skew     *skewEstimate          // the sender's (shared by its flows)
	done     atomic.Uint64          // parcels its stack handed up (delivered or not)
	next     atomic.Pointer[inFlow] // the flow that replaces this one
	follow   *follow                // when this flow replaces another
	// seq is the highest posting Seq handed up (or inherited from a closed
	// flow of the same stream); below, set at build, the Seq up to which
	// an earlier flow of the same (sender, stream) handed postings up:
	// those are duplicates (see incoming.gone).
	seq   atomic.Uint64
	below uint64
	// borrow decodes postings handed up while every subscriber borrows
	// (NoRetain); the stack hands up one parcel at a time.
	borrow posting.Borrower
}

// senderLocked returns the state kept for sender, creating it when
// membership knows the sender; nil otherwise.
func (in *incoming) senderLocked(sender uint64) *remoteSender {
	if rs := in.senders[sender]; rs != nil {
		return rs
	}
	if in.closed {
		return nil
	}
	skew := in.skewOf(sender)
	if skew == nil {
		return nil
	}
	rs := &remoteSender{skew: skew, streams: make(map[uint32]*streamInfo), reliable: make(map[string]bool)}
	in.senders[sender] = rs
	return rs
}

// announce records a stream's announcement and passes up the data frames
// held for it while it was unknown.
func (in *incoming) announce(sender uint64, f *frame, now time.Time) {
	held, refused := in.learn(sender, f, now)
	if refused != "" {
		in.refuse(sender, f.stream, refused)
	}
	for _, h := range held {
		in.data(sender, h.stream, &h.relay, h.payload, now)
	}
}

// refuse tells sender that its stream will not be built here, and why.
func (in *incoming) refuse(sender uint64, stream uint32, why string) {
	if in.out == nil {
		return // a recording: nobody to tell
	}
	var scratch [32]byte
	in.out.add(dstFor(in.multicast, sender), bundle{}, appendRefuse(scratch[:0], sender, stream, why), nil)
}

// learn records an announcement and returns the data frames held for the
// stream while it was unknown, or why the stream is refused (told to its
// sender at each announcement, so a lost REFUSE is repaired).
func (in *incoming) learn(sender uint64, f *frame, now time.Time) ([]heldFrame, string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	rs := in.senderLocked(sender)
	if rs == nil {
		return nil, ""
	}
	if old := rs.streams[f.stream]; old != nil {
		old.heard = now
		if old.refused != nil {
			return nil, old.refused.Error()
		}
		return nil, "" // stream ids are immutable: nothing new
	}
	// Per member and in total: announcements of thousands of streams by
	// thousands of members cannot grow memory without bound. A member may
	// announce as many streams as a sender with this channel's limits may
	// open (WithLimits' flows), so two members with the same limits agree.
	if len(rs.streams) >= in.cfg.maxFlows {
		in.cnt.drop("too-many-streams")
		return nil, fmt.Sprintf("too many streams: %d announced by this member, the most a receiver takes from one (channel.WithLimits flows)", len(rs.streams))
	}
	if in.announced >= in.cfg.maxFlows*4 {
		in.cnt.drop("too-many-streams")
		return nil, fmt.Sprintf("too many streams: %d announced by all members, the most a receiver takes (4 × channel.WithLimits flows)", in.announced)
	}
	in.announced++
	si := &streamInfo{announcement: announcement{stream: f.stream, epoch: f.epoch, target: f.target, name: string(f.name), qos: string(f.qos),
		prev: f.prev, count: f.count}, heard: now}
	spec, err := in.cfg.registry.Resolve(si.qos)
	if err == nil {
		err = in.cfg.policy.check(in.cfg.registry, spec)
	}
	if err == nil {
		si.build = clampParcels(in.cfg.registry, spec, in.cfg.maxPosting).String()
	}
	si.refused = err
	var refused string
	if err != nil {
		in.log.Warn("refusing announced stream", "sender", fmt.Sprintf("%016x", sender), "stream", si.name, "qos", si.qos, "err", err)
		refused = err.Error()
	}
	rs.streams[f.stream] = si
	var out []heldFrame
	kept := rs.held[:0]
	for _, h := range rs.held {
		if h.stream == f.stream {
			out = append(out, h)
			rs.heldBytes -= len(h.payload)
			in.mem.Release(int64(len(h.payload)))
		} else {
			kept = append(kept, h)
		}
	}
	clear(rs.held[len(kept):])
	rs.held = kept
	return out, refused
}

// data passes a DATA frame's payload up its flow's stack, with the frame's
// relay metadata in the packet's Meta (the sign layer checks it).
func (in *incoming) data(sender uint64, stream uint32, relay *stack.Meta, payload []byte, now time.Time) {
	fl := in.flow(sender, stream, relay, payload, now)
	if fl == nil {
		return
	}
	pk := in.pool.FromBytes(0, payload)
	pk.Meta = *relay
	pk.Meta.Peer = sender
	fl.lastUse.Store(now.UnixNano())
	fl.bytes.Add(uint64(len(payload)))
	fl.st.UpAt(pk, now)
}

// overheard passes feedback another receiver sent to a sender we also
// receive from up that flow's stack, marked overheard: on multicast, one
// receiver's NAK stands for the others'.
func (in *incoming) overheard(from uint64, f *frame, now time.Time) {
	in.mu.Lock()
	fl := in.flows[flowKey{f.target, f.stream}]
	in.mu.Unlock()
	if fl == nil {
		return
	}
	pk := in.pool.FromBytes(0, f.payload)
	pk.Meta.Peer = from
	pk.Meta.Flags |= stack.FlagOverheard
	fl.st.UpAt(pk, now)
}

// flow returns the receiving flow for (sender, stream), building its stack
// from the announcement, or nil when it cannot: refused (counted), or not
// announced yet, in which case the payload is held for when the
// announcement comes (bounded; beyond the bound it is dropped and counted)
// and the sender is asked to announce.
func (in *incoming) flow(sender uint64, id uint32, relay *stack.Meta, payload []byte, now time.Time) *inFlow {
	key := flowKey{sender, id}
	in.mu.Lock()
	if fl := in.flows[key]; fl != nil {
		in.mu.Unlock()
		return fl
	}
	rs := in.senderLocked(sender)
	if rs == nil {
		in.mu.Unlock()
		return nil
	}
	si := rs.streams[id]
	if si == nil {
		// Held frames count against the channel's memory budget too, so a
		// flood of senders each sending unannounced data stays bounded.
		if len(rs.held) < maxHeldFrames && rs.heldBytes+len(payload) <= maxHeldBytes && in.mem.Reserve(int64(len(payload))) {
			rs.held = append(rs.held, heldFrame{stream: id, relay: *relay, payload: slices.Clone(payload), at: now})
			rs.heldBytes += len(payload)
			in.cnt.held.Add(1)
		} else {
			in.cnt.drop("unannounced")
		}
		ask := now.Sub(rs.lastQuery) >= in.cfg.announce/4
		if ask {
			rs.lastQuery = now
		}
		in.mu.Unlock()
		if ask {
			// For all the sender's streams: a member that missed one
			// announcement (it joined late, or its gateway had not yet
			// validated it) has likely missed the others, and asks
			// once a quarter interval at most.
			var b [16]byte
			in.out.add(dstFor(in.multicast, sender), bundle{}, appendQuery(b[:0], sender, 0), nil)
		}
		return nil
	}
	if si.refused != nil {
		in.cnt.drop("policy")
		in.mu.Unlock()
		return nil
	}
	if len(in.flows) >= in.cfg.maxFlows {
		in.evictFlowLocked()
	}
	in.mu.Unlock()

	fl := &inFlow{in: in, sender: sender, id: id, name: si.name, qos: si.qos, skew: rs.skew, mem: in.mem.Share()}
	layers, err := in.cfg.registry.Build(si.build, in.env)
	if err == nil {
		fl.st, err = stack.New(stack.Config{
			Layers: layers, Wire: stack.HandlerFunc(fl.wire), Deliver: stack.HandlerFunc(fl.deliver),
			Flush: in.out.flushHook, Events: fl.event, Clock: in.timers, Pool: in.pool, Memory: fl.mem,
			MTU: in.mtu, Logger: in.log,
			Flow: stack.Flow{Stream: si.name, Role: stack.Receiver, Local: in.self, Remote: sender, Multicast: in.multicast,
				PointToPoint: si.target != 0, CarrierControlled: in.carrier, ID: id, Instance: in.instances.Add(1)},
		})
		for _, l := range layers {
			if slices.Contains(stack.CapabilitiesOf(l).Provides, stack.CapReliable) {
				fl.reliable = true
			}
		}
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if err == nil {
		rs.reliable[si.name] = fl.reliable
	}
	if err != nil {
		si.refused = err
		in.cnt.drop("policy")
		in.log.Warn("cannot build announced stack", "sender", fmt.Sprintf("%016x", sender), "stream", si.name, "qos", si.qos, "err", err)
		in.refuse(sender, id, err.Error())
		return nil
	}
	if in.closed || in.senders[sender] != rs {
		fl.st.Close() // closed, or the sender was forgotten meanwhile
		return nil
	}
	if old := in.flows[key]; old != nil {
		fl.st.Close() // another datagram of the flow built it meanwhile
		return old
	}
	if g, ok := in.gone[key]; ok {
		// A flow of this stream was closed: what it handed up is not
		// handed up again.
		fl.below = g.seq
		fl.seq.Store(g.seq)
		delete(in.gone, key)
	}
	if si.prev != 0 {
		// This stream replaces another: hold its postings until the old
		// flow has handed up its share — unless there is no old flow here
		// (we joined after the switch) or it already has.
		f := &follow{prev: si.prev, count: si.count, until: now.Add(in.followWait())}
		fl.follow = f
		if old := in.flows[flowKey{sender, si.prev}]; old == nil || old.done.Load() >= si.count {
			f.ready, f.released = true, true
		} else {
			old.next.Store(fl)
		}
	}
	in.flows[key] = fl
	return fl
}

func (in *incoming) evictFlowLocked() {
	var oldest *inFlow
	var key flowKey
	for k, fl := range in.flows {
		if oldest == nil || fl.lastUse.Load() < oldest.lastUse.Load() {
			oldest, key = fl, k
		}
	}
	if oldest != nil {
		delete(in.flows, key)
		in.goneLocked(key, oldest, in.clock.Now())
		in.cnt.drop("evicted-flow")
		oldest.st.Close()
	}
}

// goneLocked records that fl, the flow of key, is closed (see gone).
func (in *incoming) goneLocked(key flowKey, fl *inFlow, now time.Time) {
	seq := fl.seq.Load()
	if seq == 0 {
		return // nothing handed up
	}
	if in.gone == nil {
		in.gone = make(map[flowKey]goneFlow)
	}
	if _, ok := in.gone[key]; !ok && len(in.gone) >= max(in.cfg.maxFlows, 1) {
		var oldest flowKey
		var at time.Time
		first := true
		for k, g := range in.gone {
			if first || g.at.Before(at) {
				oldest, at, first = k, g.at, false
			}
		}
		delete(in.gone, oldest)
	}
	in.gone[key] = goneFlow{seq: max(seq, in.gone[key].seq), at: now}
}

// wire is a receiving stack's Wire: packets going down are feedback for the
// sender's stream.
func (fl *inFlow) wire(pk *stack.Packet) error {
	in := fl.in
	var scratch [maxFrameHeader]byte
	hdr := appendFeedbackHeader(scratch[:0], fl.sender, fl.id, pk.Len(), pk.Meta.Flags&stack.FlagForSender != 0)
	in.out.add(dstFor(in.multicast, fl.sender), bundle{}, hdr, pk.Bytes())
	pk.Release()
	return nil
}

// event handles an event of an incoming flow's stack.
func (fl *inFlow) event(e stack.Event) {
	fl.in.cnt.report(Event{Kind: e.Kind, Stream: fl.name, Member: fl.sender, Layer: e.Layer, Seq: e.Seq, Detail: e.Detail, At: e.At})
}

// sharedBody is the size from which a received posting keeps its parcel's
// buffer instead of copying its body out of it (smaller ones copy, so
// their buffer goes back to the pool).
const sharedBody = 16 << 10

// deliver decodes a posting that reached the top of a receiving stack, or
// the postings of a batch (see batch.go).
func (fl *inFlow) deliver(pk *stack.Packet) error {
	in := fl.in
	if d := pk.Meta.Deadline; !d.IsZero() && in.clock.Now().After(d) {
		pk.Release() // it became obsolete on its way up
		in.cnt.drop("obsolete")
		fl.handedUp()
		return nil
	}
	n := pk.Len()
	if int64(n) > maxEncoded(in.cfg.maxPosting) {
		pk.Release() // a stack without frag's limit (or a custom layer) let it through
		in.cnt.drop("too-large")
		fl.handedUp()
		return nil
	}
	// Decoding may allocate up to its budget (8× the posting and 4 KiB;
	// see package posting): that is charged to the channel's memory
	// while this member decodes and hands the posting up.
	cost := int64(8*n + 4096)
	if !in.mem.Reserve(cost) {
		pk.Release()
		in.cnt.drop("no-memory")
		fl.handedUp()
		return nil
	}
	defer in.mem.Release(cost)
	borrow := fl.follow == nil && in.deliverBorrowed != nil && in.subs.owners.Load() == 0
	if isBatch(pk.Bytes()) {
		if !splitBatch(pk.Bytes(), func(b []byte) { fl.deliverOne(b, borrow) }) {
			in.cnt.drop("bad-batch")
			fl.handedUp()
		}
		pk.Release()
		return nil
	}
	if borrow {
		// Nobody keeps what they are given: decode into the flow's
		// posting, its body aliasing the packet, which is released once
		// the posting has been handed up.
		fl.deliverOne(pk.Bytes(), true)
		pk.Release()
		return nil
	}
	if n >= sharedBody && !pk.Shared() {
		// A large parcel: the posting keeps its buffer rather than a copy.
		p, err := posting.DecodeShared(pk.Detach())
		pk.Release()
		fl.handOn(p, err, n, false)
		return nil
	}
	fl.deliverOne(pk.Bytes(), false)
	pk.Release()
	return nil
}

// deliverOne decodes the posting encoded in b and hands it on; borrow
// says into the flow's Borrower (b must stay valid during the call), else
// into a posting of its own.
func (fl *inFlow) deliverOne(b []byte, borrow bool) {
	if borrow {
		p, err := fl.borrow.Decode(b)
		fl.handOn(p, err, len(b), true)
		return
	}
	p, err := posting.Decode(b)
	fl.handOn(p, err, len(b), false)
}

// handOn hands up a decoded posting (n bytes encoded; err: it did not
// decode) and counts it as a parcel the flow's stack handed up.
func (fl *inFlow) handOn(p *posting.Posting, err error, n int, borrowed bool) {
	in := fl.in
	defer fl.handedUp()
	if err != nil {
		in.cnt.drop("bad-posting")
		return
	}
	p.Sender, p.Stream = fl.sender, fl.name
	if p.Seq != 0 {
		if p.Seq <= fl.below {
			// An earlier flow of this stream handed it up; the sender,
			// which never had the acknowledgement, sent it again.
			in.cnt.drop("duplicate")
			return
		}
		if p.Seq > fl.seq.Load() {
			fl.seq.Store(p.Seq) // one goroutine hands a flow's postings up
		}
	}
	if p.TTL > 0 && !p.Sent.IsZero() && fl.skew.age(in.clock.Now(), p.Sent) > p.TTL {
		in.cnt.drop("obsolete") // its time to obsolescence ran out on the way
		return
	}
	fl.postings.Add(1)
	in.cnt.recvd.postings.Add(1)
	if f := fl.follow; f != nil {
		if held, full := f.hold(p, n); held {
			if full {
				in.cnt.drop("reconfigure-overflow") // not a posting: the wait
				fl.release()
			}
			return
		}
	}
	if borrowed {
		in.deliverBorrowed(p)
		return
	}
	in.deliver(p)
}

// reliableFrom says whether sender's stream name is received through a
// reliable stack (for reporting a subscriber's drops).
func (in *incoming) reliableFrom(sender uint64, name string) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	rs := in.senders[sender]
	return rs != nil && rs.reliable[name]
}

// forget drops what is kept for a sender membership forgot, and closes
// its flows. Closing a stack under in.mu is safe: no code holding a
// stack's lock takes in.mu.
func (in *incoming) forget(sender uint64) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if rs := in.senders[sender]; rs != nil {
		in.announced -= len(rs.streams)
		in.mem.Release(int64(rs.heldBytes))
		delete(in.senders, sender)
	}
	now := in.clock.Now()
	for k, fl := range in.flows {
		if k.sender == sender {
			delete(in.flows, k)
			in.goneLocked(k, fl, now)
			fl.st.Close()
		}
	}
}

// maintain drops, counted, the frames held longer than heldMax for an
// announcement that never came, and ends the waits of replacing flows
// whose predecessors made no progress in time.
//
// It also reclaims what senders stopped: a stream whose announcement has
// not been heard for goneAfter (its sender closed it, or left) is
// forgotten, with its flow if that too has had nothing for goneAfter and
// holds nothing; if the stream was alive after all, its next data asks
// for the announcement again and the flow is built anew.
func (in *incoming) maintain(now time.Time, heldMax, goneAfter time.Duration) {
	var idle []*inFlow
	in.mu.Lock()
	for sender, rs := range in.senders {
		for id, si := range rs.streams {
			if now.Sub(si.heard) <= goneAfter {
				continue
			}
			k := flowKey{sender, id}
			if fl := in.flows[k]; fl != nil {
				if now.UnixNano()-fl.lastUse.Load() <= int64(goneAfter) || fl.follow != nil || fl.next.Load() != nil || !fl.st.Drained() {
					continue
				}
				delete(in.flows, k)
				in.goneLocked(k, fl, now)
				idle = append(idle, fl)
			}
			delete(rs.streams, id)
			in.announced--
			if !slices.ContainsFunc(slices.Collect(maps.Values(rs.streams)), func(o *streamInfo) bool { return o.name == si.name }) {
				delete(rs.reliable, si.name)
			}
		}
	}
	for _, rs := range in.senders {
		kept := rs.held[:0]
		for _, h := range rs.held {
			if now.Sub(h.at) > heldMax {
				in.cnt.drop("unannounced")
				rs.heldBytes -= len(h.payload)
				in.mem.Release(int64(len(h.payload)))
				continue
			}
			kept = append(kept, h)
		}
		clear(rs.held[len(kept):])
		rs.held = kept
	}
	for k, g := range in.gone {
		if now.Sub(g.at) > goneKeep*in.cfg.announce {
			delete(in.gone, k)
		}
	}
	var waiting []*inFlow
	for _, fl := range in.flows {
		if f := fl.follow; f != nil && f.overdue(now) {
			waiting = append(waiting, fl)
		}
	}
	in.mu.Unlock()
	for _, fl := range idle {
		fl.st.Close()
	}
	for _, fl := range waiting {
		if fl.follow.setReady() {
			in.cnt.drop("reconfigure-timeout") // the old stream never handed up its share
			fl.release()
		}
	}
}

// stats describes the flows, by sender then stream id.
func (in *incoming) stats() []FlowStats {
	in.mu.Lock()
	flows := slices.Collect(maps.Values(in.flows))
	in.mu.Unlock()
	var out []FlowStats
	for _, fl := range flows {
		out = append(out, FlowStats{Sender: fl.sender, Stream: fl.name, ID: fl.id, QoS: fl.qos,
			Postings: fl.postings.Load(), Bytes: fl.bytes.Load(), Memory: fl.mem.Used(), Stack: fl.st.Stats()})
	}
	slices.SortFunc(out, func(a, b FlowStats) int {
		if c := cmp.Compare(a.Sender, b.Sender); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out
}

// close refuses new senders and flows from now on.
func (in *incoming) close() {
	in.mu.Lock()
	in.closed = true
	in.mu.Unlock()
}

// closeStacks closes every flow's stack.
func (in *incoming) closeStacks() {
	in.mu.Lock()
	flows := slices.Collect(maps.Values(in.flows))
	clear(in.flows)
	in.mu.Unlock()
	for _, fl := range flows {
		fl.st.Close()
	}
}
