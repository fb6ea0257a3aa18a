package channel

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/rwanda-go/rwanda/keys"
	// The built-in layers, so QoS strings and profiles can name them.
	_ "github.com/rwanda-go/rwanda/layers/compress"
	_ "github.com/rwanda-go/rwanda/layers/edf"
	_ "github.com/rwanda-go/rwanda/layers/encrypt"
	_ "github.com/rwanda-go/rwanda/layers/fec"
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
	"github.com/rwanda-go/rwanda/posting"
	"github.com/rwanda-go/rwanda/registry"
	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/transport"
)

// Channel is an open channel: see the package documentation. All methods
// are safe for concurrent use.
//
// Channel is a façade: it opens the transport and wires the parts that do
// the work (see doc.go, "Inside a channel"), each with its own state and
// lock — members (membership), og (outgoing streams), in (incoming flows),
// req (request/reply), subs (subscriptions) — and the maintenance loops.
type Channel struct {
	addr      *Address
	cfg       config
	id        uint64
	salt      uint64 // what id was derived with from the identity (keys.MemberID); 0 without one
	clock     stack.Clock
	log       *slog.Logger
	pool      *stack.Pool
	mem       *stack.Budget
	tr        transport.Conn // nil for file://
	rec       *recorder      // file:// only
	auth      *dgramAuth
	out       *outbox    // nil for file://
	link      *linkQueue // WithLinkRate
	instances atomic.Uint64
	pmtu      pathMTU // the datagram MTU in use, and send failures (pmtu.go)

	cnt     *counters
	members *members
	og      *outgoing
	in      *incoming
	paths   *paths
	req     *requests
	subs    *subscribers
	maint   *loop
	adapter *loop
	// gateway= channels (gwsel.go): how the group is reached, and the
	// watch that moves to another gateway (nil: direct, or no gateways).
	gwInfo *GatewayInfo
	gws    *gwWatch
	gwLoop *gwTimer
	// receipts sends a gateway client's RECEIPTs (receive.go), from
	// the first gateway control datagram its peer sends; receiptsMu
	// guards it.
	receiptsMu sync.Mutex
	receipts   *loop
	// gwHeard is when (Unix nanoseconds, the channel's clock) the peer
	// last sent a gateway control datagram: RECEIPTs pause while it has
	// been silent for longer than the gateway timeout.
	gwHeard atomic.Int64

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// closing: Close has begun (it refuses pushes, then lingers);
	// closeDone is closed when it has finished. closed: the linger is
	// over and the parts are stopping.
	closing   atomic.Bool
	closeDone chan struct{}
	closed    atomic.Bool
	// versionLogged: a datagram of another wire version has been logged.
	versionLogged atomic.Bool
	// gw: the streams a gateway said it thinned (receive.go).
	gw gwThinned
}

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
	c := &Channel{addr: addr, cfg: cfg, clock: cfg.clock, pool: stack.NewPool(), mem: stack.NewBudget(cfg.memory),
		closeDone: make(chan struct{})}
	c.log = cfg.logger
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.log = c.log.With("channel", addr.Raw)
	c.id, c.salt = memberID(cfg.identity, cfg.testSalt)
	if cfg.testID != 0 {
		c.id = cfg.testID // tests only: an insider claiming another member's id
	}
	// A posting of the largest size must be receivable within the memory:
	// reassembled (1×) and decoded (up to 8×), with room to spare.
	if !cfg.maxPostingSet {
		c.cfg.maxPosting = min(c.cfg.maxPosting, cfg.memory/10)
	} else if cfg.memory < 10*cfg.maxPosting {
		return nil, fmt.Errorf("channel: WithMemory(%d) is under ten times WithMaxPosting(%d): a posting of the largest size could not be received", cfg.memory, cfg.maxPosting)
	}
	if err := cfg.registry.CheckLimits(registry.Spec{}, cfg.policy.Limits); err != nil {
		return nil, fmt.Errorf("channel: WithReceivePolicy: %w", err)
	}
	if cfg.trusted != nil && !slices.Contains(c.cfg.policy.Require, "sign") {
		// A channel that names whom it trusts accepts only signed streams:
		// a sender cannot shed the signature by announcing a stack without it.
		c.cfg.policy.Require = append(slices.Clone(c.cfg.policy.Require), "sign")
	}
	if cfg.keys != nil && addr.Form == Unicast && addr.Channel == "" {
		// Two unicast channels sharing a key would otherwise share an
		// identity ("scheme://"), and datagrams of one would pass on the
		// other (DECISIONS §3).
		return nil, &URLError{URL: rawURL, Param: "channel", Reason: "a keyed unicast channel must name its channel id (add ?channel=NAME on both ends)", Err: ErrBadURL}
	}
	if cfg.keys != nil {
		// Keyed: every datagram authenticated, every stream encrypted, and
		// no announced stack accepted without encryption (no downgrade).
		c.auth = newDgramAuth(cfg.keys, addr.Identity(), c.id, cfg.maxPeers)
		if !slices.Contains(c.cfg.policy.Require, "encrypt") {
			c.cfg.policy.Require = append(slices.Clone(c.cfg.policy.Require), "encrypt")
		}
	}
	if cfg.iface != "" {
		if addr.Iface != "" && addr.Iface != cfg.iface {
			return nil, &URLError{URL: rawURL, Param: "iface", Reason: fmt.Sprintf("conflicts with WithInterface(%q)", cfg.iface), Err: ErrBadURL}
		}
		addr.Iface = cfg.iface
	}
	prof, err := c.profiles(rawURL)
	if err != nil {
		return nil, err
	}

	var remote transport.Addr
	if addr.Form == File {
		if c.rec, err = openRecorder(c, addr); err != nil {
			return nil, err
		}
	} else {
		if len(addr.Gateways) > 0 {
			direct, ranked, err := gwSelect(ctx, addr, cfg.gwProbe, !cfg.gwNoDirect)
			if err != nil {
				return nil, err
			}
			c.gwInfo = &GatewayInfo{Direct: direct}
			for _, r := range ranked {
				c.gwInfo.Gateways = append(c.gwInfo.Gateways, r.addr)
				c.gwInfo.RTTs = append(c.gwInfo.RTTs, r.rtt)
			}
			if !direct {
				addr = viaGateway(addr, ranked[0].addr)
				c.addr = addr
				c.gwInfo.Current = ranked[0].addr
			}
		}
		entry, err := transport.Lookup(addr.Transport)
		if err != nil {
			return nil, &URLError{URL: rawURL, Reason: err.Error(), Err: errors.Join(ErrBadURL, err)}
		}
		opened, err := entry.Open(ctx, addr.endpoint())
		if err != nil {
			return nil, err
		}
		c.tr, remote = opened.Conn, opened.Peer
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.wire(prof, remote)
	if c.rec != nil {
		return c, nil
	}
	if c.gwInfo != nil && !c.gwInfo.Direct {
		var cands []transport.Addr
		for _, g := range c.gwInfo.Gateways {
			cands = append(cands, transport.IPAddr(g))
		}
		cands[0] = remote // as the transport resolved it
		c.gws = newGwWatch(cands, cfg.gwTimeout, c.clock.Now(), c.gwMove)
		c.gwLoop = &gwTimer{clock: c.clock, w: c.gws, closed: c.closed.Load}
		c.gwLoop.mu.Lock()
		c.gwLoop.t = c.clock.AfterFunc(cfg.gwTimeout, c.gwLoop.run)
		c.gwLoop.mu.Unlock()
	}
	c.wg.Go(c.read)
	c.hello(everyone, helloAsk)
	c.out.flushNow(true)
	c.maint = startLoop(c.clock, cfg.announce, c.maintain)
	if cfg.adapter != nil {
		c.adapter = startLoop(c.clock, cfg.adaptEvery, c.adapt)
	}
	return c, nil
}

