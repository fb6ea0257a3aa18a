//go:build linux

package udpio

import (
	"testing"

	"golang.org/x/sys/unix"
)

// fastOf returns c's fast implementation, or nil.
func fastOf(c *Conn) *fastConn {
	f, _ := c.impl.(*fastConn)
	return f
}

// gsoSupported reports whether c's kernel socket accepted UDP_SEGMENT.
func gsoSupported(c *Conn) bool {
	f := fastOf(c)
	return f != nil && f.gsoSupported
}

// kernelBuffers returns the kernel's socket buffer sizes.
func kernelBuffers(t *testing.T, c *Conn) (rcv, snd int) {
	var rc interface {
		Control(func(fd uintptr)) error
	}
	if f := fastOf(c); f != nil {
		rc = f.rc
	} else {
		r, err := c.impl.(*portableConn).uc.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		rc = r
	}
	rc.Control(func(fd uintptr) {
		rcv, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF)
		snd, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF)
	})
	return rcv, snd
}

// logBuffers logs the kernel's socket buffer sizes and checks that
// ReadBufferSize reports the receive buffer's.
func logBuffers(t *testing.T, c *Conn) {
	rcv, snd := kernelBuffers(t, c)
	t.Logf("SO_RCVBUF=%d SO_SNDBUF=%d (kernel doubles the requested value)", rcv, snd)
	if got := c.ReadBufferSize(); got != rcv || got <= 0 {
		t.Errorf("ReadBufferSize() = %d, kernel says %d", got, rcv)
	}
}

// TestGSOFallback forces the kernel to reject GSO (SO_NO_CHECK makes
// udp_send_skb return EINVAL for GSO messages) and checks that WriteTo falls
// back to sendmmsg, switches GSO off for good and loses nothing.
func TestGSOFallback(t *testing.T) {
	a, b := listenLoopback(t, implFast, false), listenLoopback(t, implFast, false)
	if !a.GSO() {
		t.Skip("GSO not supported")
	}
	var serr error
	if err := fastOf(a).rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_NO_CHECK, 1)
	}); err != nil || serr != nil {
		t.Skipf("SO_NO_CHECK: %v %v", err, serr)
	}
	buf := train(100, 1400, 3)
	if err := a.WriteTo(buf, 1400, b.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if a.GSO() {
		t.Fatal("GSO still enabled after a rejected GSO send")
	}
	checkTrain(t, collect(t, b, 101, testTimeout), buf, 1400, a.LocalAddr())
}
