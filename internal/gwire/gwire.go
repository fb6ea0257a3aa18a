// Package gwire is the format of gateway control datagrams: what a
// gateway (package gateway) and its unicast clients (package channel) say
// to each other outside the channel's own datagrams.
//
// A gateway relays channel datagrams unchanged, and holds no key, so it
// cannot speak inside a keyed channel's datagrams. Its few words to a
// client travel in datagrams of their own, told apart from channel
// datagrams (magic 0x52) by their first byte:
//
//	byte 0      magic 0x47 ('G')
//	byte 1      version<<4 | type (version 1; types below)
//	bytes 2-9   cookie (CHALLENGE, ECHO) or member (THINNED), big-endian,
//	            never 0
//	bytes 10-13 stream, big-endian, never 0 (THINNED only)
//
//	type 1 CHALLENGE  from the gateway: prove that you receive at the
//	                  address this came to, by sending the cookie back
//	type 2 ECHO       from a client: the cookie of a CHALLENGE
//	type 3 THINNED    from the gateway: it dropped droppable data of the
//	                  member's stream for this client; the next datagram
//	                  of that stream it forwards follows this one, and what
//	                  the client lacks of the stream below that datagram
//	                  will not come
//
// CHALLENGE and ECHO are [Len] bytes, THINNED [ThinnedLen]; anything else
// starting with the magic is malformed. An echo is no larger than its
// challenge, and a client answers only the gateway its URL names, so
// neither side can be made a reflector. Nothing here is authenticated
// (the gateway holds no key): whoever can send from the gateway's address
// can make its clients give up gaps of semi-reliable streams early.
package gwire

import (
	"encoding/binary"
	"errors"
)

// Magic is the first byte of every gateway control datagram.
const Magic = 0x47

// Version is the control format's version.
const Version = 1

// Len is the length of a CHALLENGE or ECHO datagram.
const Len = 10

// ThinnedLen is the length of a THINNED datagram.
const ThinnedLen = 14

// Types of control datagram.
const (
	Challenge = 1
	Echo      = 2
	Thinned   = 3
)

// ErrMalformed is returned for a datagram that is not a well-formed
// control datagram of this version.
var ErrMalformed = errors.New("gwire: malformed gateway control datagram")

// Control is a decoded control datagram.
type Control struct {
	Type byte
	// Cookie is a CHALLENGE's or ECHO's cookie; Member and Stream name a
	// THINNED datagram's stream.
	Cookie uint64
	Member uint64
	Stream uint32
}

// Append appends a CHALLENGE or ECHO datagram carrying cookie.
func Append(b []byte, typ byte, cookie uint64) []byte {
	b = append(b, Magic, Version<<4|typ&0x0f)
	return binary.BigEndian.AppendUint64(b, cookie)
}

// AppendThinned appends a THINNED datagram for member's stream.
func AppendThinned(b []byte, member uint64, stream uint32) []byte {
	b = append(b, Magic, Version<<4|Thinned)
	b = binary.BigEndian.AppendUint64(b, member)
	return binary.BigEndian.AppendUint32(b, stream)
}

// Parse reads a control datagram.
func Parse(b []byte) (Control, error) {
	if len(b) < 2 || b[0] != Magic || b[1]>>4 != Version {
		return Control{}, ErrMalformed
	}
	c := Control{Type: b[1] & 0x0f}
	switch c.Type {
	case Challenge, Echo:
		if len(b) != Len {
			return Control{}, ErrMalformed
		}
		c.Cookie = binary.BigEndian.Uint64(b[2:])
		if c.Cookie == 0 {
			return Control{}, ErrMalformed
		}
	case Thinned:
		if len(b) != ThinnedLen {
			return Control{}, ErrMalformed
		}
		c.Member, c.Stream = binary.BigEndian.Uint64(b[2:]), binary.BigEndian.Uint32(b[10:])
		if c.Member == 0 || c.Stream == 0 {
			return Control{}, ErrMalformed
		}
	default:
		return Control{}, ErrMalformed
	}
	return c, nil
}

// Append appends c's encoding.
func (c Control) Append(b []byte) []byte {
	if c.Type == Thinned {
		return AppendThinned(b, c.Member, c.Stream)
	}
	return Append(b, c.Type, c.Cookie)
}
