package channel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/rwanda-go/rwanda/internal/varint"
	"github.com/rwanda-go/rwanda/stack"
)

// The datagram format, version 2. Every datagram a channel sends:
//
//	byte 0      magic 0x52 ('R')
//	byte 1      version<<4 | flags (version 2; flag 0x1: the datagram ends
//	            with an authentication trailer, see auth.go; a datagram with
//	            an unknown flag is dropped and counted as "malformed"; one of
//	            another version is dropped and counted as "version-N")
//	bytes 2-9   the sending member's id, big-endian, never 0
//
// Then frames until the datagram ends. Every frame is a type byte, a
// uvarint length and that many bytes of body; a receiver skips a frame of
// a type it does not know (counted as "unknown-frame"), so new kinds of
// frame need no new version. The one exception is PAD (type 0), which has
// no length: the rest of the datagram is padding.
//
//	0 PAD       the rest of the datagram is padding (to keep GSO trains
//	            of equal-size datagrams)
//	1 DATA      stream uvarint, relay metadata, payload (the rest): a
//	            packet of the sender's stream stack (what reaches the top
//	            of the receiving stack is one posting's encoding, or a
//	            batch of several: see batch.go)
//	2 DATA_TO   target 8, stream uvarint, relay metadata, payload: the
//	            same on a stream addressed to one member; others skip it
//	3 FEEDBACK  target 8, stream uvarint, payload: a packet from a
//	            receiver's stack for the target's stream (NAKs: other
//	            receivers of the stream read it too, to hold back their own)
//	4 ANNOUNCE  stream uvarint, epoch uvarint, flags 1 (bit 0: addressed,
//	            bit 1: follows), [target 8 if addressed], [previous stream
//	            uvarint, count uvarint if follows: this stream replaces
//	            the previous one (Channel.Reconfigure) after count
//	            postings], name length 1 + name, then the canonical QoS
//	            string (the rest, at most 4096 bytes): what a receiver
//	            needs to build the stream's stack
//	5 QUERY     target 8, stream uvarint (0: all): asks target to announce
//	6 HELLO     flags 1: bit 0 serves Pull requests, bit 1 please answer
//	            with your HELLO, bit 2 leaving; then the sender's clock,
//	            8 bytes of Unix nanoseconds, from which receivers estimate
//	            the clock offset (see skewEstimate)
//	7 CHALLENGE cookie 8: prove that you receive at the address this
//	            came to (unicast transports; see paths.go)
//	8 ECHO      cookie 8: the cookie of a CHALLENGE, sent back
//	9 NONCE     target 8 (0: every member), nonce 8, flags 1 (bit 0:
//	            echo it now): the sender's freshness nonce, for members
//	            to echo (keyed channels; see fresh.go)
//	10 SEEN     member 8, nonce 8: the sender has seen member's nonce;
//	            member accepts the sender's datagrams from this one on
//	            (keyed channels; see fresh.go)
//	11 REFUSE   target 8, stream uvarint, then why (the rest, at most
//	            255 bytes of text): the sender of this frame will not
//	            build the target's announced stream (a cap, its receive
//	            policy), so the target can tell its application
//	12 FEEDBACK_TO  the same as FEEDBACK, for the target alone (statuses,
//	            acknowledgements, reports: stack.FlagForSender); other
//	            members skip it unread. On a multicast group where every
//	            member sends, receivers' statuses to every sender would
//	            otherwise reach, and cost, every member. Added after
//	            4aec04a without a new version: a member built before it
//	            skips it as unknown and so hears no acknowledgement or
//	            status from newer members; a channel's members need builds
//	            from the same side of it
//
// A frame of a known type whose body is longer or shorter than its fields
// is malformed, and so is the rest of its datagram.
//
// Relay metadata (stack.AppendRelay) is what a relay may read: the media
// class, whether the packet may be dropped, its time left at send in
// milliseconds, its posting's latest-wins key, and its frame id and end
// marker. It is on every DATA and DATA_TO frame, so on every fragment and
// retransmission. It is not encrypted, whatever the stack: an observer of
// the network learns each packet's media class, droppability, deadline,
// key and frame boundaries (the encrypt layer hides only the payload). It
// is authenticated: on keyed channels the datagram's tag covers it, and
// the sign layer's signatures cover it. A datagram holding a droppable
// packet holds only droppable packets of the same stream, frame and key
// (see outbox.add), so a relay can drop it whole; a datagram with no DATA
// frame is control and is never droppable.
//
// Gateway control datagrams (package internal/gwire) start with 0x47
// ('G') instead of the magic: a gateway (package gateway), which relays
// this format unchanged and holds no key, speaks to its unicast clients in
// datagrams of its own — CHALLENGE (echoed at once, to validate the
// client's address) and THINNED (the gateway dropped droppable data of a
// stream: the next DATA frame of that stream is marked
// stack.FlagThinned, and its window gives up the gap below it) and
// HEARTBEAT (the gateway lives; gwsel.go). A channel heeds them only from
// the peer its URL names, or the gateway it uses now (receive.go). PROBE,
// PROBED and CAPTEST (the capability and RTT tests) are exchanged by Open
// on sockets of their own before the channel's (gwsel.go).
//
// Stream ids are per sender and start at 1; a stream gets a new id when its
// stack changes (a new epoch). Payloads are at most 65535 bytes.
const (
	wireMagic      = 0x52
	wireVersion    = 2
	dgramHeaderLen = 10
	// frameHeaderBase is what a frame carrying a stack packet takes before
	// its payload, with no key or frame id in its relay metadata: type,
	// length (uvarint), target, stream (uint32 uvarint), relay metadata.
	// The stacks' MTU leaves this much room; a fragmenting layer leaves
	// room for a posting's key and frame id itself (stack.RelayExtra).
	frameHeaderBase = 1 + 3 + 8 + 5 + stack.RelayBase
	// maxFrameHeader is the longest header of a frame carrying a stack
	// packet.
	maxFrameHeader = 1 + 3 + 8 + 5 + stack.MaxRelayLen
	// maxPayload is the longest frame payload.
	maxPayload = 1<<16 - 1
	// maxFrameLen is the longest frame body.
	maxFrameLen = maxPayload + maxFrameHeader
	maxQoSLen   = 4096
	// maxRefuseLen is the longest reason a REFUSE frame carries.
	maxRefuseLen = 255
)

