//go:build windows

package udpio

import (
	"errors"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/sys/windows"
)

// socketControl returns the net.ListenConfig Control function of the
// portable implementation: SO_REUSEADDR when reuse (Windows has no
// SO_REUSEPORT; SO_REUSEADDR lets sockets share a port), and the default
// buffer sizes.
func socketControl(reuse bool) func(network, address string, rc syscall.RawConn) error {
	return func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			h := windows.Handle(fd)
			if reuse {
				serr = windows.SetsockoptInt(h, windows.SOL_SOCKET, windows.SO_REUSEADDR, 1)
			}
			_ = windows.SetsockoptInt(h, windows.SOL_SOCKET, windows.SO_RCVBUF, defaultReadBuffer)
			_ = windows.SetsockoptInt(h, windows.SOL_SOCKET, windows.SO_SNDBUF, defaultWriteBuffer)
		})
		if err != nil {
			return err
		}
		return serr
	}
}

// setSocketBuffer sets the receive (read) or send buffer of a portable Conn.
func setSocketBuffer(uc *net.UDPConn, read bool, bytes int) error {
	if read {
		return uc.SetReadBuffer(bytes)
	}
	return uc.SetWriteBuffer(bytes)
}

// isMsgSize reports whether err is WSAEMSGSIZE.
func isMsgSize(err error) bool { return errors.Is(err, windows.WSAEMSGSIZE) }

// msgTrunc is the recvmsg flag reporting a truncated datagram.
const msgTrunc = windows.MSG_TRUNC

// isNoBufs reports whether err is WSAENOBUFS.
func isNoBufs(err error) bool { return errors.Is(err, windows.WSAENOBUFS) }

// readMsg reads one datagram. Windows reports a datagram larger than buf
// as the error WSAEMSGSIZE (without the sender), which becomes truncated.
// Control messages are not supported (x/net does not implement them on
// Windows).
func readMsg(uc *net.UDPConn, buf, _ []byte) (n, oobn int, truncated bool, from netip.AddrPort, err error) {
	n, from, err = uc.ReadFromUDPAddrPort(buf)
	if errors.Is(err, windows.WSAEMSGSIZE) {
		return len(buf), 0, true, from, nil
	}
	return n, 0, false, from, err
}

// socketReadBufferSize returns the receive buffer size the OS reports for a
// portable Conn, 0 if unknown.
func socketReadBufferSize(uc *net.UDPConn) int {
	rc, err := uc.SyscallConn()
	if err != nil {
		return 0
	}
	n := 0
	_ = rc.Control(func(fd uintptr) {
		n, _ = windows.GetsockoptInt(windows.Handle(fd), windows.SOL_SOCKET, windows.SO_RCVBUF)
	})
	return n
}
