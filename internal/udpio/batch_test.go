package udpio

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
)

// listenLoopbackOrSkip is listenLoopback, skipping the test when the
// family's loopback address cannot be bound (IPv6 disabled).
func listenLoopbackOrSkip(t *testing.T, impl implKind, v6 bool) *Conn {
	t.Helper()
	c, err := listenUnicast(loopback(v6), impl)
	if err != nil {
		t.Skipf("no loopback for v6=%v: %v", v6, err)
	}
	c.Close()
	return listenLoopback(t, impl, v6)
}

// checkWriteBatch sends n numbered datagrams from a, round robin to rcv,
// with one WriteBatch call. bad[i] is a destination that must fail, sent
// before datagram i; mapped sends every third good datagram to the
// IPv4-mapped form of its receiver's address. It checks that exactly the
// bad ones failed and that every receiver got its datagrams, in order,
// from a.
func checkWriteBatch(t *testing.T, a *Conn, rcv []*Conn, n int, bad map[int]netip.AddrPort, mapped bool) {
	t.Helper()
	var msgs []Outgoing
	want := make([][]string, len(rcv))
	for i := range n {
		if dst, ok := bad[i]; ok {
			msgs = append(msgs, Outgoing{B: []byte("bad"), Dst: dst})
		}
		r := i % len(rcv)
		p := fmt.Sprintf("datagram %d to %d", i, r)
		dst := rcv[r].LocalAddr()
		if mapped && i%3 == 0 {
			dst = netip.AddrPortFrom(netip.AddrFrom16(dst.Addr().As16()), dst.Port())
		}
		msgs = append(msgs, Outgoing{B: []byte(p), Dst: dst})
		want[r] = append(want[r], p)
	}
	failed, err := a.WriteBatch(msgs)
	if failed != len(bad) {
		t.Fatalf("WriteBatch of %d messages: %d failed (%v), want %d", len(msgs), failed, err, len(bad))
	}
	if (err != nil) != (len(bad) > 0) {
		t.Fatalf("WriteBatch: err = %v with %d bad destinations", err, len(bad))
	}
	if err != nil {
		t.Logf("WriteBatch: %d failed: %v", failed, err)
	}
	for r, c := range rcv {
		got := collect(t, c, len(want[r]), testTimeout)
		for i, d := range got {
			if string(d.data) != want[r][i] {
				t.Fatalf("receiver %d, datagram %d: %q, want %q", r, i, d.data, want[r][i])
			}
			if d.from != a.LocalAddr() {
				t.Fatalf("receiver %d, datagram %d from %v, want %v", r, i, d.from, a.LocalAddr())
			}
		}
	}
}

// TestWriteBatch sends to several destinations in one call, over IPv4 and
// IPv6, with destinations that fail in the middle: port 0 (the kernel
// refuses it), one of the other family (refused before the kernel) and
// the zero address.
func TestWriteBatch(t *testing.T) {
	forImpls(t, func(t *testing.T, impl implKind) {
		for _, v6 := range []bool{false, true} {
			t.Run(fmt.Sprintf("v6=%v", v6), func(t *testing.T) {
				a := listenLoopbackOrSkip(t, impl, v6)
				rcv := []*Conn{listenLoopback(t, impl, v6), listenLoopback(t, impl, v6), listenLoopback(t, impl, v6)}
				other := netip.MustParseAddrPort("[::1]:9")
				if v6 {
					other = netip.MustParseAddrPort("127.0.0.1:9")
				}
				bad := map[int]netip.AddrPort{
					0:  {}, // first: the rest of the batch still goes
					10: netip.AddrPortFrom(rcv[0].LocalAddr().Addr(), 0),
					11: netip.AddrPortFrom(rcv[1].LocalAddr().Addr(), 0), // two refused in a row
					20: other,
				}
				checkWriteBatch(t, a, rcv, 30, bad, !v6)
				checkWriteBatch(t, a, rcv, 7, nil, false)
				if failed, err := a.WriteBatch(nil); failed != 0 || err != nil {
					t.Fatalf("WriteBatch(nil) = %d, %v", failed, err)
				}
			})
		}
	})
}

// TestWriteBatchLarge sends more messages than one sendmmsg call takes,
// with refused ones on either side of the boundary.
func TestWriteBatchLarge(t *testing.T) {
	forImpls(t, func(t *testing.T, impl implKind) {
		a := listenLoopback(t, impl, false)
		var rcv []*Conn
		for range 5 {
			c := listenLoopback(t, impl, false)
			_ = c.SetReadBuffer(4 << 20)
			if c.ReadBufferSize() < 1<<20 && c.ReadBufferSize() != 0 {
				t.Skipf("receive buffer of %d bytes: too small to queue a batch", c.ReadBufferSize())
			}
			rcv = append(rcv, c)
		}
		port0 := netip.AddrPortFrom(rcv[0].LocalAddr().Addr(), 0)
		checkWriteBatch(t, a, rcv, 2100, map[int]netip.AddrPort{500: port0, 1023: port0, 1024: port0, 2099: port0}, false)
	})
}

