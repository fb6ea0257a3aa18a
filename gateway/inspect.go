package gateway

import (
	"encoding/binary"
	"errors"
	"strings"

	"github.com/rwanda-go/rwanda/layers/monitor"
	"github.com/rwanda-go/rwanda/layers/window"
	"github.com/rwanda-go/rwanda/stack"
)

// What the gateway reads of a channel datagram (wire version 2, see
// channel/wire.go): the header, and the frames' types, targets, streams and
// relay metadata. It never changes a keyed datagram (its tag covers every
// byte) and reads nothing the tag does not also cover.
const (
	wireMagic    = 0x52
	wireVersion  = 2
	flagAuth     = 0x1
	headerLen    = 10
	trailerLen   = 8 + 1 + 8 + 16 // keyed datagrams: check, key id, counter, tag
	maxFrameBody = 1<<16 - 1 + 1 + 3 + 8 + 5 + stack.MaxRelayLen

	framePad      = 0
	frameData     = 1
	frameDataTo   = 2
	frameFeedback = 3
	frameAnnounce = 4
	frameQuery    = 5
	frameRefuse   = 11
	frameNonce    = 9
	// frameFeedbackTo is FEEDBACK that only its target reads (statuses,
	// acknowledgements, reports); read here as FEEDBACK is.
	frameFeedbackTo = 12
)

var errMalformed = errors.New("gateway: malformed datagram")

// dgram is what the gateway read of one datagram.
type dgram struct {
	sender uint64
	keyed  bool
	// data is the number of DATA and DATA_TO frames; meta and stream are
	// the first one's (a datagram holding droppable data holds only
	// droppable data of one stream, frame and key).
	data   int
	frames int // frames of known and unknown types, padding not counted
	// stamp is the monitor send stamp of the last DATA frame, when
	// stamped (the monitor layer at the wire side, not keyed).
	seq     uint64
	stamp   uint32
	stamped bool
	stream  uint32
	meta    stack.Meta
	// targets are the members the datagram is addressed to when every
	// frame in it is addressed (feedback, data to one member, queries,
	// refusals, addressed announcements and nonces); all is set when
	// any frame is for everyone.
	targets []uint64
	all     bool
	// feedback lists the datagram's FEEDBACK frames.
	feedback []fbFrame
	// announces lists the streams announced in it.
	announces []announce
}

type fbFrame struct {
	target  uint64
	stream  uint32
	payload []byte
	// off and end are the frame's bounds in the datagram.
	off, end int
}

type announce struct {
	stream uint32
	qos    string
}

func (d *dgram) reset() {
	*d = dgram{targets: d.targets[:0], feedback: d.feedback[:0], announces: d.announces[:0]}
}

func (d *dgram) target(t uint64) {
	for _, x := range d.targets {
		if x == t {
			return
		}
	}
	if len(d.targets) < 16 {
		d.targets = append(d.targets, t)
	} else {
		d.all = true
	}
}

func uvarint(b []byte) (uint64, []byte, bool) {
	v, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, nil, false
	}
	return v, b[n:], true
}

