//go:build !linux

package udpio

import (
	"errors"
	"net/netip"
)

// haveFast reports whether this OS has the fast implementation (Linux only).
const haveFast = false

var errNoFast = errors.New("no fast implementation on this OS")

func listenFastUnicast(netip.AddrPort) (connImpl, error) { return nil, errNoFast }

func listenFastMulticast(mcastSpec) (connImpl, error) { return nil, errNoFast }
