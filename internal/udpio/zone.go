package udpio

import (
	"errors"
	"net"
	"strconv"
	"sync"
)

// zone cache: interface index <-> zone name. Zones are interface names when
// the interface exists, else decimal indexes (as package net does).
var zones struct {
	sync.RWMutex
	byIndex map[uint32]string
	byName  map[string]uint32
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
