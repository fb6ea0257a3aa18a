package channel

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rwanda-go/rwanda/posting"
	"github.com/rwanda-go/rwanda/registry"
	"github.com/rwanda-go/rwanda/sched"
	"github.com/rwanda-go/rwanda/stack"

	// The built-in layers, so QoS strings and profiles can name them.
	_ "github.com/rwanda-go/rwanda/layers/compress"
	_ "github.com/rwanda-go/rwanda/layers/edf"
	_ "github.com/rwanda-go/rwanda/layers/encrypt"
	_ "github.com/rwanda-go/rwanda/layers/fifo"
	_ "github.com/rwanda-go/rwanda/layers/frag"
	_ "github.com/rwanda-go/rwanda/layers/impair"
	_ "github.com/rwanda-go/rwanda/layers/monitor"
	_ "github.com/rwanda-go/rwanda/layers/order"
	_ "github.com/rwanda-go/rwanda/layers/priority"
	_ "github.com/rwanda-go/rwanda/layers/ratelimit"
	_ "github.com/rwanda-go/rwanda/layers/refresh"
	_ "github.com/rwanda-go/rwanda/layers/sign"
	_ "github.com/rwanda-go/rwanda/layers/window"
)

// Handler answers a Pull request. Returning an error sends a Fault whose
// text the puller gets as a *RemoteError.
type Handler func(ctx context.Context, req *posting.Posting) (*posting.Posting, error)

// Channel is an open channel: see the package documentation. All methods
// are safe for concurrent use.
type Channel struct {
	addr     *Address
	cfg      config
	qos      string // canonical QoS of streams without their own
	id       uint64
	clock    stack.Clock
	log      *slog.Logger
	pool     *stack.Pool
	mem      *stack.Budget
	tr       transport
	rec      *recorder
	stackMTU int
	remote   netip.AddrPort // the unicast peer named by the URL, if any
	out      *outbox
	ctx      context.Context
	cancel   context.CancelFunc

	mu         sync.Mutex
	closed     bool
	streams    map[streamKey]*outStream
	byID       map[uint32]*outStream
	retired    []*outStream // replaced by Reconfigure, draining
	link       *linkQueue   // WithLinkRate: the send queue
	adaptTimer stack.Timer  // WithAdapter
	streamQoS  atomic.Pointer[map[string]string]
	nextID     uint32
	auth       *dgramAuth // keyed channels: datagram authentication
	media      [numMedia]mediaProfile
	announced  int           // streams announced by all peers (under mu)
	instances  atomic.Uint64 // numbers the stacks built (stack.Flow.Instance)
	flows      map[flowKey]*inFlow
	peers      map[uint64]*peer
	pulls      map[uint64]pending
	handler    Handler
	serverSeen chan struct{} // closed and replaced when a serving member appears
	rr         int           // round robin among servers
	maint      stack.Timer
	dsts       []netip.AddrPort // scratch for resolve, used by the one writer

	subsMu sync.Mutex
	subs   atomic.Pointer[[]*Subscription]

	corr     atomic.Uint64
	serveSem chan struct{}
	wg       sync.WaitGroup

	dropsMu sync.Mutex
	drops   map[string]uint64
	events  map[string]uint64
	sent    traffic
	recvd   traffic
	held    atomic.Uint64 // data frames held for a late announcement
}

type traffic struct{ datagrams, bytes, postings atomic.Uint64 }

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

type flowKey struct {
	sender uint64
	stream uint32
}

type pending struct {
	reply  chan *posting.Posting
	server uint64
}

// outStream is one stream this member sends, with its stack.
type outStream struct {
	ch       *Channel
	key      streamKey
	id       uint32
	epoch    uint32
	qos      string
	media    posting.Media // of the posting that opened it (classes sharing its QoS share it)
	st       *stack.Stack
	seq      atomic.Uint64
	postings atomic.Uint64
	bytes    atomic.Uint64
	lastUse  atomic.Int64 // clock nanoseconds
	roomMu   sync.Mutex
	roomCh   chan struct{} // closed and replaced when the stack has room again

	// mu is held by a push from the moment it checks that the stream is
	// current until its posting is in the stack and counted; Reconfigure
	// takes it to retire the stream at an exact count.
	mu        sync.Mutex
	retired   bool
	retiredAt time.Time
	prev      uint32       // the stream this one replaced, 0: none
	prevCount uint64       // postings sent on prev
	policy    sched.Policy // in the channel's send queue
	created   time.Time    // when its stack was built
	original  string       // the QoS before the adapter changed it; "": not changed
}

// inFlow is one (remote sender, stream) this member receives, with the
// mirror stack.
type inFlow struct {
	ch       *Channel
	sender   uint64
	id       uint32
	name     string
	qos      string
	st       *stack.Stack
	postings atomic.Uint64
	bytes    atomic.Uint64
	lastUse  atomic.Int64
	skew     *skewEstimate          // the sender's (shared by its flows)
	done     atomic.Uint64          // parcels its stack handed up (delivered or not)
	next     atomic.Pointer[inFlow] // the flow that replaces this one
	follow   *follow                // when this flow replaces another
}

// follow holds a replacing flow's postings until the flow it replaces has
// handed up the postings sent on it before the switch, so that a
// reconfigured stream's postings arrive in order, none twice.
type follow struct {
	prev     uint32
	count    uint64
	until    time.Time // give up waiting then (moved on while the old flow progresses)
	mu       sync.Mutex
	ready    bool
	released bool
	draining bool
	held     []*posting.Posting
	bytes    int
}

// skewEstimate removes the clock offset between a sender and this member
// without synchronised clocks: the smallest (arrival − send time) seen
// recently, over the sender's hellos (which carry its clock and leave at
// once) and its postings, is the offset plus the shortest one-way delay,
// so a posting's age is its (arrival − send time) less that minimum. A
// posting older than its TTL is obsolete. The minimum is kept over two
// 10-second epochs so a drifting clock is followed.
type skewEstimate struct {
	mu        sync.Mutex
	cur, prev time.Duration
	epoch     time.Time
	have      bool
}

const skewEpoch = 10 * time.Second

// age returns how long ago, corrected for clock offset, a posting sent at
// sent was sent, and folds the sample into the estimate.
func (e *skewEstimate) age(now, sent time.Time) time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	off := now.Sub(sent)
	if !e.have || now.Sub(e.epoch) >= skewEpoch {
		if e.have {
			e.prev = e.cur
		} else {
			e.prev = off
		}
		e.cur, e.epoch, e.have = off, now, true
	}
	e.cur = min(e.cur, off)
	return off - min(e.cur, e.prev)
}

// peer is another member of the channel.
type peer struct {
	id        uint64
	addr      netip.AddrPort
	lastSeen  time.Time
	serves    bool
	streams   map[uint32]*streamInfo
	lastQuery time.Time
	held      []heldFrame
	heldBytes int
	skew      skewEstimate // this member's clock against ours, from its hellos and postings
}

type streamInfo struct {
	announcement
	refused error // the policy or the registry refused it
}