const (
	framePad        = 0
	frameData       = 1
	frameDataTo     = 2
	frameFeedback   = 3
	frameAnnounce   = 4
	frameQuery      = 5
	frameHello      = 6
	frameChallenge  = 7
	frameEcho       = 8
	frameNonce      = 9
	frameSeen       = 10
	frameRefuse     = 11
	frameFeedbackTo = 12
	frameLast       = frameFeedbackTo // frames of later types are skipped
)

const (
	helloServes = 1 << 0
	helloAsk    = 1 << 1
	helloBye    = 1 << 2
	helloKnown  = helloServes | helloAsk | helloBye

	nonceAsk = 1 << 0

	announceAddressed = 1 << 0
	announceFollows   = 1 << 1
)

// errMalformed is wrapped by datagram decoding errors.
var errMalformed = errors.New("channel: malformed datagram")

// versionError reports a datagram of another wire version.
type versionError struct{ version byte }

func (e versionError) Error() string {
	return fmt.Sprintf("channel: datagram of wire version %d; this build speaks version %d", e.version, wireVersion)
}

// reason is the drop counter for a datagram of this version.
func (e versionError) reason() string { return versionReasons[e.version&0x0f] }

// versionReasons are the drop counters by version (4 bits): a flood of
// foreign datagrams costs no formatting.
var versionReasons = func() (r [16]string) {
	for v := range r {
		r[v] = fmt.Sprintf("version-%d", v)
	}
	return r
}()

func malformed(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errMalformed, fmt.Sprintf(format, a...))
}

func appendDgramHeader(b []byte, sender uint64) []byte {
	b = append(b, wireMagic, wireVersion<<4)
	return binary.BigEndian.AppendUint64(b, sender)
}

// appendKeyedHeader is appendDgramHeader for a datagram that will carry an
// authentication trailer (see auth.go).
func appendKeyedHeader(b []byte, sender uint64) []byte {
	b = append(b, wireMagic, wireVersion<<4|flagAuth)
	return binary.BigEndian.AppendUint64(b, sender)
}

