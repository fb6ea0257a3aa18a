package ws

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/posting"
	"github.com/rwanda-go/rwanda/stack"
)

// Script is the JavaScript client module (an ES module exporting Channel);
// see the package doc.
//
//go:embed rwanda.js
var Script []byte

// Option configures a Handler.
type Option func(*config) error

type config struct {
	queue        int
	readLimit    int64
	writeTimeout time.Duration
	origins      []string
	clock        stack.Clock
}

// WithQueue sets each client's queue length in postings (default 256).
func WithQueue(n int) Option {
	return func(c *config) error {
		if n < 1 || n > 1<<16 {
			return fmt.Errorf("ws: WithQueue(%d): out of range 1..%d", n, 1<<16)
		}
		c.queue = n
		return nil
	}
}

// WithReadLimit sets the largest message a client may send, in bytes
// (default 64 KiB); a larger one closes its connection.
func WithReadLimit(n int64) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("ws: WithReadLimit(%d): must be positive", n)
		}
		c.readLimit = n
		return nil
	}
}

// WithWriteTimeout sets how long one write to a client may take before
// the client is disconnected (default 10 s).
func WithWriteTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("ws: WithWriteTimeout(%v): must be positive", d)
		}
		c.writeTimeout = d
		return nil
	}
}

// WithOriginPatterns lets pages from other origins connect (host
// patterns, as github.com/coder/websocket's AcceptOptions take them). By
// default only pages served from the handler's own host may.
func WithOriginPatterns(patterns ...string) Option {
	return func(c *config) error {
		c.origins = append(c.origins, patterns...)
		return nil
	}
}

// WithClock sets the clock that ages queued postings (default the
// system's; give the channel's own when it has one).
func WithClock(k stack.Clock) Option {
	return func(c *config) error {
		if k == nil {
			return errors.New("ws: WithClock(nil)")
		}
		c.clock = k
		return nil
	}
}

// Stats are a handler's counters since it was made.
type Stats struct {
	Clients    int    // connected now
	Accepted   uint64 // connections accepted
	Sent       uint64 // postings written to clients
	Superseded uint64 // dropped from a queue for a newer one with the same key
	Expired    uint64 // dropped from a queue past their TTL
	Dropped    uint64 // dropped from a full queue (postings with a TTL)
	Slow       uint64 // clients disconnected because their queue was full of postings without a TTL
	Pushed     uint64 // client messages pushed on the channel
	Rejected   uint64 // client messages refused (malformed, invalid, or the push failed)
	// Unencodable counts postings not sent because their typed body has
	// no JSON form (encoding/json refused it).
	Unencodable uint64
}

// Handler serves a channel to WebSocket clients (see the package doc).
type Handler struct {
	ch  *channel.Channel
	cfg config

	mu      sync.Mutex
	clients map[*client]struct{}
	closed  bool
	wg      sync.WaitGroup

	accepted, sent, slow, pushed, rejected atomic.Uint64
	superseded, expired, dropped           atomic.Uint64
	unencodable                            atomic.Uint64
}

// New returns a handler that serves ch. The caller keeps ch open while the
// handler serves and closes it after the handler's Close.
func New(ch *channel.Channel, opts ...Option) (*Handler, error) {
	if ch == nil {
		return nil, errors.New("ws: New with a nil channel")
	}
	cfg := config{queue: 256, readLimit: 64 << 10, writeTimeout: 10 * time.Second, clock: stack.SystemClock}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	return &Handler{ch: ch, cfg: cfg, clients: make(map[*client]struct{})}, nil
}

// ScriptHandler serves [Script] as JavaScript.
func (h *Handler) ScriptHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Write(Script)
	})
}

// Stats returns the handler's counters.
func (h *Handler) Stats() Stats {
	h.mu.Lock()
	n := len(h.clients)
	h.mu.Unlock()
	return Stats{Clients: n, Accepted: h.accepted.Load(), Sent: h.sent.Load(), Superseded: h.superseded.Load(),
		Expired: h.expired.Load(), Dropped: h.dropped.Load(), Slow: h.slow.Load(), Pushed: h.pushed.Load(),
		Rejected: h.rejected.Load(), Unencodable: h.unencodable.Load()}
}

// Close disconnects every client (status 1001, going away) and waits for
// their goroutines; later upgrades are refused with 503. It does not close
// the channel.
func (h *Handler) Close() error {
	h.mu.Lock()
	h.closed = true
	cs := make([]*client, 0, len(h.clients))
	for c := range h.clients {
		cs = append(cs, c)
	}
	h.mu.Unlock()
	for _, c := range cs {
		c.end(websocket.StatusGoingAway, "gateway closing")
	}
	h.wg.Wait()
	return nil
}

// filters reads a client's subscription options from its URL's query.
func filters(r *http.Request) ([]channel.SubOption, error) {
	q := r.URL.Query()
	var opts []channel.SubOption
	if s := q["stream"]; len(s) > 0 {
		opts = append(opts, channel.Streams(s...))
	}
	for _, m := range q["media"] {
		md, err := posting.ParseMedia(m)
		if err != nil {
			return nil, err
		}
		opts = append(opts, channel.Media(md))
	}
	for _, s := range q["sender"] {
		id, err := strconv.ParseUint(s, 16, 64)
		if err != nil {
			return nil, fmt.Errorf("sender %q: not a hexadecimal member id", s)
		}
		opts = append(opts, channel.Senders(id))
	}
	return opts, nil
}