// heldFrame is a data frame that arrived before its stream's announcement
// (a late joiner): it is kept, bounded, and replayed when the announcement
// comes, instead of being lost.
type heldFrame struct {
	stream  uint32
	payload []byte
	at      time.Time
}

const (
	maxStreamsPerPeer = 1024
	maxHeldFrames     = 64      // per member
	maxHeldBytes      = 1 << 20 // per member
)

// Open opens the channel named by rawURL (see [Address] for the forms).
// ctx bounds only the opening (name resolution); the channel lives until
// Close.
func Open(ctx context.Context, rawURL string, opts ...Option) (*Channel, error) {
	addr, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	cfg := defaultConfig()
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, fmt.Errorf("channel: %w", err)
		}
	}
	c := &Channel{
		addr: addr, cfg: cfg, clock: cfg.clock, pool: stack.NewPool(),
		mem:     stack.NewBudget(cfg.memory),
		streams: make(map[streamKey]*outStream), byID: make(map[uint32]*outStream),
		flows: make(map[flowKey]*inFlow), peers: make(map[uint64]*peer),
		pulls: make(map[uint64]pending), serverSeen: make(chan struct{}),
		serveSem: make(chan struct{}, cfg.serveLimit), drops: make(map[string]uint64), events: make(map[string]uint64),
	}
	c.log = cfg.logger
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.log = c.log.With("channel", addr.Raw)
	c.id = randomID()
	c.corr.Store(randomID() >> 1)
	if cfg.trusted != nil && !slices.Contains(c.cfg.policy.Require, "sign") {
		// A channel that names whom it trusts accepts only signed streams:
		// a sender cannot shed the signature by announcing a stack without it.
		c.cfg.policy.Require = append(slices.Clone(c.cfg.policy.Require), "sign")
	}
	if cfg.keys != nil {
		// Keyed: every datagram authenticated, every stream encrypted, and
		// no announced stack accepted without encryption (no downgrade).
		c.auth = newDgramAuth(cfg.keys, addr.Identity(), c.id, cfg.maxPeers)
		if !slices.Contains(c.cfg.policy.Require, "encrypt") {
			c.cfg.policy.Require = append(slices.Clone(c.cfg.policy.Require), "encrypt")
		}
	}
	empty := []*Subscription{}
	c.subs.Store(&empty)

	// The QoS: the URL's, or WithQoS, never two different ones.
	qos := DefaultQoS
	switch {
	case addr.QoS != "" && cfg.qosSet:
		a, b := registry.MustParse(addr.QoS), registry.MustParse(cfg.qos)
		if !a.Equal(b) {
			return nil, &URLError{URL: rawURL, Param: "qos", Reason: fmt.Sprintf("conflicts with WithQoS(%q)", cfg.qos), Err: ErrBadURL}
		}
		qos = addr.QoS
	case addr.QoS != "":
		qos = addr.QoS
	case cfg.qosSet:
		qos = cfg.qos
	}
	if c.qos, err = c.resolveQoS(qos); err != nil {
		return nil, err
	}
	// Each medium's profile: WithMediaProfile's, else the channel's QoS when
	// one was given, else the filter table's (falling back to the channel's
	// when the registry cannot build the table's stack).
	for m := range c.media {
		c.media[m] = mediaProfile{qos: c.qos}
		prof, inTable := cfg.table[posting.Media(m)]
		switch {
		case cfg.mediaSet[posting.Media(m)]:
			q, err := c.resolveQoS(prof.QoS)
			if err != nil {
				return nil, fmt.Errorf("channel: media %v: %w", posting.Media(m), err)
			}
			c.media[m] = mediaProfile{q, prof.TTL}
		case inTable && addr.QoS == "" && !cfg.qosSet:
			if q, err := c.resolveQoS(prof.QoS); err == nil {
				c.media[m] = mediaProfile{q, prof.TTL}
			} else {
				c.log.Debug("media profile not available; using the channel's QoS", "media", posting.Media(m), "qos", prof.QoS, "err", err)
			}
		}
	}
	sq := make(map[string]string, len(cfg.streamQoS))
	for name, q := range cfg.streamQoS {
		if sq[name], err = c.resolveQoS(q); err != nil {
			return nil, fmt.Errorf("channel: stream %q: %w", name, err)
		}
	}
	c.streamQoS.Store(&sq)
	if cfg.iface != "" {
		if addr.Iface != "" && addr.Iface != cfg.iface {
			return nil, &URLError{URL: rawURL, Param: "iface", Reason: fmt.Sprintf("conflicts with WithInterface(%q)", cfg.iface), Err: ErrBadURL}
		}
		addr.Iface = cfg.iface
	}

	switch addr.Transport {
	case Mem:
		c.tr = openMem(addr.Name)
	case File:
		if c.rec, err = openRecorder(c, addr); err != nil {
			return nil, err
		}
	case Multicast, Unicast:
		if c.tr, c.remote, err = openUDP(ctx, addr); err != nil {
			return nil, err
		}
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if c.rec != nil {
		return c, nil
	}
	c.stackMTU = addr.MTU - dgramHeaderLen - maxFrameHeader
	if c.auth != nil {
		c.stackMTU -= authLen
	}
	c.out = newOutbox(c, addr.MTU, cfg.sendQueue, c.auth)
	if cfg.linkRate > 0 {
		c.link = newLinkQueue(c, cfg.linkRate)
	}
	c.wg.Go(c.read)
	c.hello(everyone, helloAsk)
	c.out.flushNow(true)
	c.mu.Lock()
	c.maint = c.clock.AfterFunc(cfg.announce, c.maintain)
	if cfg.adapter != nil {
		c.adaptTimer = c.clock.AfterFunc(cfg.adaptEvery, c.adapt)
	}
	c.mu.Unlock()
	return c, nil
}

func randomID() uint64 {
	var b [8]byte
	for {
		rand.Read(b[:])
		if id := binary.BigEndian.Uint64(b[:]); id != 0 {
			return id
		}
	}
}

// resolveQoS checks a QoS string against the registry and the receive
// policy and returns its canonical form.
func (c *Channel) resolveQoS(qos string) (string, error) {
	spec, err := c.cfg.registry.Resolve(qos)
	if err != nil {
		return "", fmt.Errorf("channel: %w", err)
	}
	if c.cfg.keys != nil && !slices.ContainsFunc(spec.Layers, func(l registry.LayerSpec) bool { return l.Name == "encrypt" }) {
		// A keyed channel encrypts every stream: at the wire side, so that
		// acknowledgements are protected too.
		spec.Layers = append(spec.Layers, registry.LayerSpec{Name: "encrypt"})
		if _, err := c.cfg.registry.Resolve(spec.String()); err != nil {
			return "", fmt.Errorf("channel: keyed channel: %w", err)
		}
	}
	s := spec.String()
	if len(s) > maxQoSLen {
		return "", fmt.Errorf("channel: QoS string of %d bytes is too long (at most %d)", len(s), maxQoSLen)
	}
	return s, nil
}

// ID is this member's id: random per channel instance, carried in every
// datagram and in the Sender of received postings.
func (c *Channel) ID() uint64 { return c.id }

// Address returns the parsed URL.
func (c *Channel) Address() *Address { return c.addr }

