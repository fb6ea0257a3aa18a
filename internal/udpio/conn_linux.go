//go:build linux

package udpio

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

const (
	defaultReadBuffer  = 4 << 20
	defaultWriteBuffer = 1 << 20
)

// Conn is a UDP socket for unicast or multicast, IPv4 or IPv6.
//
// Create one with [ListenUnicast] or [ListenMulticast]. All methods are safe
// for concurrent use.
type Conn struct {
	uc     *net.UDPConn
	rc     syscall.RawConn // cached: UDPConn.SyscallConn allocates
	family int             // unix.AF_INET or unix.AF_INET6
	local  netip.AddrPort

	gsoSupported bool        // UDP_SEGMENT accepted at open
	gso          atomic.Bool // GSO currently in use
	gro          bool        // UDP_GRO enabled at open

	closeOnce sync.Once
	closeErr  error

	wmu sync.Mutex
	w   writer

	rmu sync.Mutex
	r   reader
}

// MulticastConfig describes a multicast group membership for [ListenMulticast].
type MulticastConfig struct {
	// Group is the group address and port (IPv4 224.0.0.0/4 or IPv6
	// ff00::/8). The port must not be 0. An IPv6 zone in the address is used
	// as the interface when Interface is nil.
	Group netip.AddrPort
	// Interface is the interface to join on and send through. nil lets the
	// OS choose: join on the interface of the route to the group and send by
	// the routing table. Link-local IPv6 groups (ff02::/16, ff12::/16, ...)
	// need an interface (or a zone in Group).
	Interface *net.Interface
	// TTL is the multicast TTL (IPv4) or hop limit (IPv6); 0 means 1.
	TTL int
	// Loopback sets IP_MULTICAST_LOOP / IPV6_MULTICAST_LOOP: whether datagrams
	// sent by this socket are also delivered to group members on this host
	// (including this socket).
	Loopback bool
}

// ListenUnicast opens a socket bound to local. Port 0 picks an ephemeral port;
// an unspecified address binds all interfaces. An IPv4 local address (or the
// zero netip.AddrPort) gives an IPv4 socket, an IPv6 one an IPv6-only socket.
// The socket does not use SO_REUSEPORT.
func ListenUnicast(local netip.AddrPort) (*Conn, error) {
	addr := local.Addr().Unmap()
	if !addr.IsValid() {
		addr = netip.IPv4Unspecified()
	}
	family := unix.AF_INET
	if addr.Is6() {
		family = unix.AF_INET6
	}
	var scope uint32
	if z := addr.Zone(); z != "" {
		idx, err := zoneToIndex(z)
		if err != nil {
			return nil, fmt.Errorf("udpio: listen %v: %w", local, err)
		}
		scope = idx
	}
	c, err := open(family, netip.AddrPortFrom(addr, local.Port()), scope, false, nil)
	if err != nil {
		return nil, fmt.Errorf("udpio: listen %v: %w", local, err)
	}
	return c, nil
}

// ListenMulticast opens a socket bound to the group address and port (not the
// wildcard address) with SO_REUSEADDR and SO_REUSEPORT, so that several
// sockets in one or several processes on a host share the group and each
// receives every datagram. It joins the group on cfg.Interface and sets the
// outgoing multicast interface (when given), the TTL / hop limit and
// loopback. The resulting Conn can send to any destination, usually the
// group.
func ListenMulticast(cfg MulticastConfig) (*Conn, error) {
	g := cfg.Group.Addr().Unmap()
	if !g.IsMulticast() {
		return nil, fmt.Errorf("udpio: listen multicast %v: not a multicast address", cfg.Group)
	}
	if cfg.Group.Port() == 0 {
		return nil, fmt.Errorf("udpio: listen multicast %v: port must not be 0", cfg.Group)
	}
	ifIndex := 0
	if cfg.Interface != nil {
		ifIndex = cfg.Interface.Index
	} else if z := g.Zone(); z != "" {
		idx, err := zoneToIndex(z)
		if err != nil {
			return nil, fmt.Errorf("udpio: listen multicast %v: %w", cfg.Group, err)
		}
		ifIndex = int(idx)
	}
	family := unix.AF_INET
	if g.Is6() {
		family = unix.AF_INET6
	}
	setup := func(fd int) error {
		return setupMulticast(fd, family, g, ifIndex, cfg.Interface != nil || ifIndex != 0, cfg.TTL, cfg.Loopback)
	}
	c, err := open(family, netip.AddrPortFrom(g.WithZone(""), cfg.Group.Port()), uint32(ifIndex), true, setup)
	if err != nil {
		return nil, fmt.Errorf("udpio: listen multicast %v: %w", cfg.Group, err)
	}
	return c, nil
}

