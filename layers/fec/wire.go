package fec

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Packet kinds: the first byte of every packet the layer sends down.
const (
	kindPass   = 'p' // anything unprotected: control, retransmissions
	kindData   = 'd' // a data packet of a block
	kindParity = 'q' // a parity shard of a block
	kindReport = 'r' // a receiver's loss report (control)
)

const (
	// DataLen is the header of a data packet.
	DataLen = 9
	// ParityLen is the header of a parity packet.
	ParityLen = 10
	// lenPrefix is the length each data packet carries inside its shard.
	lenPrefix = 2
	// overhead is the most the layer adds to the largest data packet: a
	// parity packet is its header and a shard, which is the largest
	// data packet of its block and its length.
	overhead = ParityLen + lenPrefix
)

// ErrMalformed is wrapped by decoding errors.
var ErrMalformed = errors.New("fec: malformed packet")

// Header is a data or parity packet's header.
//
//	DATA    'd' | seq 2 | block 4 | index 1 | parity 1 | packet
//	PARITY  'q' | seq 2 | block 4 | index 1 | k 1      | parity 1 | shard
//	PASS    'p' | packet
//	REPORT  'r' | loss ppm uvarint | packets uvarint
//
// Big-endian. seq counts every DATA and PARITY packet a sender sends
// (wrapping), for receivers to measure loss; block numbers blocks;
// index is the data packet's place in its block, or the parity shard's
// number (0 for the first); parity is the number of parity shards the
// sender sends with the block unasked; k is the block's data packets. A
// shard is as long as the block's longest data packet plus 2; each data
// packet is, in its shard, its length (2 bytes) then its bytes, then
// zeros.
type Header struct {
	Kind   byte
	Seq    uint16
	Block  uint32
	Index  uint8
	K      uint8 // parity only
	Parity uint8
}

func (h Header) put(b []byte) {
	b[0] = h.Kind
	binary.BigEndian.PutUint16(b[1:], h.Seq)
	binary.BigEndian.PutUint32(b[3:], h.Block)
	b[7] = h.Index
	if h.Kind == kindParity {
		b[8], b[9] = h.K, h.Parity
	} else {
		b[8] = h.Parity
	}
}

// Decode reads the header of a DATA or PARITY packet and checks what the
// header alone can say; n is its length.
func Decode(b []byte) (h Header, n int, err error) {
	if len(b) == 0 {
		return h, 0, fmt.Errorf("%w: empty", ErrMalformed)
	}
	h.Kind = b[0]
	switch h.Kind {
	case kindData:
		if len(b) < DataLen {
			return h, 0, fmt.Errorf("%w: data of %d bytes", ErrMalformed, len(b))
		}
		n = DataLen
	case kindParity:
		if len(b) < ParityLen+lenPrefix+1 {
			return h, 0, fmt.Errorf("%w: parity of %d bytes", ErrMalformed, len(b))
		}
		n = ParityLen
	default:
		return h, 0, fmt.Errorf("%w: kind %#x", ErrMalformed, h.Kind)
	}
	h.Seq = binary.BigEndian.Uint16(b[1:])
	h.Block = binary.BigEndian.Uint32(b[3:])
	h.Index = b[7]
	if h.Kind == kindParity {
		h.K, h.Parity = b[8], b[9]
		if h.K == 0 || int(h.K) > MaxK || int(h.K)+int(h.Index) >= MaxShards {
			return h, 0, fmt.Errorf("%w: parity %d of a block of %d", ErrMalformed, h.Index, h.K)
		}
	} else {
		h.Parity = b[8]
		if int(h.Index) >= MaxK {
			return h, 0, fmt.Errorf("%w: data index %d", ErrMalformed, h.Index)
		}
	}
	return h, n, nil
}

func appendReport(b []byte, ppm, packets uint64) []byte {
	b = append(b, kindReport)
	b = binary.AppendUvarint(b, ppm)
	return binary.AppendUvarint(b, packets)
}

func decodeReport(b []byte) (ppm, packets uint64, err error) {
	if len(b) < 3 || b[0] != kindReport {
		return 0, 0, fmt.Errorf("%w: report", ErrMalformed)
	}
	ppm, n := binary.Uvarint(b[1:])
	if n <= 0 || ppm > 1e6 {
		return 0, 0, fmt.Errorf("%w: report loss", ErrMalformed)
	}
	packets, m := binary.Uvarint(b[1+n:])
	if m <= 0 || 1+n+m != len(b) {
		return 0, 0, fmt.Errorf("%w: report count", ErrMalformed)
	}
	return ppm, packets, nil
}
