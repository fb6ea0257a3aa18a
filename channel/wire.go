package channel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// The datagram format, version 1. Every datagram a channel sends:
//
//	byte 0      magic 0x52 ('R')
//	byte 1      version<<4 | flags (version 1; flag 0x1: the datagram ends
//	            with an authentication trailer, see auth.go; a datagram with
//	            an unknown flag is dropped)
//	bytes 2-9   the sending member's id, big-endian, never 0
//	then frames, each a type byte and a body, until the datagram ends or a
//	PAD frame says the rest is padding:
//
//	0 PAD       the rest of the datagram is padding (to keep GSO trains
//	            of equal-size datagrams)
//	1 DATA      stream uvarint, length uvarint, payload: a packet of the
//	            sender's stream stack
//	2 DATA_TO   target 8, stream uvarint, length uvarint, payload: the same
//	            on a stream addressed to one member; others skip it
//	3 FEEDBACK  target 8, stream uvarint, length uvarint, payload: a packet
//	            from a receiver's stack for the target's stream (acks, NAKs)
//	4 ANNOUNCE  stream uvarint, epoch uvarint, flags 1 (bit 0: addressed,
//	            bit 1: follows), [target 8 if addressed], [previous stream
//	            uvarint, count uvarint if follows: this stream replaces
//	            the previous one (Channel.Reconfigure) after count
//	            postings], name length 1 + name, QoS length uvarint +
//	            canonical QoS string: what a receiver needs to build the
//	            stream's stack
//	5 QUERY     target 8, stream uvarint (0: all): asks target to announce
//	6 HELLO     flags 1: bit 0 serves Pull requests, bit 1 please answer
//	            with your HELLO, bit 2 leaving; then the sender's clock,
//	            8 bytes of Unix nanoseconds, from which receivers estimate
//	            the clock offset (see skewEstimate)
//
// Stream ids are per sender and start at 1; a stream gets a new id when its
// stack changes (a new epoch). Payload lengths are at most 65535.
const (
	wireMagic      = 0x52
	wireVersion    = 1
	dgramHeaderLen = 10
	// maxFrameHeader is the longest header of a frame carrying a stack
	// packet: type, target, stream (uint32 uvarint) and length (uvarint).
	maxFrameHeader = 1 + 8 + 5 + 3
	// maxPayload is the longest frame payload.
	maxPayload = 1<<16 - 1
	maxQoSLen  = 4096
)

const (
	framePad      = 0
	frameData     = 1
	frameDataTo   = 2
	frameFeedback = 3
	frameAnnounce = 4
	frameQuery    = 5
	frameHello    = 6
)

const (
	helloServes = 1 << 0
	helloAsk    = 1 << 1
	helloBye    = 1 << 2
	helloKnown  = helloServes | helloAsk | helloBye

	announceAddressed = 1 << 0
	announceFollows   = 1 << 1
)

// errMalformed is wrapped by datagram decoding errors.
var errMalformed = errors.New("channel: malformed datagram")

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

