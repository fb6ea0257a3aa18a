package natsx

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"

	"github.com/rwanda-go/rwanda/transport"
)

// Receive bounds. A member's inbox holds at most inboxBytes of datagrams
// the channel has not read yet; what does not fit is dropped and counted
// ("nats-inbox-full"), as a full socket buffer drops. Ahead of it the
// client library's pending queue per subscription is bounded too; what it
// drops is counted "nats-slow-consumer".
const (
	inboxBytes       = 32 << 20
	pendingMsgsLimit = 64 << 10
	pendingByteLimit = 16 << 20
)

// batchBytes is how much Serve hands to the channel before it calls done,
// which sends what the channel answered (a window's status, a NAK, a
// repair): about one large datagram.
const batchBytes = 64 << 10

// minMTU is the smallest datagram a channel can work with.
const minMTU = 256

// conn is one member's attachment to a channel's subject: a NATS
// connection of its own (so that NoEcho keeps its own broadcasts from
// coming back), subscribed to the subject and to its inbox.
type conn struct {
	nc      *nats.Conn
	subject string
	inbox   string // subject.m.ID: where members answer this one
	prefix  string // subject.m.
	cap     int    // the channel's MTU cap
	emb     *embeddedServer
	subs    []*nats.Subscription

	mu     sync.Mutex
	q      []datagram
	qbytes int
	signal chan struct{}
	closed bool

	closing   atomic.Bool
	inboxFull atomic.Uint64
	noSender  atomic.Uint64
	slowLast  atomic.Uint64 // the subscriptions' drops when last read (they read 0 once closed)
}

// The channel learns from the transport that NATS controls flow and
// congestion itself (see CongestionControlled).
var _ transport.CongestionController = (*conn)(nil)

type datagram struct {
	b    []byte
	from transport.Addr
}

// dial connects (starting an embedded server if the URL names none) and
// subscribes.
func dial(ctx context.Context, cfg config) (_ transport.Opened, err error) {
	c := &conn{subject: cfg.subject, prefix: cfg.subject + ".m.", cap: cfg.mtu, signal: make(chan struct{}, 1)}
	var id [8]byte
	rand.Read(id[:])
	c.inbox = c.prefix + hex.EncodeToString(id[:])
	opts := natsOptions(ctx, cfg)
	server := cfg.server
	if server == "" {
		if c.emb, err = acquireEmbedded(cfg.embedPort); err != nil {
			return transport.Opened{}, err
		}
		defer func() {
			if err != nil {
				c.emb.release()
			}
		}()
		opts = append(opts, nats.InProcessServer(c.emb.srv))
	}
	if c.nc, err = nats.Connect(server, opts...); err != nil {
		where := server
		if where == "" {
			where = "the embedded server"
		}
		return transport.Opened{}, fmt.Errorf("natsx: connecting to %s: %w", where, err)
	}
	defer func() {
		if err != nil {
			c.nc.Close()
		}
	}()
	if mp := c.nc.MaxPayload(); mp < minMTU {
		return transport.Opened{}, fmt.Errorf("natsx: the server's max_payload is %d bytes; a channel needs at least %d", mp, minMTU)
	}
	for _, subj := range []string{c.subject, c.inbox} {
		sub, err := c.nc.Subscribe(subj, c.receive)
		if err != nil {
			return transport.Opened{}, fmt.Errorf("natsx: subscribing to %s: %w", subj, err)
		}
		if err := sub.SetPendingLimits(pendingMsgsLimit, pendingByteLimit); err != nil {
			return transport.Opened{}, err
		}
		c.subs = append(c.subs, sub)
	}
	// The server knows the subscriptions once a round trip has returned:
	// what is published from now on reaches this member.
	fctx, cancel := context.WithTimeout(ctx, embedReady)
	defer cancel()
	if err := c.nc.FlushWithContext(fctx); err != nil {
		return transport.Opened{}, fmt.Errorf("natsx: subscribing to %s: %w", c.subject, err)
	}
	return transport.Opened{Conn: c}, nil
}

// from returns the sender's address a message names: its reply subject,
// which must be a member inbox of this channel (subject.m. and 16 hex
// digits). Anything else — a message from a plain NATS publisher, a
// reply subject elsewhere that answers would be sent to — names nobody.
func (c *conn) from(reply string) (transport.Addr, bool) {
	if !c.isInbox(reply) {
		return transport.Addr{}, false
	}
	return transport.NameAddr(reply), true
}

func (c *conn) isInbox(s string) bool {
	id, ok := strings.CutPrefix(s, c.prefix)
	if !ok || len(id) != 16 {
		return false
	}
	for i := range len(id) {
		if b := id[i]; !('0' <= b && b <= '9' || 'a' <= b && b <= 'f') {
			return false
		}
	}
	return true
}

