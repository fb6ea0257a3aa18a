package channel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/internal/gwire"
	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/transport"
)

func TestGatewayURL(t *testing.T) {
	a, err := ParseURL("app://239.1.2.3:7400?channel=c&gateway=gw1.example.net:7500,10.0.0.2:7501")
	if err != nil || !slices.Equal(a.Gateways, []string{"gw1.example.net:7500", "10.0.0.2:7501"}) {
		t.Fatalf("%+v %v", a, err)
	}
	v := viaGateway(a, netip.MustParseAddrPort("10.0.0.2:7501"))
	if v.Form != Unicast || v.Host != "10.0.0.2" || v.Port != 7501 || v.Identity() != a.Identity() || v.Transport != "udp" {
		t.Fatalf("via: %+v (identity %q, want %q)", v, v.Identity(), a.Identity())
	}
	for _, bad := range []string{
		"app://239.1.2.3:7400?gateway=gw:7500",                                       // no channel id
		"app://10.0.0.1:7400?channel=c&gateway=gw:7500",                              // not multicast
		"app://239.1.2.3:7400?channel=c&gateway=gw",                                  // no port
		"app://239.1.2.3:7400?channel=c&gateway=gw:0",                                // port 0
		"app://239.1.2.3:7400?channel=c&gateway=239.1.1.1:7500",                      // a group
		"app://239.1.2.3:7400?channel=c&gateway=gw:1,gw:1",                           // twice
		"app://239.1.2.3:7400?channel=c&gateway=a:1,b:1,c:1,d:1,e:1,f:1,g:1,h:1,i:1", // too many
		"app://239.1.2.3:7400?channel=c&gateway=",                                    // empty
	} {
		if _, err := ParseURL(bad); !errors.Is(err, ErrBadURL) {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

func TestRankGateways(t *testing.T) {
	ap := func(i int) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), 7500)
	}
	in := []probeResult{{ap(0), 0, 0}, {ap(1), 30 * time.Millisecond, 1}, {ap(2), 0, 2}, {ap(3), 5 * time.Millisecond, 3}, {ap(4), 5 * time.Millisecond, 4}}
	var got []int
	for _, r := range rankGateways(in) {
		got = append(got, r.idx)
	}
	// Answered by round trip (ties as listed), then the silent as listed.
	if want := []int{3, 4, 1, 0, 2}; !slices.Equal(got, want) {
		t.Fatalf("ranked %v, want %v", got, want)
	}
}

// TestGatewayWatch: on a manual clock, the watch moves only when the
// gateway in use has been silent for the whole timeout, counts only what
// comes from the gateway in use, never goes back in time, and goes round
// the list.
func TestGatewayWatch(t *testing.T) {
	a, b, c := transport.IPAddr(netip.MustParseAddrPort("10.0.0.1:1")), transport.IPAddr(netip.MustParseAddrPort("10.0.0.2:1")), transport.IPAddr(netip.MustParseAddrPort("10.0.0.3:1"))
	t0 := stack.ManualEpoch
	var moves []string
	w := newGwWatch([]transport.Addr{a, b, c}, 1500*time.Millisecond, t0, func(from, to transport.Addr, now time.Time) {
		moves = append(moves, fmt.Sprintf("%v>%v@%v", from.IP.Addr(), to.IP.Addr(), now.Sub(t0)))
	})
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	check := func(w *gwWatch, d time.Duration) bool {
		moved, _ := w.check(at(d))
		return moved
	}
	w.heardFrom(a, at(time.Second))
	w.heardFrom(a, at(500*time.Millisecond)) // older: ignored
	w.heardFrom(b, at(2*time.Second))        // not the one in use
	if moved, next := w.check(at(2499 * time.Millisecond)); moved || next != time.Millisecond {
		t.Fatalf("moved %v before the timeout; next check in %v", moved, next)
	}
	if !check(w, 2500*time.Millisecond) {
		t.Fatal("did not move at the timeout")
	}
	w.heardFrom(a, at(2600*time.Millisecond)) // the old one: ignored
	if check(w, 3999*time.Millisecond) {
		t.Fatal("the new gateway did not get a whole timeout")
	}
	w.heardFrom(b, at(3900*time.Millisecond))
	if check(w, 5399*time.Millisecond) || !check(w, 5400*time.Millisecond) || !check(w, 6900*time.Millisecond) {
		t.Fatalf("moves %v", moves)
	}
	want := []string{"10.0.0.1>10.0.0.2@2.5s", "10.0.0.2>10.0.0.3@5.4s", "10.0.0.3>10.0.0.1@6.9s"}
	if !slices.Equal(moves, want) {
		t.Fatalf("moves %v, want %v", moves, want)
	}
	one := newGwWatch([]transport.Addr{a}, time.Second, t0, func(transport.Addr, transport.Addr, time.Time) { t.Fatal("moved with one gateway") })
	if check(one, time.Hour) {
		t.Fatal("moved with one gateway")
	}
}

// fakeGateway answers PROBEs (when answer is set) and counts the channel
// datagrams it receives; the test makes it send HEARTBEATs.
type fakeGateway struct {
	conn   *net.UDPConn
	group  netip.AddrPort
	answer bool
	from   atomic.Pointer[netip.AddrPort]
	dgrams atomic.Int64
}

