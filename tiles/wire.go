package tiles

import (
	"encoding/binary"
	"fmt"
)

// Message kinds: the first byte of every message.
const (
	KindTile     = 1 // one tile: sender to receivers
	KindManifest = 2 // the tiles changed in the last frames and their versions: sender to receivers
	KindJoin     = 3 // a joiner asks for a snapshot: receiver to sender
	KindNak      = 4 // a receiver asks for tiles it lacks: receiver to sender
)

// Flags of a tile message: why it was sent.
const (
	FlagRefresh  = 1 << iota // the random periodic refresh
	FlagSnapshot             // a snapshot pass for joiners
	FlagRepair               // an answer to a NAK
)

// TileHeaderLen is the length of a tile message's header:
//
//	kind(1)=1 flags(1) width(2) height(2) tile/8(1) index(2) version(4)
//	frame(4) left(2) codec(1)
//
// then the compressed payload; integers big-endian. left counts the tiles
// still to come in a snapshot pass (0 outside one).
const TileHeaderLen = 20

// Entry names a version of a tile, in manifests and NAKs. Version 0 in a
// NAK means "whatever is current" (a joiner that holds nothing).
type Entry struct {
	Index   uint16
	Version uint32
}

// Message is a decoded message; which fields are set depends on Kind.
type Message struct {
	Kind    byte
	Flags   byte     // tile
	Geo     Geometry // tile
	Index   uint16   // tile
	Version uint32   // tile
	Frame   uint32   // tile, manifest
	Left    uint16   // tile
	Payload []byte   // tile: the compressed pixels (aliases the input)
	Entries []Entry  // manifest, NAK
	Target  uint64   // NAK: the sender asked
}

func appendTile(dst []byte, flags byte, g Geometry, idx int, version, frame uint32, left int, payload []byte) []byte {
	dst = append(dst, KindTile, flags)
	dst = binary.BigEndian.AppendUint16(dst, uint16(g.Width))
	dst = binary.BigEndian.AppendUint16(dst, uint16(g.Height))
	dst = append(dst, byte(g.Tile/8))
	dst = binary.BigEndian.AppendUint16(dst, uint16(idx))
	dst = binary.BigEndian.AppendUint32(dst, version)
	dst = binary.BigEndian.AppendUint32(dst, frame)
	dst = binary.BigEndian.AppendUint16(dst, uint16(left))
	dst = append(dst, codecZstd)
	return append(dst, payload...)
}

// setTileHeader rewrites the flags and left of an encoded tile message in
// place.
func setTileHeader(b []byte, flags byte, left int) {
	b[1] = flags
	binary.BigEndian.PutUint16(b[17:], uint16(left))
}

func appendEntries(dst []byte, es []Entry) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(es)))
	for _, e := range es {
		dst = binary.BigEndian.AppendUint16(dst, e.Index)
		dst = binary.BigEndian.AppendUint32(dst, e.Version)
	}
	return dst
}

// maxEntries bounds the entries of a manifest or NAK.
const maxEntries = 4096

func appendManifest(dst []byte, frame uint32, es []Entry) []byte {
	dst = append(dst, KindManifest)
	dst = binary.BigEndian.AppendUint32(dst, frame)
	return appendEntries(dst, es)
}

func appendNak(dst []byte, target uint64, es []Entry) []byte {
	dst = append(dst, KindNak)
	dst = binary.BigEndian.AppendUint64(dst, target)
	return appendEntries(dst, es)
}

// Decode decodes a message. Payload and Entries alias nothing but b's
// bytes for the payload; the error names what is wrong (wrapping
// [ErrMalformed]).
func Decode(b []byte) (Message, error) {
	var m Message
	if len(b) == 0 {
		return m, fmt.Errorf("%w: empty", ErrMalformed)
	}
	m.Kind = b[0]
	switch m.Kind {
	case KindTile:
		if len(b) < TileHeaderLen {
			return m, fmt.Errorf("%w: tile message of %d bytes, header is %d", ErrMalformed, len(b), TileHeaderLen)
		}
		m.Flags = b[1]
		m.Geo = Geometry{Width: int(binary.BigEndian.Uint16(b[2:])), Height: int(binary.BigEndian.Uint16(b[4:])), Tile: int(b[6]) * 8}
		if err := m.Geo.Valid(); err != nil {
			return m, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		m.Index = binary.BigEndian.Uint16(b[7:])
		if int(m.Index) >= m.Geo.Tiles() {
			return m, fmt.Errorf("%w: tile %d of %d", ErrMalformed, m.Index, m.Geo.Tiles())
		}
		m.Version = binary.BigEndian.Uint32(b[9:])
		if m.Version == 0 {
			return m, fmt.Errorf("%w: tile version 0", ErrMalformed)
		}
		m.Frame = binary.BigEndian.Uint32(b[13:])
		m.Left = binary.BigEndian.Uint16(b[17:])
		if b[19] != codecZstd {
			return m, fmt.Errorf("%w: codec %d", ErrMalformed, b[19])
		}
		if m.Flags&^(FlagRefresh|FlagSnapshot|FlagRepair) != 0 {
			return m, fmt.Errorf("%w: tile flags %#x", ErrMalformed, m.Flags)
		}
		m.Payload = b[TileHeaderLen:]
		return m, nil
	case KindManifest:
		if len(b) < 7 {
			return m, fmt.Errorf("%w: manifest of %d bytes", ErrMalformed, len(b))
		}
		m.Frame = binary.BigEndian.Uint32(b[1:])
		es, err := decodeEntries(b[5:])
		m.Entries = es
		return m, err
	case KindJoin:
		if len(b) != 1 {
			return m, fmt.Errorf("%w: join of %d bytes", ErrMalformed, len(b))
		}
		return m, nil
	case KindNak:
		if len(b) < 11 {
			return m, fmt.Errorf("%w: NAK of %d bytes", ErrMalformed, len(b))
		}
		m.Target = binary.BigEndian.Uint64(b[1:])
		es, err := decodeEntries(b[9:])
		m.Entries = es
		return m, err
	}
	return m, fmt.Errorf("%w: kind %d", ErrMalformed, m.Kind)
}

func decodeEntries(b []byte) ([]Entry, error) {
	n := int(binary.BigEndian.Uint16(b))
	if n > maxEntries || len(b) != 2+6*n {
		return nil, fmt.Errorf("%w: %d entries in %d bytes", ErrMalformed, n, len(b)-2)
	}
	es := make([]Entry, n)
	for i := range es {
		es[i] = Entry{Index: binary.BigEndian.Uint16(b[2+6*i:]), Version: binary.BigEndian.Uint32(b[4+6*i:])}
	}
	return es, nil
}