// receive is the subscriptions' callback: it queues the datagram for Serve.
func (c *conn) receive(m *nats.Msg) {
	from, ok := c.from(m.Reply)
	if !ok && len(m.Data) == 0 && m.Header.Get("Status") == "503" {
		// The server's "no responders" to this member's reply subject: a
		// send found nobody else on the subject (or a member gone). Not
		// a datagram, and nobody's fault.
		return
	}
	if !ok {
		c.noSender.Add(1)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	if c.qbytes+len(m.Data) > inboxBytes {
		c.inboxFull.Add(1)
		return
	}
	c.q = append(c.q, datagram{b: m.Data, from: from}) // the library gives each message a slice of its own
	c.qbytes += len(m.Data)
	select {
	case c.signal <- struct{}{}:
	default:
	}
}

// Serve hands what arrived to recv, a batch at a time, until Close.
func (c *conn) Serve(recv func([]byte, transport.Addr), done func()) {
	var batch []datagram
	for {
		c.mu.Lock()
		for len(c.q) == 0 && !c.closed {
			c.mu.Unlock()
			<-c.signal
			c.mu.Lock()
		}
		if c.closed {
			c.mu.Unlock()
			return
		}
		batch, c.q = c.q, batch[:0]
		c.qbytes = 0
		c.mu.Unlock()
		n := 0
		for i, d := range batch {
			recv(d.b, d.from)
			batch[i] = datagram{}
			// A batch ends (and what the channel answered leaves) at
			// least every batchBytes: feedback waits for no more than
			// that, whatever piled up meanwhile.
			if n += len(d.b); n >= batchBytes {
				done()
				n = 0
			}
		}
		done()
	}
}

// Send publishes each datagram of run on the subject (the zero Addr: every
// member) or to a member's inbox, with this member's inbox as the reply
// subject, which is how receivers know whom it came from.
func (c *conn) Send(run []byte, seg int, dst transport.Addr) error {
	if c.closing.Load() {
		return ErrClosed
	}
	subj := c.subject
	if !dst.IsZero() {
		if dst.IP.IsValid() || !c.isInbox(dst.Name) {
			return fmt.Errorf("natsx: %v is not a member of %s", dst, c.subject)
		}
		subj = dst.Name
	}
	limit := int(c.nc.MaxPayload())
	sent := 0
	var err error
	transport.SplitRun(run, seg, func(d []byte) {
		if err != nil {
			return
		}
		if len(d) > limit {
			// A server with a smaller max_payload than the one this
			// datagram was cut for (a reconnect to another server of a
			// cluster): the channel cuts to the new MTU from now on.
			err = &transport.MTUError{Dst: dst, Size: len(d), MTU: c.MTU(dst), Sent: sent, Err: nats.ErrMaxPayload}
			return
		}
		if e := c.nc.PublishRequest(subj, c.inbox, d); e != nil {
			if errors.Is(e, nats.ErrConnectionClosed) {
				e = ErrClosed
			}
			err = fmt.Errorf("natsx: publishing on %s: %w", subj, e)
			return
		}
		sent += len(d)
	})
	return err
}

// LocalAddr is this member's inbox subject.
func (c *conn) LocalAddr() transport.Addr { return transport.NameAddr(c.inbox) }

// ReachAll: a message on the subject reaches every member.
func (c *conn) ReachAll() bool { return true }

// MTU is the server's max payload, no more than the channel's cap (the
// URL's mtu=, or else [DatagramSize]). It falls if the client reconnects
// to a server that takes less.
func (c *conn) MTU(transport.Addr) int {
	return max(min(c.cap, int(c.nc.MaxPayload())), minMTU)
}

// CongestionControlled: a NATS connection is TCP to the server, which
// orders, checksums and controls flow and congestion on every hop, and
// loses messages only in bulk (a reconnect, a slow consumer cut): a
// channel's streams to one member run the window's NAK mode, as its
// streams to everyone do (transport.CongestionController).
func (c *conn) CongestionControlled() bool { return true }

// Offloads: none that the channel sees; the client library buffers what is
// published and writes it to the server's TCP connection in large writes.
func (c *conn) Offloads() transport.Offloads { return transport.Offloads{} }

// Drops counts what this member dropped itself, by reason:
// "nats-no-sender" (a message on the subject whose reply subject is not a
// member's inbox: a plain NATS publisher, or one pointing answers
// elsewhere), "nats-inbox-full" and "nats-slow-consumer" (see the receive
// bounds).
func (c *conn) Drops() map[string]uint64 {
	if !c.closing.Load() {
		c.readSlow()
	}
	return map[string]uint64{
		"nats-no-sender":     c.noSender.Load(),
		"nats-inbox-full":    c.inboxFull.Load(),
		"nats-slow-consumer": c.slowLast.Load(),
	}
}

// readSlow reads the subscriptions' drop counts into slowLast: once the
// connection is closed they read nothing.
func (c *conn) readSlow() {
	var n uint64
	for _, s := range c.subs {
		if d, err := s.Dropped(); err == nil && d > 0 {
			n += uint64(d)
		}
	}
	for {
		old := c.slowLast.Load()
		if n <= old || c.slowLast.CompareAndSwap(old, n) {
			return
		}
	}
}

// Close flushes what was published, closes the connection (and with it the
// subscriptions), stops Serve, and shuts the embedded server down if this
// was the last member of the process using it. It is idempotent.
func (c *conn) Close() error {
	if c.closing.Swap(true) {
		return nil
	}
	c.readSlow()
	c.nc.Close()
	c.mu.Lock()
	c.closed = true
	c.q = nil
	c.mu.Unlock()
	select {
	case c.signal <- struct{}{}:
	default:
	}
	if c.emb != nil {
		c.emb.release()
	}
	return nil
}
