package channel

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/rwanda-go/rwanda/posting"
	"github.com/rwanda-go/rwanda/stack"
)

// Attacks from outside: the test binary re-executed as an attacker
// process that sends crafted datagrams from other loopback addresses
// (127.0.0.2 and up: on loopback, binding another address is how one
// spoofs a source). The victim channels run in the test process, where
// their heap and counters can be read.

func init() {
	if os.Getenv(childEnv) == "attacker" {
		os.Exit(attackerChild())
	}
}

// attackerChild runs the attack RWANDA_ATTACK against RWANDA_TARGET
// (ip:port), prints "sent BYTES DATAGRAMS", then counts what arrives at
// its sockets until stdin closes, and prints "recvd BYTES".
func attackerChild() int {
	target, err := netip.ParseAddrPort(os.Getenv("RWANDA_TARGET"))
	if err != nil {
		fmt.Println("fail target:", err)
		return 1
	}
	var conns []*net.UDPConn
	srcs, _ := strconv.Atoi(os.Getenv("RWANDA_SOURCES"))
	for i := range max(srcs, 1) {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 1+byte(i/250), 2+byte(i%250))})
		if err != nil {
			fmt.Println("fail listen:", err)
			return 1
		}
		if target.Addr().IsMulticast() {
			p := ipv4.NewPacketConn(c)
			lo, _ := net.InterfaceByName("lo")
			if err := p.SetMulticastInterface(lo); err != nil {
				fmt.Println("fail multicast interface:", err)
				return 1
			}
			p.SetMulticastLoopback(true)
		}
		conns = append(conns, c)
	}
	var sent, n int
	send := func(i int, d []byte) {
		if _, err := conns[i%len(conns)].WriteToUDPAddrPort(d, target); err == nil {
			sent += len(d)
			n++
		}
	}
	member := func() uint64 { v, _ := strconv.ParseUint(os.Getenv("RWANDA_MEMBER"), 16, 64); return v }
	switch os.Getenv("RWANDA_ATTACK") {
	case "amplify":
		// Hellos asking for an answer and queries for every stream, each
		// from a new member id, all from one address: the victim's.
		for i := range 500 {
			id := uint64(0xa000 + i)
			send(0, appendHello(appendDgramHeader(nil, id), helloAsk, time.Now()))
			send(0, appendQuery(appendDgramHeader(nil, id), member(), 0))
		}
	case "members":
		// 4096 invented members announce hostile stacks and send crafted
		// compress and frag packets.
		for i := range 4096 {
			for _, d := range hostileDatagrams(uint64(0x1000+i), hostileQoS[i%len(hostileQoS)]) {
				send(i, d)
			}
		}
	case "clock":
		// Hellos in a real member's name, with its clock an hour fast,
		// then an hour slow.
		for i := range 200 {
			skew := time.Hour
			if i%2 == 1 {
				skew = -time.Hour
			}
			send(0, appendHello(appendDgramHeader(nil, member()), 0, time.Now().Add(skew)))
		}
	case "decode":
		// One member announces a stream with no layers and sends postings
		// whose bodies are []string of empty strings: 1 byte each on the
		// wire, 16 bytes each as Go strings.
		const id = 0xdec0de
		send(0, appendAnnounce(appendDgramHeader(nil, id), announcement{stream: 1, epoch: 1, name: "d", qos: ""}))
		for i := range decodePostings {
			body := make([]string, 1300)
			q := posting.New(body, posting.WithStream("d"))
			q.Seq, q.Sent = uint64(i+1), time.Now()
			enc, err := q.AppendBinary(nil)
			if err != nil {
				fmt.Println("fail encode:", err)
				return 1
			}
			m := stack.Meta{}
			d := appendDataHeader(appendDgramHeader(nil, id), 0, 1, &m, len(enc))
			send(0, append(d, enc...))
		}
	default:
		fmt.Println("fail: unknown attack")
		return 1
	}
	fmt.Printf("sent %d %d\n", sent, n)
	recvd := make(chan int, len(conns))
	for _, c := range conns {
		go func() {
			total := 0
			buf := make([]byte, 1<<16)
			for {
				m, _, err := c.ReadFromUDPAddrPort(buf)
				if err != nil {
					recvd <- total
					return
				}
				total += m
			}
		}()
	}
	bufio.NewReader(os.Stdin).ReadString('\n') // until stdin closes
	total := 0
	for _, c := range conns {
		c.Close()
	}
	for range conns {
		total += <-recvd
	}
	fmt.Printf("recvd %d\n", total)
	return 0
}

// hostileQoS are the stacks invented members announce: each asks a
// receiver for more than it should give (or would, before the limits).
var hostileQoS = []string{
	"order(buffer=1048576)/window",
	"compress(max=1GiB)",
	"frag(max=1GiB,buffer=1GiB)",
	"compress",
	"frag",
	"window(size=65536)",
	"frag/order/window",
}

