//go:build !linux

package gateway

import (
	"net"
	"net/netip"
)

func setReadBuffer(conn *net.UDPConn, bytes int) int {
	_ = conn.SetReadBuffer(bytes)
	return 0
}

// batchReader reads one datagram a system call where recvmmsg is not.
type batchReader struct {
	conn *net.UDPConn
	buf  []byte
	n    int
	from netip.AddrPort
}

func newBatchReader(conn *net.UDPConn, size int) *batchReader {
	return &batchReader{conn: conn, buf: make([]byte, size)}
}

func (r *batchReader) read() error {
	n, from, err := r.conn.ReadFromUDPAddrPort(r.buf)
	r.n, r.from = n, from
	return err
}

func (r *batchReader) each(fn func(b []byte, from netip.AddrPort)) {
	fn(r.buf[:r.n], netip.AddrPortFrom(r.from.Addr().Unmap(), r.from.Port()))
}
