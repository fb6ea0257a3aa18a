package testnet

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The tests run helpers inside namespaces: this test binary, re-executed
// with childEnv set to "1" and the helper's arguments (see child).
const childEnv = "RWANDA_TESTNET_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(child(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// child runs a helper:
//
//	recv ADDR GROUP|- IFACE|- N   listen on ADDR (joining GROUP on IFACE),
//	                              say "ready", then "got PAYLOAD from ADDR"
//	                              for each of N datagrams
//	send PORT DEST PAYLOAD...     send each payload from local PORT (0: any)
func child(args []string) int {
	fail := func(err error) int { fmt.Println("fail:", err); return 1 }
	switch {
	case len(args) == 5 && args[0] == "recv":
		var c *net.UDPConn
		addr, err := net.ResolveUDPAddr("udp4", args[1])
		if err != nil {
			return fail(err)
		}
		if args[2] == "-" {
			c, err = net.ListenUDP("udp4", addr)
		} else {
			var ifi *net.Interface
			if ifi, err = net.InterfaceByName(args[3]); err != nil {
				return fail(err)
			}
			c, err = net.ListenMulticastUDP("udp4", ifi, &net.UDPAddr{IP: net.ParseIP(args[2]), Port: addr.Port})
		}
		if err != nil {
			return fail(err)
		}
		n, _ := strconv.Atoi(args[4])
		fmt.Println("ready")
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		buf := make([]byte, 65536)
		for range n {
			m, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return fail(err)
			}
			fmt.Printf("got %s from %v\n", buf[:m], from)
		}
		return 0
	case len(args) >= 3 && args[0] == "send":
		port, _ := strconv.Atoi(args[1])
		to, err := net.ResolveUDPAddr("udp4", args[2])
		if err != nil {
			return fail(err)
		}
		c, err := net.ListenUDP("udp4", &net.UDPAddr{Port: port})
		if err != nil {
			return fail(err)
		}
		for _, p := range args[3:] {
			if _, err := c.WriteToUDP([]byte(p), to); err != nil {
				return fail(err)
			}
		}
		return 0
	}
	return fail(fmt.Errorf("bad arguments %q", args))
}

// helper starts the helper with args inside h and returns its output lines.
func helper(t *testing.T, h *Host, args ...string) (*exec.Cmd, <-chan string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := h.Command(exe, args...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			lines <- s.Text()
		}
		close(lines)
	}()
	return cmd, lines
}

