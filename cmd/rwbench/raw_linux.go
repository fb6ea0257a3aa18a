package main

import (
	"net"
	"syscall"
)

// multicastOnLoopback makes c send multicast through the loopback
// interface (IP_MULTICAST_IF 127.0.0.1), looped back to local members,
// never out of the host's other interfaces.
func multicastOnLoopback(c *net.UDPConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInet4Addr(int(fd), syscall.IPPROTO_IP, syscall.IP_MULTICAST_IF, [4]byte{127, 0, 0, 1})
		if serr == nil {
			serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_MULTICAST_LOOP, 1)
		}
	}); err != nil {
		return err
	}
	return serr
}