// TestWriteBatchClosed: after Close every message fails and the error
// wraps net.ErrClosed.
func TestWriteBatchClosed(t *testing.T) {
	forImpls(t, func(t *testing.T, impl implKind) {
		a, b := listenLoopback(t, impl, false), listenLoopback(t, impl, false)
		a.Close()
		msgs := []Outgoing{{B: []byte("a"), Dst: b.LocalAddr()}, {B: []byte("b"), Dst: b.LocalAddr()}, {Dst: b.LocalAddr()}}
		failed, err := a.WriteBatch(msgs)
		if failed != len(msgs) || !errors.Is(err, net.ErrClosed) {
			t.Fatalf("WriteBatch after Close = %d, %v; want %d, net.ErrClosed", failed, err, len(msgs))
		}
	})
}

// TestWriteBatchConcurrent runs WriteBatch and WriteTo on one Conn from
// several goroutines (for the race detector) and checks that everything
// arrives.
func TestWriteBatchConcurrent(t *testing.T) {
	forImpls(t, func(t *testing.T, impl implKind) {
		a, b := listenLoopback(t, impl, false), listenLoopback(t, impl, false)
		const writers, rounds, batch = 2, 10, 8
		var wg sync.WaitGroup
		errs := make(chan error, writers+1)
		for w := range writers {
			wg.Go(func() {
				msgs := make([]Outgoing, batch)
				for r := range rounds {
					for i := range msgs {
						msgs[i] = Outgoing{B: fmt.Appendf(nil, "w%d r%d m%d", w, r, i), Dst: b.LocalAddr()}
					}
					if failed, err := a.WriteBatch(msgs); failed != 0 || err != nil {
						errs <- fmt.Errorf("WriteBatch: %d failed: %v", failed, err)
						return
					}
				}
			})
		}
		wg.Go(func() {
			for r := range rounds {
				if err := a.WriteTo(fmt.Appendf(nil, "train r%d", r), 0, b.LocalAddr()); err != nil {
					errs <- err
					return
				}
			}
		})
		got := collect(t, b, writers*rounds*batch+rounds, testTimeout)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		trains := 0
		for _, d := range got {
			if strings.HasPrefix(string(d.data), "train") {
				trains++
			}
		}
		if trains != rounds {
			t.Fatalf("%d WriteTo datagrams arrived, want %d", trains, rounds)
		}
	})
}

// fanOut is a sender and 4 receivers on loopback, and messages of 1200
// bytes, perRcv to each receiver.
type fanOut struct {
	a      *Conn
	rcv    []*Conn
	msgs   []Outgoing
	in     []Message
	perRcv int
}

func newFanOut(tb testing.TB, impl implKind, perRcv int) *fanOut {
	f := &fanOut{a: listenLoopback(tb, impl, false), perRcv: perRcv}
	for range 4 {
		f.rcv = append(f.rcv, listenLoopback(tb, impl, false))
	}
	payload := make([]byte, 1200)
	for range perRcv {
		for _, r := range f.rcv {
			f.msgs = append(f.msgs, Outgoing{B: payload, Dst: r.LocalAddr()})
		}
	}
	f.in = make([]Message, perRcv)
	for i := range f.in {
		f.in[i].Buf = make([]byte, 64<<10)
	}
	return f
}

// round sends the messages with one WriteBatch and drains the receivers.
func (f *fanOut) round(tb testing.TB) {
	if failed, err := f.a.WriteBatch(f.msgs); failed != 0 || err != nil {
		tb.Fatalf("WriteBatch: %d failed: %v", failed, err)
	}
	for _, r := range f.rcv {
		for got := 0; got < f.perRcv; {
			k, err := r.ReadBatch(f.in)
			if err != nil {
				tb.Fatal(err)
			}
			for i := range k {
				for range f.in[i].Datagrams {
					got++
				}
			}
		}
	}
}

// TestWriteBatchAllocs checks that the fast implementation's WriteBatch
// (and the ReadBatch calls that drain it) allocate nothing once warm, and
// logs what the portable one allocates.
func TestWriteBatchAllocs(t *testing.T) {
	forImpls(t, func(t *testing.T, impl implKind) {
		f := newFanOut(t, impl, 8)
		allocs := testing.AllocsPerRun(100, func() { f.round(t) })
		if f.a.Portable() {
			t.Logf("%v allocations per WriteBatch of %d messages (and the reads)", allocs, len(f.msgs))
		} else if allocs != 0 {
			t.Errorf("%v allocations per WriteBatch of %d messages (and the reads)", allocs, len(f.msgs))
		}
	})
}

// BenchmarkWriteBatch measures WriteBatch of 64 datagrams of 1200 bytes
// to 4 destinations (the receivers are drained).
func BenchmarkWriteBatch(b *testing.B) {
	for _, impl := range testImpls() {
		b.Run("impl="+impl.String(), func(b *testing.B) {
			f := newFanOut(b, impl, 16)
			b.ReportAllocs()
			for b.Loop() {
				f.round(b)
			}
		})
	}
}
