package channel

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rwanda-go/rwanda/internal/gwire"
	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/transport"
)

// read is the reader goroutine. What the stacks answer to a batch of
// datagrams read at once (acknowledgements, repairs) leaves together when
// the batch is done, written from this goroutine.
func (c *Channel) read() {
	inBatch := false
	var now time.Time
	c.tr.Serve(func(d []byte, from transport.Addr) {
		if !inBatch {
			inBatch = true
			now = c.clock.Now() // one reading for the datagrams read at once
			c.out.direct.Add(1)
			c.out.readBatch()
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

// refuse counts a datagram whose header does not parse. One of another
// wire version is counted by its version ("version-1") and logged once per
// channel, naming the version, since it means a peer runs an
// incompatible build rather than that the network garbled something.
func (c *Channel) refuse(err error, from transport.Addr) {
	var v versionError
	if !errors.As(err, &v) {
		c.cnt.drop("malformed")
		return
	}
	c.cnt.drop(v.reason())
	if c.versionLogged.CompareAndSwap(false, true) {
		c.log.Warn("refusing datagrams of another wire version", "from", from, "err", err)
	}
}

// receive handles one datagram from the transport.
func (c *Channel) receive(d []byte, from transport.Addr) { c.receiveAt(d, from, c.clock.Now()) }

// receiveAt handles one datagram read at now (the reader goroutine): it
// checks the datagram (and on keyed channels its authentication) and hands
// each frame to the part that owns it.
func (c *Channel) receiveAt(d []byte, from transport.Addr, now time.Time) {
	c.cnt.recvd.datagrams.Add(1)
	c.cnt.recvd.bytes.Add(uint64(len(d)))
	if c.gws != nil {
		c.gws.heardFrom(from, now)
	}
	if len(d) > 0 && d[0] == gwire.Magic {
		c.gatewayControl(d, from)
		return
	}
	sender, frames, err := parseDgramHeader(d)
	if err != nil {
		c.refuse(err, from)
		return
	}
	if sender == c.id {
		return // our own multicast, looped back
	}
	switch keyed := d[1]&flagAuth != 0; {
	case c.auth != nil && !keyed:
		c.cnt.drop("unauthenticated")
		return
	case c.auth == nil && keyed:
		c.cnt.drop("keyed") // from a keyed channel; we have no key
		return
	case keyed:
		body, why, ask := c.auth.open(d, sender, from, now)
		if why == "unfresh" && body != nil {
			// Authentic, but from before the sender echoed our nonce (or
			// it has not yet): perhaps a recording. Its NONCE frames are
			// answered; nothing else is read (fresh.go).
			c.cnt.drop(why)
			c.paths.heard(from, len(d), now)
			if c.members.touch(sender, from, now, false) {
				c.unfresh(sender, body[dgramHeaderLen:], now, ask)
			}
			return
		}
		if why != "" {
			c.cnt.drop(why)
			return
		}
		frames = body[dgramHeaderLen:]
	}
	cookie, challenge := c.paths.heard(from, len(d), now)
	if !c.members.touch(sender, from, now, true) {
		return // closed
	}
	if challenge {
		// An address not yet validated: until it echoes this, it gets at
		// most 3× what it sent (paths.go).
		var b [16]byte
		c.out.add(sender, bundle{}, appendCookie(b[:0], frameChallenge, cookie), nil)
	}
	r := frameReader{b: frames, self: c.id}
	var f frame
	for {
		ok, err := r.next(&f)
		if err != nil {
			c.cnt.drop("malformed")
			break
		}
		if !ok {
			break
		}
		switch f.typ {
		case frameData:
			if c.gw.n.Load() > 0 && c.gw.take(sender, f.stream) {
				f.relay.Flags |= stack.FlagThinned
			}
			c.in.data(sender, f.stream, &f.relay, f.payload, now)
		case frameDataTo: // to this member: the reader skips the others'
			c.in.data(sender, f.stream, &f.relay, f.payload, now)
		case frameFeedback:
			if f.target == c.id {
				c.og.feedback(sender, f.stream, f.payload, now)
			} else {
				c.in.overheard(sender, &f, now)
			}
		case frameFeedbackTo: // to this member, as DATA_TO
			c.og.feedback(sender, f.stream, f.payload, now)
		case frameAnnounce:
			if f.target == 0 || f.target == c.id {
				c.in.announce(sender, &f, now)
			}
		case frameQuery:
			if f.target == c.id {
				c.og.answerQuery(sender, f.stream, now, func() bool { return c.paths.answer(from, now) })
			}
		case frameChallenge:
			if c.paths.validate {
				var b [16]byte
				c.out.add(sender, bundle{}, appendCookie(b[:0], frameEcho, f.cookie), nil)
			}
		case frameEcho:
			c.paths.echoed(from, f.cookie, now)
		case frameNonce:
			c.nonceFrame(sender, &f, now)
		case frameRefuse:
			switch {
			case f.target != c.id:
			case !c.members.speaksFor(sender, from):
				c.cnt.drop("refuse-elsewhere") // unkeyed, and not from the member's address
			default:
				c.og.refused(sender, f.stream, string(f.payload))
			}
		case frameHello:
			if c.members.hello(sender, f.flags, f.clock, from, now) {
				c.hello(dstFor(c.addr.IsMulticast(), sender), 0)
			}
		}
	}
	for range r.unknown {
		c.cnt.drop("unknown-frame")
	}
}

// gatewayControl handles a gateway's control datagram (package
// internal/gwire) from the peer the URL names — the gateway a client
// channel opened: a CHALLENGE is echoed to it at once, so the gateway
// validates this member's address (DECISIONS §2); a THINNED marks the
// next DATA frame of the stream it names with stack.FlagThinned, so the
// stream's window gives up at once what it lacks below it (what the
// gateway dropped; it absorbs the NAKs); a HEARTBEAT only says that the
// gateway lives (gwsel.go). Any of the three also tells that the peer is
// a gateway: from then on the channel sends it a RECEIPT every
// gwire.ReceiptEvery (sendReceipt). Anything else is dropped and
// counted: "gateway-control" when well formed but not for us (not from
// the configured peer, or not for a client), "malformed" otherwise. The
// echo is no larger than the challenge and goes only to the configured
// peer, so this makes nobody a reflector.
func (c *Channel) gatewayControl(d []byte, from transport.Addr) {
	g, err := gwire.Parse(d)
	switch {
	case err != nil:
		c.cnt.drop("malformed")
	case c.paths.peer().IsZero() || from != c.paths.peer() || g.Type != gwire.Challenge && g.Type != gwire.Thinned && g.Type != gwire.Heartbeat:
		c.cnt.drop("gateway-control")
	case g.Type == gwire.Heartbeat:
		// Heard: receiveAt noted it (gwsel.go).
		c.viaGateway()
	case g.Type == gwire.Thinned:
		c.viaGateway()
		c.gw.mark(g.Member, g.Stream)
	default:
		c.viaGateway()
		var b [gwire.Len]byte
		echo := gwire.Append(b[:0], gwire.Echo, g.Cookie)
		if err := c.tr.Send(echo, len(echo), from); err != nil {
			c.cnt.drop("send-error")
		}
	}
}

// viaGateway notes that the channel's peer is a gateway and lives (it sent
// a gateway control datagram): from now on the channel sends it RECEIPTs.
func (c *Channel) viaGateway() {
	c.gwHeard.Store(c.clock.Now().UnixNano())
	c.receiptsMu.Lock()
	defer c.receiptsMu.Unlock()
	if c.receipts == nil && !c.closed.Load() {
		c.receipts = startLoop(c.clock, gwire.ReceiptEvery, c.sendReceipt)
	}
}

// sendReceipt tells the client's gateway what it has received in all
// (a RECEIPT, every gwire.ReceiptEvery): two of them show the gateway what
// the client's path delivered in between, of every stream, announced yet
// or not, so that it can set the client's rate from what arrived and not
// only from the receiver reports of the streams the client knows. They
// pause while the gateway has sent no control datagram (it sends a
// HEARTBEAT every 500 ms by default) for longer than the gateway timeout
// (WithGatewayTimeout): a gateway gone gets none, and one that comes back
// gets them again with its first heartbeat.
func (c *Channel) sendReceipt(now time.Time) {
	to := c.paths.peer()
	if c.closed.Load() || to.IsZero() || now.Sub(time.Unix(0, c.gwHeard.Load())) > c.cfg.gwTimeout {
		return
	}
	var b [gwire.ReceiptLen]byte
	r := gwire.AppendReceipt(b[:0], c.cnt.recvd.bytes.Load(), uint32(c.cnt.recvd.datagrams.Load()), uint32(now.UnixMicro()))
	if err := c.tr.Send(r, len(r), to); err != nil {
		c.cnt.drop("send-error")
	}
}

// gwThinned holds the streams a gateway said it thinned, until their
// next DATA frame; at most gwThinnedMax of them.
type gwThinned struct {
	mu sync.Mutex
	m  map[gwStream]struct{}
	n  atomic.Int32
}

type gwStream struct {
	member uint64
	stream uint32
}

const gwThinnedMax = 256

func (g *gwThinned) mark(member uint64, stream uint32) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.m == nil {
		g.m = make(map[gwStream]struct{})
	}
	if len(g.m) >= gwThinnedMax {
		clear(g.m)
	}
	g.m[gwStream{member, stream}] = struct{}{}
	g.n.Store(int32(len(g.m)))
}

// take reports whether the stream was marked, and unmarks it.
func (g *gwThinned) take(member uint64, stream uint32) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	k := gwStream{member, stream}
	if _, ok := g.m[k]; !ok {
		return false
	}
	delete(g.m, k)
	g.n.Store(int32(len(g.m)))
	return true
}
