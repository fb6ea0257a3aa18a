//go:build linux

package gateway

import (
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// setReadBuffer sets conn's receive buffer to bytes, beyond
// net.core.rmem_max where permitted (SO_RCVBUFFORCE: root or
// CAP_NET_ADMIN), and returns the size in effect as the kernel reports it
// (twice what was set: it counts its bookkeeping), 0 if unknown.
func setReadBuffer(conn *net.UDPConn, bytes int) int {
	rc, err := conn.SyscallConn()
	if err != nil {
		_ = conn.SetReadBuffer(bytes)
		return 0
	}
	got := 0
	rc.Control(func(fd uintptr) {
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, bytes) != nil {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, bytes)
		}
		got, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF)
	})
	return got
}

// batchReader reads up to maxRead datagrams a system call (recvmmsg),
// blocking in the runtime's poller until one is there. It is not safe for
// concurrent use.
type batchReader struct {
	raw   syscall.RawConn
	conn  *net.UDPConn
	v6    bool
	hdrs  [maxRead]unix.Mmsghdr
	iovs  [maxRead]unix.Iovec
	sa    [maxRead]unix.RawSockaddrAny
	bufs  [maxRead][]byte
	n     int
	err   error
	fn    func(fd uintptr) bool
	from0 netip.AddrPort // without a raw connection: the one datagram's sender
}

// maxRead is the most datagrams one read takes.
const maxRead = 32

func newBatchReader(conn *net.UDPConn, size int) *batchReader {
	r := &batchReader{conn: conn}
	r.raw, _ = conn.SyscallConn()
	for i := range r.hdrs {
		r.bufs[i] = make([]byte, size)
		r.iovs[i].Base = &r.bufs[i][0]
		r.iovs[i].SetLen(size)
		h := &r.hdrs[i].Hdr
		h.Iov = &r.iovs[i]
		h.SetIovlen(1)
		h.Name = (*byte)(unsafe.Pointer(&r.sa[i]))
	}
	r.fn = r.recvmmsg
	return r
}

func (r *batchReader) recvmmsg(fd uintptr) bool {
	for i := range r.hdrs {
		r.hdrs[i].Hdr.Namelen = unix.SizeofSockaddrAny
		r.hdrs[i].Hdr.Flags = 0
	}
	for {
		n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r.hdrs[0])), maxRead, unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			r.n, r.err = int(n), nil
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false // wait in the poller
		default:
			r.n, r.err = 0, e
			return true
		}
	}
}

// read reads a batch, waiting for the first datagram; each then hands
// them over, in order (the slices are reused by the next read).
func (r *batchReader) read() error {
	if r.raw == nil {
		n, from, err := r.conn.ReadFromUDPAddrPort(r.bufs[0])
		if err != nil {
			return err
		}
		r.n, r.hdrs[0].Len = 1, uint32(n)
		r.from0 = from
		return nil
	}
	if err := r.raw.Read(r.fn); err != nil {
		return err
	}
	return r.err
}

func (r *batchReader) each(fn func(b []byte, from netip.AddrPort)) {
	if r.raw == nil {
		fn(r.bufs[0][:r.hdrs[0].Len], netip.AddrPortFrom(r.from0.Addr().Unmap(), r.from0.Port()))
		return
	}
	for i := range r.n {
		var from netip.AddrPort
		switch sa := &r.sa[i]; sa.Addr.Family {
		case unix.AF_INET:
			p := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
			from = netip.AddrPortFrom(netip.AddrFrom4(p.Addr), portOf(&p.Port))
		case unix.AF_INET6:
			p := (*unix.RawSockaddrInet6)(unsafe.Pointer(sa))
			from = netip.AddrPortFrom(netip.AddrFrom16(p.Addr).Unmap(), portOf(&p.Port))
		default:
			continue
		}
		fn(r.bufs[i][:r.hdrs[i].Len], from)
	}
}

// portOf reads a port as the kernel stores it: in network byte order.
func portOf(p *uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(p))
	return uint16(b[0])<<8 | uint16(b[1])
}