// LocalAddr is the address the channel receives on (zero for file://).
func (c *Channel) LocalAddr() netip.AddrPort {
	if c.tr == nil {
		return netip.AddrPort{}
	}
	return c.tr.localAddr()
}

// QoS returns the canonical QoS string of a stream's data postings (media
// class Data); see [Channel.QoSFor].
func (c *Channel) QoS(stream string) string { return c.QoSFor(stream, posting.Data) }

// QoSFor returns the canonical QoS string of the stack that carries the
// postings of media class m on a stream: the stream's own (WithStreamQoS),
// else the medium's profile.
func (c *Channel) QoSFor(stream string, m posting.Media) string {
	if q, ok := (*c.streamQoS.Load())[stream]; ok {
		return q
	}
	if m.Valid() {
		return c.media[m].qos
	}
	return c.qos
}

// Push sends a posting on the channel. It fills in p's Sender, Seq and
// Sent. It does not wait for the network: when the send queue is full it
// returns ErrBackpressure at once, or, with WithBlockingPush, waits for
// room until ctx is done. Errors from the stack (a posting larger than
// frag's max, say) are returned as they are.
func (c *Channel) Push(ctx context.Context, p *posting.Posting) error {
	if p == nil {
		return errors.New("channel: Push of a nil posting")
	}
	if p.Kind != posting.Message {
		return fmt.Errorf("channel: Push of a %v posting; use Pull for requests", p.Kind)
	}
	if c.rec != nil {
		return c.rec.push(p)
	}
	return c.push(ctx, p, 0)
}

// push sends p on its stream to target (0: everyone).
func (c *Channel) push(ctx context.Context, p *posting.Posting, target uint64) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("channel: %w", err)
	}
	m, _ := c.cfg.classifier.Classify(p)
	p.Media = m
	if p.TTL == 0 {
		p.TTL = c.media[m].ttl
	}
	for {
		os, err := c.stream(p.Stream, target, c.QoSFor(p.Stream, m), m)
		if err != nil {
			return err
		}
		if retry, err := c.pushOn(ctx, os, p); !retry {
			return err
		}
	}
}

