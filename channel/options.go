package channel

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rwanda-go/rwanda/filter"
	"github.com/rwanda-go/rwanda/keys"
	"github.com/rwanda-go/rwanda/layers/frag"
	"github.com/rwanda-go/rwanda/posting"
	"github.com/rwanda-go/rwanda/registry"
	"github.com/rwanda-go/rwanda/stack"
)

// Errors returned by channels.
var (
	// ErrClosed: the channel or subscription is closed.
	ErrClosed = errors.New("channel: closed")
	// ErrBackpressure: Push found the send queue full (see WithBlockingPush).
	ErrBackpressure = errors.New("channel: send queue full")
	// ErrNoServer: Pull found no member serving requests.
	ErrNoServer = errors.New("channel: no member serves requests")
	// ErrTimeout: Pull got no reply in time.
	ErrTimeout = errors.New("channel: request timed out")
	// ErrSlowConsumer: a subscription with the FailSlow policy fell behind.
	ErrSlowConsumer = errors.New("channel: slow consumer")
	// ErrUnsupported: the operation does not apply to this kind of channel.
	ErrUnsupported = errors.New("channel: not supported on this channel")
	// ErrPolicy: an announced stack is refused by the receive policy.
	ErrPolicy = errors.New("channel: stack refused by receive policy")
	// ErrTooLarge: a posting larger than the channel's WithMaxPosting.
	ErrTooLarge = errors.New("channel: posting too large")
	// ErrSend is wrapped by a *SendError: every send has been failing.
	ErrSend = errors.New("channel: sends failing")
	// ErrRefused is wrapped by a *RefusedError: a member refused a stream.
	ErrRefused = errors.New("channel: stream refused by a member")
	// ErrTooManyStreams: this member has as many streams open as
	// WithLimits allows (flows; 4096 by default).
	ErrTooManyStreams = errors.New("channel: too many streams open")
)

// RemoteError is the error a Pull returns when the server's handler
// failed: its text travels back in a Fault posting. When the handler
// panicked, Panicked is set and Message says so, naming the request's
// correlation; the panic's value and stack are in the server's log only.
type RemoteError struct {
	Server   uint64 // the member that answered
	Message  string
	Panicked bool // the handler panicked (the server recovered)
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("channel: member %016x: %s", e.Server, e.Message)
}

// Policy is what a receiver accepts of the stacks senders announce. A
// stream whose announced stack fails the policy is not received (its
// packets are dropped and counted under "policy", and the refusal is
// logged once per stream with the reason).
//
// Whatever Allow and Require say, every parameter of every announced layer
// must lie within its receive limits: the bounds the layer declares
// ([registry.ParamInfo] Min and Max; [registry.Registry.Limits] lists
// them), replaced by Limits where it has an entry. So a hostile or
// mistaken announcement ("order(buffer=1048576)", "compress(max=1GiB)")
// cannot make a receiver build a stack that allocates beyond them. The
// largest parcel a receiving stack delivers is then lowered to the
// channel's largest posting (WithMaxPosting): frag's and compress's max
// are built at most that, and compress's at most frag's.
type Policy struct {
	// Allow lists the layer names a stack may use; empty allows every
	// registered layer.
	Allow []string
	// Require lists layer names every stack must contain.
	Require []string
	// Limits replace the receive limits of layer parameters, keyed
	// "layer.param" with bounds written as in a QoS string:
	// {"order.buffer": {Max: "65536"}}. Open fails on a key that names no
	// numeric parameter of a registered layer.
	Limits map[string]registry.Bounds
}

// check returns why spec breaks the policy, or nil.
func (p Policy) check(reg *registry.Registry, spec registry.Spec) error {
	have := make([]string, len(spec.Layers))
	for i, l := range spec.Layers {
		have[i] = l.Name
		if len(p.Allow) > 0 && !slices.Contains(p.Allow, l.Name) {
			return fmt.Errorf("%w: layer %s is not allowed", ErrPolicy, l.Name)
		}
	}
	for _, r := range p.Require {
		if !slices.Contains(have, r) {
			return fmt.Errorf("%w: layer %s is required", ErrPolicy, r)
		}
	}
	if err := reg.CheckLimits(spec, p.Limits); err != nil {
		return fmt.Errorf("%w: %w", ErrPolicy, err)
	}
	return nil
}