// parseDgramHeader returns the sender and the frames after the header. A
// datagram of another version is a versionError.
func parseDgramHeader(b []byte) (uint64, []byte, error) {
	if len(b) < dgramHeaderLen {
		return 0, nil, malformed("%d bytes, shorter than the header", len(b))
	}
	if b[0] != wireMagic {
		return 0, nil, malformed("magic %#x", b[0])
	}
	if v := b[1] >> 4; v != wireVersion {
		return 0, nil, versionError{v}
	}
	if b[1]&0x0f&^flagAuth != 0 {
		return 0, nil, malformed("unknown flags %#x", b[1]&0x0f)
	}
	sender := binary.BigEndian.Uint64(b[2:])
	if sender == 0 {
		return 0, nil, malformed("sender 0")
	}
	return sender, b[dgramHeaderLen:], nil
}

// appendFrameHeader appends a frame's type and length for a body of inner
// then n more bytes, then inner.
func appendFrameHeader(b []byte, typ byte, inner []byte, n int) []byte {
	b = append(b, typ)
	b = binary.AppendUvarint(b, uint64(len(inner)+n))
	return append(b, inner...)
}

// appendDataHeader appends the header of a DATA or DATA_TO frame (target
// 0: DATA) for a payload of n bytes with m's relay metadata. It is on the
// path of every packet sent: it writes in place, with no scratch copy.
func appendDataHeader(b []byte, target uint64, stream uint32, m *stack.Meta, n int) []byte {
	typ, body := byte(frameData), varint.Len(uint64(stream))+stack.RelayLen(m)+n
	if target != 0 {
		typ, body = frameDataTo, body+8
	}
	b = binary.AppendUvarint(append(b, typ), uint64(body))
	if target != 0 {
		b = binary.BigEndian.AppendUint64(b, target)
	}
	b = binary.AppendUvarint(b, uint64(stream))
	return stack.AppendRelay(b, m)
}

// appendFeedbackHeader appends the header of a FEEDBACK frame for a payload
// of n bytes, or a FEEDBACK_TO frame when forTarget (only the target
// needs it).
func appendFeedbackHeader(b []byte, target uint64, stream uint32, n int, forTarget bool) []byte {
	var scratch [8 + 5]byte
	inner := binary.BigEndian.AppendUint64(scratch[:0], target)
	inner = binary.AppendUvarint(inner, uint64(stream))
	typ := byte(frameFeedback)
	if forTarget {
		typ = frameFeedbackTo
	}
	return appendFrameHeader(b, typ, inner, n)
}

type announcement struct {
	stream uint32
	epoch  uint32
	target uint64 // 0: to everyone
	name   string
	qos    string
	prev   uint32 // the stream this one replaces (Channel.Reconfigure), 0: none
	count  uint64 // postings sent on prev before the switch
}

func appendAnnounce(b []byte, a announcement) []byte {
	var scratch [64]byte
	inner := binary.AppendUvarint(scratch[:0], uint64(a.stream))
	inner = binary.AppendUvarint(inner, uint64(a.epoch))
	var flags byte
	if a.target != 0 {
		flags |= announceAddressed
	}
	if a.prev != 0 {
		flags |= announceFollows
	}
	inner = append(inner, flags)
	if a.target != 0 {
		inner = binary.BigEndian.AppendUint64(inner, a.target)
	}
	if a.prev != 0 {
		inner = binary.AppendUvarint(inner, uint64(a.prev))
		inner = binary.AppendUvarint(inner, a.count)
	}
	inner = append(inner, byte(len(a.name)))
	inner = append(inner, a.name...)
	b = appendFrameHeader(b, frameAnnounce, inner, len(a.qos))
	return append(b, a.qos...)
}

func appendQuery(b []byte, target uint64, stream uint32) []byte {
	var scratch [8 + 5]byte
	inner := binary.BigEndian.AppendUint64(scratch[:0], target)
	inner = binary.AppendUvarint(inner, uint64(stream))
	return appendFrameHeader(b, frameQuery, inner, 0)
}

// appendCookie appends a CHALLENGE or ECHO frame.
func appendCookie(b []byte, typ byte, cookie uint64) []byte {
	var scratch [8]byte
	return appendFrameHeader(b, typ, binary.BigEndian.AppendUint64(scratch[:0], cookie), 0)
}

// appendNonce appends a NONCE frame: this member's nonce, for target (0:
// every member) to echo.
func appendNonce(b []byte, target, nonce uint64, flags byte) []byte {
	var scratch [17]byte
	inner := binary.BigEndian.AppendUint64(scratch[:0], target)
	inner = binary.BigEndian.AppendUint64(inner, nonce)
	return appendFrameHeader(b, frameNonce, append(inner, flags), 0)
}