// inspect reads b into d; a datagram that is not a well-formed channel
// datagram of wire version 2 is an error.
func inspect(b []byte, d *dgram) error {
	d.reset()
	if len(b) < headerLen || b[0] != wireMagic || b[1]>>4 != wireVersion || b[1]&0x0f&^flagAuth != 0 {
		return errMalformed
	}
	d.sender = binary.BigEndian.Uint64(b[2:])
	if d.sender == 0 {
		return errMalformed
	}
	d.keyed = b[1]&flagAuth != 0
	end := len(b)
	if d.keyed {
		if end-headerLen < trailerLen {
			return errMalformed
		}
		end -= trailerLen
	}
	off := headerLen
	for off < end {
		typ := b[off]
		if typ == framePad {
			break
		}
		n, rest, ok := uvarint(b[off+1 : end])
		if !ok || n > maxFrameBody || n > uint64(len(rest)) {
			return errMalformed
		}
		d.frames++
		start := end - len(rest)
		body := rest[:n]
		fend := start + int(n)
		switch typ {
		case frameData, frameDataTo:
			if typ == frameDataTo {
				if len(body) < 8 {
					return errMalformed
				}
				d.target(binary.BigEndian.Uint64(body))
				body = body[8:]
			} else {
				d.all = true
			}
			s, rest, ok := uvarint(body)
			if !ok || s == 0 || s > 1<<32-1 {
				return errMalformed
			}
			var m stack.Meta
			k, err := stack.ParseRelay(rest, &m)
			if err != nil {
				return errMalformed
			}
			if !d.keyed {
				// A monitor header at the wire side: the last one's
				// stamp is kept.
				if seq, st, ok := monitor.ParseDataHeader(rest[k:]); ok {
					d.seq, d.stamp, d.stamped = seq, st, true
				}
			}
			if d.data == 0 {
				d.stream, d.meta = uint32(s), m
			}
			d.data++
		case frameFeedback, frameFeedbackTo:
			if len(body) < 8 {
				return errMalformed
			}
			t := binary.BigEndian.Uint64(body)
			s, rest, ok := uvarint(body[8:])
			if !ok || s == 0 || s > 1<<32-1 {
				return errMalformed
			}
			d.target(t)
			d.feedback = append(d.feedback, fbFrame{target: t, stream: uint32(s), payload: rest, off: off, end: fend})
		case frameQuery, frameRefuse, frameNonce:
			if len(body) < 8 {
				return errMalformed
			}
			if t := binary.BigEndian.Uint64(body); t != 0 {
				d.target(t)
			} else {
				d.all = true
			}
		case frameAnnounce:
			a, t, err := parseAnnounce(body)
			if err != nil {
				return err
			}
			if t != 0 {
				d.target(t)
			} else {
				d.all = true
			}
			if len(d.announces) < 16 {
				d.announces = append(d.announces, a)
			}
		default:
			d.all = true // hellos, challenges, echoes, seen, and kinds we do not know
		}
		off = fend
	}
	if len(d.targets) == 0 {
		d.all = true
	}
	return nil
}

func parseAnnounce(body []byte) (announce, uint64, error) {
	s, rest, ok := uvarint(body)
	if !ok || s == 0 || s > 1<<32-1 {
		return announce{}, 0, errMalformed
	}
	if _, rest, ok = uvarint(rest); !ok || len(rest) < 1 {
		return announce{}, 0, errMalformed
	}
	flags := rest[0]
	rest = rest[1:]
	var target uint64
	if flags&1 != 0 {
		if len(rest) < 8 {
			return announce{}, 0, errMalformed
		}
		target, rest = binary.BigEndian.Uint64(rest), rest[8:]
	}
	if flags&2 != 0 {
		if _, rest, ok = uvarint(rest); !ok {
			return announce{}, 0, errMalformed
		}
		if _, rest, ok = uvarint(rest); !ok {
			return announce{}, 0, errMalformed
		}
	}
	if len(rest) < 1 || len(rest) < 1+int(rest[0]) {
		return announce{}, 0, errMalformed
	}
	rest = rest[1+int(rest[0]):]
	return announce{stream: uint32(s), qos: string(rest)}, target, nil
}

// monitorOuter reports whether a stream's QoS string puts the monitor
// layer at the wire side, where its receiver reports are the FEEDBACK
// payload itself (and readable, since no encrypt or sign layer wraps
// them).
func monitorOuter(qos string) bool {
	depth, last := 0, 0
	for i := 0; i < len(qos); i++ {
		switch qos[i] {
		case '(':
			depth++
		case ')':
			depth--
		case '/':
			if depth == 0 {
				last = i + 1
			}
		}
	}
	l := qos[last:]
	return l == "monitor" || strings.HasPrefix(l, "monitor(")
}

// monitorReport reads a monitor receiver report (layers/monitor's REPORT
// packet): the numbers settled and lost so far, the rate and packet rate
// received, and its timing.
func monitorReport(p []byte) (mreport, bool) {
	w, ok := monitor.ParseReport(p)
	if !ok {
		return mreport{}, false
	}
	return mreport{expected: w.Expected, lost: w.Lost, rate: w.Rate, mpps: w.MilliPPS, echo: w.Echo, hold: w.Hold, timed: true}, true
}

// mreport is what the gateway reads of a monitor report.
type mreport struct {
	expected, lost uint64
	rate           uint64 // payload bytes per second received
	mpps           uint64 // packets per second received, thousandths
	// echo is the send stamp (the sender's clock, microseconds, low 32
	// bits) of the packet that reached the client last, hold the
	// microseconds between its arrival and the report; timed says they
	// are set (every report read off the wire has them).
	echo  uint32
	hold  uint64
	timed bool
}

// isNAK reports whether p, a feedback frame's payload on a stream whose
// wire-side layer is monitor, is a window layer's NAK passed through it.
func isNAK(p []byte) bool {
	inner, ok := monitor.Passed(p)
	return ok && window.IsNAK(inner)
}
