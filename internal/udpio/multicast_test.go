package udpio

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// Environment of the child process of TestMulticastIPv4 (see TestMain).
const (
	childEnv      = "UDPIO_TEST_MULTICAST_CHILD" // group:port to join on lo
	childCountEnv = "UDPIO_TEST_MULTICAST_COUNT" // datagrams to expect
	childImplEnv  = "UDPIO_TEST_MULTICAST_IMPL"  // implKind as a number
)

// loopbackInterface returns lo, or else the first up loopback interface
// with multicast (lo0 on BSD and macOS).
func loopbackInterface(t testing.TB) *net.Interface {
	t.Helper()
	ifi, err := findLoopback()
	if err != nil {
		t.Skipf("no loopback interface: %v", err)
	}
	return ifi
}

func findLoopback() (*net.Interface, error) {
	if ifi, err := net.InterfaceByName("lo"); err == nil {
		return ifi, nil
	}
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	for _, ifi := range ifs {
		const want = net.FlagUp | net.FlagLoopback | net.FlagMulticast
		if ifi.Flags&want == want {
			return &ifi, nil
		}
	}
	return nil, errors.New("none found")
}

// randomGroup4 returns a random administratively scoped IPv4 group and port.
func randomGroup4() netip.AddrPort {
	a := netip.AddrFrom4([4]byte{239, byte(rand.IntN(254) + 1), byte(rand.IntN(256)), byte(rand.IntN(254) + 1)})
	return netip.AddrPortFrom(a, uint16(20000+rand.IntN(40000)))
}

// randomGroup6 returns a random transient link-local IPv6 group and port.
func randomGroup6() netip.AddrPort {
	var b [16]byte
	b[0], b[1] = 0xff, 0x12
	for i := 10; i < 16; i++ {
		b[i] = byte(rand.IntN(256))
	}
	return netip.AddrPortFrom(netip.AddrFrom16(b), uint16(20000+rand.IntN(40000)))
}

// mcastPayloads is what the multicast tests send: single datagrams followed
// by one train, so that both send paths are exercised.
func mcastPayloads(singles, trainLen int) (msgs [][]byte, trainBuf []byte) {
	for i := range singles {
		msgs = append(msgs, fmt.Appendf(nil, "datagram %d", i))
	}
	for i := range trainLen {
		msgs = append(msgs, bytes.Repeat([]byte{byte('A' + i%26)}, 1000))
	}
	return msgs, bytes.Join(msgs[singles:], nil)
}

func sendPayloads(t testing.TB, c *Conn, dst netip.AddrPort, singles, trainLen int) {
	t.Helper()
	msgs, trainBuf := mcastPayloads(singles, trainLen)
	for _, m := range msgs[:singles] {
		if err := c.WriteTo(m, 0, dst); err != nil {
			t.Fatalf("WriteTo(%v): %v", dst, err)
		}
	}
	if trainLen > 0 {
		if err := c.WriteTo(trainBuf, 1000, dst); err != nil {
			t.Fatalf("WriteTo(%v) train: %v", dst, err)
		}
	}
}

// checkPayloads verifies got (in order) against mcastPayloads.
func checkPayloads(got [][]byte, singles, trainLen int) error {
	want, _ := mcastPayloads(singles, trainLen)
	if len(got) != len(want) {
		return fmt.Errorf("got %d datagrams, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			return fmt.Errorf("datagram %d: got %q, want %q", i, got[i], want[i])
		}
	}
	return nil
}

func datagramsOf(ds []datagram) [][]byte {
	out := make([][]byte, len(ds))
	for i, d := range ds {
		out[i] = d.data
	}
	return out
}

// assertQuiet checks that nothing more arrives on c within a short window
// (to detect duplicate deliveries).
func assertQuiet(t *testing.T, c *Conn) {
	t.Helper()
	done := make(chan int, 1)
	go func() {
		msgs := []Message{{Buf: make([]byte, 64<<10)}}
		n, _ := c.ReadBatch(msgs)
		done <- n
	}()
	select {
	case n := <-done:
		t.Fatalf("unexpected extra datagram(s): %d", n)
	case <-time.After(100 * time.Millisecond):
		c.Close() // stops the reader
		<-done
	}
}

func TestMulticastIPv4(t *testing.T) {
	forImpls(t, testMulticastIPv4)
}

