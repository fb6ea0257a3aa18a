//go:build linux

package udpio

import (
	"errors"
	"net"
	"net/netip"
	"strconv"
	"sync"
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

// zone cache: interface index <-> zone name. Zones are interface names when
// the interface exists, else decimal indexes (as package net does).
var zones struct {
	sync.RWMutex
	byIndex map[uint32]string
	byName  map[string]uint32
}

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

var errBadZone = errors.New("unknown IPv6 zone")

func zoneToIndex(z string) (uint32, error) {
	if z == "" {
		return 0, nil
	}
	zones.RLock()
	idx, ok := zones.byName[z]
	zones.RUnlock()
	if ok {
		return idx, nil
	}
	if ifi, err := net.InterfaceByName(z); err == nil {
		idx = uint32(ifi.Index)
	} else if n, err := strconv.ParseUint(z, 10, 32); err == nil {
		idx = uint32(n)
	} else {
		return 0, errBadZone
	}
	zones.Lock()
	if zones.byName == nil {
		zones.byName = make(map[string]uint32)
	}
	zones.byName[z] = idx
	zones.Unlock()
	return idx, nil
}