// DefaultQoS is the stack of streams when neither the URL nor WithQoS
// names one: every posting delivered once, in order (frag/order/window).
const DefaultQoS = "reliable"

type config struct {
	qos           string
	qosSet        bool
	streamQoS     map[string]string
	linkRate      int64
	adapter       Adapter
	adaptEvery    time.Duration
	classifier    *filter.Classifier
	table         filter.Table
	mediaSet      map[posting.Media]bool // profiles given with WithMediaProfile
	sniffStacks   bool                   // bodies classified by content get their medium's stack
	keys          *keys.Ring
	identity      *keys.Identity
	trusted       *keys.Trust
	clock         stack.Clock
	logger        *slog.Logger
	iface         string
	sendQueue     int
	blockingPush  bool
	policy        Policy
	registry      *registry.Registry
	announce      time.Duration
	pullTimeout   time.Duration
	memory        int64
	subQueue      int
	onEvent       func(Event)
	maxFlows      int
	maxPeers      int
	serveLimit    int
	maxPosting    int64
	maxPostingSet bool
	linger        time.Duration
	gwTimeout     time.Duration
	gwProbe       time.Duration
	gwNoDirect    bool
	// Test hooks, set only by this package's tests: the member id to
	// take instead of the drawn or derived one (an insider claiming
	// another member's id), and the salt to derive the id with.
	testID, testSalt uint64
}

func defaultConfig() config {
	return config{
		clock:       stack.SystemClock,
		sendQueue:   4 << 20,
		registry:    registry.Default(),
		classifier:  filter.Default(),
		table:       filter.DefaultTable(),
		announce:    time.Second,
		pullTimeout: 5 * time.Second,
		memory:      256 << 20,
		subQueue:    1024,
		maxFlows:    4096,
		maxPeers:    4096,
		serveLimit:  64,
		maxPosting:  defaultMaxPosting,
		linger:      DefaultLinger,
		gwTimeout:   DefaultGatewayTimeout,
		gwProbe:     DefaultGatewayProbe,
	}
}

// Option configures a channel at Open. Options check their arguments: a bad
// one makes Open fail with an error naming it.
type Option func(*config) error

// WithQoS sets the QoS string of the channel's streams (see package
// registry for the grammar). It conflicts with a different qos= in the URL.
func WithQoS(qos string) Option {
	return func(c *config) error {
		if _, err := registry.Parse(qos); err != nil {
			return fmt.Errorf("WithQoS: %w", err)
		}
		c.qos, c.qosSet = qos, true
		return nil
	}
}

// WithStreamQoS sets the QoS string of one stream, overriding the
// channel's.
func WithStreamQoS(stream, qos string) Option {
	return func(c *config) error {
		if len(stream) > posting.MaxStreamLen {
			return fmt.Errorf("WithStreamQoS: stream name of %d bytes (at most %d)", len(stream), posting.MaxStreamLen)
		}
		if _, err := registry.Parse(qos); err != nil {
			return fmt.Errorf("WithStreamQoS(%q): %w", stream, err)
		}
		if c.streamQoS == nil {
			c.streamQoS = make(map[string]string)
		}
		c.streamQoS[stream] = qos
		return nil
	}
}

// WithFilter sets the classifier that assigns a media class to every
// pushed posting (default filter.Default(): the posting's Media field, the
// body's declaration, content sniffing). A class found by content sniffing
// picks no stack unless [WithSniffStacks] says so.
func WithFilter(c *filter.Classifier) Option {
	return func(cfg *config) error {
		if c == nil {
			return fmt.Errorf("WithFilter: nil classifier")
		}
		cfg.classifier = c
		return nil
	}
}