func testMulticastIPv4(t *testing.T, impl implKind) {
	lo := loopbackInterface(t)
	cfg := MulticastConfig{Group: randomGroup4(), Interface: lo, TTL: 0, Loopback: true}
	const singles, trainLen = 20, 30
	total := singles + trainLen

	var rcv [2]*Conn
	for i := range rcv {
		c, err := listenMulticast(cfg, impl)
		if err != nil {
			t.Fatalf("listenMulticast(%v, %v): %v", cfg.Group, impl, err)
		}
		t.Cleanup(func() { c.Close() })
		if c.LocalAddr() != cfg.Group {
			t.Fatalf("LocalAddr = %v, want %v", c.LocalAddr(), cfg.Group)
		}
		rcv[i] = c
	}
	snd, err := listenMulticast(cfg, impl)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { snd.Close() })
	t.Logf("group %v on lo; sender GSO=%v receiver GRO=%v", cfg.Group, snd.GSO(), rcv[0].GRO())

	// Child process joins the same group and port.
	ctx, cancel := context.WithTimeout(context.Background(), 2*testTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+cfg.Group.String(), childCountEnv+"="+strconv.Itoa(total),
		childImplEnv+"="+strconv.Itoa(int(impl)))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	waitLine := func() string {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("child exited early: %v", cmd.Wait())
			}
			return l
		case <-ctx.Done():
			t.Fatal("timeout waiting for child")
		}
		return ""
	}
	if l := waitLine(); l != "ready" {
		t.Fatalf("child: %q", l)
	}

	sendPayloads(t, snd, cfg.Group, singles, trainLen)

	for i, c := range append(rcv[:], snd) {
		got := collect(t, c, total, testTimeout)
		if err := checkPayloads(datagramsOf(got), singles, trainLen); err != nil {
			t.Errorf("receiver %d: %v", i, err)
		}
		for _, d := range got {
			if d.from.Port() != cfg.Group.Port() || !d.from.Addr().Is4() {
				t.Fatalf("receiver %d: From %v", i, d.from)
			}
		}
	}
	if l := waitLine(); l != "ok" {
		t.Fatalf("child: %q", l)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	for _, c := range rcv {
		assertQuiet(t, c)
	}
}

// multicastChild is the body of the child process of TestMulticastIPv4: it
// joins the group on lo, reports "ready", receives the datagrams and reports
// "ok" or an error. It returns the exit code.
func multicastChild() int {
	fail := func(format string, args ...any) int {
		fmt.Printf("error: "+format+"\n", args...)
		return 1
	}
	group, err := netip.ParseAddrPort(os.Getenv(childEnv))
	if err != nil {
		return fail("%v", err)
	}
	count, err := strconv.Atoi(os.Getenv(childCountEnv))
	if err != nil {
		return fail("%v", err)
	}
	impl, err := strconv.Atoi(os.Getenv(childImplEnv))
	if err != nil {
		return fail("%v", err)
	}
	lo, err := findLoopback()
	if err != nil {
		return fail("%v", err)
	}
	c, err := listenMulticast(MulticastConfig{Group: group, Interface: lo, Loopback: true}, implKind(impl))
	if err != nil {
		return fail("%v", err)
	}
	defer c.Close()
	fmt.Println("ready")
	timer := time.AfterFunc(testTimeout, func() { c.Close() })
	defer timer.Stop()
	msgs := make([]Message, 8)
	for i := range msgs {
		msgs[i].Buf = make([]byte, 64<<10)
	}
	var got [][]byte
	for len(got) < count {
		n, err := c.ReadBatch(msgs)
		if err != nil {
			return fail("after %d datagrams: %v", len(got), err)
		}
		for i := range n {
			for d := range msgs[i].Datagrams {
				got = append(got, bytes.Clone(d))
			}
		}
	}
	if err := checkPayloads(got, count-30, 30); err != nil {
		return fail("%v", err)
	}
	fmt.Println("ok")
	return 0
}

func TestMulticastIPv6(t *testing.T) {
	forImpls(t, testMulticastIPv6)
}