// appendRefuse appends a REFUSE frame: target's stream will not be
// built here, because of why (cut to maxRefuseLen bytes).
func appendRefuse(b []byte, target uint64, stream uint32, why string) []byte {
	why = why[:min(len(why), maxRefuseLen)]
	var scratch [8 + 5]byte
	inner := binary.BigEndian.AppendUint64(scratch[:0], target)
	inner = binary.AppendUvarint(inner, uint64(stream))
	b = appendFrameHeader(b, frameRefuse, inner, len(why))
	return append(b, why...)
}

// appendSeen appends a SEEN frame: member's nonce, echoed.
func appendSeen(b []byte, member, nonce uint64) []byte {
	var scratch [16]byte
	inner := binary.BigEndian.AppendUint64(scratch[:0], member)
	return appendFrameHeader(b, frameSeen, binary.BigEndian.AppendUint64(inner, nonce), 0)
}

func appendHello(b []byte, flags byte, now time.Time) []byte {
	var scratch [9]byte
	inner := binary.BigEndian.AppendUint64(append(scratch[:0], flags), uint64(now.UnixNano()))
	return appendFrameHeader(b, frameHello, inner, 0)
}

// frame is one decoded frame. Byte slices alias the datagram.
type frame struct {
	typ     byte
	target  uint64
	stream  uint32
	payload []byte
	relay   stack.Meta // DATA, DATA_TO: the relay metadata
	epoch   uint32
	name    []byte
	qos     []byte
	flags   byte
	clock   int64  // HELLO: the sender's Unix nanoseconds
	cookie  uint64 // CHALLENGE, ECHO
	nonce   uint64 // NONCE, SEEN (target: SEEN's member)
	prev    uint32 // ANNOUNCE: the stream this one follows (0: none)
	count   uint64 // ANNOUNCE: postings sent on prev before this one
}

// frameReader walks the frames of a datagram.
type frameReader struct {
	b []byte
	// self, when set, is the reading member: frames only another member
	// reads (DATA_TO, FEEDBACK_TO) are skipped unread. On a group where
	// every member sends, most frames a member gets are other members'
	// statuses to other senders.
	self uint64
	// unknown counts the frames of unknown types skipped so far.
	unknown int
}

// bodyReader reads the fields of one frame's body.
type bodyReader struct {
	b []byte
}

func (r *bodyReader) uvarint(what string, max uint64) (uint64, error) {
	v, n := varint.Read(r.b)
	if n <= 0 {
		return 0, malformed("bad %s varint", what)
	}
	if v > max {
		return 0, malformed("%s %d out of range", what, v)
	}
	r.b = r.b[n:]
	return v, nil
}

func (r *bodyReader) u64(what string) (uint64, error) {
	if len(r.b) < 8 {
		return 0, malformed("truncated %s", what)
	}
	v := binary.BigEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v, nil
}

func (r *bodyReader) target() (uint64, error) {
	t, err := r.u64("target")
	if err == nil && t == 0 {
		err = malformed("target 0")
	}
	return t, err
}

func (r *bodyReader) stream() (uint32, error) {
	s, err := r.uvarint("stream", 1<<32-1)
	if err == nil && s == 0 {
		err = malformed("stream 0")
	}
	return uint32(s), err
}