// open creates, configures and binds a socket and wraps it in a Conn.
func open(family int, bind netip.AddrPort, scope uint32, reuse bool, setup func(fd int) error) (*Conn, error) {
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	ok := false
	defer func() {
		if !ok {
			unix.Close(fd)
		}
	}()
	if family == unix.AF_INET6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1); err != nil {
			return nil, os.NewSyscallError("setsockopt IPV6_V6ONLY", err)
		}
	}
	if reuse {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			return nil, os.NewSyscallError("setsockopt SO_REUSEADDR", err)
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			return nil, os.NewSyscallError("setsockopt SO_REUSEPORT", err)
		}
	}
	// Buffers before bind, so that nothing queued early is dropped; failures
	// are ignored (the kernel default then applies).
	_ = setBuffer(fd, unix.SO_RCVBUFFORCE, unix.SO_RCVBUF, defaultReadBuffer)
	_ = setBuffer(fd, unix.SO_SNDBUFFORCE, unix.SO_SNDBUF, defaultWriteBuffer)

	var sa unix.Sockaddr
	if family == unix.AF_INET {
		sa = &unix.SockaddrInet4{Port: int(bind.Port()), Addr: bind.Addr().As4()}
	} else {
		sa = &unix.SockaddrInet6{Port: int(bind.Port()), Addr: bind.Addr().As16(), ZoneId: scope}
	}
	if err := unix.Bind(fd, sa); err != nil {
		return nil, os.NewSyscallError("bind", err)
	}
	if setup != nil {
		if err := setup(fd); err != nil {
			return nil, err
		}
	}

	// Offloads. GSO: the kernel knows UDP_SEGMENT if getsockopt accepts it.
	_, gsoErr := unix.GetsockoptInt(fd, unix.IPPROTO_UDP, unix.UDP_SEGMENT)
	groErr := unix.SetsockoptInt(fd, unix.IPPROTO_UDP, unix.UDP_GRO, 1)

	lsa, err := unix.Getsockname(fd)
	if err != nil {
		return nil, os.NewSyscallError("getsockname", err)
	}

	f := os.NewFile(uintptr(fd), "udp")
	pc, err := net.FilePacketConn(f) // dups fd and registers it with the poller
	f.Close()                        // closes fd
	ok = true                        // fd is closed in any case now
	if err != nil {
		return nil, err
	}
	uc, isUDP := pc.(*net.UDPConn)
	if !isUDP {
		pc.Close()
		return nil, errors.New("unexpected socket type")
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		uc.Close()
		return nil, err
	}
	c := &Conn{
		uc:           uc,
		rc:           rc,
		family:       family,
		local:        sockaddrToAddrPort(lsa),
		gsoSupported: gsoErr == nil,
		gro:          groErr == nil,
	}
	c.gso.Store(c.gsoSupported)
	c.w.init(family)
	c.r.init()
	return c, nil
}

// setupMulticast joins group and sets the sending options.
func setupMulticast(fd, family int, group netip.Addr, ifIndex int, setIf bool, ttl int, loop bool) error {
	if ttl <= 0 {
		ttl = 1
	}
	loopVal := 0
	if loop {
		loopVal = 1
	}
	if family == unix.AF_INET {
		// Receive only groups joined on this socket (Linux default is all).
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, 0)
		mreq := unix.IPMreqn{Multiaddr: group.As4(), Ifindex: int32(ifIndex)}
		if err := unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP, &mreq); err != nil {
			return os.NewSyscallError("setsockopt IP_ADD_MEMBERSHIP", err)
		}
		return setMulticastSend4(fd, ifIndex, setIf, ttl, loopVal)
	}
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_ALL, 0)
	mreq := unix.IPv6Mreq{Multiaddr: group.As16(), Interface: uint32(ifIndex)}
	if err := unix.SetsockoptIPv6Mreq(fd, unix.IPPROTO_IPV6, unix.IPV6_JOIN_GROUP, &mreq); err != nil {
		return os.NewSyscallError("setsockopt IPV6_JOIN_GROUP", err)
	}
	return setMulticastSend6(fd, ifIndex, setIf, ttl, loopVal)
}

func setMulticastSend4(fd, ifIndex int, setIf bool, ttl, loop int) error {
	if setIf {
		mreq := unix.IPMreqn{Ifindex: int32(ifIndex)}
		if err := unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, &mreq); err != nil {
			return os.NewSyscallError("setsockopt IP_MULTICAST_IF", err)
		}
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, ttl); err != nil {
		return os.NewSyscallError("setsockopt IP_MULTICAST_TTL", err)
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, loop); err != nil {
		return os.NewSyscallError("setsockopt IP_MULTICAST_LOOP", err)
	}
	return nil
}