// pushOn sends p on os; retry says os was retired by Reconfigure meanwhile
// and p must go on its replacement.
func (c *Channel) pushOn(ctx context.Context, os *outStream, p *posting.Posting) (retry bool, err error) {
	if c.out.full() {
		if !c.cfg.blockingPush {
			c.countDrop("backpressure")
			return false, ErrBackpressure
		}
		if err := c.out.waitRoom(ctx); err != nil {
			return false, err
		}
	}
	if err := c.roomFor(ctx, os); err != nil {
		return false, err
	}
	os.mu.Lock()
	if os.retired {
		os.mu.Unlock()
		return true, nil
	}
	now := c.clock.Now()
	p.Sender = c.id
	p.Seq = os.seq.Add(1)
	p.Sent = now
	// The flow carries the stream and the sender: leave them out.
	q := *p
	q.Stream, q.Sender = "", 0
	pk := os.st.NewPacket(sizeHint(p))
	if err := pk.AppendWith(q.AppendBinary); err != nil {
		os.mu.Unlock()
		pk.Release()
		return false, fmt.Errorf("channel: %w", err)
	}
	n := pk.Len()
	pk.Meta.Media = p.Media
	pk.Meta.Deadline = p.Deadline()
	c.out.direct.Add(1)
	err = os.st.DownAt(pk, now)
	c.out.direct.Add(-1)
	if err == nil {
		os.postings.Add(1) // counted before the stream can be retired
	}
	os.mu.Unlock()
	// The write (a syscall, when the path is idle) happens outside the
	// stream's lock, so other pushers on the stream are not held up by it.
	c.out.flushNow(true)
	if err != nil {
		return false, err
	}
	os.lastUse.Store(now.UnixNano())
	os.bytes.Add(uint64(n))
	c.sent.postings.Add(1)
	return false, nil
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

// stream returns the outgoing stream for (name, target), creating it and
// announcing it on first use.
func (c *Channel) stream(name string, target uint64, qos string, m posting.Media) (*outStream, error) {
	key := streamKey{name, target, qos}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	if os := c.streams[key]; os != nil {
		c.mu.Unlock()
		return os, nil
	}
	if len(c.streams) >= c.cfg.maxFlows {
		c.mu.Unlock()
		return nil, fmt.Errorf("channel: %d streams open; too many", len(c.streams))
	}
	c.nextID++
	os := &outStream{ch: c, key: key, id: c.nextID, qos: qos, media: m, roomCh: make(chan struct{})}
	c.mu.Unlock()
	if err := c.buildOut(os); err != nil {
		return nil, err
	}
	c.mu.Lock()
	if old := c.streams[key]; old != nil || c.closed {
		c.mu.Unlock()
		os.st.Close()
		if old == nil {
			return nil, ErrClosed
		}
		return old, nil
	}
	c.streams[key] = os
	c.byID[os.id] = os
	c.mu.Unlock()
	c.announce(os, c.streamDst(os))
	return os, nil
}

// buildOut builds os's stack.
func (c *Channel) buildOut(os *outStream) error {
	layers, err := c.cfg.registry.Build(os.qos, c.env())
	if err != nil {
		return fmt.Errorf("channel: stream %q: %w", os.key.name, err)
	}
	target := os.key.target
	os.created = c.clock.Now()
	os.st, err = stack.New(stack.Config{
		Layers: layers, Wire: stack.HandlerFunc(os.wire), Deliver: stack.HandlerFunc(c.unexpected),
		Flush: c.out.flushHook, Events: os.event, Clock: c.clock, Pool: c.pool, Memory: c.mem,
		MTU: c.stackMTU, Logger: c.log,
		Flow: stack.Flow{Stream: os.key.name, Role: stack.Sender, Local: c.id, Remote: target, Multicast: c.addr.IsMulticast(),
			PointToPoint: target != 0 || c.remote.IsValid() && c.addr.Transport == Unicast,
			ID:           os.id, Instance: c.instances.Add(1)},
	})
	if err != nil {
		return fmt.Errorf("channel: stream %q: %w", os.key.name, err)
	}
	for _, l := range layers {
		if s, ok := l.(sched.Scheduled); ok {
			os.policy = s.Policy()
		}
	}
	return nil
}

// Reconfigure gives a stream a new stack (a QoS string, as for
// WithStreamQoS) while postings flow. Each of the stream's current stacks
// is retired at an exact posting count: postings pushed before go on the
// old stack, which drains (keeps repairing) until it has nothing left,
// postings pushed after go on a new stack, announced as its successor
// with that count. Receivers hold the new stack's postings until the old
// one has handed up its share, so nothing pushed is lost, duplicated or
// reordered by the switch (unless the old stack itself loses postings, as
// best effort may: then they wait until the old stream has made no
// progress for three announce intervals, at least a second).
//
// The new QoS applies to every medium on the stream, as WithStreamQoS
// does. Reconfigure must not be called from a WithEvents callback.
func (c *Channel) Reconfigure(stream, qos string) error {
	q, err := c.resolveQoS(qos)
	if err != nil {
		return err
	}
	return c.reconfigure(stream, q, "")
}

// reconfigure is Reconfigure with a canonical QoS; original is what an
// adapter moved the stream away from ("" for a change by the application).
func (c *Channel) reconfigure(stream, q, original string) error {
	if c.rec != nil {
		return fmt.Errorf("%w: Reconfigure on a file channel", ErrUnsupported)
	}
	// Build the replacements first (outside the lock), then swap.
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	var olds, news []*outStream
	for k, os := range c.streams {
		if k.name == stream && k.qos != q {
			c.nextID++
			n := &outStream{ch: c, key: streamKey{k.name, k.target, q}, id: c.nextID, epoch: os.epoch + 1, qos: q,
				media: os.media, prev: os.id, original: original, roomCh: make(chan struct{})}
			if original == q {
				n.original = "" // back where it started
			}
			olds, news = append(olds, os), append(news, n)
		}
	}
	c.mu.Unlock()
	for i, n := range news {
		if err := c.buildOut(n); err != nil {
			for _, b := range news[:i] {
				b.st.Close()
			}
			return err
		}
	}
	// Hold the old streams (waiting for pushes in progress on them) while
	// the channel swaps them, so no push lands between the count and the
	// swap. Lock order: a stream's mu before c.mu, as a push does (its
	// flush resolves destinations under c.mu); streams in id order.
	slices.SortFunc(olds, func(a, b *outStream) int { return cmp.Compare(a.id, b.id) })
	slices.SortFunc(news, func(a, b *outStream) int { return cmp.Compare(a.prev, b.prev) })
	for _, old := range olds {
		old.mu.Lock()
	}
	now := c.clock.Now()
	c.mu.Lock()
	m := maps.Clone(*c.streamQoS.Load())
	m[stream] = q
	c.streamQoS.Store(&m)
	var announce, unused []*outStream
	for i, old := range olds {
		n := news[i]
		if old.retired || c.closed || c.streams[old.key] != old || c.streams[n.key] != nil {
			unused = append(unused, n) // closed, or changed meanwhile
			continue
		}
		old.retired, old.retiredAt = true, now
		n.prevCount = old.postings.Load()
		n.seq.Store(old.seq.Load())
		delete(c.streams, old.key)
		c.retired = append(c.retired, old)
		c.streams[n.key] = n
		c.byID[n.id] = n
		announce = append(announce, n)
	}
	c.mu.Unlock()
	for _, old := range olds {
		old.mu.Unlock()
	}
	for _, n := range unused {
		n.st.Close()
	}
	for _, n := range announce {
		c.announce(n, c.streamDst(n))
	}
	c.out.flushNow(true)
	return nil
}

// env is what the channel gives layer builders.
func (c *Channel) env() registry.Env {
	return registry.Env{Keys: c.cfg.keys, Identity: c.cfg.identity, Trusted: c.cfg.trusted, Channel: c.addr.Identity()}
}

// streamDst is where a stream's frames go.
func (c *Channel) streamDst(os *outStream) uint64 { return c.dstFor(os.key.target) }

// dstFor maps a member to an outbox destination: on multicast everything
// goes to the group.
func (c *Channel) dstFor(member uint64) uint64 {
	if c.addr.IsMulticast() {
		return everyone
	}
	return member
}

// wire is a stream stack's Wire: each packet becomes a DATA (or DATA_TO)
// frame.
func (os *outStream) wire(pk *stack.Packet) error {
	c := os.ch
	typ, target, dst := byte(frameData), uint64(0), os.key.target
	if os.key.target != 0 {
		typ, target = frameDataTo, os.key.target
	} else if pk.Meta.Peer != 0 {
		dst = pk.Meta.Peer // a packet for one member (a retransmission)
	}
	var scratch [maxFrameHeader]byte
	hdr := appendDataHeader(scratch[:0], typ, target, os.id, pk.Len())
	if c.link != nil {
		c.link.push(os, c.dstFor(dst), hdr, pk)
		return nil
	}
	c.out.add(c.dstFor(dst), hdr, pk.Bytes())
	pk.Release()
	return nil
}

// unexpected receives packets that reach the top of a sender's stack: a
// layer there passed up something that is not a posting.
func (c *Channel) unexpected(pk *stack.Packet) error {
	pk.Release()
	c.countDrop("unexpected")
	return nil
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
	os.ch.report(Event{Kind: e.Kind, Stream: os.key.name, Member: os.key.target, Layer: e.Layer, Seq: e.Seq, Detail: e.Detail, At: e.At})
}

// event handles an event of an incoming flow's stack.
func (fl *inFlow) event(e stack.Event) {
	fl.ch.report(Event{Kind: e.Kind, Stream: fl.name, Member: fl.sender, Layer: e.Layer, Seq: e.Seq, Detail: e.Detail, At: e.At})
}

// report counts an event, logs it and hands it to WithEvents' function.
func (c *Channel) report(e Event) {
	c.dropsMu.Lock()
	c.events[e.Kind]++
	c.dropsMu.Unlock()
	level := slog.LevelInfo
	if e.Kind == "monitor-report" {
		level = slog.LevelDebug // every report period: figures, not news
	}
	c.log.Log(context.Background(), level, "stream event", "kind", e.Kind, "stream", e.Stream, "member", fmt.Sprintf("%016x", e.Member), "layer", e.Layer, "detail", e.Detail)
	if f := c.cfg.onEvent; f != nil {
		f(e)
	}
}

// roomFor waits until os's stack has room (or reports ErrBackpressure).
func (c *Channel) roomFor(ctx context.Context, os *outStream) error {
	for {
		os.roomMu.Lock()
		wait := os.roomCh
		os.roomMu.Unlock()
		if os.st.Room() != 0 {
			return nil
		}
		if !c.cfg.blockingPush {
			c.countDrop("backpressure")
			return ErrBackpressure
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return ctx.Err()
		case <-c.ctx.Done():
			return ErrClosed
		}
	}
}

// announce queues an ANNOUNCE of os for dst.
func (c *Channel) announce(os *outStream, dst uint64) {
	a := announcement{stream: os.id, epoch: os.epoch, target: os.key.target, name: os.key.name, qos: os.qos, prev: os.prev, count: os.prevCount}
	var scratch [64]byte
	c.out.add(dst, appendAnnounce(scratch[:0], a), nil)
}

// hello queues a HELLO for dst.
func (c *Channel) hello(dst uint64, flags byte) {
	c.mu.Lock()
	if c.handler != nil {
		flags |= helloServes
	}
	c.mu.Unlock()
	var b [10]byte
	c.out.add(dst, appendHello(b[:0], flags, c.clock.Now()), nil)
}

// resolve returns the transport addresses of an outbox destination,
// appended to the writer's scratch slice.
func (c *Channel) resolve(dst uint64) []netip.AddrPort {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.dsts[:0]
	switch {
	case c.tr.reachAll() && (dst == everyone || c.addr.IsMulticast()):
		out = append(out, netip.AddrPort{})
	case dst == everyone:
		for _, p := range c.peers {
			if p.addr.IsValid() {
				out = append(out, p.addr)
			}
		}
		if c.remote.IsValid() && !slices.Contains(out, c.remote) {
			out = append(out, c.remote)
		}
	default:
		if p := c.peers[dst]; p != nil && p.addr.IsValid() {
			out = append(out, p.addr)
		} else {
			c.countDropLocked("no-route")
		}
	}
	c.dsts = out
	return out
}

// sendRun writes one run of n datagrams to a destination.
func (c *Channel) sendRun(run []byte, seg int, dst netip.AddrPort, n int) {
	if err := c.tr.send(run, seg, dst); err != nil {
		c.countDrop("send-error")
		c.log.Debug("send failed", "to", dst, "err", err)
		return
	}
	c.sent.datagrams.Add(uint64(n))
	c.sent.bytes.Add(uint64(len(run)))
}

// receive handles one datagram from the transport.
func (c *Channel) receive(d []byte, from netip.AddrPort) { c.receiveAt(d, from, c.clock.Now()) }

// receiveAt handles one datagram read at now (the reader goroutine).
func (c *Channel) receiveAt(d []byte, from netip.AddrPort, now time.Time) {
	c.recvd.datagrams.Add(1)
	c.recvd.bytes.Add(uint64(len(d)))
	sender, frames, err := parseDgramHeader(d)
	if err != nil {
		c.countDrop("malformed")
		return
	}
	if sender == c.id {
		return // our own multicast, looped back
	}
	switch keyed := d[1]&flagAuth != 0; {
	case c.auth != nil && !keyed:
		c.countDrop("unauthenticated")
		return
	case c.auth == nil && keyed:
		c.countDrop("keyed") // from a keyed channel; we have no key
		return
	case keyed:
		body, why := c.auth.open(d, sender)
		if why != "" {
			c.countDrop(why)
			return
		}
		frames = body[dgramHeaderLen:]
	}
	pr := c.touchPeer(sender, from, now)
	if pr == nil {
		return
	}
	r := frameReader{b: frames}
	for {
		f, ok, err := r.next()
		if err != nil {
			c.countDrop("malformed")
			return
		}
		if !ok {
			return
		}
		switch f.typ {
		case frameData:
			c.data(sender, f.stream, f.payload, now)
		case frameDataTo:
			if f.target == c.id {
				c.data(sender, f.stream, f.payload, now)
			}
		case frameFeedback:
			if f.target == c.id {
				c.feedback(sender, f, now)
			} else {
				c.overheard(sender, f, now)
			}
		case frameAnnounce:
			if f.target == 0 || f.target == c.id {
				for _, h := range c.learnStream(sender, f) {
					c.data(sender, h.stream, h.payload, now)
				}
			}
		case frameQuery:
			if f.target == c.id {
				c.answerQuery(sender, f.stream)
			}
		case frameHello:
			if f.clock != 0 {
				pr.skew.age(now, time.Unix(0, f.clock))
			}
			c.learnHello(sender, f.flags)
		}
	}
}

// read is the reader goroutine. What the stacks answer to a batch of
// datagrams read at once (acknowledgements, repairs) leaves together when
// the batch is done, written from this goroutine.
func (c *Channel) read() {
	inBatch := false
	var now time.Time
	c.tr.serve(func(d []byte, from netip.AddrPort) {
		if !inBatch {
			inBatch = true
			now = c.clock.Now() // one reading for the datagrams read at once
			c.out.direct.Add(1)
		}
		c.receiveAt(d, from, now)
	}, func() {
		if inBatch {
			inBatch = false
			c.out.direct.Add(-1)
			c.out.flushNow(true)
		}
	})
}

// touchPeer records that sender was heard from at addr.
func (c *Channel) touchPeer(sender uint64, from netip.AddrPort, now time.Time) *peer {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	p := c.peers[sender]
	if p == nil {
		if len(c.peers) >= c.cfg.maxPeers {
			c.evictPeerLocked()
		}
		p = &peer{id: sender, streams: make(map[uint32]*streamInfo)}
		c.peers[sender] = p
	}
	p.addr, p.lastSeen = from, now
	return p
}

// evictPeerLocked forgets the member heard from least recently.
func (c *Channel) evictPeerLocked() {
	var oldest *peer
	for _, p := range c.peers {
		if oldest == nil || p.lastSeen.Before(oldest.lastSeen) {
			oldest = p
		}
	}
	if oldest != nil {
		c.countDropLocked("evicted-peer")
		c.forgetPeerLocked(oldest.id)
	}
}

// forgetPeerLocked removes a member and closes its flows. Closing a stack
// under c.mu is safe: no code holding a stack's lock takes c.mu.
func (c *Channel) forgetPeerLocked(id uint64) {
	if p := c.peers[id]; p != nil {
		c.announced -= len(p.streams)
		c.mem.Release(int64(p.heldBytes))
		p.held, p.heldBytes = nil, 0
	}
	delete(c.peers, id)
	for k, fl := range c.flows {
		if k.sender == id {
			delete(c.flows, k)
			fl.st.Close()
		}
	}
}

// learnStream records an announcement and returns the data frames held
// for the stream while it was unknown.
func (c *Channel) learnStream(sender uint64, f frame) []heldFrame {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.peers[sender]
	if p == nil {
		return nil
	}
	if old := p.streams[f.stream]; old != nil {
		return nil // stream ids are immutable: nothing new
	}
	if len(p.streams) >= maxStreamsPerPeer || c.announced >= c.cfg.maxFlows*4 {
		// Per member and in total: announcements of thousands of streams
		// by thousands of members cannot grow memory without bound.
		c.countDropLocked("too-many-streams")
		return nil
	}
	c.announced++
	si := &streamInfo{announcement: announcement{stream: f.stream, epoch: f.epoch, target: f.target, name: string(f.name), qos: string(f.qos),
		prev: f.prev, count: f.count}}
	spec, err := c.cfg.registry.Resolve(si.qos)
	if err == nil {
		err = c.cfg.policy.check(spec)
	}
	si.refused = err
	if err != nil {
		c.log.Warn("refusing announced stream", "sender", fmt.Sprintf("%016x", sender), "stream", si.name, "qos", si.qos, "err", err)
	}
	p.streams[f.stream] = si
	var out []heldFrame
	kept := p.held[:0]
	for _, h := range p.held {
		if h.stream == f.stream {
			out = append(out, h)
			p.heldBytes -= len(h.payload)
			c.mem.Release(int64(len(h.payload)))
		} else {
			kept = append(kept, h)
		}
	}
	clear(p.held[len(kept):])
	p.held = kept
	return out
}

func (c *Channel) learnHello(sender uint64, flags byte) {
	c.mu.Lock()
	p := c.peers[sender]
	if p == nil {
		c.mu.Unlock()
		return
	}
	if flags&helloBye != 0 {
		c.forgetPeerLocked(sender)
		c.mu.Unlock()
		return
	}
	if flags&helloServes != 0 && !p.serves {
		close(c.serverSeen)
		c.serverSeen = make(chan struct{})
	}
	p.serves = flags&helloServes != 0
	c.mu.Unlock()
	if flags&helloAsk != 0 {
		c.hello(c.dstFor(sender), 0)
	}
}

func (c *Channel) answerQuery(sender uint64, stream uint32) {
	c.mu.Lock()
	var list []*outStream
	for _, os := range c.streams {
		if (stream == 0 || os.id == stream) && (os.key.target == 0 || os.key.target == sender) {
			list = append(list, os)
		}
	}
	c.mu.Unlock()
	for _, os := range list {
		c.announce(os, c.dstFor(sender))
	}
}

// data passes a DATA frame's payload up its flow's stack.
func (c *Channel) data(sender uint64, stream uint32, payload []byte, now time.Time) {
	fl := c.flow(sender, stream, payload, now)
	if fl == nil {
		return
	}
	pk := c.pool.FromBytes(0, payload)
	pk.Meta.Peer = sender
	fl.lastUse.Store(now.UnixNano())
	fl.bytes.Add(uint64(len(payload)))
	fl.st.UpAt(pk, now)
}

// feedback passes a FEEDBACK frame up the stack of our stream it names.
func (c *Channel) feedback(sender uint64, f frame, now time.Time) {
	c.mu.Lock()
	os := c.byID[f.stream]
	c.mu.Unlock()
	if os == nil {
		c.countDrop("unknown-stream")
		return
	}
	pk := c.pool.FromBytes(0, f.payload)
	pk.Meta.Peer = sender
	os.st.UpAt(pk, now)
}

// overheard passes feedback another receiver sent to a sender we also
// receive from up that flow's stack, marked overheard: on multicast, one
// receiver's NAK stands for the others'.
func (c *Channel) overheard(from uint64, f frame, now time.Time) {
	c.mu.Lock()
	fl := c.flows[flowKey{f.target, f.stream}]
	c.mu.Unlock()
	if fl == nil {
		return
	}
	pk := c.pool.FromBytes(0, f.payload)
	pk.Meta.Peer = from
	pk.Meta.Flags |= stack.FlagOverheard
	fl.st.UpAt(pk, now)
}

// flow returns the receiving flow for (sender, stream), building its stack
// from the announcement, or nil when it cannot: refused (counted), or not
// announced yet, in which case the payload is held for when the
// announcement comes (bounded; beyond the bound it is dropped and counted)
// and the sender is asked to announce.
func (c *Channel) flow(sender uint64, id uint32, payload []byte, now time.Time) *inFlow {
	key := flowKey{sender, id}
	c.mu.Lock()
	if fl := c.flows[key]; fl != nil {
		c.mu.Unlock()
		return fl
	}
	p := c.peers[sender]
	if p == nil {
		c.mu.Unlock()
		return nil
	}
	si := p.streams[id]
	if si == nil {
		// Held frames count against the channel's memory budget too, so a
		// flood of senders each sending unannounced data stays bounded.
		if len(p.held) < maxHeldFrames && p.heldBytes+len(payload) <= maxHeldBytes && c.mem.Reserve(int64(len(payload))) {
			p.held = append(p.held, heldFrame{stream: id, payload: slices.Clone(payload), at: now})
			p.heldBytes += len(payload)
			c.held.Add(1)
		} else {
			c.countDropLocked("unannounced")
		}
		ask := now.Sub(p.lastQuery) >= c.cfg.announce/4
		if ask {
			p.lastQuery = now
		}
		c.mu.Unlock()
		if ask {
			var b [16]byte
			c.out.add(c.dstFor(sender), appendQuery(b[:0], sender, id), nil)
		}
		return nil
	}
	if si.refused != nil {
		c.countDropLocked("policy")
		c.mu.Unlock()
		return nil
	}
	if len(c.flows) >= c.cfg.maxFlows {
		c.evictFlowLocked()
	}
	c.mu.Unlock()

	fl := &inFlow{ch: c, sender: sender, id: id, name: si.name, qos: si.qos, skew: &p.skew}
	layers, err := c.cfg.registry.Build(si.qos, c.env())
	if err == nil {
		fl.st, err = stack.New(stack.Config{
			Layers: layers, Wire: stack.HandlerFunc(fl.wire), Deliver: stack.HandlerFunc(fl.deliver),
			Flush: c.out.flushHook, Events: fl.event, Clock: c.clock, Pool: c.pool, Memory: c.mem,
			MTU: c.stackMTU, Logger: c.log,
			Flow: stack.Flow{Stream: si.name, Role: stack.Receiver, Local: c.id, Remote: sender, Multicast: c.addr.IsMulticast(),
				PointToPoint: si.target != 0, ID: id, Instance: c.instances.Add(1)},
		})
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		si.refused = err
		c.countDropLocked("policy")
		c.log.Warn("cannot build announced stack", "sender", fmt.Sprintf("%016x", sender), "stream", si.name, "qos", si.qos, "err", err)
		return nil
	}
	if c.closed || c.peers[sender] == nil {
		fl.st.Close()
		return nil
	}
	if si.prev != 0 {
		// This stream replaces another: hold its postings until the old
		// flow has handed up its share — unless there is no old flow here
		// (we joined after the switch) or it already has.
		f := &follow{prev: si.prev, count: si.count, until: now.Add(c.followWait())}
		fl.follow = f
		if old := c.flows[flowKey{sender, si.prev}]; old == nil || old.done.Load() >= si.count {
			f.ready, f.released = true, true
		} else {
			old.next.Store(fl)
		}
	}
	c.flows[key] = fl
	return fl
}

func (c *Channel) evictFlowLocked() {
	var oldest *inFlow
	var key flowKey
	for k, fl := range c.flows {
		if oldest == nil || fl.lastUse.Load() < oldest.lastUse.Load() {
			oldest, key = fl, k
		}
	}
	if oldest != nil {
		delete(c.flows, key)
		c.countDropLocked("evicted-flow")
		oldest.st.Close()
	}
}

// wire is a receiving stack's Wire: packets going down are feedback for the
// sender's stream.
func (fl *inFlow) wire(pk *stack.Packet) error {
	c := fl.ch
	var scratch [maxFrameHeader]byte
	hdr := appendDataHeader(scratch[:0], frameFeedback, fl.sender, fl.id, pk.Len())
	c.out.add(c.dstFor(fl.sender), hdr, pk.Bytes())
	pk.Release()
	return nil
}

// deliver decodes a posting that reached the top of a receiving stack.
func (fl *inFlow) deliver(pk *stack.Packet) error {
	c := fl.ch
	defer fl.handedUp()
	if d := pk.Meta.Deadline; !d.IsZero() && c.clock.Now().After(d) {
		pk.Release() // it became obsolete on its way up
		c.countDrop("obsolete")
		return nil
	}
	var p *posting.Posting
	var err error
	n := pk.Len()
	if n >= sharedBody && !pk.Shared() {
		// A large parcel: the posting keeps its buffer rather than a copy.
		p, err = posting.DecodeShared(pk.Detach())
	} else {
		p, err = posting.Decode(pk.Bytes())
	}
	pk.Release()
	if err != nil {
		c.countDrop("bad-posting")
		return nil
	}
	p.Sender, p.Stream = fl.sender, fl.name
	if p.TTL > 0 && !p.Sent.IsZero() && fl.skew.age(c.clock.Now(), p.Sent) > p.TTL {
		c.countDrop("obsolete") // its time to obsolescence ran out on the way
		return nil
	}
	fl.postings.Add(1)
	c.recvd.postings.Add(1)
	if f := fl.follow; f != nil {
		if held, full := f.hold(p, n); held {
			if full {
				c.countDrop("reconfigure-overflow") // not a posting: the wait
				fl.release()
			}
			return nil
		}
	}
	c.dispatch(p)
	return nil
}

// maxFollowHeld and maxFollowBytes bound what a replacing flow holds for
// the flow it replaces; beyond them, it stops waiting.
const (
	maxFollowHeld  = 1 << 14
	maxFollowBytes = 64 << 20
)

// handedUp counts a parcel the flow's stack handed up and releases the
// flow that replaces this one once this one has handed up its share.
func (fl *inFlow) handedUp() {
	n := fl.done.Add(1)
	next := fl.next.Load()
	if next == nil {
		return
	}
	if n >= next.follow.count {
		if next.follow.setReady() {
			next.release()
		}
		return
	}
	// The old flow is making progress: its successor waits longer.
	f := next.follow
	f.mu.Lock()
	f.until = fl.ch.clock.Now().Add(fl.ch.followWait())
	f.mu.Unlock()
}

// followWait is how long a replacing flow waits for the flow it replaces
// to make progress before it stops waiting.
func (c *Channel) followWait() time.Duration { return max(3*c.cfg.announce, time.Second) }

// overdue says whether the wait has run out at now.
func (f *follow) overdue(now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.ready && now.After(f.until)
}

// hold keeps p (n bytes encoded) while the flow waits for the one it
// replaces, and reports whether it did (false: deliver p now) and whether
// the wait must end because the flow holds too much.
func (f *follow) hold(p *posting.Posting, n int) (held, full bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.released {
		return false, false
	}
	f.held = append(f.held, p)
	f.bytes += n
	if !f.ready && (len(f.held) >= maxFollowHeld || f.bytes >= maxFollowBytes) {
		f.ready = true
		return true, true
	}
	return true, false
}

// setReady marks the wait over; it reports whether it was not already.
func (f *follow) setReady() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ready {
		return false
	}
	f.ready = true
	return true
}