// hostileDatagrams are what invented member id sends: an announcement of
// stream 1 with hostile stack q, then crafted packets for it: an s2
// packet declaring 16 MiB decoded, a frag fragment declaring a 16 MiB
// parcel.
func hostileDatagrams(id uint64, q string) [][]byte {
	ann := appendAnnounce(appendDgramHeader(nil, id), announcement{stream: 1, epoch: 1, name: "s", qos: q})
	s2 := []byte{1} // compress's kind byte for s2
	s2 = binary.AppendUvarint(s2, 16<<20)
	s2 = append(s2, 0)
	frag := make([]byte, 12)
	frag[0] = 1 // a fragment
	binary.BigEndian.PutUint32(frag[1:], 7)
	binary.BigEndian.PutUint16(frag[5:], 256) // index: the last
	binary.BigEndian.PutUint16(frag[7:], 257) // count
	binary.BigEndian.PutUint16(frag[9:], 65535)
	var out [][]byte
	out = append(out, ann)
	for _, p := range [][]byte{s2, frag} {
		m := stack.Meta{}
		d := appendDataHeader(appendDgramHeader(nil, id), 0, 1, &m, len(p))
		out = append(out, append(d, p...))
	}
	return out
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// attacker is a running attacker process.
type attacker struct {
	t     *testing.T
	cmd   *exec.Cmd
	stdin interface{ Close() error }
	lines chan string
	// Sent is the bytes and datagrams it sent.
	sentBytes, sentN int
}

func startAttacker(t *testing.T, attack string, target netip.AddrPort, env ...string) *attacker {
	t.Helper()
	if testing.Short() {
		t.Skip("starts an attacker process")
	}
	if c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 1, 2)}); err != nil {
		t.Skipf("cannot bind a second loopback address: %v", err)
	} else {
		c.Close()
	}
	a := &attacker{t: t, lines: make(chan string, 4)}
	a.cmd = exec.Command(os.Args[0], "-test.run=^$")
	a.cmd.Env = append(append(os.Environ(), childEnv+"=attacker", "RWANDA_ATTACK="+attack, "RWANDA_TARGET="+target.String()), env...)
	a.cmd.Stderr = os.Stderr
	stdin, err := a.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	a.stdin = stdin
	stdout, err := a.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.cmd.Process.Kill(); a.cmd.Wait() })
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			a.lines <- s.Text()
		}
		close(a.lines)
	}()
	line := a.line()
	if _, err := fmt.Sscanf(line, "sent %d %d", &a.sentBytes, &a.sentN); err != nil {
		t.Fatalf("attacker: %q", line)
	}
	return a
}

func (a *attacker) line() string {
	a.t.Helper()
	select {
	case l, ok := <-a.lines:
		if !ok {
			a.t.Fatal("attacker ended")
		}
		return l
	case <-time.After(60 * time.Second):
		a.t.Fatal("attacker said nothing for 60 s")
	}
	return ""
}

// stop ends the attacker and returns the bytes that reached it.
func (a *attacker) stop() int {
	a.t.Helper()
	a.stdin.Close()
	var n int
	if line := a.line(); !strings.HasPrefix(line, "recvd ") {
		a.t.Fatalf("attacker: %q", line)
	} else {
		n, _ = strconv.Atoi(strings.TrimPrefix(line, "recvd "))
	}
	return n
}

// pushAndReceive pushes n postings on tx and waits until sub has them
// all, failing after a minute without progress.
func pushAndReceive(t *testing.T, tx *Channel, sub *Subscription, n int, opts ...posting.Option) {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		must(t, tx.Push(ctx, posting.New(make([]byte, 1000), append([]posting.Option{posting.WithStream("s")}, opts...)...)))
		_ = i
	}
	for i := range n {
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		_, err := sub.Next(wctx)
		cancel()
		if err != nil {
			t.Fatalf("legitimate posting %d of %d not delivered: %v", i, n, err)
		}
	}
}

// TestAmplificationBounded: 500 member ids invented at one address, each
// asking for hellos and announcements, make a unicast channel with a
// legitimate member send that address at most 3× what it sent, while the
// legitimate member gets everything.
func TestAmplificationBounded(t *testing.T) {
	port := freePort(t)
	srv := open(t, fmt.Sprintf("amp://:%d", port), WithBlockingPush())
	cli := open(t, fmt.Sprintf("amp://127.0.0.1:%d", port))
	sub, err := cli.Subscribe(Queue(1024, FailSlow))
	must(t, err)
	pushAndReceive(t, srv, sub, 1) // the client is a member, its address validated
	a := startAttacker(t, "amplify", netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)),
		"RWANDA_MEMBER="+strconv.FormatUint(srv.ID(), 16))
	pushAndReceive(t, srv, sub, 200)
	got := a.stop()
	st := srv.Stats()
	t.Logf("attacker sent %d bytes in %d datagrams, got %d back (%.2f×); server drops %v", a.sentBytes, a.sentN, got,
		float64(got)/float64(a.sentBytes), st.Drops)
	if got > 3*a.sentBytes {
		t.Fatalf("amplification %.1f×: %d bytes reached the spoofed address for %d sent", float64(got)/float64(a.sentBytes), got, a.sentBytes)
	}
}

