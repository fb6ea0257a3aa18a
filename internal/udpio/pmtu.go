package udpio

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// Header bytes of a UDP datagram over IPv4 (20-byte header, no options)
// and IPv6 (40-byte header, no extension headers).
const (
	udpHeaders4 = 20 + 8
	udpHeaders6 = 40 + 8
)

// PathMTU returns the largest UDP payload a datagram to dst carries without
// IP fragmentation, as this host knows it: the MTU of the interface a
// multicast Conn with an interface sends through (for a group), else the
// MTU of the route to dst (on Linux, with what path MTU discovery has
// learned of the path since: it falls after a [*SizeError]), less the IP
// and UDP headers. Where the OS gives no route MTU it is the MTU of the
// interface holding the local address the OS would send from. It sends
// nothing, and costs a few system calls (a socket is opened and closed).
func (c *Conn) PathMTU(dst netip.AddrPort) (int, error) {
	a := dst.Addr().Unmap()
	if !a.IsValid() {
		return 0, errors.New("udpio: path MTU: invalid destination address")
	}
	dst = netip.AddrPortFrom(a, dst.Port())
	hdr, most := udpHeaders4, maxPayload4
	if a.Is6() {
		hdr, most = udpHeaders6, maxPayload6
	}
	var mtu int
	var err error
	switch {
	case a.IsMulticast() && c.ifi != nil:
		var ifi *net.Interface
		if ifi, err = net.InterfaceByIndex(c.ifi.Index); err == nil { // its MTU now
			mtu = ifi.MTU
		}
	default:
		if mtu, err = routeMTU(dst); err != nil {
			mtu, err = localIfaceMTU(dst)
		}
	}
	if err != nil {
		return 0, fmt.Errorf("udpio: path MTU to %v: %w", dst, err)
	}
	if mtu <= hdr {
		return 0, fmt.Errorf("udpio: path MTU to %v: the interface's MTU is %d", dst, mtu)
	}
	return min(mtu-hdr, most), nil
}

// localIfaceMTU is the MTU of the interface holding the address a socket
// connected to dst sends from.
func localIfaceMTU(dst netip.AddrPort) (int, error) {
	network := "udp4"
	if dst.Addr().Is6() {
		network = "udp6"
	}
	if dst.Port() == 0 {
		dst = netip.AddrPortFrom(dst.Addr(), 9)
	}
	uc, err := net.DialUDP(network, nil, net.UDPAddrFromAddrPort(dst))
	if err != nil {
		return 0, err
	}
	local := uc.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap().WithZone("")
	uc.Close()
	ifs, err := net.Interfaces()
	if err != nil {
		return 0, err
	}
	for _, ifi := range ifs {
		addrs, err := ifi.Addrs()
		if err != nil {
			continue
		}
		for _, ad := range addrs {
			if n, ok := ad.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap() == local {
					return ifi.MTU, nil
				}
			}
		}
	}
	return 0, fmt.Errorf("no interface holds %v", local)
}