// WithMediaProfile sets the stack (QoS string) and default time to live of
// one media class's streams, overriding the channel's QoS and the default
// table (see package filter) for that class. [WithStreamQoS] still wins
// for the streams it names.
func WithMediaProfile(m posting.Media, p filter.Profile) Option {
	return func(c *config) error {
		if !m.Valid() {
			return fmt.Errorf("WithMediaProfile: invalid media %d", uint8(m))
		}
		if p.TTL < 0 {
			return fmt.Errorf("WithMediaProfile(%v): negative TTL %v", m, p.TTL)
		}
		if _, err := registry.Parse(p.QoS); err != nil {
			return fmt.Errorf("WithMediaProfile(%v): %w", m, err)
		}
		c.table = maps.Clone(c.table)
		c.table[m] = p
		if c.mediaSet == nil {
			c.mediaSet = make(map[posting.Media]bool)
		}
		c.mediaSet[m] = true
		return nil
	}
}

// WithSniffStacks lets content sniffing choose stacks: a []byte or string
// body whose first bytes look like audio, video, an image or text (see
// filter.Sniff) then travels on that medium's stack and takes its default
// TTL, as a body that declares its medium does; for example a body starting
// with PNG magic goes on the image profile's refresh stack, and one starting
// with "OggS" on the audio profile's best-effort stack with a 100 ms TTL.
//
// Without it (the default), sniffing sets only the posting's media class
// (its Media field, Stats, relay metadata, Media subscriptions): such a
// body travels on the Data profile's stack (the channel's QoS, "reliable"
// unless changed), so a file is never made unreliable, short-lived or
// repeated by its first bytes. A medium the application names — the
// posting's Media field, the body's Medium method, a stream or type rule
// of [WithFilter] — always picks that medium's stack.
func WithSniffStacks() Option {
	return func(c *config) error {
		c.sniffStacks = true
		return nil
	}
}

// WithLinkRate makes the channel send no faster than bytesPerSecond (the
// capacity of its link, or its share of it), through a send queue that
// orders what waits by the policy each stream's stack asks for (the fifo,
// priority and edf layers; streams without one take turns packet by
// packet; see package sched). Under EDF, packets that can no longer
// arrive by their deadline are dropped before they are sent, counted as
// "late". Without it, the channel sends as fast as the network takes.
func WithLinkRate(bytesPerSecond int64) Option {
	return func(c *config) error {
		if bytesPerSecond < 1000 {
			return fmt.Errorf("WithLinkRate: %d bytes/s is too low (at least 1000)", bytesPerSecond)
		}
		c.linkRate = bytesPerSecond
		return nil
	}
}

// WithKey makes the channel keyed with one key (id 1 in its key ring); see
// [WithKeyRing]. The key is copied and never logged; it must be at least 16
// bytes of secret (32 random bytes is right).
func WithKey(key []byte) Option {
	return func(c *config) error {
		r, err := keys.NewRing(1, key)
		if err != nil {
			return fmt.Errorf("WithKey: a key of %d bytes is too short (at least %d)", len(key), keys.MinKeyLen)
		}
		c.keys = r
		return nil
	}
}

// WithKeyRing makes the channel keyed with the keys of ring, which the
// application may change while the channel runs to rotate keys (see
// package keys). A keyed channel authenticates every datagram it sends
// under the ring's current key and drops, before any parsing, every
// datagram not authenticated under a key in the ring or seen before; and
// every stream it sends or accepts carries the encrypt layer. Besides the
// application's rotation, each member's datagram key and each stream's
// encrypt key change by themselves, with nothing sent, before they reach
// the AEAD usage limits of RFC 9001 §6.6 (every 2^23 datagrams or packets
// under AES-GCM); see [Stats] (Keys) and package encrypt.
func WithKeyRing(ring *keys.Ring) Option {
	return func(c *config) error {
		if ring == nil {
			return fmt.Errorf("WithKeyRing: nil ring")
		}
		c.keys = ring
		return nil
	}
}