// release delivers what the flow held, in order, then lets its postings
// through. Postings that arrive while it delivers join the end of the line.
func (fl *inFlow) release() {
	f := fl.follow
	for {
		f.mu.Lock()
		if f.released || f.draining || !f.ready {
			f.mu.Unlock()
			return
		}
		batch := f.held
		f.held = nil
		if len(batch) == 0 {
			f.released = true
			f.mu.Unlock()
			return
		}
		f.draining = true
		f.mu.Unlock()
		for _, p := range batch {
			fl.ch.dispatch(p)
		}
		f.mu.Lock()
		f.draining = false
		f.mu.Unlock()
	}
}

// sharedBody is the size from which a received posting keeps its parcel's
// buffer instead of copying its body out of it (smaller ones copy, so
// their buffer goes back to the pool).
const sharedBody = 16 << 10

// dispatch hands a received posting to whoever wants it.
func (c *Channel) dispatch(p *posting.Posting) {
	switch p.Kind {
	case posting.Reply, posting.Fault:
		c.mu.Lock()
		w, ok := c.pulls[p.Correlation]
		c.mu.Unlock()
		if !ok || w.server != p.Sender {
			c.countDrop("stray-reply")
			return
		}
		select {
		case w.reply <- p:
		default:
			c.countDrop("stray-reply")
		}
	case posting.Request:
		c.serveRequest(p)
	default:
		for _, s := range *c.subs.Load() {
			s.offer(p)
		}
	}
}

