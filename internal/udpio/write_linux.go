//go:build linux

package udpio

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// maxGSOSegments is the kernel's UDP_MAX_SEGMENTS (64 before Linux 6.10,
// 128 since; we use the portable value).
const maxGSOSegments = 64

// writer is the reused send state of a fastConn, guarded by fastConn.wmu.
type writer struct {
	hdrs       []unix.Mmsghdr
	iovs       []unix.Iovec
	used       int // hdrs/iovs entries filled by the last fill (to release buffers)
	family     int
	maxPayload int
	sa4        unix.RawSockaddrInet4
	sa6        unix.RawSockaddrInet6
	name       *byte
	namelen    uint32
	gsoOOB     [4]uint64 // UDP_SEGMENT cmsg; uint64 for cmsghdr alignment
	gsoOOBLen  int

	// Arguments and results of one sendmmsg, passed through fields so that
	// fn (bound once) need not be a fresh closure per call.
	start, end int
	n          int
	errno      unix.Errno
	fn         func(fd uintptr) bool
}

func (w *writer) init(family int) {
	w.family = family
	if family == unix.AF_INET {
		w.maxPayload = maxPayload4
		w.sa4.Family = unix.AF_INET
		w.name = (*byte)(unsafe.Pointer(&w.sa4))
		w.namelen = unix.SizeofSockaddrInet4
	} else {
		w.maxPayload = maxPayload6
		w.sa6.Family = unix.AF_INET6
		w.name = (*byte)(unsafe.Pointer(&w.sa6))
		w.namelen = unix.SizeofSockaddrInet6
	}
	oob := unsafe.Slice((*byte)(unsafe.Pointer(&w.gsoOOB[0])), len(w.gsoOOB)*8)
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level = unix.IPPROTO_UDP
	h.Type = unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	w.gsoOOBLen = unix.CmsgSpace(2)
	w.fn = w.sendmmsg
	w.grow(initialBatch)
}

// grow makes room for at least n messages (n <= maxBatch).
func (w *writer) grow(n int) {
	if n <= len(w.hdrs) {
		return
	}
	if c := 2 * len(w.hdrs); n < c {
		n = min(c, maxBatch)
	}
	w.hdrs = make([]unix.Mmsghdr, n)
	w.iovs = make([]unix.Iovec, n)
	for i := range w.hdrs {
		h := &w.hdrs[i].Hdr
		h.Name = w.name
		h.Namelen = w.namelen
		h.Iov = &w.iovs[i]
		h.SetIovlen(1)
	}
}

// SetGSOSize stores the segment size into the UDP_SEGMENT cmsg.
func (w *writer) SetGSOSize(seg int) {
	p := (*uint16)(unsafe.Add(unsafe.Pointer(&w.gsoOOB[0]), unix.CmsgLen(0)))
	*p = uint16(seg)
}

// setDst encodes dst into the reused sockaddr.
func (w *writer) setDst(dst netip.AddrPort) error {
	a := dst.Addr().Unmap()
	if !a.IsValid() {
		return errors.New("invalid destination address")
	}
	if w.family == unix.AF_INET {
		if !a.Is4() {
			return errors.New("IPv6 destination on an IPv4 socket")
		}
		w.sa4.Port = htons(dst.Port())
		w.sa4.Addr = a.As4()
		return nil
	}
	var scope uint32
	if z := a.Zone(); z != "" {
		idx, err := zoneToIndex(z)
		if err != nil {
			return err
		}
		scope = idx
	}
	w.sa6.Port = htons(dst.Port())
	w.sa6.Addr = a.As16() // IPv4 gives the IPv4-mapped form
	w.sa6.Scope_id = scope
	return nil
}

// fill lays out buf as messages of seg-byte datagrams (GSO messages of up to
// maxGSOSegments segments if gso) in hdrs and returns how many messages it
// filled (at most maxBatch; the caller loops for the rest) and whether they
// carry the UDP_SEGMENT cmsg.
func (w *writer) fill(buf []byte, seg int, gso bool) (count int, usedGSO bool) {
	if len(buf) == 0 { // one empty datagram
		w.iovs[0] = unix.Iovec{}
		w.hdrs[0].Hdr.Control = nil
		w.hdrs[0].Hdr.SetControllen(0)
		w.used = max(w.used, 1)
		return 1, false
	}
	chunk := seg
	if gso && len(buf) > seg {
		if k := min(maxGSOSegments, w.maxPayload/seg); k >= 2 {
			chunk = k * seg
			usedGSO = true
			w.SetGSOSize(seg)
		}
	}
	count = min((len(buf)+chunk-1)/chunk, maxBatch)
	w.grow(count)
	for i := range count {
		off := i * chunk
		end := min(off+chunk, len(buf))
		w.iovs[i].Base = &buf[off]
		w.iovs[i].SetLen(end - off)
		h := &w.hdrs[i].Hdr
		if usedGSO && end-off > seg {
			h.Control = (*byte)(unsafe.Pointer(&w.gsoOOB[0]))
			h.SetControllen(w.gsoOOBLen)
		} else {
			h.Control = nil
			h.SetControllen(0)
		}
	}
	w.used = max(w.used, count)
	return count, usedGSO
}