// profiles are the stacks a channel's postings go on unless reconfigured.
type profiles struct {
	qos    string // canonical QoS of streams without their own
	media  [numMedia]mediaProfile
	stream map[string]string // WithStreamQoS, canonical
}

// profiles resolves the channel's QoS, each medium's profile and each
// stream's QoS.
func (c *Channel) profiles(rawURL string) (*profiles, error) {
	addr, cfg := c.addr, &c.cfg
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
	pr := &profiles{}
	var err error
	if pr.qos, err = c.resolveQoS(qos); err != nil {
		return nil, err
	}
	// Each medium's profile: WithMediaProfile's, else the channel's QoS when
	// one was given, else the filter table's (falling back to the channel's
	// when the registry cannot build the table's stack).
	for m := range pr.media {
		pr.media[m] = mediaProfile{qos: pr.qos}
		prof, inTable := cfg.table[posting.Media(m)]
		switch {
		case cfg.mediaSet[posting.Media(m)]:
			q, err := c.resolveQoS(prof.QoS)
			if err != nil {
				return nil, fmt.Errorf("channel: media %v: %w", posting.Media(m), err)
			}
			pr.media[m] = mediaProfile{q, prof.TTL}
		case inTable && addr.QoS == "" && !cfg.qosSet:
			if q, err := c.resolveQoS(prof.QoS); err == nil {
				pr.media[m] = mediaProfile{q, prof.TTL}
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
	pr.stream = sq
	return pr, nil
}

// wire builds the parts and connects them; remote is the unicast peer the
// URL names, if any.
func (c *Channel) wire(prof *profiles, remote transport.Addr) {
	cfg := &c.cfg
	multicast := c.addr.IsMulticast()
	// The datagram MTU: the transport's toward the peer or group (the
	// path's, capped, or the URL's), no more than the URL's or the
	// default, and lowered when a send finds the path smaller (pmtu.go).
	dgram := c.addr.MTU
	if c.tr != nil {
		dgram = max(min(dgram, c.tr.MTU(remote)), minMTU)
	}
	c.pmtu.mtu.Store(int64(dgram))
	mtu := c.stackMTU(dgram)
	env := registry.Env{Keys: cfg.keys, Identity: cfg.identity, Trusted: cfg.trusted, Channel: c.addr.Identity(), MemberSalt: c.salt}
	c.cnt = newCounters(c.log, cfg.onEvent)
	c.subs = newSubscribers()
	c.members = newMembers(cfg.maxPeers, remote, c.tr != nil && c.tr.ReachAll(), multicast, c.cnt,
		func(id uint64) { c.in.forget(id); c.req.forgot(id) })
	c.members.helloClocks = c.auth != nil
	c.members.keyed = c.auth != nil
	c.members.migrateAfter = 2 * cfg.announce // a live member says hello every interval
	c.paths = newPaths(c.tr != nil && !c.tr.ReachAll(), remote, cfg.maxPeers, cfg.announce, c.cnt, c.clock.Now())
	if c.tr != nil {
		c.out = newOutbox(c.id, dgram, cfg.sendQueue, c.auth, c.members.resolve, c.sendRun)
		if cfg.linkRate > 0 {
			c.link = newLinkQueue(c.clock, c.out, c.cnt, cfg.linkRate)
		}
	}
	c.og = &outgoing{self: c.id, cfg: cfg, env: env, clock: c.clock, pool: c.pool, mem: c.mem, log: c.log, mtu: mtu,
		multicast: multicast, toPeer: !remote.IsZero() && !c.tr.ReachAll(), instances: &c.instances,
		out: c.out, link: c.link, cnt: c.cnt, done: c.ctx.Done(), stop: make(chan struct{}), qos: prof.qos, media: prof.media,
		streams: make(map[streamKey]*outStream), byID: make(map[uint32]*outStream)}
	c.og.carrier = c.tr != nil && transport.CongestionControlled(c.tr)
	c.og.streamQoS.Store(&prof.stream)
	if c.tr != nil {
		c.og.failingTo = func(member uint64) error {
			if !c.pmtu.failing.Load() {
				return nil // the common case: no member lookup, no clock reading
			}
			return c.pmtu.sendsFailingTo(c.members.addrOf(member), c.clock.Now())
		}
	}
	c.in = &incoming{self: c.id, cfg: cfg, env: env, clock: c.clock, pool: c.pool, mem: c.mem, log: c.log, mtu: mtu,
		multicast: multicast, instances: &c.instances, out: c.out, skewOf: c.members.skew, deliver: c.dispatch, deliverBorrowed: c.dispatchBorrowed, subs: c.subs, cnt: c.cnt,
		senders: make(map[uint64]*remoteSender), flows: make(map[flowKey]*inFlow)}
	c.in.carrier = c.og.carrier
	c.in.timers = flowTimers(c.clock, c.out)
	c.req = (&requests{self: c.id, push: c.og.push, servers: c.members.servers, skew: c.members.skew, clock: c.clock,
		wait: 2 * cfg.announce, timeout: cfg.pullTimeout, cnt: c.cnt, log: c.log, ctx: c.ctx, wg: &c.wg,
		hello: func(dst uint64, flags byte) {
			c.hello(dst, flags)
			c.out.flushNow(true)
		}}).init(cfg.serveLimit)
}

// memberID returns this member's id and the salt it was derived with: with
// an identity, keys.MemberID of its public key and a random salt (or, in
// tests, the salt given), so that the sign layer lets receivers check that
// a signer speaks only for its own id; without one, a random id and salt 0.
// Neither is ever 0 with an identity.
func memberID(id *keys.Identity, salt uint64) (uint64, uint64) {
	if id == nil {
		return randomID(), 0
	}
	pub := id.Public()
	for {
		if salt == 0 {
			salt = randomID()
		}
		if m := keys.MemberID(pub, salt); m != 0 {
			return m, salt
		}
		salt = 0
	}
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
	// What this member sends must pass what members with the same
	// options accept: refused here, not silently by every receiver.
	if err := c.cfg.registry.CheckLimits(spec, c.cfg.policy.Limits); err != nil {
		return "", fmt.Errorf("channel: %w (receivers refuse it; see Policy.Limits)", err)
	}
	s := spec.String()
	if len(s) > maxQoSLen {
		return "", fmt.Errorf("channel: QoS string of %d bytes is too long (at most %d)", len(s), maxQoSLen)
	}
	return s, nil
}

// ID is this member's id, carried in every datagram and in the Sender of
// received postings: random per channel instance or, with [WithIdentity],
// derived from the identity's public key and a salt drawn at random per
// channel instance (keys.MemberID), so that signed streams bind it.
func (c *Channel) ID() uint64 { return c.id }

// Address returns the parsed URL.
func (c *Channel) Address() *Address { return c.addr }

// LocalAddr is the IP address and port the channel receives on (zero for
// file:// and for transports that are not IP; see [Channel.Endpoint]).
func (c *Channel) LocalAddr() netip.AddrPort { return c.Endpoint().IP }

// Endpoint is the transport address the channel receives on (zero for
// file://).
func (c *Channel) Endpoint() transport.Addr {
	if c.tr == nil {
		return transport.Addr{}
	}
	return c.tr.LocalAddr()
}

// QoS returns the canonical QoS string of a stream's data postings (media
// class Data); see [Channel.QoSFor].
func (c *Channel) QoS(stream string) string { return c.QoSFor(stream, posting.Data) }

// QoSFor returns the canonical QoS string of the stack that carries the
// postings of media class m on a stream: the stream's own (WithStreamQoS),
// else the medium's profile.
func (c *Channel) QoSFor(stream string, m posting.Media) string { return c.og.qosFor(stream, m) }

// Push sends a posting on the channel. It fills in p's Sender, Seq and
// Sent. It does not wait for the network: when the send queue is full it
// returns ErrBackpressure at once, or, with WithBlockingPush, waits for
// room until ctx is done. Errors from the stack (a posting larger than
// frag's max, say) are returned as they are. While every send of the
// channel has been failing for a second (an unreachable network, a
// closed peer port), Push returns a *SendError naming the cause instead
// of queueing what could not leave (and so does Pull, for a server whose
// address sends have been failing to for a second); a stream refused by
// its member gives a *RefusedError.
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
	if c.pmtu.failing.Load() { // no lock and no clock reading while nothing fails
		if err := c.pmtu.sendsFailing(c.clock.Now()); err != nil {
			return err // nothing could leave: say why rather than queue it
		}
	}
	return c.og.push(ctx, p, 0)
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
	if c.rec != nil {
		return fmt.Errorf("%w: Reconfigure on a file channel", ErrUnsupported)
	}
	return c.og.reconfigure(stream, q, "")
}

// hello queues a HELLO for dst, saying whether this member serves.
func (c *Channel) hello(dst uint64, flags byte) {
	if c.req.serving() {
		flags |= helloServes
	}
	var b [10]byte
	c.out.add(dst, bundle{}, appendHello(b[:0], flags, c.clock.Now()), nil)
	if c.auth != nil && flags&helloAsk != 0 {
		// Whoever answers should also echo our nonce (fresh.go).
		var n [24]byte
		c.out.add(dst, bundle{}, appendNonce(n[:0], dst, c.auth.nonce, nonceAsk), nil)
	}
}

// sendRun writes one run of n datagrams to a destination (the outbox's
// send).
func (c *Channel) sendRun(run []byte, seg int, dst transport.Addr, n int) {
	if !c.paths.allow(dst, len(run)) {
		return // not validated, and past its amplification budget
	}
	if err := c.send(run, seg, dst); err != nil {
		c.cnt.drop("send-error")
		c.failed(sendFailure{To: dst, Err: err, Lost: n})
		return
	}
	c.pmtu.sent(dst)
	c.cnt.sent.datagrams.Add(uint64(n))
	c.cnt.sent.bytes.Add(uint64(len(run)))
}

// dispatch hands a received posting to whoever wants it: replies to the
// Pull waiting for them, requests to the handler, the rest to the
// subscriptions.
func (c *Channel) dispatch(p *posting.Posting) {
	if c.out != nil {
		c.out.deliver() // what is pushed next may answer it (flushPushed)
	}
	switch p.Kind {
	case posting.Reply, posting.Fault:
		c.req.answer(p)
	case posting.Request:
		c.req.request(p)
	case posting.Cancel:
		// A requester gave up: its handler's context ends. Never
		// delivered to subscribers as if it were a message.
		c.req.cancel(p)
	default:
		c.subs.offer(p)
	}
}

// dispatchBorrowed is dispatch for a borrowed posting (valid only during
// the call): messages go to the subscriptions, which copy it if they keep
// it; requests and replies are kept by whoever takes them, so they get a
// copy.
func (c *Channel) dispatchBorrowed(p *posting.Posting) {
	if p.Kind != posting.Message {
		c.dispatch(p.Clone())
		return
	}
	if c.out != nil {
		c.out.deliver()
	}
	c.subs.offerBorrowed(p)
}

// reliableFrom says whether p came on a reliable stream (a recording's
// postings are not on any).
func (c *Channel) reliableFrom(p *posting.Posting) bool {
	return c.in != nil && c.in.reliableFrom(p.Sender, p.Stream)
}

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
	if f == nil && sc.noRetain {
		return nil, errors.New("channel: NoRetain applies to SubscribeFunc: a queued subscription keeps its postings")
	}
	s := &Subscription{subs: c.subs, cnt: c.cnt, clock: c.clock, reliable: c.reliableFrom, cfg: sc, fn: f, done: make(chan struct{})}
	if f == nil {
		s.q = make(chan *posting.Posting, sc.queue)
	}
	if c.closed.Load() {
		return nil, ErrClosed
	}
	c.subs.add(s)
	if c.rec != nil {
		c.rec.replay(s)
	}
	return s, nil
}

// Serve makes this member answer Pull requests for the default service
// with h: it is ServeName("", h).
func (c *Channel) Serve(h Handler) error { return c.ServeName("", h) }

// ServeName makes this member answer the requests for the service name
// (PullName; "" is the default service, Pull's) with h, and says to the
// other members that it serves. A channel has one handler per name, any
// number of names; ServeName again with a name replaces its handler.
// Names are at most MaxServiceName bytes.
//
// Handlers run on their own goroutines, at most 64 at once over all names;
// beyond that a request is answered with a Fault saying the server is
// busy. A handler's context ends when the client's deadline passes, when
// the client gives up or leaves, or when the channel closes (see
// [Handler]). A handler that panics does not take the process down: the
// panic is recovered and logged with its stack (Error level, WithLogger's
// logger), and the client's Pull returns a *RemoteError with Panicked set.
// A request for a name this member does not serve is answered so, and the
// client asks another server.
func (c *Channel) ServeName(name string, h Handler) error {
	if h == nil {
		return errors.New("channel: Serve with a nil handler")
	}
	if c.rec != nil {
		return fmt.Errorf("%w: Serve on a file:// channel", ErrUnsupported)
	}
	return c.req.serve(name, h)
}

// Pull sends req to a member that serves the default service (Serve) and
// waits for its reply: it is PullName(ctx, "", req, opts...).
func (c *Channel) Pull(ctx context.Context, req *posting.Posting, opts ...PullOption) (*posting.Posting, error) {
	return c.PullName(ctx, "", req, opts...)
}

// PullName sends req to a member that serves the service name (ServeName)
// and waits for its reply: two-way and blocking, like RPC. It fills in
// req's Kind, Correlation, ReplyTo and ReplyWithin (the time left before
// ctx's deadline, so the server's handler gets the same deadline), and sets
// req's ServiceHeader to name (removes it for "").
//
// The members that serve a name form a queue group, as subscribers of a
// NATS queue group do: each request goes to one of them, round robin over
// the members known to serve (in id order, per name), never to all. A
// member that answers that it does not serve the name is passed over for
// twice the announce interval and the next one asked. To(member) asks only
// that member.
//
// When no member is known to serve, PullName waits up to twice the
// announce interval for one to say hello, then returns ErrNoServer; it
// returns ErrNoServer at once when the member asked leaves the channel
// (says goodbye, or is forgotten) before it replies. When ctx has no
// deadline, WithPullTimeout bounds the wait (ErrTimeout). When ctx is done
// before the reply, the server is told (a Cancel posting), and its
// handler's context ends. A handler error, or panic, arrives as a
// *RemoteError.
func (c *Channel) PullName(ctx context.Context, name string, req *posting.Posting, opts ...PullOption) (*posting.Posting, error) {
	if req == nil {
		return nil, errors.New("channel: Pull of a nil posting")
	}
	var pc pullConfig
	for _, o := range opts {
		if err := o(&pc); err != nil {
			return nil, err
		}
	}
	if c.rec != nil {
		return nil, fmt.Errorf("%w: Pull on a file:// channel", ErrUnsupported)
	}
	return c.req.pull(ctx, name, pc.to, req)
}

// Close leaves the channel gracefully. It refuses pushes from its start
// (Push returns ErrClosed; pushes already under way finish), then lingers:
// it waits, at most the linger ([WithLinger]; [DefaultLinger] unless set),
// until what was pushed on reliable streams is acknowledged by the
// receivers this member knows, as [Channel.Flush] does, while the channel
// goes on sending, repairing, receiving and saying hello. Then it says
// goodbye, writes what is queued, stops its goroutines and waits for them,
// closes the stacks (those of streams retired by Reconfigure and still
// draining too), and ends the subscriptions. Pulls still waiting return
// ErrClosed.
//
// What was not acknowledged in time (or by a receiver that fell silent,
// or by the one peer of a stream that left) makes Close return an
// *[UndeliveredError], which says how many packets, on which streams and
// by whom; Close returns nil only when nothing was lost to a receiver it
// knew. Best-effort postings are never waited for, semi-reliable ones
// only until their deadline.
//
// Close is idempotent: a later call waits for the first to finish and
// returns nil.
func (c *Channel) Close() error {
	if c.closing.Swap(true) {
		<-c.closeDone
		return nil
	}
	defer close(c.closeDone)
	c.adapter.stop()
	var errs []error
	if c.rec == nil {
		// Pushes are refused from here; every loop keeps running (the
		// readers, the writer, the stacks' timers, maintenance) so what
		// was pushed is sent and repaired while the channel lingers.
		c.og.stopPushes()
		c.req.close()
		c.in.flushFeedback() // the senders need not wait for this member
		errs = append(errs, c.linger())
	}
	c.closed.Store(true)
	c.maint.stop()
	c.gwLoop.stop()
	c.receiptsMu.Lock()
	c.receipts.stop()
	c.receiptsMu.Unlock()
	if c.link != nil {
		c.link.stop()
	}
	if c.tr != nil {
		c.in.flushFeedback() // what arrived while lingering
		c.hello(everyone, helloBye)
	}
	// From here no part takes new work.
	c.og.close()
	c.in.close()
	c.members.close()
	c.req.close()
	c.cancel()
	if c.rec != nil {
		c.rec.close()
	} else {
		c.out.close()
		errs = append(errs, c.tr.Close())
	}
	c.wg.Wait()
	if c.rec != nil {
		errs = append(errs, c.rec.closeFile())
	}
	c.og.closeStacks()
	c.in.closeStacks()
	c.subs.end(ErrClosed)
	return joinErrors(errs)
}

// joinErrors joins the non-nil errors of errs, returning a lone one as it
// is (so a caller may type-assert Close's *UndeliveredError).
func joinErrors(errs []error) error {
	errs = slices.DeleteFunc(errs, func(e error) bool { return e == nil })
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}
