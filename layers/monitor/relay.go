package monitor

// What a relay (the gateway) reads of a stream whose wire-side layer is
// monitor, in passing: the header on each data packet and the receivers'
// reports, which cross it in the clear when no encrypt or sign layer
// wraps them.

// ParseDataHeader reads the header the layer puts on a data packet (its
// kind byte first): the packet's sequence number and send stamp (the
// sender's clock, microseconds, low 32 bits). ok is false when b does not
// start with one.
func ParseDataHeader(b []byte) (seq uint64, stamp uint32, ok bool) {
	seq, stamp, _, err := decodeData(b)
	return seq, stamp, err == nil
}

// WireReport is a receiver report as it crosses the wire.
type WireReport struct {
	Expected uint64 // sequence numbers settled (received or lost) since the first received
	Lost     uint64 // of those, lost (late arrivals counted back)
	Rate     uint64 // bytes per second received over the last K packets
	MilliPPS uint64 // packets per second over the last K packets, in thousandths
	Echo     uint32 // the send stamp of the packet that arrived last
	Hold     uint64 // microseconds between that arrival and the report's departure
}

// ParseReport reads a whole receiver report packet; ok is false when b
// is not one.
func ParseReport(b []byte) (r WireReport, ok bool) {
	var rep report
	if decodeReport(b, &rep) != nil {
		return r, false
	}
	return WireReport{Expected: rep.expected, Lost: rep.lost, Rate: rep.rate, MilliPPS: rep.mpps, Echo: rep.echo, Hold: rep.hold}, true
}

// Passed returns the packet inside a PASS packet (a control packet of the
// layers above, unstamped: a window's NAK, status or ack); ok is false
// when b is not one.
func Passed(b []byte) (inner []byte, ok bool) {
	if len(b) < 1 || b[0] != kindPass {
		return nil, false
	}
	return b[1:], true
}