// WithIdentity sets the key this member signs with (the sign layer). The
// member id ([Channel.ID]) is then derived from the identity's public key
// and a salt drawn at random at Open (keys.MemberID), instead of drawn at
// random, and every signature carries the salt: receivers accept a
// signature only from the key the sending member id was derived from, so
// no trusted signer can speak for another member.
func WithIdentity(id *keys.Identity) Option {
	return func(c *config) error {
		if id == nil {
			return fmt.Errorf("WithIdentity: nil identity")
		}
		c.identity = id
		return nil
	}
}

// WithTrusted sets the public keys whose signatures the channel accepts
// (the sign layer drops packets signed by anyone else, and unsigned ones).
// Its receive policy then requires sign in every announced stack, so a
// sender cannot shed the signature by announcing a stack without it.
func WithTrusted(t *keys.Trust) Option {
	return func(c *config) error {
		if t == nil {
			return fmt.Errorf("WithTrusted: nil trust set")
		}
		c.trusted = t
		return nil
	}
}

// WithClock sets the clock that drives the channel's timers and stacks;
// tests pass a *stack.ManualClock.
func WithClock(clock stack.Clock) Option {
	return func(c *config) error {
		if clock == nil {
			return errors.New("WithClock: nil clock")
		}
		c.clock = clock
		return nil
	}
}

// WithLogger sets where the channel logs (default: nowhere).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		c.logger = l
		return nil
	}
}

// WithInterface names the network interface for multicast (like iface= in
// the URL; the URL wins if both are given and differ, with an error).
func WithInterface(name string) Option {
	return func(c *config) error {
		if name == "" {
			return errors.New("WithInterface: empty name")
		}
		c.iface = name
		return nil
	}
}

// WithSendQueue bounds the bytes waiting to be written (default 4 MiB).
// When it is full, Push returns ErrBackpressure, or blocks with
// WithBlockingPush.
func WithSendQueue(bytes int) Option {
	return func(c *config) error {
		if bytes < 64<<10 {
			return fmt.Errorf("WithSendQueue: %d bytes is too small (at least 64 KiB)", bytes)
		}
		c.sendQueue = bytes
		return nil
	}
}

// WithBlockingPush makes Push wait, until its context is done, for room in
// a full send queue instead of returning ErrBackpressure.
func WithBlockingPush() Option {
	return func(c *config) error {
		c.blockingPush = true
		return nil
	}
}

// defaultMaxPosting is the largest posting by default: frag's and
// compress's default max.
const defaultMaxPosting = 16 << 20

// maxEncoded is the largest encoded posting whose body can be within
// maxPosting: the body and frag's allowance for the posting's header.
func maxEncoded(maxPosting int64) int64 { return maxPosting + frag.HeaderAllowance }

// WithMaxPosting sets the largest posting body that the channel sends or
// receives (16 MiB by default): the body's bytes for a []byte or string
// body, its type name and msgpack encoding for a typed one; the posting's
// header does not count, so a body of exactly the limit can be pushed.
// Push refuses a larger body with an error wrapping ErrTooLarge that names
// the limit and how to raise it: this option, and frag(max=...) in the
// stream's QoS when its stack's frag has a lower max (frag's max bounds the
// body too; see package frag). Receiving stacks are built to deliver
// nothing larger (frag's and compress's max lowered to it; larger parcels
// are dropped and counted by those layers). Decoding a received posting is
// bounded by its size (see package posting).
func WithMaxPosting(n int64) Option {
	return func(c *config) error {
		if n < 1<<10 || n > 1<<30 {
			return fmt.Errorf("channel: WithMaxPosting(%d) out of range 1KiB..1GiB", n)
		}
		c.maxPosting, c.maxPostingSet = n, true
		return nil
	}
}

// WithReceivePolicy restricts the stacks the channel accepts from senders.
func WithReceivePolicy(p Policy) Option {
	return func(c *config) error {
		c.policy = p
		return nil
	}
}

// WithRegistry builds stacks from r instead of registry.Default().
func WithRegistry(r *registry.Registry) Option {
	return func(c *config) error {
		if r == nil {
			return errors.New("WithRegistry: nil registry")
		}
		c.registry = r
		return nil
	}
}