func (c *Channel) countDrop(reason string) {
	c.dropsMu.Lock()
	c.drops[reason]++
	c.dropsMu.Unlock()
}

// countDropLocked is countDrop for callers holding c.mu (the drops have
// their own lock; the name marks the call sites).
func (c *Channel) countDropLocked(reason string) { c.countDrop(reason) }

// Subscribe returns a subscription to the channel's postings that match
// opts, with a bounded queue (see Queue).
func (c *Channel) Subscribe(opts ...SubOption) (*Subscription, error) {
	return c.subscribe(nil, opts)
}

// SubscribeFunc calls f for each matching posting, on the goroutine that
// received it: the lowest-latency path. f must not block (a blocked f
// stalls the channel's receiving); it may be called concurrently for
// postings of different senders. Use Subscribe when the consumer may be
// slow.
func (c *Channel) SubscribeFunc(f func(*posting.Posting), opts ...SubOption) (*Subscription, error) {
	if f == nil {
		return nil, errors.New("channel: SubscribeFunc with a nil func")
	}
	return c.subscribe(f, opts)
}

func (c *Channel) subscribe(f func(*posting.Posting), opts []SubOption) (*Subscription, error) {
	sc := subConfig{queue: c.cfg.subQueue, overflow: DropOldest}
	for _, o := range opts {
		if err := o(&sc); err != nil {
			return nil, err
		}
	}
	s := &Subscription{ch: c, cfg: sc, fn: f, done: make(chan struct{})}
	if f == nil {
		s.q = make(chan *posting.Posting, sc.queue)
	}
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	c.subsMu.Lock()
	list := append(slices.Clone(*c.subs.Load()), s)
	c.subs.Store(&list)
	c.subsMu.Unlock()
	if c.rec != nil {
		c.rec.replay(s)
	}
	return s, nil
}

