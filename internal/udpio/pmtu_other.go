//go:build !linux

package udpio

import (
	"errors"
	"net"
	"net/netip"
)

// setFragment does nothing: outside Linux sockets keep the OS's default,
// which fragments datagrams larger than the path MTU.
func setFragment(*net.UDPConn, bool, bool) error { return nil }

// routeMTU is not known here; PathMTU falls back to the interface's.
func routeMTU(netip.AddrPort) (int, error) {
	return 0, errors.New("no route MTU lookup on this OS")
}