// WithAnnounceInterval sets how often the channel re-announces its streams
// and says hello (default 1 s). Members silent for five intervals are
// forgotten.
func WithAnnounceInterval(d time.Duration) Option {
	return func(c *config) error {
		if d < time.Millisecond || d > time.Hour {
			return fmt.Errorf("WithAnnounceInterval: %v out of range 1ms..1h", d)
		}
		c.announce = d
		return nil
	}
}

// DefaultLinger is how long Close waits, unless WithLinger says otherwise,
// for what was pushed to be acknowledged: the window's receiver timeout,
// which bounds how long a multicast sender waits for a silent receiver.
const DefaultLinger = 2 * time.Second

// WithLinger bounds how long [Channel.Close] waits for the receivers to
// acknowledge what was pushed on reliable streams (default
// [DefaultLinger]); 0 makes Close not wait at all (it still reports what
// was not acknowledged). At most an hour.
func WithLinger(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 || d > time.Hour {
			return fmt.Errorf("WithLinger: %v out of range 0..1h", d)
		}
		c.linger = d
		return nil
	}
}

// WithPullTimeout bounds a Pull whose context has no deadline (default 5 s).
func WithPullTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("WithPullTimeout: %v must be positive", d)
		}
		c.pullTimeout = d
		return nil
	}
}

// PullOption configures one Pull or PullName.
type PullOption func(*pullConfig) error

type pullConfig struct {
	to uint64
}

// To sends the request to the member with the given id (see
// [Channel.ID], [Stats].Peers) instead of the next server of the name,
// round robin. Pull waits for that member as for any server (up to twice
// the announce interval), and fails with ErrNoServer if it is not known to
// serve, or answers that it does not serve the name asked for. A member id
// of 0 names nobody: To(0) is an error.
func To(member uint64) PullOption {
	return func(c *pullConfig) error {
		if member == 0 {
			return errors.New("channel: To(0): member ids are never 0")
		}
		c.to = member
		return nil
	}
}

// WithMemory bounds the bytes all the channel's stacks may hold in buffers
// (reassembly, retransmission, reordering) and that decoding received
// postings may take (8× a posting's size and 4 KiB, while it is decoded
// and handed up), default 256 MiB. Without WithMaxPosting, the largest
// posting is lowered to a tenth of it when that is under 16 MiB; with it,
// Open fails when the memory is under ten times the largest posting.
func WithMemory(bytes int64) Option {
	return func(c *config) error {
		if bytes < 1<<20 {
			return fmt.Errorf("WithMemory: %d bytes is too small (at least 1 MiB)", bytes)
		}
		c.memory = bytes
		return nil
	}
}

// WithLimits bounds the streams this member opens and the incoming flows
// (remote sender × stream) it keeps (flows), and the members it tracks
// (peers); defaults 4096 each. Past flows streams of its own, Push fails
// with [ErrTooManyStreams]. Beyond flows incoming flows or peers members
// the least recently active are forgotten. It takes at most flows streams
// from one member — so members with the same limits agree — and 4 × flows
// from all; a stream refused past those (or by its receive policy) is
// counted ("too-many-streams", "policy") and told to its sender, whose
// Push on it then fails with a [*RefusedError] (see [RefusedError]).
func WithLimits(flows, peers int) Option {
	return func(c *config) error {
		if flows < 1 || peers < 1 {
			return fmt.Errorf("WithLimits: %d flows, %d peers: both must be positive", flows, peers)
		}
		c.maxFlows, c.maxPeers = flows, peers
		return nil
	}
}

// RefusedError says that a member will not build a stream this channel
// sends (its stream caps, its receive policy). Push returns it on a stream
// to that member, or to the unicast peer; on a stream to everyone the
// refusal is an event ("stream-refused") and the other members still
// receive. It wraps [ErrRefused].
type RefusedError struct {
	Stream string
	Member uint64
	Reason string // the member's words
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("channel: stream %q refused by member %016x: %s", e.Stream, e.Member, e.Reason)
}