func (c *Channel) removeSub(s *Subscription) {
	c.subsMu.Lock()
	defer c.subsMu.Unlock()
	list := slices.DeleteFunc(slices.Clone(*c.subs.Load()), func(x *Subscription) bool { return x == s })
	c.subs.Store(&list)
}

// Serve makes this member answer Pull requests with h, and says so to the
// other members. A channel has one handler; Serve again replaces it.
// Handlers run on their own goroutines, at most 64 at once; beyond that a
// request is answered with a Fault saying the server is busy.
func (c *Channel) Serve(h Handler) error {
	if h == nil {
		return errors.New("channel: Serve with a nil handler")
	}
	if c.rec != nil {
		return fmt.Errorf("%w: Serve on a file:// channel", ErrUnsupported)
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	c.handler = h
	c.mu.Unlock()
	c.hello(everyone, 0)
	c.out.flushNow(true)
	return nil
}

func (c *Channel) serveRequest(req *posting.Posting) {
	c.mu.Lock()
	h := c.handler
	closed := c.closed
	if !closed && h != nil {
		c.wg.Add(1)
	}
	c.mu.Unlock()
	if closed {
		return
	}
	if h == nil {
		c.reply(req, nil, errors.New("this member does not serve requests"))
		return
	}
	select {
	case c.serveSem <- struct{}{}:
	default:
		c.wg.Done()
		c.countDrop("server-busy")
		c.reply(req, nil, errors.New("server busy"))
		return
	}
	go func() {
		defer c.wg.Done()
		defer func() { <-c.serveSem }()
		rep, err := h(c.ctx, req)
		c.reply(req, rep, err)
	}()
}

// reply sends the answer to req back to its sender.
func (c *Channel) reply(req, rep *posting.Posting, err error) {
	if rep == nil {
		rep = posting.New(nil)
	}
	rep.Kind = posting.Reply
	if err != nil {
		rep = posting.New(err.Error(), posting.WithKind(posting.Fault))
	}
	rep.Correlation = req.Correlation
	rep.Stream = req.Stream
	rep.ReplyTo = 0
	if perr := c.push(c.ctx, rep, req.Sender); perr != nil && !errors.Is(perr, ErrClosed) {
		c.log.Debug("reply failed", "to", fmt.Sprintf("%016x", req.Sender), "err", perr)
	}
}

// Pull sends req to a member that serves requests and waits for its reply:
// two-way and blocking, like RPC. It fills in req's Kind, Correlation and
// ReplyTo. When no member is known to serve, Pull waits up to twice the
// announce interval for one to say hello, then returns ErrNoServer. When ctx
// has no deadline, WithPullTimeout bounds the wait (ErrTimeout). A handler
// error arrives as a *RemoteError.
func (c *Channel) Pull(ctx context.Context, req *posting.Posting) (*posting.Posting, error) {
	if req == nil {
		return nil, errors.New("channel: Pull of a nil posting")
	}
	if c.rec != nil {
		return nil, fmt.Errorf("%w: Pull on a file:// channel", ErrUnsupported)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.pullTimeout)
		defer cancel()
	}
	server, err := c.pickServer(ctx)
	if err != nil {
		return nil, err
	}
	corr := c.corr.Add(1)
	w := pending{reply: make(chan *posting.Posting, 1), server: server}
	c.mu.Lock()
	c.pulls[corr] = w
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pulls, corr)
		c.mu.Unlock()
	}()
	req.Kind, req.Correlation, req.ReplyTo = posting.Request, corr, c.id
	if err := c.push(ctx, req, server); err != nil {
		return nil, err
	}
	select {
	case rep := <-w.reply:
		if rep.Kind == posting.Fault {
			msg, _ := rep.Body.(string)
			return nil, &RemoteError{Server: rep.Sender, Message: msg}
		}
		return rep, nil
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("%w: no reply from member %016x: %w", ErrTimeout, server, ctx.Err())
		}
		return nil, ctx.Err()
	case <-c.ctx.Done():
		return nil, ErrClosed
	}
}

