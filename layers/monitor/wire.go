package monitor

import (
	"encoding/binary"
	"errors"
	"time"
)

// Kinds: the first byte of every packet the layer sends down.
const (
	kindData   = 'M' // a stamped data packet
	kindPass   = 'P' // a packet passed through unstamped
	kindReport = 'R' // a receiver report
)

// Header sizes.
const (
	// MaxDataHeader is the longest header on a data packet: the kind, a
	// sequence number (uvarint) and a send time (4 bytes). It is the
	// layer's Overhead.
	MaxDataHeader = 1 + binary.MaxVarintLen64 + 4
	// MaxReportLen is the longest receiver report.
	MaxReportLen = 1 + 7*binary.MaxVarintLen64 + 4 + binary.MaxVarintLen64
)

var errMalformed = errors.New("monitor: malformed packet")

// stamp is the low 32 bits of t in microseconds since the Unix epoch: it
// wraps every 71.6 minutes, and differences of stamps are read as signed
// 32-bit numbers, so spans up to 35 minutes come out right.
func stamp(t time.Time) uint32 { return uint32(t.UnixMicro()) }

// since is the signed span from stamp a to stamp b, in microseconds.
func since(a, b uint32) int64 { return int64(int32(b - a)) }

// appendData appends a data header.
func appendData(b []byte, seq uint64, sent uint32) []byte {
	b = append(b, kindData)
	b = binary.AppendUvarint(b, seq)
	return binary.BigEndian.AppendUint32(b, sent)
}

// decodeData reads a data header (kind byte included) and returns its
// length.
func decodeData(b []byte) (seq uint64, sent uint32, n int, err error) {
	if len(b) < 1 || b[0] != kindData {
		return 0, 0, 0, errMalformed
	}
	seq, k := binary.Uvarint(b[1:])
	if k <= 0 || len(b) < 1+k+4 {
		return 0, 0, 0, errMalformed
	}
	return seq, binary.BigEndian.Uint32(b[1+k:]), 1 + k + 4, nil
}

// report is what a receiver tells the sender.
type report struct {
	highest  uint64 // the highest sequence number received
	expected uint64 // sequence numbers settled (received or lost) since the first received
	lost     uint64 // of those, lost (late arrivals counted back)
	lossPPM  uint64 // lost among the last K settled, in parts per million
	jitter   uint64 // interarrival jitter, µs
	rate     uint64 // bytes per second received over the last K packets
	mpps     uint64 // packets per second over the last K packets, in thousandths
	echo     uint32 // the send time of the packet that arrived last
	hold     uint64 // µs between that arrival and the report's departure
}

func appendReport(b []byte, r *report) []byte {
	b = append(b, kindReport)
	for _, v := range [...]uint64{r.highest, r.expected, r.lost, r.lossPPM, r.jitter, r.rate, r.mpps} {
		b = binary.AppendUvarint(b, v)
	}
	b = binary.BigEndian.AppendUint32(b, r.echo)
	return binary.AppendUvarint(b, r.hold)
}

// decodeReport reads a whole report packet.
func decodeReport(b []byte, r *report) error {
	if len(b) < 1 || b[0] != kindReport {
		return errMalformed
	}
	b = b[1:]
	for _, v := range [...]*uint64{&r.highest, &r.expected, &r.lost, &r.lossPPM, &r.jitter, &r.rate, &r.mpps} {
		x, k := binary.Uvarint(b)
		if k <= 0 {
			return errMalformed
		}
		*v, b = x, b[k:]
	}
	if len(b) < 4 {
		return errMalformed
	}
	r.echo, b = binary.BigEndian.Uint32(b), b[4:]
	x, k := binary.Uvarint(b)
	if k <= 0 || k != len(b) {
		return errMalformed
	}
	r.hold = x
	if r.lossPPM > 1e6 || r.lost > r.expected {
		return errMalformed
	}
	return nil
}
