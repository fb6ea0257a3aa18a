package gateway

import (
	"net"
	"net/netip"
)

// out is one datagram to send to one address.
type out struct {
	b   []byte
	dst netip.AddrPort
}

// maxBatch is the most datagrams one batched send takes.
const maxBatch = 256

// batchWriter sends datagrams to many addresses, as few system calls as
// the platform allows (sendmmsg on Linux: one call for up to maxBatch
// datagrams, whatever their destinations). It is not safe for concurrent
// use.
type batchWriter struct {
	conn *net.UDPConn
	sys  sysBatch
}

func newBatchWriter(conn *net.UDPConn) *batchWriter {
	w := &batchWriter{conn: conn}
	w.sys.init(conn)
	return w
}

// write sends msgs; it returns how many failed.
func (w *batchWriter) write(msgs []out) (failed int) {
	for len(msgs) > 0 {
		n := min(len(msgs), maxBatch)
		failed += w.sys.send(w.conn, msgs[:n])
		msgs = msgs[n:]
	}
	return failed
}

// RawSender sends datagrams to many addresses in batches, as the gateway
// sends to its clients (sendmmsg on Linux) but with nothing else: the
// baseline rwbench measures the gateway's CPU against.
type RawSender struct {
	w    *batchWriter
	msgs []out
}

// NewRawSender sends from conn.
func NewRawSender(conn *net.UDPConn) *RawSender { return &RawSender{w: newBatchWriter(conn)} }

// Send sends each datagram to each address, the datagrams in order, each
// to all addresses before the next, in batches of up to 256; it returns
// how many sends failed.
func (r *RawSender) Send(dgrams [][]byte, dsts []netip.AddrPort) int {
	r.msgs = r.msgs[:0]
	for _, d := range dgrams {
		for _, a := range dsts {
			r.msgs = append(r.msgs, out{b: d, dst: a})
		}
	}
	return r.w.write(r.msgs)
}
