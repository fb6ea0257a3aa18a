//go:build linux

package udpio

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// haveFast reports whether this OS has the fast implementation.
const haveFast = true

// fastConn is the Linux fast implementation: a socket driven by hand-made
// sendmmsg/recvmmsg calls with UDP GSO and GRO.
type fastConn struct {
	uc     *net.UDPConn
	rc     syscall.RawConn // cached: UDPConn.SyscallConn allocates
	family int             // unix.AF_INET or unix.AF_INET6
	local  netip.AddrPort

	gsoSupported bool        // UDP_SEGMENT accepted at open
	gsoOn        atomic.Bool // GSO currently in use
	groOn        bool        // UDP_GRO enabled at open

	wmu sync.Mutex // guards w and mw: one write at a time
	w   writer
	mw  multiWriter

	rmu sync.Mutex
	r   reader

	// waitRead's: a peek of one byte (its buffer and the function
	// RawConn.Read runs, made once, so waiting allocates nothing).
	peekBuf [1]byte
	peekFn  func(fd uintptr) bool
}

// listenFastUnicast opens a fast socket bound to bind (unmapped address,
// zone checked).
func listenFastUnicast(bind netip.AddrPort) (*fastConn, error) {
	family := unix.AF_INET
	if bind.Addr().Is6() {
		family = unix.AF_INET6
	}
	scope, _ := zoneToIndex(bind.Addr().Zone())
	return open(family, bind, scope, nil)
}

// listenFastMulticast opens a fast socket bound to the group address and
// port, then joins and configures it through golang.org/x/net.
func listenFastMulticast(spec mcastSpec) (*fastConn, error) {
	family := unix.AF_INET
	if spec.v6() {
		family = unix.AF_INET6
	}
	scope := uint32(0)
	if spec.ifi != nil {
		scope = uint32(spec.ifi.Index)
	}
	c, err := open(family, netip.AddrPortFrom(spec.group, spec.port), scope, &spec)
	if err != nil {
		return nil, err
	}
	if err := setupMulticast(c.uc, spec); err != nil {
		c.uc.Close()
		return nil, err
	}
	return c, nil
}

// open creates, configures and binds a socket and wraps it in a fastConn.
// mcast is non-nil for a multicast socket (SO_REUSEADDR, IP_MULTICAST_ALL
// off); the caller joins the group.
func open(family int, bind netip.AddrPort, scope uint32, mcast *mcastSpec) (*fastConn, error) {
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
	if mcast != nil {
		if err := setReuse(fd); err != nil {
			return nil, err
		}
		// Receive only groups joined on this socket (the Linux default is
		// all groups joined by any socket); no x/net API for this.
		if family == unix.AF_INET {
			_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, 0)
		} else {
			_ = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_ALL, 0)
		}
	}
	// No fragmentation: a datagram larger than the path MTU fails with
	// EMSGSIZE (a SizeError), so that the caller learns of it and can
	// cut smaller ones (Conn.WriteTo). A kernel that refuses leaves the
	// default, which fragments.
	_ = setPMTUDisc(fd, family == unix.AF_INET6, false)
	// Buffers before bind, so that nothing queued early is dropped; failures
	// are ignored (the kernel default then applies).
	_ = setBuffer(fd, unix.SO_RCVBUFFORCE, unix.SO_RCVBUF, defaultReadBuffer)
	_ = setBuffer(fd, unix.SO_SNDBUFFORCE, unix.SO_SNDBUF, defaultWriteBuffer)
	// Arrival interface (Message.IfIndex): IP_PKTINFO / IPV6_RECVPKTINFO.
	// Failure only leaves IfIndex 0.
	if family == unix.AF_INET {
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
	} else {
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1)
	}

	var sa unix.Sockaddr
	if family == unix.AF_INET {
		sa = &unix.SockaddrInet4{Port: int(bind.Port()), Addr: bind.Addr().As4()}
	} else {
		sa = &unix.SockaddrInet6{Port: int(bind.Port()), Addr: bind.Addr().As16(), ZoneId: scope}
	}
	if err := unix.Bind(fd, sa); err != nil {
		return nil, os.NewSyscallError("bind", err)
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
	c := &fastConn{
		uc:           uc,
		rc:           rc,
		family:       family,
		local:        sockaddrToAddrPort(lsa),
		gsoSupported: gsoErr == nil,
		groOn:        groErr == nil,
	}
	c.gsoOn.Store(c.gsoSupported)
	c.w.init(family)
	c.mw.init()
	c.r.init()
	c.peekFn = c.peek
	return c, nil
}

// peek is run by RawConn.Read: it looks at the first byte of the next
// datagram without taking it; returning false waits for readability.
func (c *fastConn) peek(fd uintptr) bool {
	for {
		_, _, e := unix.Syscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&c.peekBuf[0])), 1,
			unix.MSG_PEEK|unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		return true // a datagram, or an error ReadBatch will report
	}
}

// waitRead waits for a datagram with a one-byte peek (see Conn.WaitRead).
// Only one goroutine may wait at a time.
func (c *fastConn) waitRead() (bool, error) {
	if err := c.rc.Read(c.peekFn); err != nil {
		return true, err
	}
	return true, nil
}

// setReuse sets SO_REUSEADDR, which on Linux is all that several UDP
// sockets need to share a multicast group and port. SO_REUSEPORT is left
// off on purpose: the kernel early-demultiplexes a datagram that only some
// sockets of a reuseport group accept (say, one refused by another socket's
// source filter) to a member chosen by a hash of addresses and ports,
// whatever that member's memberships and filters, so an SSM socket beside
// an any-source one on the same group and port would steal or lose
// datagrams (channel's TestSSMBesideASMNamespaces).
func setReuse(fd int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return os.NewSyscallError("setsockopt SO_REUSEADDR", err)
	}
	return nil
}

func (c *fastConn) setMulticastOptions(ifi *net.Interface, ttl int, loopback bool) error {
	return newXsock(c.uc, c.family == unix.AF_INET6).setSend(ifi, ttl, loopback)
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

// setBufferRaw is setBuffer on a RawConn.
func setBufferRaw(rc syscall.RawConn, forceOpt, opt, bytes int) error {
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = setBuffer(int(fd), forceOpt, opt, bytes) }); err != nil {
		return err
	}
	return serr
}

// rcvBufRaw returns the receive buffer size the kernel reports, 0 on error.
func rcvBufRaw(rc syscall.RawConn) int {
	n := 0
	_ = rc.Control(func(fd uintptr) { n, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF) })
	return n
}

func (c *fastConn) setReadBuffer(bytes int) error {
	return setBufferRaw(c.rc, unix.SO_RCVBUFFORCE, unix.SO_RCVBUF, bytes)
}

func (c *fastConn) readBufferSize() int { return rcvBufRaw(c.rc) }

func (c *fastConn) setWriteBuffer(bytes int) error {
	return setBufferRaw(c.rc, unix.SO_SNDBUFFORCE, unix.SO_SNDBUF, bytes)
}

func (c *fastConn) localAddr() netip.AddrPort { return c.local }

func (c *fastConn) gso() bool { return c.gsoOn.Load() }

func (c *fastConn) gro() bool { return c.groOn }

func (c *fastConn) setGSO(on bool) { c.gsoOn.Store(on && c.gsoSupported) }

func (c *fastConn) close() error { return c.uc.Close() }
