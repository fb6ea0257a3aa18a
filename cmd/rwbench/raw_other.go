//go:build !linux

package main

import (
	"errors"
	"net"
)

// multicastOnLoopback is only implemented on Linux: elsewhere raw UDP
// multicast is not measured rather than sent out of an unknown interface.
func multicastOnLoopback(*net.UDPConn) error {
	return errors.New("raw multicast is only measured on Linux")
}