// expect waits for the next line of a helper's output.
func expect(t *testing.T, lines <-chan string, want string) {
	t.Helper()
	select {
	case line, ok := <-lines:
		if !ok {
			t.Fatalf("helper exited, want %q", want)
		}
		if line != want {
			t.Fatalf("helper said %q, want %q", line, want)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no %q from the helper in 30 s", want)
	}
}

// run runs a helper that does not talk and checks that it succeeds.
func run(t *testing.T, h *Host, args ...string) {
	t.Helper()
	cmd, lines := helper(t, h, args...)
	for line := range lines {
		t.Errorf("%s: %s", h.Name, line)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%s %v: %v", h.Name, args, err)
	}
}

func twoHosts(t *testing.T) (*Net, *Host, *Host) {
	n := NewNet(t)
	br := n.Bridge("br")
	return n, n.Host("a", br, "10.77.0.1/24"), n.Host("b", br, "10.77.0.2/24")
}

func TestNetnsUnicast(t *testing.T) {
	_, a, b := twoHosts(t)
	rx, lines := helper(t, b, "recv", ":7400", "-", "-", "1")
	expect(t, lines, "ready")
	run(t, a, "send", "5000", "10.77.0.2:7400", "hello")
	expect(t, lines, "got hello from 10.77.0.1:5000")
	if err := rx.Wait(); err != nil {
		t.Fatal(err)
	}
}

// The multicast route sends group traffic through eth0 and the bridge
// floods it to the other hosts.
func TestNetnsMulticast(t *testing.T) {
	n, a, b := twoHosts(t)
	c := n.Host("c", n.Bridge("br2"), "10.78.0.3/24") // another bridge: hears nothing
	rxB, linesB := helper(t, b, "recv", ":7400", "239.7.7.7", b.Iface, "1")
	rxC, linesC := helper(t, c, "recv", ":7400", "239.7.7.7", c.Iface, "1")
	expect(t, linesB, "ready")
	expect(t, linesC, "ready")
	run(t, a, "send", "5000", "239.7.7.7:7400", "to the group")
	expect(t, linesB, "got to the group from 10.77.0.1:5000")
	if err := rxB.Wait(); err != nil {
		t.Fatal(err)
	}
	// c is on another bridge; its helper still waits.
	rxC.Process.Kill()
	rxC.Wait()
	for line := range linesC {
		t.Errorf("c: %s", line)
	}
}

func TestNetnsMTU(t *testing.T) {
	n, a, _ := twoHosts(t)
	a.SetMTU(1400)
	if out := a.Run("ip", "link", "show", "eth0"); !strings.Contains(out, "mtu 1400 ") {
		t.Errorf("a's eth0: %s", out)
	}
	if out := n.ip("-n", n.hub, "link", "show", "p-a"); !strings.Contains(out, "mtu 1400 ") {
		t.Errorf("hub's p-a: %s", out)
	}
}

func TestNetnsDrop(t *testing.T) {
	Require(t, "nft")
	_, a, b := twoHosts(t)
	b.Drop("udp sport 5001")
	rx, lines := helper(t, b, "recv", ":7400", "-", "-", "1")
	expect(t, lines, "ready")
	run(t, a, "send", "5001", "10.77.0.2:7400", "dropped")
	run(t, a, "send", "5002", "10.77.0.2:7400", "passed")
	expect(t, lines, "got passed from 10.77.0.1:5002")
	if err := rx.Wait(); err != nil {
		t.Fatal(err)
	}
	if d := b.Dropped(); d != 1 {
		t.Errorf("dropped %d packets, want 1", d)
	}
}

// A Net's namespaces are gone after its test, also when it failed.
func TestNetnsCleanup(t *testing.T) {
	var prefix string
	t.Run("make", func(t *testing.T) {
		n, a, _ := twoHosts(t)
		prefix = n.prefix
		if out := a.Run("ip", "-o", "addr", "show", "eth0"); !strings.Contains(out, "10.77.0.1/24") {
			t.Errorf("a's eth0: %s", out)
		}
	})
	if prefix == "" {
		t.Skip("no Net made")
	}
	ents, _ := os.ReadDir("/run/netns")
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			t.Errorf("namespace %s is left", e.Name())
		}
	}
}

// fakeTB records how Require ends a test.
type fakeTB struct {
	testing.TB
	ended string
}

type endTest struct{}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Skip(args ...any) {
	f.ended = "skip: " + fmt.Sprint(args...)
	panic(endTest{})
}
func (f *fakeTB) Skipf(format string, args ...any) { f.Skip(fmt.Sprintf(format, args...)) }
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.ended = "fatal: " + fmt.Sprintf(format, args...)
	panic(endTest{})
}

func TestRequireSkipsOrFails(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Require always skips off Linux")
	}
	try := func() string {
		f := &fakeTB{TB: t}
		func() {
			defer func() {
				if r := recover(); r != nil && r != (endTest{}) {
					panic(r)
				}
			}()
			Require(f, "no-such-binary-rwanda")
		}()
		return f.ended
	}
	t.Setenv("CI", "")
	if got := try(); !strings.HasPrefix(got, "skip: ") || !strings.Contains(got, "no-such-binary-rwanda") {
		t.Errorf("without CI: %q", got)
	}
	t.Setenv("CI", "true")
	if got := try(); !strings.HasPrefix(got, "fatal: ") || !strings.Contains(got, "no-such-binary-rwanda") {
		t.Errorf("with CI=true: %q", got)
	}
}

// TestDelay: a datagram through a Delay and back takes at least twice its
// delay (never less: the delay is a floor, whatever the load), and
// arrives intact.
func TestDelay(t *testing.T) {
	echo, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := echo.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			echo.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	d, err := NewDelay("127.0.0.1:0", echo.LocalAddr().(*net.UDPAddr).AddrPort(), 25*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 2048)
	for i := range 3 {
		start := time.Now()
		msg := []byte(fmt.Sprintf("ping %d", i))
		c.WriteToUDPAddrPort(msg, d.Addr())
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := c.Read(buf)
		if err != nil || string(buf[:n]) != string(msg) {
			t.Fatalf("%q %v", buf[:n], err)
		}
		if rtt := time.Since(start); rtt < 50*time.Millisecond {
			t.Fatalf("round trip %v through 25 ms each way", rtt)
		}
	}
}