// ServeHTTP upgrades the request to a WebSocket and serves the client
// until it leaves, is too slow, or the handler closes.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	opts, err := filters(r)
	if err != nil {
		http.Error(w, "ws: "+err.Error(), http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	closed := h.closed
	h.mu.Unlock()
	if closed {
		http.Error(w, "ws: gateway closed", http.StatusServiceUnavailable)
		return
	}
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: h.cfg.origins})
	if err != nil {
		return // Accept has answered the request
	}
	conn.SetReadLimit(h.cfg.readLimit)
	ctx, cancel := context.WithCancel(context.Background())
	c := &client{h: h, conn: conn, ctx: ctx, cancel: cancel, q: outq{max: h.cfg.queue}, wake: make(chan struct{}, 1)}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		cancel()
		conn.Close(websocket.StatusGoingAway, "gateway closing")
		return
	}
	h.clients[c] = struct{}{}
	h.wg.Add(1)
	h.mu.Unlock()
	h.accepted.Add(1)
	defer h.wg.Done()

	sub, err := h.ch.SubscribeFunc(c.offer, opts...)
	if err != nil {
		c.end(websocket.StatusInternalError, "subscribe: "+err.Error())
	} else {
		defer sub.Close()
	}
	done := make(chan struct{})
	go func() { // the writer
		defer close(done)
		c.write()
	}()
	c.read()
	c.end(websocket.StatusNormalClosure, "")
	<-done
	h.mu.Lock()
	delete(h.clients, c)
	h.mu.Unlock()
}

// client is one WebSocket connection.
type client struct {
	h      *Handler
	conn   *websocket.Conn
	ctx    context.Context // ends with the client
	cancel context.CancelFunc

	mu   sync.Mutex
	q    outq
	dead bool
	wake chan struct{} // cap 1: something queued

	wmu sync.Mutex // serialises writes (postings and replies)
}

// offer queues a posting from the channel (the subscription's func: it
// runs on the channel's receiving goroutine and never blocks).
func (c *client) offer(p *posting.Posting) {
	now := c.h.cfg.clock.Now()
	var deadline time.Time
	if p.TTL > 0 {
		if off, ok := c.h.ch.ClockOffset(p.Sender); ok && !p.Sent.IsZero() {
			deadline = p.Sent.Add(off + p.TTL) // on this clock, as the channel ages it
		} else {
			deadline = now.Add(p.TTL)
		}
	}
	c.mu.Lock()
	if c.dead {
		c.mu.Unlock()
		return
	}
	s, e, d := c.q.superseded, c.q.expired, c.q.dropped
	ok := c.q.offer(p, deadline, now)
	c.h.superseded.Add(c.q.superseded - s)
	c.h.expired.Add(c.q.expired - e)
	c.h.dropped.Add(c.q.dropped - d)
	if !ok {
		// Added under c.mu while the client is live, so before its
		// ServeHTTP (which marks it dead under c.mu) can be done.
		c.h.wg.Add(1)
		c.mu.Unlock()
		c.h.slow.Add(1)
		go func() { // the close handshake may take a while: not on the channel's goroutine
			defer c.h.wg.Done()
			c.end(websocket.StatusTryAgainLater, "too slow: queue full of postings without a TTL")
		}()
		return
	}
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// write sends queued postings to the client until it ends.
func (c *client) write() {
	var buf []entry
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.wake:
		}
		c.mu.Lock()
		buf = c.q.take(buf)
		c.mu.Unlock()
		now := c.h.cfg.clock.Now()
		for i, e := range buf {
			buf[i] = entry{}
			if e.expired(now) {
				c.h.expired.Add(1)
				continue
			}
			msg, err := encodePosting(e.p)
			if err != nil {
				c.h.unencodable.Add(1) // a body encoding/json cannot take
				continue
			}
			if err := c.send(msg); err != nil {
				c.end(websocket.StatusInternalError, "write: "+err.Error())
				return
			}
			c.h.sent.Add(1)
		}
	}
}

// send writes one message within the write timeout.
func (c *client) send(msg []byte) error {
	ctx, cancel := context.WithTimeout(c.ctx, c.h.cfg.writeTimeout)
	defer cancel()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.conn.Write(ctx, websocket.MessageText, msg)
}

// read pushes the client's messages on the channel until it ends.
func (c *client) read() {
	for {
		typ, data, err := c.conn.Read(c.ctx)
		if err != nil {
			return
		}
		if typ != websocket.MessageText {
			c.h.rejected.Add(1)
			c.answer(reply{Error: "ws: binary messages are not accepted; send JSON text"})
			continue
		}
		p, ref, err := decodeMessage(data)
		if err == nil {
			err = c.h.ch.Push(c.ctx, p)
		}
		if err != nil {
			c.h.rejected.Add(1)
			c.answer(reply{Error: err.Error(), Ref: ref})
			continue
		}
		c.h.pushed.Add(1)
		if ref != nil {
			c.answer(reply{Ack: ref})
		}
	}
}

func (c *client) answer(r reply) {
	b, err := json.Marshal(r)
	if err != nil {
		return
	}
	c.send(b)
}

// end closes the client's connection once, with a status and reason.
func (c *client) end(code websocket.StatusCode, reason string) {
	c.mu.Lock()
	if c.dead {
		c.mu.Unlock()
		return
	}
	c.dead = true
	c.q.take(nil)
	c.mu.Unlock()
	c.conn.Close(code, reason) // the close handshake; the reader sees it end
	c.cancel()
}
