//go:build unix

package testnet

import (
	"net"
	"testing"
)

// Ports held at once are distinct, outside the ephemeral range, and
// bindable; a released port's lock can be taken again.
func TestFreePortReserved(t *testing.T) {
	low := min(ephemeralLow(), portTop)
	seen := map[int]bool{}
	var releases []func()
	for range 200 {
		port, release, err := reservePort()
		if err != nil {
			t.Fatal(err)
		}
		releases = append(releases, release)
		if seen[port] {
			t.Fatalf("port %d handed out twice while held", port)
		}
		seen[port] = true
		if port < low-portSpan || port >= low {
			t.Fatalf("port %d outside %d–%d", port, low-portSpan, low-1)
		}
	}
	for _, r := range releases {
		r()
	}
	// The kernel never gives a port-0 bind one of these.
	for range 200 {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		p := c.LocalAddr().(*net.UDPAddr).Port
		c.Close()
		if p >= low-portSpan && p < low {
			t.Fatalf("a port-0 bind got %d, inside FreePort's span", p)
		}
	}
}
