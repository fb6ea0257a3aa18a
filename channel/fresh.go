package channel

import (
	"time"
)

// Freshness: why a recording is useless to a restarted or late member.
//
// A keyed channel authenticates every datagram and each receiver keeps a
// replay window per sender, but a window starts empty: a member that has
// just opened the channel (restarted, or joining late) cannot tell a
// datagram sent now from one recorded an hour ago and played to it by an
// outsider, and there is no common clock to date them. So each receiver
// makes the senders prove that they have heard it, with a nonce:
//
//   - Every channel instance draws a random 64-bit nonce when it opens (a
//     restarted member has a new nonce and a new member id).
//   - A receiver accepts a member's datagrams only from the one in which
//     that member echoed the receiver's current nonce (a SEEN frame naming
//     the receiver and the nonce, inside a datagram the member sealed):
//     from that datagram's counter on. Datagrams with lower counters were
//     sealed before the member knew the nonce: they are dropped as
//     "unfresh", whoever plays them. Authentic datagrams from a member that
//     has not echoed yet are dropped as "unfresh" too, except for their
//     NONCE frames, which are read (a replayed NONCE costs at most an echo
//     of a nonce nobody holds any more, rate-limited per member).
//   - The nonce reaches senders in NONCE frames. A channel sends one with
//     its first HELLO, to every member, asking for an echo; and a receiver
//     that drops an authentic datagram as unfresh asks its sender (the
//     target of the NONCE) again, at most every freshRetry per sender, so
//     a lost NONCE or SEEN is repaired by the sender's next datagram. A
//     member echoes a nonce new to it at once, and the same nonce again
//     when asked, at most every freshRetry per member.
//   - On multicast the NONCE and the SEEN go to the group: one frame per
//     receiver (18 bytes), once per receiver instance, however many
//     receivers there are; other members skip a SEEN that does not name
//     them. A late joiner is a restarted receiver: it asks, each sender
//     echoes once, and from each sender's echo on it receives that sender.
//     On unicast they go to the member's address.
//   - Relays forward datagrams whole and need no key: the NONCE and SEEN
//     frames are inside datagrams that the sender sealed, so a relay (a
//     gateway, a bridge) carries them like any other, and the receiver's
//     check is end to end. A relay that drops them delays freshness as it
//     could delay anything else.
//
// What it means for delivery (DECISIONS §3): a late or restarted receiver
// gets a sender's retained backlog only as the sender retransmits it after
// the echo, under fresh counters (a reliable window does, for what its
// sender still holds); the original transmissions are refused. Postings
// sent on a best-effort stream before the echo reaches the receiver are
// lost to it, as they would be to a receiver that joined a moment later.
// Until a member has echoed, it is not listed in Stats.Peers.
//
// Counter jumps: a member's datagram counter may run ahead of the highest
// one accepted from it by at most counterJump of the time since then (16
// million a second, and as many at once), so that one forged datagram with
// a huge counter cannot silence a member for ever. Only insiders can forge
// (every holder of a channel key can derive every member's datagram key),
// and they can still hold a member back this way while they keep at it:
// see the threat model in doc.go.

// freshRetry is the least time between two asks for an echo to one member,
// and between two echoes of one nonce to one member.
const freshRetry = 20 * time.Millisecond

// jumpPerMicro is how far a member's counter may advance per microsecond
// of silence (16 million datagrams a second, ten times what a sender here
// can write with GSO), and jumpBase how far at once.
const (
	jumpPerMicro = 16
	jumpBase     = 1 << 24
)

// counterJump is how far beyond the highest counter accepted from a member
// its next datagram's may be, after since of silence.
func counterJump(since time.Duration) uint64 {
	since = min(max(since, 0), 1<<40) // a clock that went back counts nothing; no overflow
	return jumpBase + uint64(since/time.Microsecond)*jumpPerMicro
}

// seenIn says whether frames (a datagram's, authenticated) hold a SEEN of
// nonce for self. A malformed frame ends the search.
func seenIn(frames []byte, self, nonce uint64) bool {
	r := frameReader{b: frames}
	var f frame
	for {
		ok, err := r.next(&f)
		if err != nil || !ok {
			return false
		}
		if f.typ == frameSeen && f.target == self && f.nonce == nonce {
			return true
		}
	}
}

// nonceFrame handles a member's NONCE: echo it when it is new to us or
// the member asks again.
func (c *Channel) nonceFrame(sender uint64, f *frame, now time.Time) {
	if c.auth == nil || (f.target != 0 && f.target != c.id) {
		return
	}
	if c.members.nonce(sender, f.nonce, f.flags&nonceAsk != 0, now) {
		var b [24]byte
		c.out.add(dstFor(c.addr.IsMulticast(), sender), bundle{}, appendSeen(b[:0], sender, f.nonce), nil)
	}
}

// askFresh asks member to echo our nonce.
func (c *Channel) askFresh(member uint64) {
	var b [24]byte
	c.out.add(dstFor(c.addr.IsMulticast(), member), bundle{}, appendNonce(b[:0], member, c.auth.nonce, nonceAsk), nil)
}

// unfresh handles an authentic datagram from a member that has not echoed
// our nonce: only its NONCE frames are read.
func (c *Channel) unfresh(sender uint64, frames []byte, now time.Time, ask bool) {
	r := frameReader{b: frames}
	var f frame
	for {
		ok, err := r.next(&f)
		if err != nil || !ok {
			break
		}
		if f.typ == frameNonce {
			c.nonceFrame(sender, &f, now)
		}
	}
	if ask {
		c.askFresh(sender)
	}
}
