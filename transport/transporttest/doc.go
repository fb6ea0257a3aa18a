// Package transporttest is the conformance suite for transports: every
// transport registered with package transport runs it (the built-in ones
// in package channel's tests, others in their own).
//
//	func TestConformance(t *testing.T) {
//		transporttest.Run(t, func(t *testing.T) transporttest.Pair {
//			... open two Conns that can reach each other ...
//		})
//	}
//
// What it checks: a datagram and a train of datagrams arrive whole, one
// datagram per piece of the train; the receiver learns an address it can
// answer to; a transport that reaches every member does so with one send
// to the zero Addr, one that does not refuses that send; Serve calls done
// after its batches; MTU and LocalAddr are set; a member's own datagrams
// that come back (multicast loopback) are ignored; Close stops Serve, is
// idempotent and makes Send fail; nothing is left running. A recorder
// (file://) moves postings, not datagrams, and has no Conn: the suite does
// not apply to it.
package transporttest
