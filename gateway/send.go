package gateway

import (
	"net/netip"

	"github.com/rwanda-go/rwanda/internal/udpio"
)

// out is one datagram to send to one address.
type out struct {
	b   []byte
	dst netip.AddrPort
}

// batchWriter sends datagrams to many addresses with udpio's
// WriteBatchFragmented:
// as few system calls as the platform allows (one sendmmsg for up to 1024
// datagrams on Linux, whatever their destinations). It is not safe for
// concurrent use: it reuses its message slice.
type batchWriter struct {
	conn *udpio.Conn
	msgs []udpio.Outgoing
}

// write sends msgs; it returns how many failed.
func (w *batchWriter) write(msgs []out) (failed int) {
	w.msgs = w.msgs[:0]
	for _, m := range msgs {
		w.msgs = append(w.msgs, udpio.Outgoing{B: m.b, Dst: m.dst})
	}
	// The slice keeps the last datagrams alive until the next write, as
	// the callers' reused send slices do. Fragmented: the gateway relays
	// datagrams sized for the group's network, which a client's path
	// (a tunnel, say) may carry only in pieces.
	failed, _ = w.conn.WriteBatchFragmented(w.msgs)
	return failed
}

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
