//go:build !linux

package udpio

import "testing"

// gsoSupported reports false: only the Linux fast implementation has GSO.
func gsoSupported(*Conn) bool { return false }

// logBuffers logs what ReadBufferSize reports.
func logBuffers(t *testing.T, c *Conn) { t.Logf("ReadBufferSize() = %d", c.ReadBufferSize()) }