func setMulticastSend6(fd, ifIndex int, setIf bool, hops, loop int) error {
	if setIf {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_IF, ifIndex); err != nil {
			return os.NewSyscallError("setsockopt IPV6_MULTICAST_IF", err)
		}
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_HOPS, hops); err != nil {
		return os.NewSyscallError("setsockopt IPV6_MULTICAST_HOPS", err)
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_LOOP, loop); err != nil {
		return os.NewSyscallError("setsockopt IPV6_MULTICAST_LOOP", err)
	}
	return nil
}

// SetMulticastOptions sets how datagrams this Conn sends to multicast groups
// leave the host: through ifi (nil: by the routing table, which leaves the
// current setting unchanged), with TTL / hop limit ttl (0 means 1), and
// whether they loop back to members on this host. It is useful on a unicast
// Conn that sends to a group; [ListenMulticast] already applies its
// configuration.
func (c *Conn) SetMulticastOptions(ifi *net.Interface, ttl int, loopback bool) error {
	if ttl <= 0 {
		ttl = 1
	}
	loop := 0
	if loopback {
		loop = 1
	}
	idx := 0
	if ifi != nil {
		idx = ifi.Index
	}
	var serr error
	err := c.rc.Control(func(fd uintptr) {
		if c.family == unix.AF_INET {
			serr = setMulticastSend4(int(fd), idx, ifi != nil, ttl, loop)
		} else {
			serr = setMulticastSend6(int(fd), idx, ifi != nil, ttl, loop)
		}
	})
	if err != nil {
		return fmt.Errorf("udpio: set multicast options: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("udpio: set multicast options: %w", serr)
	}
	return nil
}

// setBuffer sets a socket buffer size, trying the privileged option first.
func setBuffer(fd, forceOpt, opt, bytes int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, forceOpt, bytes); err == nil {
		return nil
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, opt, bytes); err != nil {
		return os.NewSyscallError("setsockopt", err)
	}
	return nil
}

func (c *Conn) setBuffer(forceOpt, opt, bytes int) error {
	var serr error
	if err := c.rc.Control(func(fd uintptr) { serr = setBuffer(int(fd), forceOpt, opt, bytes) }); err != nil {
		return err
	}
	return serr
}

// SetReadBuffer sets the socket receive buffer size in bytes, using
// SO_RCVBUFFORCE when permitted (root / CAP_NET_ADMIN) and SO_RCVBUF, which
// the kernel caps at net.core.rmem_max, otherwise. (Linux doubles the value
// internally to account for bookkeeping overhead.)
func (c *Conn) SetReadBuffer(bytes int) error {
	if err := c.setBuffer(unix.SO_RCVBUFFORCE, unix.SO_RCVBUF, bytes); err != nil {
		return fmt.Errorf("udpio: set read buffer: %w", err)
	}
	return nil
}

// SetWriteBuffer sets the socket send buffer size in bytes, using
// SO_SNDBUFFORCE when permitted and SO_SNDBUF otherwise.
func (c *Conn) SetWriteBuffer(bytes int) error {
	if err := c.setBuffer(unix.SO_SNDBUFFORCE, unix.SO_SNDBUF, bytes); err != nil {
		return fmt.Errorf("udpio: set write buffer: %w", err)
	}
	return nil
}

// LocalAddr returns the address the socket is bound to (for a multicast Conn:
// the group address and port).
func (c *Conn) LocalAddr() netip.AddrPort { return c.local }

// GSO reports whether WriteTo currently sends trains with UDP generic
// segmentation offload (UDP_SEGMENT). It becomes false for good after a send
// fails in a way that indicates the path cannot do GSO.
func (c *Conn) GSO() bool { return c.gso.Load() }

// GRO reports whether UDP generic receive offload (UDP_GRO) is enabled, i.e.
// whether ReadBatch may return slots holding several coalesced datagrams.
func (c *Conn) GRO() bool { return c.gro }

// SetGSO switches sending with GSO off (false) or back on (true, where
// the kernel supports it): for measuring what GSO is worth.
func (c *Conn) SetGSO(on bool) {
	c.gso.Store(on && c.gsoSupported)
}

// Close closes the socket. It unblocks a pending ReadBatch (which then returns
// an error wrapping net.ErrClosed) and WriteTo. Calling Close again returns
// the result of the first call.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		c.closeErr = c.uc.Close()
	})
	return c.closeErr
}

// wrapErr prefixes err with the operation; the runtime's error for a closed
// descriptor becomes one that wraps net.ErrClosed.
func wrapErr(op string, err error) error {
	if errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("udpio: %s: %w", op, net.ErrClosed)
	}
	return fmt.Errorf("udpio: %s: %w", op, err)
}
