//go:build unix && !linux && !solaris

package udpio

import "golang.org/x/sys/unix"

// setReusePort sets SO_REUSEPORT, which BSD-derived systems need (besides
// SO_REUSEADDR) for several sockets bound to the same wildcard address and
// port.
func setReusePort(fd int) error {
	return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
}
