package channel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rwanda-go/rwanda/internal/udpio"
	"github.com/rwanda-go/rwanda/transport"
)

// udpTransport carries a channel over a UDP socket: a multicast group, or
// point-to-point unicast.
type udpTransport struct {
	conn      *udpio.Conn
	group     netip.AddrPort // multicast only
	multicast bool
	mtu       atomic.Int64 // MTU(dst), one for every destination: only falls
	closed    atomic.Bool
}

// openUDP opens the socket for a Multicast or Unicast endpoint, and returns
// the resolved unicast peer (if the URL names one).
func openUDP(ctx context.Context, a *transport.Endpoint) (transport.Opened, error) {
	conn, peer, err := openUDPConn(ctx, a)
	return transport.Opened{Conn: conn, Peer: transport.IPAddr(peer)}, err
}

func openUDPConn(ctx context.Context, a *transport.Endpoint) (*udpTransport, netip.AddrPort, error) {
	raw := a.URL.String()
	if a.Group.IsValid() {
		var ifi *net.Interface
		if a.Iface != "" {
			var err error
			if ifi, err = net.InterfaceByName(a.Iface); err != nil {
				return nil, netip.AddrPort{}, &URLError{URL: raw, Param: "iface", Reason: fmt.Sprintf("no interface %q", a.Iface), Err: errors.Join(ErrBadURL, err)}
			}
		}
		conn, err := udpio.ListenMulticast(udpio.MulticastConfig{Group: a.Group, Interface: ifi, TTL: a.TTL, Loopback: a.Loop, Source: a.Source})
		if err != nil {
			return nil, netip.AddrPort{}, fmt.Errorf("channel: joining %v: %w", a.Group, err)
		}
		t := &udpTransport{conn: conn, group: a.Group, multicast: true}
		t.mtu.Store(int64(startMTU(conn, a, a.Group)))
		return t, netip.AddrPort{}, nil
	}
	var remote netip.AddrPort
	if a.Host != "" {
		ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", a.Host)
		if err != nil || len(ips) == 0 {
			return nil, netip.AddrPort{}, &URLError{URL: raw, Reason: fmt.Sprintf("cannot resolve %q", a.Host), Err: errors.Join(ErrBadURL, err)}
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
		return nil, netip.AddrPort{}, &URLError{URL: raw, Param: "listen", Reason: "the listening address and the peer are of different IP families", Err: ErrBadURL}
	}
	conn, err := udpio.ListenUnicast(local)
	if err != nil {
		return nil, netip.AddrPort{}, fmt.Errorf("channel: listening on %v: %w", local, err)
	}
	t := &udpTransport{conn: conn}
	t.mtu.Store(int64(startMTU(conn, a, remote)))
	return t, remote, nil
}

// startMTU is a new socket's MTU: the URL's mtu= as it is; else the path's
// toward dst (the group, or the peer the URL names) capped at the
// default (DECISIONS §4), or the default where the path is not known (a
// listening side, which learns a smaller path from its first send that
// does not fit).
func startMTU(conn *udpio.Conn, a *transport.Endpoint, dst netip.AddrPort) int {
	limit := a.MTU
	if limit <= 0 {
		limit = DefaultMTU4
	}
	if a.MTUGiven || !dst.IsValid() {
		return limit
	}
	path, err := conn.PathMTU(dst)
	if err != nil {
		return limit
	}
	return max(min(path, limit), minMTU)
}

// ReachAll: a send to the group reaches every member; unicast does not.
func (t *udpTransport) ReachAll() bool { return t.multicast }

// LocalAddr is the socket's address.
func (t *udpTransport) LocalAddr() transport.Addr { return transport.IPAddr(t.conn.LocalAddr()) }

// MTU is the largest datagram to any destination: what startMTU found,
// lowered when a send finds a path smaller (see Send). One value serves
// every destination, the smallest path seen: a channel cuts its datagrams
// to one size for all members anyway.
func (t *udpTransport) MTU(transport.Addr) int { return int(t.mtu.Load()) }

// Offloads reports the socket's: GSO and GRO where the kernel has them,
// and batch calls on Linux's fast path.
func (t *udpTransport) Offloads() transport.Offloads {
	fast := !t.conn.Portable() // the fast path exists on Linux only
	return transport.Offloads{GSO: t.conn.GSO(), GRO: t.conn.GRO(), BatchWrite: fast, BatchRead: fast}
}

// Send writes the train to dst, or to the group for the zero Addr.
func (t *udpTransport) Send(run []byte, seg int, dst transport.Addr) error {
	if t.closed.Load() {
		return ErrClosed
	}
	to := dst.IP
	if dst.IsZero() {
		if !t.multicast {
			return errNoRoute
		}
		to = t.group
	}
	if !to.IsValid() {
		return fmt.Errorf("channel: %v is not a UDP address", dst)
	}
	size := seg
	if size <= 0 || size >= len(run) {
		size = len(run)
	}
	if size > int(t.mtu.Load()) {
		// Cut for a larger MTU than the path has: IP fragments carry it
		// (one datagram per call, no GSO).
		return t.conn.WriteToFragmented(run, seg, to)
	}
	err := t.conn.WriteTo(run, seg, to)
	var se *udpio.SizeError
	if !errors.As(err, &se) {
		return err
	}
	return &transport.MTUError{Dst: dst, Size: se.Size, MTU: t.lower(to, se.Size), Sent: se.Sent, Err: err}
}

// lower brings the MTU below size, a datagram the path to dst refused: to
// the path's MTU as the kernel now knows it, or where that is not below
// size, to the next common MTU below it. It returns the MTU.
func (t *udpTransport) lower(dst netip.AddrPort, size int) int {
	path, err := t.conn.PathMTU(dst)
	if err != nil || path >= size {
		path = plateauBelow(size)
	}
	path = max(path, minMTU)
	for {
		cur := t.mtu.Load()
		if int64(path) >= cur || t.mtu.CompareAndSwap(cur, int64(path)) {
			return int(t.mtu.Load())
		}
	}
}

// plateauBelow is the largest UDP payload under size of a common link MTU
// (RFC 1191's plateaus, and IPv6's minimum of 1280), for when the system
// does not say what the path carries: IPv4 payloads of 9000-, 1500-,
// 1280- and 576-byte MTUs, then the channel's smallest.
func plateauBelow(size int) int {
	for _, p := range []int{9000 - 28, DefaultMTU4, DefaultMTU6, 1280 - 28, 1280 - 48, 576 - 28} {
		if p < size {
			return p
		}
	}
	return minMTU
}

// Serve reads batches of datagrams until the socket closes.
func (t *udpTransport) Serve(recv func([]byte, transport.Addr), done func()) {
	var b *readBuffers // nil while waiting on a quiet socket
	var last time.Time
	for {
		if b == nil {
			// Quiet (or starting): wait holding no buffers where the
			// socket can, then take them from the pool.
			if _, err := t.conn.WaitRead(); err != nil {
				if t.closed.Load() || errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			b = readPool.Get().(*readBuffers)
		}
		n, err := t.conn.ReadBatch(b.msgs)
		if err != nil {
			if t.closed.Load() || errors.Is(err, net.ErrClosed) {
				readPool.Put(b)
				return
			}
			continue // a transient error (ICMP unreachable on unicast, say)
		}
		for i := range n {
			m := &b.msgs[i]
			if m.Truncated && m.Seg == 0 {
				continue // one datagram larger than any we send: not ours
			}
			for d := range m.Datagrams {
				recv(d, transport.IPAddr(m.From))
			}
		}
		done()
		// A socket read again within quietGap keeps its buffers (the next
		// read blocks in ReadBatch, the cheapest wait); one that was quiet
		// that long gives them back and waits without them.
		now := time.Now()
		if now.Sub(last) > quietGap {
			readPool.Put(b)
			b = nil
		}
		last = now
	}
}

// readBuffers are one reader's batch: 8 slots of 64 KiB (a GRO train or
// the largest datagram each), 512 KiB in all. Readers of quiet sockets
// hold none: a process with hundreds of mostly idle channels keeps a few
// batches in all, not one per channel.
type readBuffers struct{ msgs []udpio.Message }

var readPool = sync.Pool{New: func() any {
	b := &readBuffers{msgs: make([]udpio.Message, 8)}
	for i := range b.msgs {
		b.msgs[i].Buf = make([]byte, 64<<10)
	}
	return b
}}

// quietGap is how long a socket may go unread and still keep its read
// buffers: a busy socket is read again within microseconds; one read less
// often than a hundred times a second pays a pool round trip and a peek
// per read (about a microsecond), and holds nothing while it waits.
const quietGap = 10 * time.Millisecond

// Close closes the socket, which ends Serve.
func (t *udpTransport) Close() error {
	if t.closed.Swap(true) {
		return nil
	}
	return t.conn.Close()
}
