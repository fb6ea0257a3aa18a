package bridge

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/rwanda-go/rwanda/internal/varint"
	"github.com/rwanda-go/rwanda/stack"
)

// Wire v2 datagram layout, as channel/wire.go documents it: what a keyless
// relay reads. The bridge reads the header (magic, version, flags, sender)
// and, of the frames, only the relay metadata of DATA and DATA_TO; the
// rest (payloads, control frames, a keyed datagram's trailer) it forwards
// as it came.
const (
	wireMagic      = 0x52
	wireVersion    = 2
	flagAuth       = 0x1
	dgramHeaderLen = 10
	authLen        = 8 + 1 + 8 + 16 // check, key id, counter, tag
	framePad       = 0
	frameData      = 1
	frameDataTo    = 2
)

// ErrMalformed is wrapped by the errors of [Inspect]: a datagram a bridge
// does not forward.
var ErrMalformed = errors.New("bridge: malformed datagram")

// Info is what a keyless relay reads of a datagram.
type Info struct {
	// Sender is the sending member's id (never 0).
	Sender uint64
	// Keyed: the datagram carries an authentication trailer.
	Keyed bool
	// Data is the number of DATA and DATA_TO frames (stack packets); a
	// datagram without any is control (hello, announce, feedback...).
	Data int
	// Droppable: the datagram has data frames and every one is marked
	// droppable (channels never mix droppable and other packets in one
	// datagram).
	Droppable bool
	// Left is the smallest time left at send among the data frames that
	// carry one, rounded up to milliseconds as the sender wrote it; HasLeft
	// says whether any does.
	Left    time.Duration
	HasLeft bool
}

// Expired reports whether a datagram that has spent residence in the relay
// must be dropped: it is droppable, carries a time left, and residence has
// reached it (a relay never drops early, ../shared/DECISIONS.md §2).
func (i Info) Expired(residence time.Duration) bool {
	return i.Droppable && i.HasLeft && residence >= i.Left
}

// Inspect reads a wire v2 datagram's header and its data frames' relay
// metadata. A datagram that is not wire v2, is truncated, or whose frames
// or relay metadata do not parse is an error wrapping [ErrMalformed]. It
// does not authenticate: on keyed channels a relay cannot, and members
// refuse what was forged or altered.
func Inspect(d []byte) (Info, error) {
	var in Info
	if len(d) < dgramHeaderLen {
		return in, fmt.Errorf("%w: %d bytes, shorter than the header", ErrMalformed, len(d))
	}
	if d[0] != wireMagic {
		return in, fmt.Errorf("%w: magic %#x", ErrMalformed, d[0])
	}
	if v := d[1] >> 4; v != wireVersion {
		return in, fmt.Errorf("%w: wire version %d", ErrMalformed, v)
	}
	flags := d[1] & 0x0f
	if flags&^flagAuth != 0 {
		return in, fmt.Errorf("%w: unknown flags %#x", ErrMalformed, flags)
	}
	in.Sender = binary.BigEndian.Uint64(d[2:])
	if in.Sender == 0 {
		return in, fmt.Errorf("%w: sender 0", ErrMalformed)
	}
	b := d[dgramHeaderLen:]
	if flags&flagAuth != 0 {
		in.Keyed = true
		if len(b) < authLen {
			return in, fmt.Errorf("%w: keyed datagram without its trailer", ErrMalformed)
		}
		b = b[:len(b)-authLen]
	}
	in.Droppable = true
	for len(b) > 0 {
		typ := b[0]
		if typ == framePad {
			break
		}
		n, k := varint.Read(b[1:])
		if k <= 0 || n > uint64(len(b)-1-k) {
			return in, fmt.Errorf("%w: frame of type %d: bad length", ErrMalformed, typ)
		}
		body := b[1+k : 1+k+int(n)]
		b = b[1+k+int(n):]
		if typ != frameData && typ != frameDataTo {
			continue // control, or a kind this build does not know: forwarded as it is
		}
		if typ == frameDataTo {
			if len(body) < 8 {
				return in, fmt.Errorf("%w: DATA_TO without its target", ErrMalformed)
			}
			body = body[8:]
		}
		_, k = varint.Read(body)
		if k <= 0 {
			return in, fmt.Errorf("%w: data frame without its stream", ErrMalformed)
		}
		var m stack.Meta
		if _, err := stack.ParseRelay(body[k:], &m); err != nil {
			return in, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		in.Data++
		if m.Flags&stack.FlagDroppable == 0 {
			in.Droppable = false
		}
		if m.Flags&stack.FlagLeft != 0 {
			left := time.Duration(m.Left) * time.Millisecond
			if !in.HasLeft || left < in.Left {
				in.Left = left
			}
			in.HasLeft = true
		}
	}
	if in.Data == 0 {
		in.Droppable = false
	}
	return in, nil
}
