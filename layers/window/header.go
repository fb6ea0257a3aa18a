package window

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Message types: the first byte of every packet the window sends.
const (
	msgData   = 1 // sender → receivers: a numbered packet
	msgAck    = 2 // receiver → sender (ack mode): cumulative + selective ack, window
	msgStatus = 3 // receiver → sender (nak mode): how far it has everything
	msgNak    = 4 // receiver → sender and the other receivers (nak mode): what is missing
	msgSync   = 5 // sender → receivers: heartbeat — what was sent, what is gone
	msgSkip   = 6 // sender → receivers: these numbers will never come (abandoned)
)

// Data flags.
const (
	flagRetransmit = 1 << 0 // a repeat of an earlier transmission
	flagBestEffort = 1 << 1 // the sender will never retransmit it
	flagTTL        = 1 << 2 // a time to obsolescence follows
	flagNak        = 1 << 3 // the sender runs nak mode (else ack mode)
	dataFlags      = flagRetransmit | flagBestEffort | flagTTL | flagNak
)

const (
	// maxDataHeader is the longest DATA header: type, flags, seq, floor
	// distance (uvarint of a uint32), TTL in microseconds (uvarint of a
	// uint64 bounded by maxTTL).
	maxDataHeader = 1 + 1 + 4 + 5 + 6
	maxTTL        = 1<<40 - 1 // µs: about 12.7 days
	maxRanges     = 64        // ranges in one ACK, NAK or SKIP, when the MTU allows
	minRanges     = 4         // ranges a control message must be able to carry
)

var errMalformed = errors.New("window: malformed header")

func malformed(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errMalformed, fmt.Sprintf(format, a...))
}

// span is a half-open range of 32-bit sequence numbers [from, to).
type span struct{ from, to uint32 }

// msg is a decoded window message.
//
//	DATA   1 | flags 1 | seq 4 | seq−floor uvarint | [ttl µs uvarint]
//	ACK    2 | cum 4 | rwnd 2 | newest 4 | n 1 | n × (from 4, to 4)
//	STATUS 3 | cum 4
//	NAK    4 | n 1 | n × (from 4, to 4)
//	SYNC   5 | next 4 | floor 4
//	SKIP   6 | n 1 | n × (from 4, to 4)
//
// Sequence numbers are 32 bits, big-endian, and wrap (serial arithmetic);
// "cum" and "next" are the first number not yet had or sent; "floor" is
// the oldest number the sender still holds: anything below it that a
// receiver lacks is gone. "newest" is the last data packet the receiver
// got: the sender takes its round-trip sample from that packet alone (as
// TCP's timestamp echo does), so an acknowledgement that covers older
// packets after an earlier one was lost does not inflate the estimate.
// Ranges are half-open. DATA carries the distance
// to the floor so a receiver that starts mid-stream knows where the
// retained data begins.
type msg struct {
	typ   byte
	flags byte
	seq   uint32 // DATA: seq; ACK, STATUS: cum; SYNC: next
	floor uint32 // DATA, SYNC
	ttl   time.Duration
	rwnd  uint16
	spans []span
}

