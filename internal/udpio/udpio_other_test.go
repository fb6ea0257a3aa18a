//go:build !linux

package udpio

import "testing"

// gsoSupported reports false: only the Linux fast implementation has GSO.
func gsoSupported(*Conn) bool { return false }

// logBuffers does nothing here.
func logBuffers(*testing.T, *Conn) {}
