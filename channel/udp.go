package channel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"

	"github.com/rwanda-go/rwanda/internal/udpio"
)

// udpTransport carries a channel over a UDP socket: a multicast group, or
// point-to-point unicast.
type udpTransport struct {
	conn      *udpio.Conn
	group     netip.AddrPort // multicast only
	multicast bool
	closed    atomic.Bool
}

// openUDP opens the socket for a Multicast or Unicast address, and returns
// the resolved unicast peer (if the URL names one).
func openUDP(ctx context.Context, a *Address) (transport, netip.AddrPort, error) {
	if a.Transport == Multicast {
		var ifi *net.Interface
		if a.Iface != "" {
			var err error
			if ifi, err = net.InterfaceByName(a.Iface); err != nil {
				return nil, netip.AddrPort{}, &URLError{URL: a.Raw, Param: "iface", Reason: fmt.Sprintf("no interface %q", a.Iface), Err: errors.Join(ErrBadURL, err)}
			}
		}
		conn, err := udpio.ListenMulticast(udpio.MulticastConfig{Group: a.Group, Interface: ifi, TTL: a.TTL, Loopback: a.Loop})
		if err != nil {
			return nil, netip.AddrPort{}, fmt.Errorf("channel: joining %v: %w", a.Group, err)
		}
		return &udpTransport{conn: conn, group: a.Group, multicast: true}, netip.AddrPort{}, nil
	}
	var remote netip.AddrPort
	if a.Host != "" {
		ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", a.Host)
		if err != nil || len(ips) == 0 {
			return nil, netip.AddrPort{}, &URLError{URL: a.Raw, Reason: fmt.Sprintf("cannot resolve %q", a.Host), Err: errors.Join(ErrBadURL, err)}
		}
		ip := ips[0].Unmap()
		// Prefer an address of the listening side's family.
		for _, c := range ips {
			if c.Unmap().Is4() == !a.Listen.Addr().Is6() {
				ip = c.Unmap()
				break
			}
		}
		remote = netip.AddrPortFrom(ip, a.Port)
	}
	local := a.Listen
	if !local.IsValid() {
		local = netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	}
	if remote.IsValid() && remote.Addr().Is6() && local.Addr().Is4() && local.Addr().IsUnspecified() {
		local = netip.AddrPortFrom(netip.IPv6Unspecified(), local.Port())
	}
	if remote.IsValid() && remote.Addr().Is4() != local.Addr().Is4() {
		return nil, netip.AddrPort{}, &URLError{URL: a.Raw, Param: "listen", Reason: "the listening address and the peer are of different IP families", Err: ErrBadURL}
	}
	conn, err := udpio.ListenUnicast(local)
	if err != nil {
		return nil, netip.AddrPort{}, fmt.Errorf("channel: listening on %v: %w", local, err)
	}
	return &udpTransport{conn: conn}, remote, nil
}

func (t *udpTransport) reachAll() bool { return t.multicast }

func (t *udpTransport) localAddr() netip.AddrPort { return t.conn.LocalAddr() }

func (t *udpTransport) send(run []byte, seg int, dst netip.AddrPort) error {
	if !dst.IsValid() {
		if !t.multicast {
			return errNoRoute
		}
		dst = t.group
	}
	return t.conn.WriteTo(run, seg, dst)
}

func (t *udpTransport) serve(recv func([]byte, netip.AddrPort), done func()) {
	msgs := make([]udpio.Message, 8)
	for i := range msgs {
		msgs[i].Buf = make([]byte, 64<<10)
	}
	for {
		n, err := t.conn.ReadBatch(msgs)
		if err != nil {
			if t.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			continue // a transient error (ICMP unreachable on unicast, say)
		}
		for i := range n {
			m := &msgs[i]
			if m.Truncated && m.Seg == 0 {
				continue // one datagram larger than any we send: not ours
			}
			for d := range m.Datagrams {
				recv(d, m.From)
			}
		}
		done()
	}
}

func (t *udpTransport) close() error {
	if t.closed.Swap(true) {
		return nil
	}
	return t.conn.Close()
}
