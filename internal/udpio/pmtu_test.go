package udpio

import (
	"errors"
	"net/netip"
	"runtime"
	"testing"
)

// TestPathMTULoopback: the path MTU to this host is the loopback
// interface's less the headers, far above an Ethernet frame's payload.
func TestPathMTULoopback(t *testing.T) {
	forImpls(t, func(t *testing.T, impl implKind) {
		for _, v6 := range []bool{false, true} {
			c := listenLoopback(t, impl, v6)
			dst := c.LocalAddr()
			mtu, err := c.PathMTU(dst)
			if err != nil {
				t.Fatalf("PathMTU(%v): %v", dst, err)
			}
			t.Logf("PathMTU(%v) = %d", dst, mtu)
			// Loopback MTUs: 65536 (Linux), 16384 (macOS), 1500 (Windows).
			if mtu < 1472-20 || mtu > maxPayload4+20 {
				t.Errorf("PathMTU(%v) = %d, want a loopback interface's MTU less the headers", dst, mtu)
			}
			if runtime.GOOS == "linux" && ((!v6 && mtu != maxPayload4) || (v6 && mtu != 65536-udpHeaders6)) {
				t.Errorf("PathMTU(%v) = %d, want lo's 65536 less the headers (at most %d)", dst, mtu, maxPayload4)
			}
		}
		if _, err := listenLoopback(t, impl, false).PathMTU(netip.AddrPort{}); err == nil {
			t.Error("PathMTU of the zero address: no error")
		}
	})
}

// TestSizeError: a datagram larger than any UDP datagram fails as one
// larger than the path MTU does, with a SizeError that says so, and
// nothing is sent.
func TestSizeError(t *testing.T) {
	forImpls(t, func(t *testing.T, impl implKind) {
		c := listenLoopback(t, impl, false)
		big := make([]byte, 2*(maxPayload4+1))
		err := c.WriteTo(big, maxPayload4+1, c.LocalAddr())
		var se *SizeError
		if !errors.As(err, &se) || !errors.Is(err, ErrMessageSize) || !isMsgSize(err) {
			t.Fatalf("WriteTo of datagrams of %d bytes: %v (%T), want a SizeError wrapping ErrMessageSize and EMSGSIZE", maxPayload4+1, err, err)
		}
		if se.Size != maxPayload4+1 || se.Sent != 0 || se.Dst != c.LocalAddr() {
			t.Errorf("SizeError %+v, want Size %d, Sent 0, Dst %v", se, maxPayload4+1, c.LocalAddr())
		}
		// What fits still goes, in pieces of either kind of write.
		for _, frag := range []bool{false, true} {
			buf := train(3, 1400, 100)
			if frag {
				err = c.WriteToFragmented(buf, 1400, c.LocalAddr())
			} else {
				err = c.WriteTo(buf, 1400, c.LocalAddr())
			}
			if err != nil {
				t.Fatalf("fragmented %v: %v", frag, err)
			}
			checkTrain(t, collect(t, c, 4, testTimeout), buf, 1400, c.LocalAddr())
		}
	})
}
