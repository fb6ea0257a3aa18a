//go:build unix && !linux

package udpio

import (
	"errors"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// socketControl returns the net.ListenConfig Control function of the
// portable implementation: SO_REUSEADDR and SO_REUSEPORT (where the OS has
// it) when reuse, and the default buffer sizes (failures ignored: the OS
// caps them).
func socketControl(reuse bool) func(network, address string, rc syscall.RawConn) error {
	return func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			if reuse {
				if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
					serr = errors.Join(serr, err)
				}
				if err := setReusePort(int(fd)); err != nil {
					serr = errors.Join(serr, err)
				}
			}
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, defaultReadBuffer)
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF, defaultWriteBuffer)
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

// socketReadBufferSize returns the receive buffer size the OS reports for a
// portable Conn, 0 if unknown.
func socketReadBufferSize(uc *net.UDPConn) int {
	rc, err := uc.SyscallConn()
	if err != nil {
		return 0
	}
	n := 0
	_ = rc.Control(func(fd uintptr) { n, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF) })
	return n
}
