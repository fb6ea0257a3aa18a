package udpio

import (
	"net"
	"net/netip"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// xsock is the golang.org/x/net view of a UDP socket, used by both
// implementations for group membership and multicast sending options.
type xsock struct {
	p4 *ipv4.PacketConn // IPv4 socket
	p6 *ipv6.PacketConn // IPv6 socket
}

func newXsock(pc net.PacketConn, v6 bool) xsock {
	if v6 {
		return xsock{p6: ipv6.NewPacketConn(pc)}
	}
	return xsock{p4: ipv4.NewPacketConn(pc)}
}

// join joins group on ifi (nil: the OS chooses), source-specific when source
// is valid.
func (x xsock) join(ifi *net.Interface, group, source netip.Addr) error {
	g := &net.UDPAddr{IP: group.AsSlice()}
	if source.IsValid() {
		s := &net.UDPAddr{IP: source.AsSlice()}
		if x.p4 != nil {
			return x.p4.JoinSourceSpecificGroup(ifi, g, s)
		}
		return x.p6.JoinSourceSpecificGroup(ifi, g, s)
	}
	if x.p4 != nil {
		return x.p4.JoinGroup(ifi, g)
	}
	return x.p6.JoinGroup(ifi, g)
}

// setSend sets the outgoing multicast interface (unless ifi is nil), the
// TTL / hop limit and loopback.
func (x xsock) setSend(ifi *net.Interface, ttl int, loop bool) error {
	if x.p4 != nil {
		if ifi != nil {
			if err := x.p4.SetMulticastInterface(ifi); err != nil {
				return err
			}
		}
		if err := x.p4.SetMulticastTTL(ttl); err != nil {
			return err
		}
		return x.p4.SetMulticastLoopback(loop)
	}
	if ifi != nil {
		if err := x.p6.SetMulticastInterface(ifi); err != nil {
			return err
		}
	}
	if err := x.p6.SetMulticastHopLimit(ttl); err != nil {
		return err
	}
	return x.p6.SetMulticastLoopback(loop)
}

// setupMulticast joins and sets the sending options of spec on pc.
func setupMulticast(pc net.PacketConn, spec mcastSpec) error {
	x := newXsock(pc, spec.v6())
	if err := x.join(spec.ifi, spec.group, spec.source); err != nil {
		return err
	}
	return x.setSend(spec.ifi, spec.ttl, spec.loop)
}