func (r *bodyReader) bytes(what string, n int) ([]byte, error) {
	if n > len(r.b) {
		return nil, malformed("%s of %d bytes past the end", what, n)
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v, nil
}

// rest returns what is left of the body.
func (r *bodyReader) rest() []byte {
	v := r.b[:len(r.b):len(r.b)]
	r.b = nil
	return v
}

// end checks that the body has been read to its end.
func (r *bodyReader) end(what string) error {
	if len(r.b) != 0 {
		return malformed("%d bytes after the %s frame's fields", len(r.b), what)
	}
	return nil
}

// next decodes the next frame of a known type into f, skipping (and
// counting) frames of unknown types. It returns false at the end of the
// datagram (or at padding). f is filled in place: a frame is a few hundred
// bytes, and this runs for every frame received.
func (r *frameReader) next(f *frame) (bool, error) {
	for {
		if len(r.b) == 0 {
			return false, nil
		}
		typ := r.b[0]
		if typ == framePad {
			r.b = nil
			return false, nil
		}
		head := bodyReader{b: r.b[1:]}
		n, err := head.uvarint("frame length", maxFrameLen)
		if err != nil {
			return false, err
		}
		body, err := head.bytes("frame", int(n))
		if err != nil {
			return false, err
		}
		r.b = head.b
		if typ > frameLast {
			r.unknown++
			continue
		}
		if (typ == frameFeedbackTo || typ == frameDataTo) && r.self != 0 && len(body) >= 8 && binary.BigEndian.Uint64(body) != r.self {
			continue // another member's
		}
		*f = frame{typ: typ}
		if err := f.decode(body); err != nil {
			return false, err
		}
		return true, nil
	}
}

// decode reads the body of a frame of a known type, f.typ.
func (f *frame) decode(body []byte) (err error) {
	r := bodyReader{b: body}
	switch f.typ {
	case frameData, frameDataTo, frameFeedback, frameFeedbackTo:
		if f.typ != frameData {
			if f.target, err = r.target(); err != nil {
				return err
			}
		}
		if f.stream, err = r.stream(); err != nil {
			return err
		}
		if f.typ == frameData || f.typ == frameDataTo {
			n, err := stack.ParseRelay(r.b, &f.relay)
			if err != nil {
				return malformed("%v", err)
			}
			r.b = r.b[n:]
		}
		if len(r.b) > maxPayload {
			return malformed("payload of %d bytes", len(r.b))
		}
		f.payload = r.rest()
		return nil
	case frameAnnounce:
		if f.stream, err = r.stream(); err != nil {
			return err
		}
		e, err := r.uvarint("epoch", 1<<32-1)
		if err != nil {
			return err
		}
		f.epoch = uint32(e)
		fl, err := r.bytes("announcement flags", 1)
		if err != nil {
			return err
		}
		f.flags = fl[0]
		if f.flags&^(announceAddressed|announceFollows) != 0 {
			return malformed("unknown announcement flags %#x", f.flags)
		}
		if f.flags&announceAddressed != 0 {
			if f.target, err = r.target(); err != nil {
				return err
			}
		}
		if f.flags&announceFollows != 0 {
			p, err := r.uvarint("previous stream", 1<<32-1)
			if err != nil {
				return err
			}
			if p == 0 || p == uint64(f.stream) {
				return malformed("previous stream %d", p)
			}
			f.prev = uint32(p)
			if f.count, err = r.uvarint("count", 1<<63); err != nil {
				return err
			}
		}
		nl, err := r.bytes("stream name length", 1)
		if err != nil {
			return err
		}
		if f.name, err = r.bytes("stream name", int(nl[0])); err != nil {
			return err
		}
		if len(r.b) > maxQoSLen {
			return malformed("qos of %d bytes", len(r.b))
		}
		f.qos = r.rest()
		return nil
	case frameQuery:
		if f.target, err = r.u64("target"); err != nil {
			return err
		}
		s, err := r.uvarint("stream", 1<<32-1)
		if err != nil {
			return err
		}
		f.stream = uint32(s)
		return r.end("query")
	case frameHello:
		b, err := r.bytes("hello", 9)
		if err != nil {
			return err
		}
		f.flags = b[0]
		f.clock = int64(binary.BigEndian.Uint64(b[1:]))
		if f.flags&^helloKnown != 0 {
			return malformed("unknown hello flags %#x", f.flags)
		}
		return r.end("hello")
	case frameChallenge, frameEcho:
		if f.cookie, err = r.u64("cookie"); err != nil {
			return err
		}
		return r.end("cookie")
	case frameRefuse:
		if f.target, err = r.target(); err != nil {
			return err
		}
		if f.stream, err = r.stream(); err != nil {
			return err
		}
		if len(r.b) > maxRefuseLen {
			return malformed("refusal of %d bytes", len(r.b))
		}
		f.payload = r.rest()
		return nil
	case frameNonce, frameSeen:
		if f.typ == frameNonce {
			f.target, err = r.u64("target")
		} else {
			f.target, err = r.target()
		}
		if err != nil {
			return err
		}
		if f.nonce, err = r.u64("nonce"); err != nil {
			return err
		}
		if f.nonce == 0 {
			return malformed("nonce 0")
		}
		if f.typ == frameNonce {
			fl, err := r.bytes("nonce flags", 1)
			if err != nil {
				return err
			}
			if f.flags = fl[0]; f.flags&^nonceAsk != 0 {
				return malformed("unknown nonce flags %#x", f.flags)
			}
		}
		return r.end("nonce")
	}
	return malformed("frame type %d", f.typ)
}