// pickServer chooses a live member that serves requests, waiting for one
// to say hello when none is known.
func (c *Channel) pickServer(ctx context.Context) (uint64, error) {
	var expired chan struct{}
	for asked := false; ; asked = true {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return 0, ErrClosed
		}
		var servers []uint64
		for id, p := range c.peers {
			if p.serves {
				servers = append(servers, id)
			}
		}
		if len(servers) > 0 {
			slices.Sort(servers)
			c.rr++
			id := servers[c.rr%len(servers)]
			c.mu.Unlock()
			return id, nil
		}
		seen := c.serverSeen
		c.mu.Unlock()
		if !asked {
			c.hello(everyone, helloAsk)
			c.out.flushNow(true)
			expired = make(chan struct{})
			t := c.clock.AfterFunc(2*c.cfg.announce, func() { close(expired) })
			defer t.Stop()
		}
		select {
		case <-seen:
		case <-expired:
			return 0, ErrNoServer
		case <-ctx.Done():
			return 0, fmt.Errorf("%w: %w", ErrNoServer, ctx.Err())
		case <-c.ctx.Done():
			return 0, ErrClosed
		}
	}
}

// maintain runs every announce interval: hello, re-announce, forget the
// silent.
func (c *Channel) maintain() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	now := c.clock.Now()
	for id, p := range c.peers {
		if now.Sub(p.lastSeen) > 5*c.cfg.announce {
			c.forgetPeerLocked(id)
			continue
		}
		// Frames held for an announcement that never came.
		kept := p.held[:0]
		for _, h := range p.held {
			if now.Sub(h.at) > 2*c.cfg.announce {
				c.countDropLocked("unannounced")
				p.heldBytes -= len(h.payload)
				c.mem.Release(int64(len(h.payload)))
				continue
			}
			kept = append(kept, h)
		}
		clear(p.held[len(kept):])
		p.held = kept
	}
	var idle []*outStream
	kept := c.retired[:0]
	for _, os := range c.retired {
		// A retired stream goes once it has delivered everything (or after
		// ten announce intervals, for receivers that never answer).
		if os.st.Drained() || now.Sub(os.retiredAt) > 10*c.cfg.announce {
			delete(c.byID, os.id)
			idle = append(idle, os)
			continue
		}
		kept = append(kept, os)
	}
	clear(c.retired[len(kept):])
	c.retired = kept
	var waiting []*inFlow
	for _, fl := range c.flows {
		if f := fl.follow; f != nil && f.overdue(now) {
			waiting = append(waiting, fl)
		}
	}
	list := make([]*outStream, 0, len(c.streams))
	for k, os := range c.streams {
		if k.target != 0 && now.UnixNano()-os.lastUse.Load() > int64(30*c.cfg.announce) {
			delete(c.streams, k)
			delete(c.byID, os.id)
			idle = append(idle, os)
			continue
		}
		list = append(list, os)
	}
	c.maint = c.clock.AfterFunc(c.cfg.announce, c.maintain)
	c.mu.Unlock()
	for _, os := range idle {
		os.st.Close()
	}
	for _, fl := range waiting {
		if fl.follow.setReady() {
			c.countDrop("reconfigure-timeout") // the old stream never handed up its share
			fl.release()
		}
	}
	c.hello(everyone, 0)
	for _, os := range list {
		c.announce(os, c.streamDst(os))
	}
	c.out.flushNow(true)
}

// Close leaves the channel: it says goodbye, writes what is queued, stops
// its goroutines and waits for them, closes the stacks, and ends the
// subscriptions. Pulls in progress return ErrClosed. It is idempotent.
func (c *Channel) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	if c.maint != nil {
		c.maint.Stop()
	}
	if c.adaptTimer != nil {
		c.adaptTimer.Stop()
	}
	c.mu.Unlock()
	if c.link != nil {
		c.link.stop()
	}
	var errs []error
	if c.rec != nil {
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		c.cancel()
		c.rec.close()
	} else {
		c.hello(everyone, helloBye)
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		c.cancel()
		c.out.close()
		errs = append(errs, c.tr.close())
	}
	c.wg.Wait()
	if c.rec != nil {
		errs = append(errs, c.rec.closeFile())
	}
	c.mu.Lock()
	streams := slices.Collect(maps.Values(c.streams))
	flows := slices.Collect(maps.Values(c.flows))
	clear(c.streams)
	clear(c.byID)
	clear(c.flows)
	c.mu.Unlock()
	for _, os := range streams {
		os.st.Close()
	}
	for _, fl := range flows {
		fl.st.Close()
	}
	c.subsMu.Lock()
	subs := *c.subs.Load()
	empty := []*Subscription{}
	c.subs.Store(&empty)
	c.subsMu.Unlock()
	for _, s := range subs {
		s.mu.Lock()
		s.endLocked(ErrClosed)
		s.mu.Unlock()
	}
	return errors.Join(errs...)
}
