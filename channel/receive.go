package channel

import (
	"errors"
	"time"

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
	r := frameReader{b: frames}
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
			c.in.data(sender, f.stream, &f.relay, f.payload, now)
		case frameDataTo:
			if f.target == c.id {
				c.in.data(sender, f.stream, &f.relay, f.payload, now)
			}
		case frameFeedback:
			if f.target == c.id {
				c.og.feedback(sender, f.stream, f.payload, now)
			} else {
				c.in.overheard(sender, &f, now)
			}
		case frameAnnounce:
			if f.target == 0 || f.target == c.id {
				c.in.announce(sender, &f, now)
			}
		case frameQuery:
			if f.target == c.id && c.paths.answer(from, now) {
				c.og.answerQuery(sender, f.stream)
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