// release drops references to the caller's buffer.
func (w *writer) release() {
	for i := range w.used {
		w.iovs[i].Base = nil
	}
	w.used = 0
}

// sendmmsg is run by RawConn.Write; returning false waits for writability.
func (w *writer) sendmmsg(fd uintptr) bool {
	for {
		n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd,
			uintptr(unsafe.Pointer(&w.hdrs[w.start])), uintptr(w.end-w.start), 0, 0, 0)
		switch e {
		case 0:
			w.n, w.errno = int(n), 0
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		default:
			w.n, w.errno = 0, e
			return true
		}
	}
}

// isGSOErrno reports whether a failed GSO send may mean the path cannot do
// GSO: EIO (no TX checksum offload on the device) or EINVAL (older kernels
// also say EINVAL for a segment larger than the MTU, which newer ones call
// EMSGSIZE). The train is then resent without GSO, and GSO stays off only
// if that works: if the resend fails with EMSGSIZE, the segment was too
// large for the path and GSO was not to blame.
func isGSOErrno(e unix.Errno) bool { return e == unix.EIO || e == unix.EINVAL }

// writeTo sends a train with GSO messages (when on and not frag) or one
// sendmmsg entry per datagram; see Conn.WriteTo and Conn.WriteToFragmented.
func (c *fastConn) writeTo(buf []byte, segSize int, dst netip.AddrPort, frag bool) error {
	if segSize <= 0 || segSize >= len(buf) {
		segSize = len(buf)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	w := &c.w
	if err := w.setDst(dst); err != nil {
		return fmt.Errorf("udpio: write to %v: %w", dst, err)
	}
	defer w.release()
	if frag {
		if err := c.setFragment(true); err != nil {
			return fmt.Errorf("udpio: write to %v: allowing fragmentation: %w", dst, err)
		}
		defer c.setFragment(false)
	}

	pos := 0
	var bo backoff
	useGSO := !frag
	suspect := false // GSO failed as if the path could not do it; trying without
	for first := true; first || pos < len(buf); first = false {
	refill:
		count, gso := w.fill(buf[pos:], segSize, useGSO && c.gsoOn.Load())
		for next := 0; next < count; {
			w.start, w.end = next, count
			if err := c.rc.Write(w.fn); err != nil {
				return wrapErr("write", err)
			}
			if w.errno == 0 {
				for _, iov := range w.iovs[next : next+w.n] {
					pos += int(iov.Len)
				}
				next += w.n
				bo.reset()
				if suspect && w.n > 0 {
					c.gsoOn.Store(false) // plain sends pass where GSO failed
					suspect = false
				}
				continue
			}
			switch {
			case w.errno == unix.ENOBUFS && bo.wait():
				// A queue below the socket is full; the poller will not
				// tell us when it drains, so back off and retry.
			case gso && isGSOErrno(w.errno):
				useGSO, suspect = false, true
				goto refill
			case w.errno == unix.EMSGSIZE:
				return &SizeError{Dst: dst, Size: min(segSize, int(w.iovs[next].Len)), Sent: pos,
					Err: os.NewSyscallError("sendmmsg", w.errno)}
			default:
				return fmt.Errorf("udpio: write to %v: %w", dst, os.NewSyscallError("sendmmsg", w.errno))
			}
		}
	}
	return nil
}

// setFragment allows IP fragmentation of what the socket sends (true:
// IP_PMTUDISC_DONT) or forbids it (false: IP_PMTUDISC_DO, the setting
// between calls); see Conn.WriteToFragmented.
func (c *fastConn) setFragment(allow bool) error {
	var serr error
	if err := c.rc.Control(func(fd uintptr) { serr = setPMTUDisc(int(fd), c.family == unix.AF_INET6, allow) }); err != nil {
		return err
	}
	return serr
}
