package channel

import (
	"net"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/internal/gwire"
	"github.com/rwanda-go/rwanda/stack"
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

// TestGatewayReceipts: a unicast channel sends its peer RECEIPTs (what it
// has received in all, by its clock) every gwire.ReceiptEvery, once the
// peer has shown itself a gateway with a control datagram, and not
// before.
func TestGatewayReceipts(t *testing.T) {
	gw, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	clock := stack.NewManualClock(time.Time{})
	c := open(t, "gwc://"+gw.LocalAddr().String()+"?channel=gwr", WithClock(clock))
	buf := make([]byte, 2048)
	gw.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, client, err := gw.ReadFromUDP(buf) // its hello
	if err != nil {
		t.Fatal(err)
	}
	// receipts reads what the channel sent until it has been quiet for
	// quiet, and returns the RECEIPTs among it.
	receipts := func(quiet time.Duration) []gwire.Control {
		var rs []gwire.Control
		for {
			gw.SetReadDeadline(time.Now().Add(quiet))
			n, _, err := gw.ReadFromUDP(buf)
			if err != nil {
				return rs
			}
			if g, err := gwire.Parse(buf[:n]); err == nil && g.Type == gwire.Receipt {
				rs = append(rs, g)
			}
		}
	}
	clock.Advance(3 * gwire.ReceiptEvery)
	if rs := receipts(200 * time.Millisecond); len(rs) != 0 {
		t.Fatalf("RECEIPTs before the peer said it is a gateway: %+v", rs)
	}
	hb := gwire.Append(nil, gwire.Heartbeat, 1)
	if _, err := gw.WriteToUDP(hb, client); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for c.Stats().Received.Datagrams == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the heartbeat never arrived")
		}
		time.Sleep(time.Millisecond) // waiting on the receiving goroutine
	}
	var got []gwire.Control
	for range 2 {
		clock.Advance(gwire.ReceiptEvery)
		want := uint32(clock.Now().UnixMicro())
		gw.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			n, _, err := gw.ReadFromUDP(buf)
			if err != nil {
				t.Fatalf("no RECEIPT: %v", err)
			}
			if g, err := gwire.Parse(buf[:n]); err == nil && g.Type == gwire.Receipt {
				if g.Clock != want {
					t.Fatalf("RECEIPT at clock %d, want %d", g.Clock, want)
				}
				got = append(got, g)
				break
			}
		}
	}
	// The heartbeat is all it has received.
	for i, g := range got {
		if g.Bytes != uint64(len(hb)) || g.Datagrams != 1 {
			t.Fatalf("RECEIPT %d: %d bytes in %d datagrams received, want %d in 1", i, g.Bytes, g.Datagrams, len(hb))
		}
	}

	// The gateway falls silent: once it has been for longer than the
	// gateway timeout, RECEIPTs pause; its next heartbeat resumes them.
	clock.Advance(DefaultGatewayTimeout)
	receipts(200 * time.Millisecond) // those sent before the silence was long
	clock.Advance(3 * gwire.ReceiptEvery)
	if rs := receipts(200 * time.Millisecond); len(rs) != 0 {
		t.Fatalf("%d RECEIPTs to a gateway silent for %v", len(rs), DefaultGatewayTimeout+3*gwire.ReceiptEvery)
	}
	if _, err := gw.WriteToUDP(hb, client); err != nil {
		t.Fatal(err)
	}
	for c.Stats().Received.Datagrams < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the second heartbeat never arrived")
		}
		time.Sleep(time.Millisecond) // waiting on the receiving goroutine
	}
	clock.Advance(gwire.ReceiptEvery)
	if rs := receipts(200 * time.Millisecond); len(rs) != 1 {
		t.Fatalf("%d RECEIPTs after the gateway's heartbeat, want 1", len(rs))
	}
}
