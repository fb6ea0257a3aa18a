package channel

import (
	"net"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/internal/gwire"
)

// TestGatewayControl: a unicast channel echoes a gateway's CHALLENGE to
// the peer its URL names, and only to it; a control datagram from anyone
// else is dropped and counted, and a malformed one counted as such.
func TestGatewayControl(t *testing.T) {
	gw, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	c := open(t, "gwc://"+gw.LocalAddr().String()+"?channel=gwc")
	// The channel's first datagram (its hello) tells us its address.
	buf := make([]byte, 2048)
	gw.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, client, err := gw.ReadFromUDP(buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gw.WriteToUDP(gwire.Append(nil, gwire.Challenge, 0xfeed), client); err != nil {
		t.Fatal(err)
	}
	for {
		n, _, err := gw.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("no echo: %v", err)
		}
		if g, err := gwire.Parse(buf[:n]); err == nil {
			if g.Type != gwire.Echo || g.Cookie != 0xfeed {
				t.Fatalf("answered %+v", g)
			}
			break
		}
	}
	other, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	other.WriteToUDP(gwire.Append(nil, gwire.Challenge, 0xbad), client)
	waitDrops(t, c, "gateway-control", 1)
	gw.WriteToUDP([]byte{gwire.Magic, 0x13}, client)
	waitDrops(t, c, "malformed", 1)
}
