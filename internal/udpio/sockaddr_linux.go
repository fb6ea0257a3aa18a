//go:build linux

package udpio

import (
	"net"
	"net/netip"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sockaddrToAddrPort converts a decoded unix.Sockaddr (slow path, used at open).
func sockaddrToAddrPort(sa unix.Sockaddr) netip.AddrPort {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *unix.SockaddrInet6:
		a := netip.AddrFrom16(sa.Addr).Unmap()
		if sa.ZoneId != 0 && a.Is6() {
			a = a.WithZone(indexToZone(sa.ZoneId))
		}
		return netip.AddrPortFrom(a, uint16(sa.Port))
	}
	return netip.AddrPort{}
}

// rawToAddrPort decodes a raw sockaddr_in or sockaddr_in6 (told apart by the
// family field) written by the kernel. It does not allocate, except the first
// time a zone is seen.
func rawToAddrPort(sa *unix.RawSockaddrInet6) netip.AddrPort {
	switch sa.Family {
	case unix.AF_INET:
		s4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(s4.Addr), ntohs(s4.Port))
	case unix.AF_INET6:
		a := netip.AddrFrom16(sa.Addr).Unmap()
		if sa.Scope_id != 0 && a.Is6() {
			a = a.WithZone(indexToZone(sa.Scope_id))
		}
		return netip.AddrPortFrom(a, ntohs(sa.Port))
	}
	return netip.AddrPort{}
}

// ntohs converts a port in network byte order, as stored in a raw sockaddr.
func ntohs(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return uint16(b[0])<<8 | uint16(b[1])
}

// htons is the inverse of ntohs.
func htons(p uint16) uint16 {
	var r uint16
	b := (*[2]byte)(unsafe.Pointer(&r))
	b[0] = byte(p >> 8)
	b[1] = byte(p)
	return r
}

// indexToZone returns the zone for an interface index, from the cache.
func indexToZone(idx uint32) string {
	zones.RLock()
	z, ok := zones.byIndex[idx]
	zones.RUnlock()
	if ok {
		return z
	}
	if ifi, err := net.InterfaceByIndex(int(idx)); err == nil {
		z = ifi.Name
	} else {
		z = strconv.FormatUint(uint64(idx), 10)
	}
	zones.Lock()
	if zones.byIndex == nil {
		zones.byIndex = make(map[uint32]string)
	}
	zones.byIndex[idx] = z
	zones.Unlock()
	return z
}