// parseDgramHeader returns the sender and the frames after the header.
func parseDgramHeader(b []byte) (uint64, []byte, error) {
	if len(b) < dgramHeaderLen {
		return 0, nil, malformed("%d bytes, shorter than the header", len(b))
	}
	if b[0] != wireMagic {
		return 0, nil, malformed("magic %#x", b[0])
	}
	if b[1]>>4 != wireVersion {
		return 0, nil, malformed("version %d", b[1]>>4)
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

// appendDataHeader appends the header of a DATA, DATA_TO or FEEDBACK frame
// for a payload of n bytes.
func appendDataHeader(b []byte, typ byte, target uint64, stream uint32, n int) []byte {
	b = append(b, typ)
	if typ != frameData {
		b = binary.BigEndian.AppendUint64(b, target)
	}
	b = binary.AppendUvarint(b, uint64(stream))
	return binary.AppendUvarint(b, uint64(n))
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
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
	b = append(b, frameAnnounce)
	b = binary.AppendUvarint(b, uint64(a.stream))
	b = binary.AppendUvarint(b, uint64(a.epoch))
	var flags byte
	if a.target != 0 {
		flags |= announceAddressed
	}
	if a.prev != 0 {
		flags |= announceFollows
	}
	b = append(b, flags)
	if a.target != 0 {
		b = binary.BigEndian.AppendUint64(b, a.target)
	}
	if a.prev != 0 {
		b = binary.AppendUvarint(b, uint64(a.prev))
		b = binary.AppendUvarint(b, a.count)
	}
	b = append(b, byte(len(a.name)))
	b = append(b, a.name...)
	b = binary.AppendUvarint(b, uint64(len(a.qos)))
	return append(b, a.qos...)
}

func appendQuery(b []byte, target uint64, stream uint32) []byte {
	b = append(b, frameQuery)
	b = binary.BigEndian.AppendUint64(b, target)
	return binary.AppendUvarint(b, uint64(stream))
}

func appendHello(b []byte, flags byte, now time.Time) []byte {
	return binary.BigEndian.AppendUint64(append(b, frameHello, flags), uint64(now.UnixNano()))
}

// frame is one decoded frame. Byte slices alias the datagram.
type frame struct {
	typ     byte
	target  uint64
	stream  uint32
	payload []byte
	epoch   uint32
	name    []byte
	qos     []byte
	flags   byte
	clock   int64  // HELLO: the sender's Unix nanoseconds
	prev    uint32 // ANNOUNCE: the stream this one follows (0: none)
	count   uint64 // ANNOUNCE: postings sent on prev before this one
}

// frameReader walks the frames of a datagram.
type frameReader struct {
	b []byte
}

func (r *frameReader) uvarint(what string, max uint64) (uint64, error) {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		return 0, malformed("bad %s varint", what)
	}
	if v > max {
		return 0, malformed("%s %d out of range", what, v)
	}
	r.b = r.b[n:]
	return v, nil
}

func (r *frameReader) u64(what string) (uint64, error) {
	if len(r.b) < 8 {
		return 0, malformed("truncated %s", what)
	}
	v := binary.BigEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v, nil
}

func (r *frameReader) bytes(what string, n int) ([]byte, error) {
	if n > len(r.b) {
		return nil, malformed("%s of %d bytes past the end", what, n)
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v, nil
}

// next decodes the next frame. It returns ok=false at the end of the
// datagram (or at padding).
func (r *frameReader) next() (f frame, ok bool, err error) {
	if len(r.b) == 0 {
		return frame{}, false, nil
	}
	f.typ = r.b[0]
	r.b = r.b[1:]
	switch f.typ {
	case framePad:
		r.b = nil
		return frame{}, false, nil
	case frameData, frameDataTo, frameFeedback:
		if f.typ != frameData {
			if f.target, err = r.u64("target"); err != nil {
				return
			}
			if f.target == 0 {
				return frame{}, false, malformed("target 0")
			}
		}
		var s, n uint64
		if s, err = r.uvarint("stream", 1<<32-1); err != nil {
			return
		}
		if s == 0 {
			return frame{}, false, malformed("stream 0")
		}
		f.stream = uint32(s)
		if n, err = r.uvarint("length", maxPayload); err != nil {
			return
		}
		if f.payload, err = r.bytes("payload", int(n)); err != nil {
			return
		}
	case frameAnnounce:
		var s, e, n uint64
		if s, err = r.uvarint("stream", 1<<32-1); err != nil {
			return
		}
		if s == 0 {
			return frame{}, false, malformed("stream 0")
		}
		f.stream = uint32(s)
		if e, err = r.uvarint("epoch", 1<<32-1); err != nil {
			return
		}
		f.epoch = uint32(e)
		if len(r.b) < 2 {
			return frame{}, false, malformed("truncated announcement")
		}
		f.flags = r.b[0]
		r.b = r.b[1:]
		if f.flags&^(announceAddressed|announceFollows) != 0 {
			return frame{}, false, malformed("unknown announcement flags %#x", f.flags)
		}
		if f.flags&announceAddressed != 0 {
			if f.target, err = r.u64("target"); err != nil {
				return
			}
			if f.target == 0 {
				return frame{}, false, malformed("target 0")
			}
		}
		if f.flags&announceFollows != 0 {
			var p uint64
			if p, err = r.uvarint("previous stream", 1<<32-1); err != nil {
				return
			}
			if p == 0 || p == s {
				return frame{}, false, malformed("previous stream %d", p)
			}
			f.prev = uint32(p)
			if f.count, err = r.uvarint("count", 1<<63); err != nil {
				return
			}
		}
		if len(r.b) < 1 {
			return frame{}, false, malformed("truncated announcement")
		}
		nl := int(r.b[0])
		r.b = r.b[1:]
		if f.name, err = r.bytes("stream name", nl); err != nil {
			return
		}
		if n, err = r.uvarint("qos length", maxQoSLen); err != nil {
			return
		}
		if f.qos, err = r.bytes("qos", int(n)); err != nil {
			return
		}
	case frameQuery:
		if f.target, err = r.u64("target"); err != nil {
			return
		}
		var s uint64
		if s, err = r.uvarint("stream", 1<<32-1); err != nil {
			return
		}
		f.stream = uint32(s)
	case frameHello:
		if len(r.b) < 9 {
			return frame{}, false, malformed("truncated hello")
		}
		f.flags = r.b[0]
		f.clock = int64(binary.BigEndian.Uint64(r.b[1:]))
		r.b = r.b[9:]
		if f.flags&^helloKnown != 0 {
			return frame{}, false, malformed("unknown hello flags %#x", f.flags)
		}
	default:
		return frame{}, false, malformed("unknown frame type %d", f.typ)
	}
	return f, true, nil
}
