//go:build linux

package udpio

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// multiWriter is the reused state of fastConn.writeBatch: one sendmmsg
// header, vector and address per message, so that the destinations can
// differ within a call. Guarded by fastConn.wmu. It is apart from writer,
// whose headers all point at one shared address.
type multiWriter struct {
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6 // large enough for sockaddr_in too

	// Arguments and results of one round of sendmmsg calls, passed through
	// fields so that fn (bound once) need not be a fresh closure per call.
	start, end int // hdrs[start:end] are still to send
	failed     int // messages the kernel refused (skipped)
	errno      unix.Errno
	errAt      int // index into hdrs of the first refused message
	fn         func(fd uintptr) bool
}

func (m *multiWriter) init() {
	m.fn = m.sendmmsg
}

// grow makes room for at least n messages (n <= maxBatch).
func (m *multiWriter) grow(n int) {
	if n <= len(m.hdrs) {
		return
	}
	n = min(max(n, 2*len(m.hdrs), initialBatch), maxBatch)
	m.hdrs = make([]unix.Mmsghdr, n)
	m.iovs = make([]unix.Iovec, n)
	m.names = make([]unix.RawSockaddrInet6, n)
	for i := range m.hdrs {
		h := &m.hdrs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&m.names[i]))
		h.Iov = &m.iovs[i]
		h.SetIovlen(1)
	}
}

// setDst encodes msg's destination into entry i for a socket of family.
func (m *multiWriter) setDst(i, family int, msg *Outgoing) error {
	a := msg.Dst.Addr().Unmap()
	h := &m.hdrs[i].Hdr
	switch {
	case !a.IsValid():
		return errInvalidDst
	case family == unix.AF_INET:
		if !a.Is4() {
			return errFamily6on4
		}
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&m.names[i]))
		*sa = unix.RawSockaddrInet4{Family: unix.AF_INET, Port: htons(msg.Dst.Port()), Addr: a.As4()}
		h.Namelen = unix.SizeofSockaddrInet4
	default:
		// IPv6 sockets are IPV6_V6ONLY: the kernel would refuse an
		// IPv4-mapped destination; say why instead.
		if a.Is4() {
			return errFamily4on6
		}
		scope, err := zoneToIndex(a.Zone())
		if err != nil {
			return err
		}
		m.names[i] = unix.RawSockaddrInet6{Family: unix.AF_INET6, Port: htons(msg.Dst.Port()), Addr: a.As16(), Scope_id: scope}
		h.Namelen = unix.SizeofSockaddrInet6
	}
	return nil
}

// sendmmsg is run by RawConn.Write; returning false waits for
// writability. It sends hdrs[start:end], skipping (and counting) each
// message the kernel refuses: sendmmsg reports an error only when the
// first message of a call fails, and stops short before a later failing
// one, which the next call then meets first.
func (m *multiWriter) sendmmsg(fd uintptr) bool {
	for m.start < m.end {
		n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd,
			uintptr(unsafe.Pointer(&m.hdrs[m.start])), uintptr(m.end-m.start), 0, 0, 0)
		switch e {
		case 0:
			m.start += int(n)
		case unix.EINTR:
		case unix.EAGAIN:
			return false
		default:
			if m.errno == 0 {
				m.errno, m.errAt = e, m.start
			}
			m.failed++
			m.start++
		}
	}
	return true
}

// writeBatch sends up to maxBatch messages per sendmmsg round; see
// Conn.WriteBatch.
func (c *fastConn) writeBatch(msgs []Outgoing, frag bool) (failed int, err error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if frag {
		if err := c.setFragment(true); err != nil {
			return len(msgs), fmt.Errorf("udpio: write batch: allowing fragmentation: %w", err)
		}
		defer c.setFragment(false)
	}
	m := &c.mw
	for len(msgs) > 0 {
		chunk := msgs[:min(len(msgs), maxBatch)]
		msgs = msgs[len(chunk):]
		m.grow(len(chunk))
		k := 0 // entries filled: the messages the socket can address
		for i := range chunk {
			o := &chunk[i]
			if derr := m.setDst(k, c.family, o); derr != nil {
				failed++
				if err == nil {
					err = fmt.Errorf("udpio: write to %v: %w", o.Dst, derr)
				}
				continue
			}
			iov := &m.iovs[k]
			if len(o.B) > 0 {
				iov.Base = &o.B[0]
			} else {
				iov.Base = nil
			}
			iov.SetLen(len(o.B))
			k++
		}
		if k == 0 {
			continue
		}
		m.start, m.end, m.failed, m.errno = 0, k, 0, 0
		werr := c.rc.Write(m.fn)
		for i := range k {
			m.iovs[i].Base = nil // do not retain the caller's buffers
		}
		failed += m.failed
		if m.errno != 0 && err == nil {
			err = fmt.Errorf("udpio: write to %v: %w", rawToAddrPort(&m.names[m.errAt]), os.NewSyscallError("sendmmsg", m.errno))
		}
		if werr != nil { // closed: nothing more can be sent
			failed += m.end - m.start + len(msgs)
			return failed, wrapErr("write", werr)
		}
	}
	return failed, err
}