func newFakeGateway(t *testing.T, group netip.AddrPort, answer bool) *fakeGateway {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeGateway{conn: c, group: group, answer: answer}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			f.from.Store(&from)
			if ctl, err := gwire.Parse(buf[:n]); err == nil && ctl.Type == gwire.Probe {
				if f.answer {
					c.WriteToUDPAddrPort(gwire.AppendProbed(nil, ctl.Cookie, f.group), from)
				}
				continue
			}
			if n > 0 && buf[0] == wireMagic {
				f.dgrams.Add(1)
			}
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	return f
}

func (f *fakeGateway) addr() netip.AddrPort { return f.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// heartbeat sends the channel a HEARTBEAT and waits until it has read it.
func (f *fakeGateway) heartbeat(t *testing.T, ch *Channel, seq uint64) {
	t.Helper()
	before := ch.Stats().Received.Datagrams
	to := f.from.Load()
	if to == nil {
		t.Fatal("the channel never sent to this gateway")
	}
	f.conn.WriteToUDPAddrPort(gwire.Append(nil, gwire.Heartbeat, seq), *to)
	deadline := time.Now().Add(10 * time.Second)
	for ch.Stats().Received.Datagrams == before {
		if time.Now().After(deadline) {
			t.Fatal("the channel did not read the heartbeat")
		}
		time.Sleep(time.Millisecond) // waiting for the reader goroutine, not for the clock
	}
}

// TestGatewayMoveManualClock: a channel served by gateway A (the one that
// answers its probes; B, silent, is its standby) stays while A's
// heartbeats come, however long (on the channel's manual clock), ignores
// heartbeats from B meanwhile, moves to B once A has been silent for the
// timeout (the check runs every tenth of it), says hello to B at once,
// and moves back to A when B falls silent in turn.
func TestGatewayMoveManualClock(t *testing.T) {
	group := netip.MustParseAddrPort("239.255.77.1:27400")
	a, b := newFakeGateway(t, group, true), newFakeGateway(t, group, false)
	clock := stack.NewManualClock(stack.ManualEpoch)
	var moves atomic.Int64
	const timeout = 1500 * time.Millisecond
	ch, err := Open(context.Background(), fmt.Sprintf("app://%v?iface=lo&channel=gwmove&gateway=%v,%v", group, a.addr(), b.addr()),
		WithClock(clock), WithoutDirectJoin(), WithGatewayProbe(time.Second), WithGatewayTimeout(timeout),
		WithEvents(func(e Event) {
			if e.Kind == "gateway-move" {
				moves.Add(1)
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	info, _ := ch.Gateway()
	if info.Direct || info.Current != a.addr() || !slices.Equal(info.Gateways, []netip.AddrPort{a.addr(), b.addr()}) || info.RTTs[0] == 0 || info.RTTs[1] != 0 {
		t.Fatalf("Gateway() = %+v", info)
	}
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatal(what)
			}
			time.Sleep(time.Millisecond) // waiting for another goroutine
		}
	}
	waitUntil("no hello reached A", func() bool { return a.dgrams.Load() > 0 })
	for i := range 20 { // 10 s of heartbeats every 500 ms
		a.heartbeat(t, ch, uint64(i+1))
		clock.Advance(500 * time.Millisecond)
	}
	if n := moves.Load(); n != 0 {
		t.Fatalf("%d moves while A's heartbeats came", n)
	}
	// A falls silent at last: its last heartbeat was read at heard.
	heard := clock.Now().Add(-500 * time.Millisecond)
	b.from.Store(ptr(*a.from.Load())) // B has heard nothing yet: send from where A was sent to
	b.heartbeat(t, ch, 1)             // from B, not in use: not counted
	clock.AdvanceTo(heard.Add(timeout - time.Millisecond))
	if n := moves.Load(); n != 0 {
		t.Fatalf("moved %v after A's last heartbeat", clock.Now().Sub(heard))
	}
	sentB := b.dgrams.Load()
	clock.AdvanceTo(heard.Add(timeout))
	info, _ = ch.Gateway()
	if moves.Load() != 1 || info.Current != b.addr() || info.Moves != 1 || !info.LastMove.Equal(heard.Add(timeout)) {
		t.Fatalf("after A's silence: %d moves, %+v", moves.Load(), info)
	}
	waitUntil("no hello reached B after the move", func() bool { return b.dgrams.Load() > sentB })
	if d := ch.Stats().Drops["gateway-control"]; d == 0 {
		t.Fatal("B's heartbeat before the move was not refused")
	}
	// B stays while it beats; then falls silent, and the channel goes back to A.
	b.heartbeat(t, ch, 2)
	clock.Advance(timeout - time.Millisecond)
	if moves.Load() != 1 {
		t.Fatal("moved while B beat")
	}
	clock.Advance(timeout)
	if info, _ = ch.Gateway(); moves.Load() != 2 || info.Current != a.addr() {
		t.Fatalf("after B's silence: %d moves, %+v", moves.Load(), info)
	}
	if !strings.Contains(fmt.Sprint(ch.Stats().Events), "gateway-move") {
		t.Fatalf("events %v", ch.Stats().Events)
	}
}

func ptr[T any](v T) *T { return &v }
