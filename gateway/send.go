package gateway

import (
	"net/netip"

	"github.com/rwanda-go/rwanda/internal/udpio"
)

// out is one datagram to send to one address: udpio's own message, so
// that the gateway's sends go to WriteBatchFragmented as they are.
type out = udpio.Outgoing

// RawSender sends datagrams to many addresses in batches, as the gateway
// sends to its clients (udpio's WriteBatchFragmented: sendmmsg on Linux) but with
// nothing else: the baseline rwbench measures the gateway's CPU against.
type RawSender struct {
	conn *udpio.Conn
	msgs []udpio.Outgoing
}

// NewRawSender sends from conn.
func NewRawSender(conn *udpio.Conn) *RawSender { return &RawSender{conn: conn} }

// Send sends each datagram to each address, the datagrams in order, each
// to all addresses before the next, in batches of up to 1024 (one
// sendmmsg call each on Linux); it returns how many sends failed.
func (r *RawSender) Send(dgrams [][]byte, dsts []netip.AddrPort) int {
	r.msgs = r.msgs[:0]
	for _, d := range dgrams {
		for _, a := range dsts {
			r.msgs = append(r.msgs, udpio.Outgoing{B: d, Dst: a})
		}
	}
	failed, _ := r.conn.WriteBatchFragmented(r.msgs) // as the gateway sends
	return failed
}
