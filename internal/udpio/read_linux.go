//go:build linux

package udpio

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// oobWords is the control-message space per receive slot, in 8-byte words
// (room for the UDP_GRO cmsg, 24 bytes, and IP_PKTINFO or IPV6_PKTINFO, 32
// or 40 bytes, with some to spare).
const oobWords = 12

// reader is the reused receive state of a fastConn, guarded by fastConn.rmu.
type reader struct {
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6 // large enough for sockaddr_in too
	oob   []uint64                // oobWords per slot; uint64 for cmsghdr alignment

	// Argument and results of one recvmmsg (see writer).
	count int
	n     int
	errno unix.Errno
	fn    func(fd uintptr) bool
}

func (r *reader) init() {
	r.fn = r.recvmmsg
	r.grow(initialBatch)
}

// grow makes room for at least n slots (n <= maxBatch).
func (r *reader) grow(n int) {
	if n <= len(r.hdrs) {
		return
	}
	if c := 2 * len(r.hdrs); n < c {
		n = min(c, maxBatch)
	}
	r.hdrs = make([]unix.Mmsghdr, n)
	r.iovs = make([]unix.Iovec, n)
	r.names = make([]unix.RawSockaddrInet6, n)
	r.oob = make([]uint64, n*oobWords)
	for i := range r.hdrs {
		h := &r.hdrs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&r.names[i]))
		h.Iov = &r.iovs[i]
		h.SetIovlen(1)
		h.Control = (*byte)(unsafe.Pointer(&r.oob[i*oobWords]))
	}
}

// recvmmsg is run by RawConn.Read; returning false waits for readability.
func (r *reader) recvmmsg(fd uintptr) bool {
	for {
		n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd,
			uintptr(unsafe.Pointer(&r.hdrs[0])), uintptr(r.count), 0, 0, 0)
		switch e {
		case 0:
			r.n, r.errno = int(n), 0
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		default:
			r.n, r.errno = 0, e
			return true
		}
	}
}

// readBatch fills up to 1024 slots with one recvmmsg call.
func (c *fastConn) readBatch(msgs []Message) (int, error) {
	if len(msgs) == 0 {
		return 0, nil
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	r := &c.r
	count := min(len(msgs), maxBatch)
	r.grow(count)
	for i := range count {
		b := msgs[i].Buf
		iov := &r.iovs[i]
		if len(b) > 0 {
			iov.Base = &b[0]
		} else {
			iov.Base = nil
		}
		iov.SetLen(len(b))
		h := &r.hdrs[i].Hdr
		h.Namelen = unix.SizeofSockaddrInet6
		h.SetControllen(oobWords * 8)
		h.Flags = 0
	}
	r.count = count
	err := c.rc.Read(r.fn)
	for i := range count {
		r.iovs[i].Base = nil // do not retain the caller's buffers
	}
	if err != nil {
		return 0, wrapErr("read", err)
	}
	if r.errno != 0 {
		return 0, wrapErr("read", os.NewSyscallError("recvmmsg", r.errno))
	}
	for i := range r.n {
		h := &r.hdrs[i]
		m := &msgs[i]
		m.N = int(h.Len)
		m.From = rawToAddrPort(&r.names[i])
		m.Truncated = h.Hdr.Flags&unix.MSG_TRUNC != 0
		if m.N > len(m.Buf) {
			m.N = len(m.Buf)
		}
		seg, ifIndex := 0, 0
		if cl := int(h.Hdr.Controllen); cl > 0 {
			seg, ifIndex = parseOOB(unsafe.Slice((*byte)(unsafe.Pointer(&r.oob[i*oobWords])), min(cl, oobWords*8)))
		}
		m.IfIndex = ifIndex
		if seg >= m.N {
			seg = 0
		}
		if m.Truncated && seg > 0 {
			// A GRO batch cut off by a short buffer: keep only the
			// whole datagrams; Truncated reports the loss.
			m.N -= m.N % seg
			if seg >= m.N {
				seg = 0
			}
		}
		m.Seg = seg
	}
	return r.n, nil
}

// parseOOB returns the segment size from a UDP_GRO control message and the
// arrival interface from an IP_PKTINFO or IPV6_PKTINFO one in oob (0 when
// absent).
func parseOOB(oob []byte) (seg, ifIndex int) {
	const align = int(unsafe.Sizeof(uintptr(0)))
	hdrLen := unix.CmsgLen(0)
	for len(oob) >= hdrLen {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < hdrLen || l > len(oob) {
			return seg, ifIndex
		}
		switch {
		case h.Level == unix.IPPROTO_UDP && h.Type == unix.UDP_GRO && l >= unix.CmsgLen(4):
			seg = int(*(*int32)(unsafe.Pointer(&oob[hdrLen])))
		case h.Level == unix.IPPROTO_IP && h.Type == unix.IP_PKTINFO && l >= unix.CmsgLen(unix.SizeofInet4Pktinfo):
			ifIndex = int((*unix.Inet4Pktinfo)(unsafe.Pointer(&oob[hdrLen])).Ifindex)
		case h.Level == unix.IPPROTO_IPV6 && h.Type == unix.IPV6_PKTINFO && l >= unix.CmsgLen(unix.SizeofInet6Pktinfo):
			ifIndex = int((*unix.Inet6Pktinfo)(unsafe.Pointer(&oob[hdrLen])).Ifindex)
		}
		l = (l + align - 1) &^ (align - 1)
		if l >= len(oob) {
			return seg, ifIndex
		}
		oob = oob[l:]
	}
	return seg, ifIndex
}
