package udpio

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

const testTimeout = 10 * time.Second

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(multicastChild())
	}
	os.Exit(m.Run())
}

// testImpls are the implementations the tests run with: on Linux the fast
// one, the portable one, and the portable one without batch I/O (as on
// other OSes); elsewhere the portable one.
func testImpls() []implKind {
	if haveFast {
		return []implKind{implFast, implPortable, implPortableSingle}
	}
	return []implKind{implPortable}
}

// forImpls runs f as a subtest for each implementation.
func forImpls(t *testing.T, f func(t *testing.T, impl implKind)) {
	for _, impl := range testImpls() {
		t.Run("impl="+impl.String(), func(t *testing.T) { f(t, impl) })
	}
}

// loopback is the loopback address of the family, port 0.
func loopback(v6 bool) netip.AddrPort {
	if v6 {
		return netip.MustParseAddrPort("[::1]:0")
	}
	return netip.MustParseAddrPort("127.0.0.1:0")
}

func listenLoopback(t testing.TB, impl implKind, v6 bool) *Conn {
	t.Helper()
	addr := loopback(v6)
	c, err := listenUnicast(addr, impl)
	if err != nil {
		t.Fatalf("listenUnicast(%v, %v): %v", addr, impl, err)
	}
	if c.Portable() != (impl != implFast || !haveFast) {
		t.Fatalf("impl %v: Portable() = %v", impl, c.Portable())
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// datagram is one received datagram with its sender.
type datagram struct {
	data    []byte
	from    netip.AddrPort
	ifIndex int
}

// collect reads from c until n datagrams arrived and returns them, failing
// the test after timeout (it then closes c to stop the reader).
func collect(t testing.TB, c *Conn, n int, timeout time.Duration) []datagram {
	t.Helper()
	type result struct {
		got []datagram
		err error
	}
	done := make(chan result, 1)
	go func() {
		msgs := make([]Message, 8)
		for i := range msgs {
			msgs[i].Buf = make([]byte, 64<<10)
		}
		var got []datagram
		for len(got) < n {
			k, err := c.ReadBatch(msgs)
			if err != nil {
				done <- result{got, err}
				return
			}
			for i := range k {
				if msgs[i].Truncated {
					done <- result{got, fmt.Errorf("message %d truncated", i)}
					return
				}
				for d := range msgs[i].Datagrams {
					got = append(got, datagram{bytes.Clone(d), msgs[i].From, msgs[i].IfIndex})
				}
			}
		}
		done <- result{got, nil}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("after %d of %d datagrams: ReadBatch: %v", len(r.got), n, r.err)
		}
		return r.got
	case <-time.After(timeout):
		c.Close()
		r := <-done
		t.Fatalf("timeout: received %d of %d datagrams", len(r.got), n)
		return nil
	}
}

// train returns n datagrams of seg bytes plus, if last > 0, one of last
// bytes, concatenated, each datagram filled with a distinct pattern.
func train(n, seg, last int) []byte {
	buf := make([]byte, 0, n*seg+last)
	for i := range n + 1 {
		l := seg
		if i == n {
			l = last
		}
		for j := range l {
			buf = append(buf, byte(i*7+j*13+i*j))
		}
	}
	return buf
}

// checkTrain verifies that got reassembles want as datagrams of seg bytes.
func checkTrain(t *testing.T, got []datagram, want []byte, seg int, from netip.AddrPort) {
	t.Helper()
	var all []byte
	for i, d := range got {
		wantLen := min(seg, len(want)-i*seg)
		if len(d.data) != wantLen {
			t.Fatalf("datagram %d: %d bytes, want %d", i, len(d.data), wantLen)
		}
		if d.from != from {
			t.Fatalf("datagram %d from %v, want %v", i, d.from, from)
		}
		all = append(all, d.data...)
	}
	if !bytes.Equal(all, want) {
		t.Fatalf("reassembled %d bytes differ from the %d sent", len(all), len(want))
	}
}

func TestFeatures(t *testing.T) {
	forImpls(t, func(t *testing.T, impl implKind) {
		for _, v6 := range []bool{false, true} {
			c := listenLoopback(t, impl, v6)
			t.Logf("%v: portable=%v GSO=%v GRO=%v", c.LocalAddr(), c.Portable(), c.GSO(), c.GRO())
			if c.Portable() && (c.GSO() || c.GRO()) {
				t.Errorf("portable Conn reports GSO=%v GRO=%v", c.GSO(), c.GRO())
			}
		}
	})
}

// TestImplFromEnv checks the selection by RWANDA_IO.
func TestImplFromEnv(t *testing.T) {
	local := netip.MustParseAddrPort("127.0.0.1:0")
	for _, tc := range []struct {
		env      string
		portable bool
	}{{"", !haveFast}, {"fast", !haveFast}, {"portable", true}} {
		t.Setenv(EnvIO, tc.env)
		c, err := ListenUnicast(local)
		if err != nil {
			t.Fatalf("%s=%q: %v", EnvIO, tc.env, err)
		}
		if c.Portable() != tc.portable {
			t.Errorf("%s=%q: Portable() = %v, want %v", EnvIO, tc.env, c.Portable(), tc.portable)
		}
		c.Close()
	}
	t.Setenv(EnvIO, "bogus")
	if c, err := ListenUnicast(local); err == nil {
		c.Close()
		t.Fatalf("%s=bogus accepted", EnvIO)
	} else if !strings.Contains(err.Error(), EnvIO) || !strings.Contains(err.Error(), "portable") {
		t.Fatalf("error does not name the variable and the accepted values: %v", err)
	}
	if c, err := ListenMulticast(MulticastConfig{Group: randomGroup4()}); err == nil {
		c.Close()
		t.Fatalf("ListenMulticast: %s=bogus accepted", EnvIO)
	}
}

func TestUnicastSingle(t *testing.T) {
	forImpls(t, func(t *testing.T, impl implKind) {
		for _, v6 := range []bool{false, true} {
			t.Run(fmt.Sprintf("v6=%v", v6), func(t *testing.T) {
				a, b := listenLoopback(t, impl, v6), listenLoopback(t, impl, v6)
				if a.LocalAddr().Port() == 0 || !a.LocalAddr().Addr().IsLoopback() {
					t.Fatalf("LocalAddr = %v", a.LocalAddr())
				}
				if err := a.WriteTo([]byte("hello"), 0, b.LocalAddr()); err != nil {
					t.Fatal(err)
				}
				got := collect(t, b, 1, testTimeout)
				if string(got[0].data) != "hello" || got[0].from != a.LocalAddr() {
					t.Fatalf("got %q from %v, want %q from %v", got[0].data, got[0].from, "hello", a.LocalAddr())
				}
				// Empty datagram.
				if err := a.WriteTo(nil, 0, b.LocalAddr()); err != nil {
					t.Fatal(err)
				}
				if got := collect(t, b, 1, testTimeout); len(got[0].data) != 0 {
					t.Fatalf("empty datagram arrived with %d bytes", len(got[0].data))
				}
			})
		}
	})
}

// TestIfIndex checks Message.IfIndex on loopback where the OS reports the
// arrival interface (Linux, both implementations).
func TestIfIndex(t *testing.T) {
	lo := loopbackInterface(t)
	forImpls(t, func(t *testing.T, impl implKind) {
		for _, v6 := range []bool{false, true} {
			a, b := listenLoopback(t, impl, v6), listenLoopback(t, impl, v6)
			if err := a.WriteTo([]byte("x"), 0, b.LocalAddr()); err != nil {
				t.Fatal(err)
			}
			got := collect(t, b, 1, testTimeout)
			if runtime.GOOS == "linux" && got[0].ifIndex != lo.Index {
				t.Errorf("v6=%v: IfIndex = %d, want %d (%s)", v6, got[0].ifIndex, lo.Index, lo.Name)
			}
			t.Logf("v6=%v: IfIndex = %d", v6, got[0].ifIndex)
		}
	})
}

func TestUnicastIPv4MappedDestination(t *testing.T) {
	forImpls(t, func(t *testing.T, impl implKind) {
		a, b := listenLoopback(t, impl, false), listenLoopback(t, impl, false)
		mapped := netip.AddrPortFrom(netip.AddrFrom16(b.LocalAddr().Addr().As16()), b.LocalAddr().Port())
		if err := a.WriteTo([]byte("x"), 0, mapped); err != nil {
			t.Fatal(err)
		}
		got := collect(t, b, 1, testTimeout)
		if !got[0].from.Addr().Is4() {
			t.Fatalf("From %v is not a 4-byte address", got[0].from)
		}
		if err := a.WriteTo([]byte("x"), 0, netip.MustParseAddrPort("[::1]:9")); err == nil {
			t.Fatal("IPv6 destination on IPv4 socket: no error")
		}
		c := listenLoopback(t, impl, true)
		if err := c.WriteTo([]byte("x"), 0, b.LocalAddr()); err == nil {
			t.Fatal("IPv4 destination on IPv6 socket: no error")
		}
	})
}

func TestUnicastTrains(t *testing.T) {
	cases := []struct {
		name         string
		n, seg, last int
	}{
		{"40x1400+700", 40, 1400, 700},     // the common case: one GSO message
		{"40x1400", 40, 1400, 0},           // no short tail
		{"1x1400", 1, 1400, 0},             // one datagram
		{"2x1", 2, 1, 0},                   // tiny segments
		{"46x1400+1400", 46, 1400, 1400},   // 47 equal segments, 65800 bytes: 2 GSO messages
		{"47x1400+27", 47, 1400, 27},       // just over one GSO message
		{"200x1400+1", 200, 1400, 1},       // 280 KB: 5 GSO messages in one sendmmsg
		{"64x64", 64, 64, 0},               // exactly 64 segments
		{"65x64", 65, 64, 0},               // 65 segments: 2 GSO messages
		{"150x64+10", 150, 64, 10},         // > 2x64 segments
		{"64x1023+1022", 64, 1023, 1022},   // 64 full segments + tail
		{"2x32753+1", 2, 32753, 1},         // 65507 bytes (IPv4 maximum) + 1
		{"8x8191", 8, 8191, 0},             // 65528 bytes: over the IPv4 maximum
		{"5x30000+5", 5, 30000, 5},         // 2 segments per GSO message
		{"3x21845+21845", 3, 21845, 21845}, // 3 segments per GSO message (IPv4: 2)
		{"3x65507", 3, maxPayload4, 0},     // maximal IPv4 datagrams: GSO impossible
		{"1000x1400", 1000, 1400, 0},       // 1.4 MB train
		{"1500x100+50", 1500, 100, 50},     // > 1024 messages per sendmmsg without GSO
	}
	forImpls(t, func(t *testing.T, impl implKind) {
		gsos := []bool{true, false}
		if impl != implFast || !haveFast {
			gsos = []bool{false} // no GSO in the portable implementation
		}
		for _, v6 := range []bool{false, true} {
			for _, gso := range gsos {
				for _, tc := range cases {
					t.Run(fmt.Sprintf("v6=%v/gso=%v/%s", v6, gso, tc.name), func(t *testing.T) {
						a, b := listenLoopback(t, impl, v6), listenLoopback(t, impl, v6)
						a.SetGSO(gso)
						buf := train(tc.n, tc.seg, tc.last)
						want := tc.n
						if tc.last > 0 {
							want++
						}
						seg := tc.seg
						if want == 1 {
							seg = 0
						}
						write := a.WriteTo
						if pmtu, err := a.PathMTU(b.LocalAddr()); err == nil && tc.seg > pmtu {
							write = a.WriteToFragmented // over lo's MTU (IPv6: 65488 bytes of payload)
						}
						if err := write(buf, seg, b.LocalAddr()); err != nil {
							t.Fatal(err)
						}
						got := collect(t, b, want, testTimeout)
						checkTrain(t, got, buf, tc.seg, a.LocalAddr())
						if a.GSO() != (gso && gsoSupported(a)) {
							t.Fatalf("GSO() = %v after send", a.GSO())
						}
					})
				}
			}
		}
	})
}

// TestGROCoalesces checks that a GSO train reaches a GRO socket as few
// messages carrying the segment size (when both offloads are available).
func TestGROCoalesces(t *testing.T) {
	a, b := listenLoopback(t, implFast, false), listenLoopback(t, implFast, false)
	if !a.GSO() || !b.GRO() {
		t.Skipf("GSO=%v GRO=%v", a.GSO(), b.GRO())
	}
	buf := train(40, 1400, 700)
	if err := a.WriteTo(buf, 1400, b.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	msgs := make([]Message, 4)
	for i := range msgs {
		msgs[i].Buf = make([]byte, 64<<10)
	}
	n, err := b.ReadBatch(msgs)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 || msgs[0].Seg != 1400 || msgs[0].N != len(buf) {
		t.Fatalf("got %d messages, first N=%d Seg=%d; want 1 message N=%d Seg=1400", n, msgs[0].N, msgs[0].Seg, len(buf))
	}
	if !bytes.Equal(msgs[0].Buf[:msgs[0].N], buf) {
		t.Fatal("content differs")
	}
}

func TestDatagrams(t *testing.T) {
	m := Message{Buf: []byte("aaabbbcc......"), N: 8, Seg: 3}
	var got []string
	for d := range m.Datagrams {
		got = append(got, string(d))
		if cap(d) != len(d) {
			t.Fatalf("cap %d != len %d", cap(d), len(d))
		}
	}
	if fmt.Sprint(got) != "[aaa bbb cc]" {
		t.Fatalf("got %q", got)
	}
	got = nil
	m.Datagrams(func(d []byte) bool { got = append(got, string(d)); return false })
	if fmt.Sprint(got) != "[aaa]" {
		t.Fatalf("early stop: got %q", got)
	}
	got = nil
	m.Seg = 0
	for d := range m.Datagrams {
		got = append(got, string(d))
	}
	if fmt.Sprint(got) != "[aaabbbcc]" {
		t.Fatalf("Seg 0: got %q", got)
	}
}

func TestCloseUnblocksRead(t *testing.T) {
	forImpls(t, func(t *testing.T, impl implKind) {
		c := listenLoopback(t, impl, false)
		started := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			msgs := []Message{{Buf: make([]byte, 1500)}}
			close(started)
			_, err := c.ReadBatch(msgs)
			done <- err
		}()
		<-started
		// Whether or not ReadBatch is already parked in the poller, it must
		// return net.ErrClosed once Close has been called.
		if err := c.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		select {
		case err := <-done:
			if !errors.Is(err, net.ErrClosed) {
				t.Fatalf("ReadBatch after Close: %v, want net.ErrClosed", err)
			}
		case <-time.After(testTimeout):
			t.Fatal("ReadBatch not unblocked by Close")
		}
		if err := c.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if err := c.WriteTo([]byte("x"), 0, netip.MustParseAddrPort("127.0.0.1:9")); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("WriteTo after Close: %v, want net.ErrClosed", err)
		}
		if err := c.WriteTo(make([]byte, 100), 10, netip.MustParseAddrPort("127.0.0.1:9")); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("WriteTo (train) after Close: %v, want net.ErrClosed", err)
		}
		if _, err := c.ReadBatch([]Message{{Buf: make([]byte, 10)}}); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("ReadBatch after Close: %v, want net.ErrClosed", err)
		}
	})
}

