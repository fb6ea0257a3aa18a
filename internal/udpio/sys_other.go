//go:build !unix && !windows

package udpio

import (
	"net"
	"net/netip"
	"syscall"
)

// socketControl returns nil: these systems (js, wasip1, plan9) give no
// access to socket options; several sockets cannot share a port.
func socketControl(bool) func(network, address string, rc syscall.RawConn) error { return nil }

// setSocketBuffer sets the receive (read) or send buffer of a portable Conn.
func setSocketBuffer(uc *net.UDPConn, read bool, bytes int) error {
	if read {
		return uc.SetReadBuffer(bytes)
	}
	return uc.SetWriteBuffer(bytes)
}

// msgTrunc is the recvmsg flag reporting a truncated datagram (unknown here).
const msgTrunc = 0

// isMsgSize reports false: no such error is known here.
func isMsgSize(error) bool { return false }

// isNoBufs reports false: no such error is known here.
func isNoBufs(error) bool { return false }

// readMsg reads one datagram; truncation is not reported.
func readMsg(uc *net.UDPConn, buf, _ []byte) (n, oobn int, truncated bool, from netip.AddrPort, err error) {
	n, from, err = uc.ReadFromUDPAddrPort(buf)
	return n, 0, false, from, err
}

// socketReadBufferSize returns 0: these systems do not report it.
func socketReadBufferSize(*net.UDPConn) int { return 0 }
