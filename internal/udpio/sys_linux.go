//go:build linux

package udpio

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// socketControl returns the net.ListenConfig Control function of the
// portable implementation: SO_REUSEADDR when reuse (not SO_REUSEPORT: see
// setReuse), no fragmentation (IP_PMTUDISC_DO, see Conn.WriteTo) and the
// default buffer sizes (privileged options first, as the fast path does).
func socketControl(reuse bool) func(network, address string, rc syscall.RawConn) error {
	return func(network, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			if reuse {
				serr = setReuse(int(fd))
			}
			_ = setPMTUDisc(int(fd), network == "udp6", false) // as the fast path: no fragmentation
			_ = setBuffer(int(fd), unix.SO_RCVBUFFORCE, unix.SO_RCVBUF, defaultReadBuffer)
			_ = setBuffer(int(fd), unix.SO_SNDBUFFORCE, unix.SO_SNDBUF, defaultWriteBuffer)
		})
		if err != nil {
			return err
		}
		return serr
	}
}

// setSocketBuffer sets the receive (read) or send buffer of a portable Conn.
func setSocketBuffer(uc *net.UDPConn, read bool, bytes int) error {
	rc, err := uc.SyscallConn()
	if err != nil {
		return err
	}
	if read {
		return setBufferRaw(rc, unix.SO_RCVBUFFORCE, unix.SO_RCVBUF, bytes)
	}
	return setBufferRaw(rc, unix.SO_SNDBUFFORCE, unix.SO_SNDBUF, bytes)
}

// socketReadBufferSize returns the receive buffer size the kernel reports
// for a portable Conn, 0 if unknown.
func socketReadBufferSize(uc *net.UDPConn) int {
	rc, err := uc.SyscallConn()
	if err != nil {
		return 0
	}
	return rcvBufRaw(rc)
}