func testMulticastIPv6(t *testing.T, impl implKind) {
	lo := loopbackInterface(t)
	cfg := MulticastConfig{Group: randomGroup6(), Interface: lo, Loopback: true}
	const singles, trainLen = 10, 10
	var conns [3]*Conn
	for i := range conns {
		c, err := listenMulticast(cfg, impl)
		if err != nil {
			if i == 0 && isRefusal(err) {
				t.Skipf("kernel refuses IPv6 multicast on lo: %v", err)
			}
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		conns[i] = c
	}
	snd := conns[2]
	dst := netip.AddrPortFrom(cfg.Group.Addr().WithZone(lo.Name), cfg.Group.Port())
	if err := snd.WriteTo([]byte("probe"), 0, dst); err != nil {
		if isRefusal(err) {
			t.Skipf("kernel refuses to send IPv6 multicast on lo: %v", err)
		}
		t.Fatal(err)
	}
	t.Logf("group %v on lo; sender GSO=%v", cfg.Group, snd.GSO())
	for _, c := range conns {
		if got := collect(t, c, 1, testTimeout); string(got[0].data) != "probe" {
			t.Fatalf("got %q", got[0].data)
		}
	}
	sendPayloads(t, snd, cfg.Group, singles, trainLen) // without zone: IPV6_MULTICAST_IF applies
	for i, c := range conns {
		got := collect(t, c, singles+trainLen, testTimeout)
		if err := checkPayloads(datagramsOf(got), singles, trainLen); err != nil {
			t.Errorf("receiver %d: %v", i, err)
		}
		if from := got[0].from; from.Port() != cfg.Group.Port() || !from.Addr().Is6() {
			t.Errorf("receiver %d: From %v", i, from)
		}
	}
}

// TestUnicastConnToGroup sends to a group from a unicast Conn configured
// with SetMulticastOptions.
func TestUnicastConnToGroup(t *testing.T) {
	forImpls(t, testUnicastConnToGroup)
}

func testUnicastConnToGroup(t *testing.T, impl implKind) {
	lo := loopbackInterface(t)
	cfg := MulticastConfig{Group: randomGroup4(), Interface: lo, Loopback: true}
	r, err := listenMulticast(cfg, impl)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s := listenLoopback(t, impl, false)
	if err := s.SetMulticastOptions(lo, 1, true); err != nil {
		t.Fatal(err)
	}
	sendPayloads(t, s, cfg.Group, 3, 5)
	got := collect(t, r, 8, testTimeout)
	if err := checkPayloads(datagramsOf(got), 3, 5); err != nil {
		t.Fatal(err)
	}
	if got[0].from != s.LocalAddr() {
		t.Fatalf("From %v, want %v", got[0].from, s.LocalAddr())
	}
}

func TestListenMulticastErrors(t *testing.T) {
	forImpls(t, func(t *testing.T, impl implKind) {
		for _, cfg := range []MulticastConfig{
			{Group: netip.MustParseAddrPort("127.0.0.1:5000")},                                              // unicast group
			{Group: netip.MustParseAddrPort("239.1.2.3:0")},                                                 // port 0
			{Group: netip.MustParseAddrPort("232.1.2.3:5000"), Source: netip.MustParseAddr("::1")},          // family
			{Group: netip.MustParseAddrPort("[ff3e::1234]:5000"), Source: netip.MustParseAddr("127.0.0.1")}, // family
			{Group: netip.MustParseAddrPort("232.1.2.3:5000"), Source: netip.MustParseAddr("232.1.1.1")},    // multicast source
			{Group: netip.MustParseAddrPort("232.1.2.3:5000"), Source: netip.MustParseAddr("0.0.0.0")},      // unspecified
			{Group: netip.MustParseAddrPort("[ff3e::1234]:5000"), Source: netip.MustParseAddr("::")},        // unspecified
		} {
			if c, err := listenMulticast(cfg, impl); err == nil {
				c.Close()
				t.Errorf("%+v accepted", cfg)
			}
		}
	})
}

// randomSSMGroup4 returns a random IPv4 source-specific group and port.
func randomSSMGroup4() netip.AddrPort {
	g := randomGroup4()
	b := g.Addr().As4()
	b[0] = 232
	return netip.AddrPortFrom(netip.AddrFrom4(b), g.Port())
}

// listenSender opens a unicast Conn on addr:0 that sends multicast through
// lo with loopback on.
func listenSender(t *testing.T, impl implKind, addr string, lo *net.Interface) *Conn {
	t.Helper()
	c, err := listenUnicast(netip.AddrPortFrom(netip.MustParseAddr(addr), 0), impl)
	if err != nil {
		t.Skipf("cannot bind %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.SetMulticastOptions(lo, 1, true); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestMulticastSSM joins (S=127.0.0.1, G=232.x.y.z) on lo and checks that
// datagrams from S arrive and datagrams from another source (127.0.0.2,
// which lo also owns on Linux) do not, while an any-source member of the
// same group and port receives both.
func TestMulticastSSM(t *testing.T) {
	forImpls(t, func(t *testing.T, impl implKind) {
		lo := loopbackInterface(t)
		group := randomSSMGroup4()
		src := netip.MustParseAddr("127.0.0.1")
		ssm, err := listenMulticast(MulticastConfig{Group: group, Source: src, Interface: lo}, impl)
		if err != nil {
			if isRefusal(err) {
				t.Skipf("source-specific join refused: %v", err)
			}
			t.Fatal(err)
		}
		t.Cleanup(func() { ssm.Close() })
		asm, err := listenMulticast(MulticastConfig{Group: group, Interface: lo}, impl)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { asm.Close() })

		good := listenSender(t, impl, "127.0.0.1", lo)
		other := listenSender(t, impl, "127.0.0.2", lo)
		// The other source first: if the filter failed, ssm would see it
		// before the datagrams from S.
		if err := other.WriteTo([]byte("other"), 0, group); err != nil {
			t.Fatal(err)
		}
		sendPayloads(t, good, group, 3, 5)

		got := collect(t, asm, 9, testTimeout)
		if string(got[0].data) != "other" || got[0].from != other.LocalAddr() {
			t.Fatalf("any-source member: first datagram %q from %v", got[0].data, got[0].from)
		}
		if err := checkPayloads(datagramsOf(got[1:]), 3, 5); err != nil {
			t.Fatalf("any-source member: %v", err)
		}
		got = collect(t, ssm, 8, testTimeout)
		if err := checkPayloads(datagramsOf(got), 3, 5); err != nil {
			t.Fatalf("source-specific member: %v (first from %v)", err, got[0].from)
		}
		for _, d := range got {
			if d.from != good.LocalAddr() {
				t.Fatalf("source-specific member: datagram from %v", d.from)
			}
		}
		assertQuiet(t, ssm)
	})
}

// TestMulticastSSMIPv6 joins (S=::1, G=ff3e::x) on lo and checks that
// datagrams from S arrive (lo has no second IPv6 address to test the
// filter with).
func TestMulticastSSMIPv6(t *testing.T) {
	forImpls(t, func(t *testing.T, impl implKind) {
		lo := loopbackInterface(t)
		g := randomGroup6()
		b := g.Addr().As16()
		b[1] = 0x3e // ff3e::/16: global-scope SSM
		group := netip.AddrPortFrom(netip.AddrFrom16(b), g.Port())
		ssm, err := listenMulticast(MulticastConfig{Group: group, Source: netip.IPv6Loopback(), Interface: lo}, impl)
		if err != nil {
			if isRefusal(err) {
				t.Skipf("source-specific join refused: %v", err)
			}
			t.Fatal(err)
		}
		t.Cleanup(func() { ssm.Close() })
		snd, err := listenUnicast(netip.MustParseAddrPort("[::1]:0"), impl)
		if err != nil {
			t.Skipf("no ::1: %v", err)
		}
		t.Cleanup(func() { snd.Close() })
		if err := snd.SetMulticastOptions(lo, 1, true); err != nil {
			t.Fatal(err)
		}
		if err := snd.WriteTo([]byte("probe"), 0, group); err != nil {
			if isRefusal(err) {
				t.Skipf("kernel refuses to send IPv6 multicast on lo: %v", err)
			}
			t.Fatal(err)
		}
		sendPayloads(t, snd, group, 3, 5)
		got := collect(t, ssm, 9, testTimeout)
		if string(got[0].data) != "probe" {
			t.Fatalf("got %q", got[0].data)
		}
		if err := checkPayloads(datagramsOf(got[1:]), 3, 5); err != nil {
			t.Fatal(err)
		}
		if got[0].from != snd.LocalAddr() {
			t.Fatalf("From %v, want %v", got[0].from, snd.LocalAddr())
		}
	})
}

// TestMulticastFiltersOtherDestinations checks that a multicast Conn does
// not receive unicast datagrams to its port, nor datagrams for another
// group joined by another socket on the same port. (The portable
// implementation binds the wildcard address and drops such datagrams by
// their reported destination.)
func TestMulticastFiltersOtherDestinations(t *testing.T) {
	forImpls(t, func(t *testing.T, impl implKind) {
		lo := loopbackInterface(t)
		g1 := randomGroup4()
		g2 := netip.AddrPortFrom(randomGroup4().Addr(), g1.Port())
		if g2.Addr() == g1.Addr() {
			t.Skip("same random group twice")
		}
		c1, err := listenMulticast(MulticastConfig{Group: g1, Interface: lo, Loopback: true}, impl)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c1.Close() })
		c2, err := listenMulticast(MulticastConfig{Group: g2, Interface: lo, Loopback: true}, impl)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c2.Close() })
		s := listenSender(t, impl, "127.0.0.1", lo)
		if err := s.WriteTo([]byte("unicast"), 0, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), g1.Port())); err != nil {
			t.Fatal(err)
		}
		if err := s.WriteTo([]byte("g2"), 0, g2); err != nil {
			t.Fatal(err)
		}
		if err := s.WriteTo([]byte("g1"), 0, g1); err != nil {
			t.Fatal(err)
		}
		if got := collect(t, c2, 1, testTimeout); string(got[0].data) != "g2" {
			t.Fatalf("member of g2 got %q first", got[0].data)
		}
		if got := collect(t, c1, 1, testTimeout); string(got[0].data) != "g1" {
			t.Fatalf("member of g1 got %q first", got[0].data)
		}
		assertQuiet(t, c1)
		assertQuiet(t, c2)
	})
}
