//go:build linux

package udpio

import (
	"net"
	"net/netip"
	"os"

	"golang.org/x/sys/unix"
)

// setPMTUDisc sets path MTU discovery on fd: IP_PMTUDISC_DO (the
// default of every socket here: a datagram larger than the path MTU fails
// with EMSGSIZE instead of leaving as IP fragments) or, with allowFrag,
// IP_PMTUDISC_DONT (the kernel fragments it; Conn.WriteToFragmented).
func setPMTUDisc(fd int, v6, allowFrag bool) error {
	if v6 {
		v := unix.IPV6_PMTUDISC_DO
		if allowFrag {
			v = unix.IPV6_PMTUDISC_DONT
		}
		return os.NewSyscallError("setsockopt IPV6_MTU_DISCOVER", unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER, v))
	}
	v := unix.IP_PMTUDISC_DO
	if allowFrag {
		v = unix.IP_PMTUDISC_DONT
	}
	return os.NewSyscallError("setsockopt IP_MTU_DISCOVER", unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, v))
}

// setFragment is setPMTUDisc on a portable Conn's socket.
func setFragment(uc *net.UDPConn, v6, allow bool) error {
	rc, err := uc.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = setPMTUDisc(int(fd), v6, allow) }); err != nil {
		return err
	}
	return serr
}

// routeMTU asks the kernel for the MTU of the route to dst, path MTU
// discovery's findings included: the IP_MTU (IPV6_MTU) of a socket
// connected to dst (connecting a UDP socket sends nothing). It is the
// whole IP packet's MTU.
func routeMTU(dst netip.AddrPort) (int, error) {
	a := dst.Addr()
	port := int(dst.Port())
	if port == 0 {
		port = 9 // any port: connect only picks the route
	}
	family, level, opt := unix.AF_INET, unix.IPPROTO_IP, unix.IP_MTU
	var sa unix.Sockaddr
	if a.Is4() {
		sa = &unix.SockaddrInet4{Port: port, Addr: a.As4()}
	} else {
		family, level, opt = unix.AF_INET6, unix.IPPROTO_IPV6, unix.IPV6_MTU
		scope, err := zoneToIndex(a.Zone())
		if err != nil {
			return 0, err
		}
		sa = &unix.SockaddrInet6{Port: port, Addr: a.As16(), ZoneId: scope}
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return 0, os.NewSyscallError("socket", err)
	}
	defer unix.Close(fd)
	if err := unix.Connect(fd, sa); err != nil {
		return 0, os.NewSyscallError("connect", err)
	}
	mtu, err := unix.GetsockoptInt(fd, level, opt)
	if err != nil {
		return 0, os.NewSyscallError("getsockopt IP_MTU", err)
	}
	return mtu, nil
}