// Unwrap returns ErrRefused.
func (e *RefusedError) Unwrap() error { return ErrRefused }

// Event is something a stream's stack reports: an unrecoverable gap in a
// received stream, a seed an impairment layer chose, and so on.
type Event struct {
	Kind   string // e.g. "unrecoverable-gap"
	Stream string
	Member uint64 // the remote sender of a received stream, or the target of a sent one (0: everyone)
	Layer  string // the reporting layer
	Seq    uint64 // the sequence number concerned, if any
	Detail string
	At     time.Time
}

// WithGatewayTimeout sets how long a channel served by a gateway (a URL
// naming gateway=) hears nothing from it before it moves to the next
// gateway: default DefaultGatewayTimeout (1.5 s; gateways send a
// heartbeat every 500 ms by default). Keep it under the senders' window
// receiver timeout (2 s), so that they do not give this member up while
// it moves.
func WithGatewayTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d < 10*time.Millisecond || d > time.Hour {
			return fmt.Errorf("WithGatewayTimeout: %v out of range 10ms..1h", d)
		}
		c.gwTimeout = d
		return nil
	}
}

// WithGatewayProbe sets how long Open waits for the gateways' answers and
// the capability test when the URL names gateway=: default
// DefaultGatewayProbe (500 ms). Open returns sooner when a capability
// test succeeds, or when every gateway answered and the test had twice
// the largest round trip to come.
func WithGatewayProbe(d time.Duration) Option {
	return func(c *config) error {
		if d < time.Millisecond || d > time.Minute {
			return fmt.Errorf("WithGatewayProbe: %v out of range 1ms..1m", d)
		}
		c.gwProbe = d
		return nil
	}
}

// WithoutDirectJoin makes a channel whose URL names gateways skip the
// capability test and go through the nearest gateway even when it could
// receive the group: for a member that must not join it (a host whose
// multicast is not to be trusted, a test on one host, where every member
// receives the group).
func WithoutDirectJoin() Option {
	return func(c *config) error {
		c.gwNoDirect = true
		return nil
	}
}

// WithEvents has f called for each event of the channel's stacks and of
// the channel itself (they are also counted in Stats and logged): among
// them "unrecoverable-gap" (a received reliable stream lost something for
// good), "stream-refused" (a member will not build a stream this channel
// sends; see [RefusedError]) and "slow-consumer" (a subscription dropped
// postings of a reliable stream, reported at most once a second per
// subscription with the count; [Subscription.Stats] counts every drop).
// f is called on the channel's goroutines and must not block.
func WithEvents(f func(Event)) Option {
	return func(c *config) error {
		c.onEvent = f
		return nil
	}
}

// clampParcels lowers the largest parcel the layers of a receiving stack
// deliver (frag's and compress's max) to the channel's largest posting,
// and compress's to frag's: a sender's announcement cannot make this
// member reassemble or decompress more than it would accept as a posting.
func clampParcels(reg *registry.Registry, spec registry.Spec, maxPosting int64) registry.Spec {
	limit := maxPosting
	out := spec
	out.Layers = slices.Clone(spec.Layers)
	for i := len(out.Layers) - 1; i >= 0; i-- { // the wire side first: frag below compress
		l := &out.Layers[i]
		if l.Name != "frag" && l.Name != "compress" {
			continue
		}
		v, ok := reg.Value(*l, "max")
		if !ok {
			continue
		}
		n, _ := v.Size()
		if n > limit {
			n = limit
			l.Params = slices.Clone(l.Params)
			pv, _ := registry.ParseValue(strconv.FormatInt(n, 10) + "B")
			if j := slices.IndexFunc(l.Params, func(p registry.Param) bool { return p.Key == "max" }); j >= 0 {
				l.Params[j].Value = pv
			} else {
				l.Params = append(l.Params, registry.Param{Key: "max", Value: pv})
				slices.SortFunc(l.Params, func(a, b registry.Param) int { return strings.Compare(a.Key, b.Key) })
			}
		}
		limit = n
	}
	return out
}