func TestBuffers(t *testing.T) {
	forImpls(t, func(t *testing.T, impl implKind) {
		c := listenLoopback(t, impl, false)
		if err := c.SetReadBuffer(8 << 20); err != nil {
			t.Fatal(err)
		}
		if err := c.SetWriteBuffer(2 << 20); err != nil {
			t.Fatal(err)
		}
		logBuffers(t, c)
	})
}

// TestTruncation checks that a datagram larger than the buffer is returned
// cut off with Truncated set, and that the next one is intact.
func TestTruncation(t *testing.T) {
	forImpls(t, func(t *testing.T, impl implKind) {
		a, b := listenLoopback(t, impl, false), listenLoopback(t, impl, false)
		buf := train(1, 1000, 0)
		if err := a.WriteTo(buf, 0, b.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		if err := a.WriteTo(buf[:10], 0, b.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		msgs := []Message{{Buf: make([]byte, 300)}}
		if _, err := b.ReadBatch(msgs); err != nil {
			t.Fatal(err)
		}
		if m := msgs[0]; !m.Truncated || m.N != 300 || m.Seg != 0 || !bytes.Equal(m.Buf, buf[:300]) {
			t.Fatalf("Truncated=%v N=%d Seg=%d, want true 300 0", m.Truncated, m.N, m.Seg)
		}
		if _, err := b.ReadBatch(msgs); err != nil {
			t.Fatal(err)
		}
		if m := msgs[0]; m.Truncated || m.N != 10 || !bytes.Equal(m.Buf[:m.N], buf[:10]) {
			t.Fatalf("second datagram: Truncated=%v N=%d", m.Truncated, m.N)
		}
	})
}

// TestGROTruncation checks the behaviour with a buffer too small for a GRO
// batch: whole datagrams only, and Truncated set.
func TestGROTruncation(t *testing.T) {
	a, b := listenLoopback(t, implFast, false), listenLoopback(t, implFast, false)
	if !a.GSO() || !b.GRO() {
		t.Skipf("GSO=%v GRO=%v", a.GSO(), b.GRO())
	}
	buf := train(4, 1000, 0)
	if err := a.WriteTo(buf, 1000, b.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	msgs := []Message{{Buf: make([]byte, 2500)}}
	if _, err := b.ReadBatch(msgs); err != nil {
		t.Fatal(err)
	}
	m := msgs[0]
	if !m.Truncated || m.N != 2000 || m.Seg != 1000 {
		t.Fatalf("Truncated=%v N=%d Seg=%d, want true 2000 1000", m.Truncated, m.N, m.Seg)
	}
	if !bytes.Equal(m.Buf[:m.N], buf[:2000]) {
		t.Fatal("content differs")
	}
	// A single datagram larger than the buffer is returned cut off.
	if err := a.WriteTo(buf[:1000], 0, b.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	msgs[0].Buf = make([]byte, 300)
	if _, err := b.ReadBatch(msgs); err != nil {
		t.Fatal(err)
	}
	if m := msgs[0]; !m.Truncated || m.N != 300 || m.Seg != 0 {
		t.Fatalf("Truncated=%v N=%d Seg=%d, want true 300 0", m.Truncated, m.N, m.Seg)
	}
}

// roundTrip sends a train of n datagrams of size bytes from a to b and reads
// them; the allocation tests and the benchmarks use it.
func roundTrip(tb testing.TB, a, b *Conn, buf []byte, size, n int, msgs []Message) {
	if err := a.WriteTo(buf, size, b.LocalAddr()); err != nil {
		tb.Fatal(err)
	}
	for got := 0; got < n; {
		k, err := b.ReadBatch(msgs)
		if err != nil {
			tb.Fatal(err)
		}
		for i := range k {
			for range msgs[i].Datagrams {
				got++
			}
		}
	}
}

// TestAllocs checks that the fast implementation's WriteTo and ReadBatch do
// not allocate in steady state, with and without GSO, and logs what the
// portable one allocates.
func TestAllocs(t *testing.T) {
	forImpls(t, func(t *testing.T, impl implKind) {
		gsos := []bool{true, false}
		if impl != implFast || !haveFast {
			gsos = []bool{false}
		}
		for _, gso := range gsos {
			a, b := listenLoopback(t, impl, false), listenLoopback(t, impl, false)
			a.SetGSO(gso)
			buf := train(32, 1400, 0)
			msgs := make([]Message, 32)
			for i := range msgs {
				msgs[i].Buf = make([]byte, 64<<10)
			}
			allocs := testing.AllocsPerRun(100, func() { roundTrip(t, a, b, buf, 1400, 32, msgs) })
			if a.Portable() {
				t.Logf("%v allocations per WriteTo+ReadBatch round of 32 datagrams", allocs)
			} else if allocs != 0 {
				t.Errorf("gso=%v: %v allocations per WriteTo+ReadBatch round", gso, allocs)
			}
		}
	})
}

// TestWaitRead: where the implementation can wait without buffers, WaitRead
// returns once a datagram is queued, leaves it for ReadBatch, returns at
// once while one is still queued, and returns net.ErrClosed after Close;
// elsewhere it reports false at once.
func TestWaitRead(t *testing.T) {
	forImpls(t, func(t *testing.T, impl implKind) {
		a, b := listenLoopback(t, impl, false), listenLoopback(t, impl, false)
		waited := make(chan error, 1)
		var can bool
		go func() {
			var err error
			can, err = b.WaitRead()
			waited <- err
		}()
		if err := a.WriteTo([]byte("hello"), 0, b.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-waited:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(testTimeout):
			t.Fatal("WaitRead did not return when a datagram came")
		}
		if can {
			// Still queued: WaitRead returns at once, and ReadBatch gets it.
			if ok, err := b.WaitRead(); !ok || err != nil {
				t.Fatalf("WaitRead with a datagram queued: %v, %v", ok, err)
			}
		} else if impl == implFast && runtime.GOOS == "linux" {
			t.Fatal("the fast implementation cannot wait")
		}
		if got := collect(t, b, 1, testTimeout); string(got[0].data) != "hello" {
			t.Fatalf("read %q after WaitRead", got[0].data)
		}
		b.Close()
		if ok, err := b.WaitRead(); ok && !errors.Is(err, net.ErrClosed) {
			t.Fatalf("WaitRead after Close: %v", err)
		}
	})
}
