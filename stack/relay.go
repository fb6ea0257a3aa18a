package stack

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/rwanda-go/rwanda/internal/varint"
	"github.com/rwanda-go/rwanda/posting"
)

// Relay metadata is the part of a packet's [Meta] that travels in the
// clear beside the packet, so that a relay holding no key can decide what
// to forward, thin and drop (../shared/DECISIONS.md §2). Channels write it
// on every datagram frame that carries a stack packet, fragments and
// retransmissions included. It is authenticated but not secret: on keyed
// channels it is associated data of the datagram's tag, and the sign layer
// covers it with its signatures, so a relay can read it and nobody can
// change it.
//
// The encoding, in this order:
//
//	1 byte     bits 2-0 media class (0-5), bit 3 droppable, bit 4 time
//	           left present, bit 5 key present, bit 6 frame present,
//	           bit 7 frame end (only with bit 6)
//	uvarint    time left at send, milliseconds rounded up (≤ 2^32−1)
//	uvarint    frame id, nonzero
//	1 + n      key: a length byte (1..posting.MaxKeyLen), then the key
//
// Varints are minimal and absent fields are not written, so the encoding
// is canonical: [ParseRelay] accepts exactly what [AppendRelay] writes,
// and re-encoding parsed metadata gives the same bytes, which is what a
// signature over it needs.
const (
	relayMediaMask = 0x07
	relayDroppable = 1 << 3
	relayLeft      = 1 << 4
	relayKey       = 1 << 5
	relayFrame     = 1 << 6
	relayFrameEnd  = 1 << 7
)

// RelayBase is the longest relay metadata of a packet with no key and no
// frame id: what a channel reserves for it in every datagram.
const RelayBase = 1 + 5

// MaxRelayLen is the longest relay metadata.
const MaxRelayLen = RelayBase + binary.MaxVarintLen64 + 1 + posting.MaxKeyLen

// ErrRelay reports relay metadata that does not parse.
var ErrRelay = errors.New("stack: malformed relay metadata")

// RelayExtra is how many bytes m's relay metadata may take beyond
// [RelayBase]: its key and frame id. A fragmenting layer leaves them out of
// its fragments so that fragment and metadata still fit the MTU.
func RelayExtra(m *Meta) int {
	if m.Tag == nil {
		return 0
	}
	n := 0
	if m.Tag.Frame != 0 {
		n += varint.Len(m.Tag.Frame)
	}
	if m.Tag.Key != "" {
		n += 1 + len(m.Tag.Key)
	}
	return n
}

// RelayLen is the length of m's relay metadata: what [AppendRelay] appends.
func RelayLen(m *Meta) int {
	n := 1 + RelayExtra(m)
	if m.Flags&FlagLeft != 0 {
		n += varint.Len(uint64(m.Left))
	}
	return n
}

// AppendRelay appends m's relay metadata to b.
func AppendRelay(b []byte, m *Meta) []byte {
	h := byte(m.Media) & relayMediaMask
	if m.Flags&FlagDroppable != 0 {
		h |= relayDroppable
	}
	if m.Flags&FlagLeft != 0 {
		h |= relayLeft
	}
	key, frame := m.Key(), m.Frame()
	if key != "" {
		h |= relayKey
	}
	if frame != 0 {
		h |= relayFrame
		if m.Flags&FlagFrameEnd != 0 {
			h |= relayFrameEnd
		}
	}
	b = append(b, h)
	if h&relayLeft != 0 {
		b = binary.AppendUvarint(b, uint64(m.Left))
	}
	if h&relayFrame != 0 {
		b = binary.AppendUvarint(b, frame)
	}
	if h&relayKey != 0 {
		b = append(b, byte(len(key)))
		b = append(b, key...)
	}
	return b
}

// ParseRelay reads relay metadata from the start of b into m (its Media,
// Tag, Left and the flags FlagDroppable, FlagFrameEnd and FlagLeft) and
// returns its length. A key or frame id costs a new Tag. Malformed or non-canonical metadata is
// an error wrapping [ErrRelay]; m is then unchanged.
func ParseRelay(b []byte, m *Meta) (int, error) {
	if len(b) == 0 {
		return 0, fmt.Errorf("%w: missing", ErrRelay)
	}
	h := b[0]
	media := posting.Media(h & relayMediaMask)
	if !media.Valid() {
		return 0, fmt.Errorf("%w: media %d", ErrRelay, uint8(media))
	}
	if h&relayFrameEnd != 0 && h&relayFrame == 0 {
		return 0, fmt.Errorf("%w: frame end without a frame", ErrRelay)
	}
	off := 1
	var left, frame uint64
	var key []byte
	if h&relayLeft != 0 {
		v, n := varint.Read(b[off:])
		if n <= 0 || v > math.MaxUint32 {
			return 0, fmt.Errorf("%w: time left", ErrRelay)
		}
		left, off = v, off+n
	}
	if h&relayFrame != 0 {
		v, n := varint.Read(b[off:])
		if n <= 0 || v == 0 {
			return 0, fmt.Errorf("%w: frame id", ErrRelay)
		}
		frame, off = v, off+n
	}
	if h&relayKey != 0 {
		if off >= len(b) {
			return 0, fmt.Errorf("%w: key length missing", ErrRelay)
		}
		n := int(b[off])
		if n == 0 || n > posting.MaxKeyLen || len(b)-off-1 < n {
			return 0, fmt.Errorf("%w: key of %d bytes", ErrRelay, n)
		}
		key, off = b[off+1:off+1+n], off+1+n
	}
	m.Media = media
	m.Flags &^= FlagDroppable | FlagFrameEnd | FlagLeft
	if h&relayDroppable != 0 {
		m.Flags |= FlagDroppable
	}
	if h&relayFrameEnd != 0 {
		m.Flags |= FlagFrameEnd
	}
	m.Left = 0
	if h&relayLeft != 0 {
		m.Flags |= FlagLeft
		m.Left = uint32(left)
	}
	m.Tag = nil
	if key != nil || frame != 0 {
		m.Tag = &Tag{Key: string(key), Frame: frame}
	}
	return off, nil
}

// StampLeft sets m.Left to the time from now to m.Deadline in
// milliseconds, rounded up so a relay that honours it never drops early,
// and at most 2^32−1; with no deadline it clears FlagLeft.
func (m *Meta) StampLeft(now time.Time) {
	if m.Deadline.IsZero() {
		m.Flags &^= FlagLeft
		m.Left = 0
		return
	}
	d := m.Deadline.Sub(now)
	ms := uint64(0)
	if d > 0 {
		ms = uint64((d + time.Millisecond - 1) / time.Millisecond)
	}
	m.Left = uint32(min(ms, math.MaxUint32))
	m.Flags |= FlagLeft
}