// TestHostileMembersBounded: 4096 invented members on 16 addresses
// announce hostile stacks and send crafted compress and frag packets; the
// receiver's live heap grows at most 64 MiB and a legitimate sender is
// still delivered.
func TestHostileMembersBounded(t *testing.T) {
	port := freePort(t)
	rx := open(t, fmt.Sprintf("hm://:%d", port))
	sub, err := rx.Subscribe(Queue(1024, FailSlow))
	must(t, err)
	tx := open(t, fmt.Sprintf("hm://127.0.0.1:%d", port), WithBlockingPush())
	pushAndReceive(t, tx, sub, 1)
	before := liveHeap()
	a := startAttacker(t, "members", netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)), "RWANDA_SOURCES=16")
	// The reader handles datagrams in arrival order: once the legitimate
	// postings pushed after the attack are delivered, the attack's
	// datagrams have been handled (or dropped by the kernel).
	pushAndReceive(t, tx, sub, 20)
	after := liveHeap()
	a.stop()
	st := rx.Stats()
	grew := int64(after) - int64(before)
	t.Logf("attacker sent %d datagrams; receiver handled %d; live heap grew %.1f MiB; %d members, %d flows; drops %v",
		a.sentN, st.Received.Datagrams, float64(grew)/(1<<20), len(st.Peers), len(st.Flows), st.Drops)
	if grew > 64<<20 {
		t.Fatalf("live heap grew %.1f MiB under hostile members (limit 64 MiB)", float64(grew)/(1<<20))
	}
}

// TestForgedClockAgesNothing: hellos in a sender's name with its clock an
// hour off make none of its postings (TTL 500 ms) look obsolete, and move
// its ClockOffset by nothing more than the genuine postings do.
func TestForgedClockAgesNothing(t *testing.T) {
	url := groupURL("clk")
	rx := open(t, url)
	sub, err := rx.Subscribe(Queue(1024, FailSlow))
	must(t, err)
	tx := open(t, url, WithBlockingPush())
	pushAndReceive(t, tx, sub, 1, posting.WithTTL(500*time.Millisecond))
	off0, ok0 := rx.ClockOffset(tx.ID())
	addr, _ := ParseURL(url)
	a := startAttacker(t, "clock", addr.Group, "RWANDA_MEMBER="+strconv.FormatUint(tx.ID(), 16))
	// The forged hellos were sent before the postings: the receiver's
	// reader handles them first.
	pushAndReceive(t, tx, sub, 50, posting.WithTTL(500*time.Millisecond))
	a.stop()
	if n := rx.Stats().Drops["obsolete"]; n != 0 {
		t.Fatalf("%d postings dropped as obsolete after forged clocks", n)
	}
	if off, ok := rx.ClockOffset(tx.ID()); !ok0 || !ok || off > off0 || off0-off > time.Second {
		t.Fatalf("clock offset %v (%v) before the forged hellos, %v (%v) after", off0, ok0, off, ok)
	}
}

const decodePostings = 200

// TestHostileBodiesBounded: postings whose bodies decode to many times
// their size ([]string of empty strings: 16×) cost the receiver at most
// 8× what arrived (TotalAlloc), and are still delivered, as Raw bodies
// with ErrOverBudget and their bytes.
func TestHostileBodiesBounded(t *testing.T) {
	port := freePort(t)
	rx := open(t, fmt.Sprintf("hb://:%d", port))
	sub, err := rx.Subscribe(Queue(decodePostings+16, FailSlow))
	must(t, err)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	a := startAttacker(t, "decode", netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)))
	raw := 0
	for i := range decodePostings {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		p, err := sub.Next(ctx)
		cancel()
		if err != nil {
			t.Fatalf("posting %d of %d not delivered: %v (drops %v)", i, decodePostings, err, rx.Stats().Drops)
		}
		if r, ok := p.Body.(posting.Raw); ok && errors.Is(r.Err, posting.ErrOverBudget) && len(r.Data) > 1300 {
			raw++
		}
	}
	runtime.ReadMemStats(&after)
	a.stop()
	got := after.TotalAlloc - before.TotalAlloc
	t.Logf("attacker sent %d bytes in %d datagrams; the receiver allocated %d bytes (%.1f×); %d bodies delivered raw",
		a.sentBytes, a.sentN, got, float64(got)/float64(a.sentBytes), raw)
	if got > 8*uint64(a.sentBytes)+1<<20 {
		t.Fatalf("decoding allocated %d bytes for %d received (more than 8× and 1 MiB)", got, a.sentBytes)
	}
	if raw != decodePostings {
		t.Fatalf("%d of %d over-budget bodies delivered as Raw with ErrOverBudget", raw, decodePostings)
	}
}