// decode parses the header at the start of b into m (spans reuses m's
// slice) and returns the header's length.
func decode(b []byte, m *msg) (int, error) {
	if len(b) == 0 {
		return 0, malformed("empty packet")
	}
	m.typ, m.flags, m.ttl, m.rwnd, m.spans = b[0], 0, 0, 0, m.spans[:0]
	r := b[1:]
	need := func(n int, what string) error {
		if len(r) < n {
			return malformed("%s truncated", what)
		}
		return nil
	}
	switch m.typ {
	case msgData:
		if err := need(5, "data"); err != nil {
			return 0, err
		}
		m.flags = r[0]
		if m.flags&^dataFlags != 0 {
			return 0, malformed("unknown data flags %#x", m.flags)
		}
		m.seq = binary.BigEndian.Uint32(r[1:])
		r = r[5:]
		d, n := binary.Uvarint(r)
		if n <= 0 || d > 1<<31 {
			return 0, malformed("bad floor distance")
		}
		m.floor = m.seq - uint32(d)
		r = r[n:]
		if m.flags&flagTTL != 0 {
			t, n := binary.Uvarint(r)
			if n <= 0 || t == 0 || t > maxTTL {
				return 0, malformed("bad ttl")
			}
			m.ttl = time.Duration(t) * time.Microsecond
			r = r[n:]
		}
	case msgAck:
		if err := need(11, "ack"); err != nil {
			return 0, err
		}
		m.seq = binary.BigEndian.Uint32(r)
		m.rwnd = binary.BigEndian.Uint16(r[4:])
		m.floor = binary.BigEndian.Uint32(r[6:]) // the newest packet received
		var err error
		if r, err = decodeSpans(r[10:], m); err != nil {
			return 0, err
		}
	case msgStatus:
		if err := need(4, "status"); err != nil {
			return 0, err
		}
		m.seq = binary.BigEndian.Uint32(r)
		r = r[4:]
	case msgNak, msgSkip:
		var err error
		if r, err = decodeSpans(r, m); err != nil {
			return 0, err
		}
		if len(m.spans) == 0 {
			return 0, malformed("empty range list")
		}
	case msgSync:
		if err := need(8, "sync"); err != nil {
			return 0, err
		}
		m.seq = binary.BigEndian.Uint32(r)
		m.floor = binary.BigEndian.Uint32(r[4:])
		if int32(m.seq-m.floor) < 0 {
			return 0, malformed("floor above next")
		}
		r = r[8:]
	default:
		return 0, malformed("unknown type %d", m.typ)
	}
	return len(b) - len(r), nil
}

func decodeSpans(r []byte, m *msg) ([]byte, error) {
	if len(r) < 1 {
		return nil, malformed("range count truncated")
	}
	n := int(r[0])
	r = r[1:]
	if n > maxRanges {
		return nil, malformed("%d ranges (at most %d)", n, maxRanges)
	}
	if len(r) < 8*n {
		return nil, malformed("ranges truncated")
	}
	for i := range n {
		s := span{binary.BigEndian.Uint32(r[8*i:]), binary.BigEndian.Uint32(r[8*i+4:])}
		if d := int32(s.to - s.from); d <= 0 || d > 1<<20 {
			return nil, malformed("bad range %d..%d", s.from, s.to)
		}
		m.spans = append(m.spans, s)
	}
	return r[8*n:], nil
}

// putData writes a DATA header into h (from Packet.Push(dataHeaderLen(...))).
func appendData(b []byte, flags byte, seq, floor uint32, ttl time.Duration) []byte {
	if ttl > 0 {
		flags |= flagTTL
	}
	b = append(b, msgData, flags)
	b = binary.BigEndian.AppendUint32(b, seq)
	b = binary.AppendUvarint(b, uint64(seq-floor))
	if ttl > 0 {
		us := min(max(uint64(ttl/time.Microsecond), 1), maxTTL)
		b = binary.AppendUvarint(b, us)
	}
	return b
}

func appendAck(b []byte, cum uint32, rwnd uint16, newest uint32, spans []span) []byte {
	b = append(b, msgAck)
	b = binary.BigEndian.AppendUint32(b, cum)
	b = binary.BigEndian.AppendUint16(b, rwnd)
	b = binary.BigEndian.AppendUint32(b, newest)
	return appendSpans(b, spans)
}

func appendStatus(b []byte, cum uint32) []byte {
	return binary.BigEndian.AppendUint32(append(b, msgStatus), cum)
}

func appendNak(b []byte, spans []span) []byte  { return appendSpans(append(b, msgNak), spans) }
func appendSkip(b []byte, spans []span) []byte { return appendSpans(append(b, msgSkip), spans) }

func appendSync(b []byte, next, floor uint32) []byte {
	b = append(b, msgSync)
	b = binary.BigEndian.AppendUint32(b, next)
	return binary.BigEndian.AppendUint32(b, floor)
}

func appendSpans(b []byte, spans []span) []byte {
	spans = spans[:min(len(spans), maxRanges)]
	b = append(b, byte(len(spans)))
	for _, s := range spans {
		b = binary.BigEndian.AppendUint32(b, s.from)
		b = binary.BigEndian.AppendUint32(b, s.to)
	}
	return b
}

// maxControl is the longest control message.
const maxControl = 1 + 4 + 2 + 4 + 1 + 8*maxRanges

// controlHeader is a control message without its ranges.
const controlHeader = 1 + 4 + 2 + 4 + 1

// rangesFor is how many ranges fit in a control message of room bytes.
func rangesFor(room int) int { return min(maxRanges, (room-controlHeader)/8) }
