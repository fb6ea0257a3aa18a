package frag

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Header kinds: the first byte of every packet frag sends.
const (
	kindWhole    = 0 // the packet is a whole parcel: no more header follows
	kindFragment = 1 // a fragment header follows
)

const (
	// WholeLen is the header on a parcel that fits in one packet.
	WholeLen = 1
	// HeaderLen is the header on a fragment, and the layer's overhead.
	HeaderLen = 11
	// MaxFragments is the most fragments one parcel may have.
	MaxFragments = 1<<16 - 1
	// MaxFragmentSize is the largest fragment payload the header can say.
	MaxFragmentSize = 1<<16 - 1
)

// ErrMalformed is wrapped by header decoding errors.
var ErrMalformed = errors.New("frag: malformed header")

// Header is a fragment's header.
//
//	byte 0      kind: 0 whole parcel (the header ends here), 1 fragment
//	bytes 1-4   parcel id, big-endian; counts up per flow, wrapping
//	bytes 5-6   index of this fragment, 0-based
//	bytes 7-8   count of fragments in the parcel, 2 or more
//	bytes 9-10  size of every fragment but the last, in bytes
//
// A fragment's payload is its packet after the header: exactly Size bytes
// for every index but the last, and 1 to Size bytes for the last.
type Header struct {
	Parcel uint32
	Index  uint16
	Count  uint16
	Size   uint16
}

// put writes h into b, which must be HeaderLen bytes.
func (h Header) put(b []byte) {
	b[0] = kindFragment
	binary.BigEndian.PutUint32(b[1:], h.Parcel)
	binary.BigEndian.PutUint16(b[5:], h.Index)
	binary.BigEndian.PutUint16(b[7:], h.Count)
	binary.BigEndian.PutUint16(b[9:], h.Size)
}

// Decode reads the header at the start of b. It reports whole=true for a
// whole parcel (1 header byte), else the fragment header (HeaderLen bytes).
// It checks everything the header alone can say, including the payload
// length that follows it.
func Decode(b []byte) (h Header, whole bool, err error) {
	if len(b) == 0 {
		return Header{}, false, fmt.Errorf("%w: empty packet", ErrMalformed)
	}
	switch b[0] {
	case kindWhole:
		return Header{}, true, nil
	case kindFragment:
	default:
		return Header{}, false, fmt.Errorf("%w: unknown kind %d", ErrMalformed, b[0])
	}
	if len(b) < HeaderLen {
		return Header{}, false, fmt.Errorf("%w: %d bytes, a fragment header needs %d", ErrMalformed, len(b), HeaderLen)
	}
	h = Header{
		Parcel: binary.BigEndian.Uint32(b[1:]),
		Index:  binary.BigEndian.Uint16(b[5:]),
		Count:  binary.BigEndian.Uint16(b[7:]),
		Size:   binary.BigEndian.Uint16(b[9:]),
	}
	payload := len(b) - HeaderLen
	switch {
	case h.Count < 2:
		return Header{}, false, fmt.Errorf("%w: count %d (a fragmented parcel has at least 2)", ErrMalformed, h.Count)
	case h.Index >= h.Count:
		return Header{}, false, fmt.Errorf("%w: index %d of %d", ErrMalformed, h.Index, h.Count)
	case h.Size == 0:
		return Header{}, false, fmt.Errorf("%w: fragment size 0", ErrMalformed)
	case h.Index < h.Count-1 && payload != int(h.Size):
		return Header{}, false, fmt.Errorf("%w: fragment %d of %d carries %d bytes, not %d", ErrMalformed, h.Index, h.Count, payload, h.Size)
	case h.Index == h.Count-1 && (payload == 0 || payload > int(h.Size)):
		return Header{}, false, fmt.Errorf("%w: last fragment carries %d bytes (1 to %d allowed)", ErrMalformed, payload, h.Size)
	}
	return h, false, nil
}
