//go:build linux

package gateway

import (
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sysBatch is sendmmsg with reused headers, addresses and vectors, so that
// a send allocates nothing.
type sysBatch struct {
	raw   syscall.RawConn
	v6    bool
	hdrs  [maxBatch]unix.Mmsghdr
	iovs  [maxBatch]unix.Iovec
	sa4   [maxBatch]unix.RawSockaddrInet4
	sa6   [maxBatch]unix.RawSockaddrInet6
	start int
	end   int
	errno unix.Errno
	sent  int
	fn    func(fd uintptr) bool
}

func (s *sysBatch) init(conn *net.UDPConn) {
	s.raw, _ = conn.SyscallConn()
	la, _ := conn.LocalAddr().(*net.UDPAddr)
	s.v6 = la != nil && la.IP.To4() == nil
	for i := range s.hdrs {
		h := &s.hdrs[i].Hdr
		h.Iov = &s.iovs[i]
		h.SetIovlen(1)
		if s.v6 {
			s.sa6[i].Family = unix.AF_INET6
			h.Name = (*byte)(unsafe.Pointer(&s.sa6[i]))
			h.Namelen = unix.SizeofSockaddrInet6
		} else {
			s.sa4[i].Family = unix.AF_INET
			h.Name = (*byte)(unsafe.Pointer(&s.sa4[i]))
			h.Namelen = unix.SizeofSockaddrInet4
		}
	}
	s.fn = s.sendmmsg
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (s *sysBatch) sendmmsg(fd uintptr) bool {
	for s.start < s.end {
		n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&s.hdrs[s.start])), uintptr(s.end-s.start), 0, 0, 0)
		switch e {
		case 0:
			s.start += int(n)
			s.sent += int(n)
		case unix.EINTR:
		case unix.EAGAIN:
			return false
		default:
			// The first message failed (an unreachable address, say):
			// skip it and go on with the rest.
			s.errno = e
			s.start++
		}
	}
	return true
}

// send sends msgs (at most maxBatch) and returns how many failed.
func (s *sysBatch) send(conn *net.UDPConn, msgs []out) int {
	if s.raw == nil {
		return sendEach(conn, msgs)
	}
	for i, m := range msgs {
		a := m.dst.Addr()
		if s.v6 {
			s.sa6[i].Port = htons(m.dst.Port())
			s.sa6[i].Addr = a.As16()
		} else {
			if !a.Unmap().Is4() {
				return sendEach(conn, msgs)
			}
			s.sa4[i].Port = htons(m.dst.Port())
			s.sa4[i].Addr = a.Unmap().As4()
		}
		if len(m.b) > 0 {
			s.iovs[i].Base = &m.b[0]
		} else {
			s.iovs[i].Base = nil
		}
		s.iovs[i].SetLen(len(m.b))
	}
	s.start, s.end, s.sent = 0, len(msgs), 0
	if err := s.raw.Write(s.fn); err != nil {
		s.start = s.end
	}
	for i := range msgs {
		s.iovs[i].Base = nil
	}
	return len(msgs) - s.sent
}
