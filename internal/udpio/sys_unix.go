//go:build unix

package udpio

import (
	"errors"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// isNoBufs reports whether err is ENOBUFS (a queue below the socket is full).
func isNoBufs(err error) bool { return errors.Is(err, unix.ENOBUFS) }

// isMsgSize reports whether err is EMSGSIZE (a datagram larger than the
// path MTU, or than any datagram).
func isMsgSize(err error) bool { return errors.Is(err, unix.EMSGSIZE) }

// msgTrunc is the recvmsg flag reporting a truncated datagram.
const msgTrunc = unix.MSG_TRUNC

// readMsg reads one datagram and its control messages.
func readMsg(uc *net.UDPConn, buf, oob []byte) (n, oobn int, truncated bool, from netip.AddrPort, err error) {
	n, oobn, flags, from, err := uc.ReadMsgUDPAddrPort(buf, oob)
	return n, oobn, flags&unix.MSG_TRUNC != 0, from, err
}
