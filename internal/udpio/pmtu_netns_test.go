//go:build linux

package udpio

import (
	"errors"
	"net"
	"net/netip"
	"runtime"
	"testing"

	"github.com/rwanda-go/rwanda/internal/testnet"
	"golang.org/x/sys/unix"
)

// inNetns runs f on a goroutine whose thread is in the network namespace
// ns: sockets f opens live there for good, and PathMTU asks ns's routes.
// The thread is not unlocked, so it ends with the goroutine.
func inNetns(t *testing.T, ns string, f func()) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		f()
		errc <- nil
	}()
	if err := <-errc; err != nil {
		t.Fatalf("entering namespace %s: %v", ns, err)
	}
}

// TestPathMTUNamespaces: between two hosts whose links have an MTU of
// 1280, PathMTU says 1252 (to a unicast peer, and to a group by route
// or by interface); a larger datagram fails with a SizeError, also as
// part of a GSO train, and goes whole with WriteToFragmented; GSO stays
// on for trains that fit.
func TestPathMTUNamespaces(t *testing.T) {
	nw := testnet.NewNet(t)
	br := nw.Bridge("br")
	a := nw.Host("a", br, "10.81.0.1/24")
	b := nw.Host("b", br, "10.81.0.2/24")
	a.SetMTU(1280)
	b.SetMTU(1280)
	const want = 1280 - 28
	group := netip.MustParseAddrPort("239.8.8.8:7500")
	forImpls(t, func(t *testing.T, impl implKind) {
		var rx, tx *Conn
		var errs []error
		inNetns(t, b.NS, func() {
			var err error
			rx, err = listenUnicast(netip.MustParseAddrPort("10.81.0.2:0"), impl)
			errs = append(errs, err)
		})
		inNetns(t, a.NS, func() {
			var err error
			tx, err = listenUnicast(netip.AddrPort{}, impl)
			if errs = append(errs, err); err != nil {
				return
			}
			check := func(what string, c *Conn, dst netip.AddrPort) {
				if mtu, err := c.PathMTU(dst); err != nil || mtu != want {
					errs = append(errs, errors.New(what+": PathMTU wrong"))
					t.Errorf("%s: PathMTU(%v) = %d, %v; want %d", what, dst, mtu, err, want)
				}
			}
			check("unicast", tx, rx.LocalAddr())
			eth0, err := net.InterfaceByName("eth0")
			if errs = append(errs, err); err != nil {
				return
			}
			for _, ifi := range []*net.Interface{nil, eth0} {
				mc, err := listenMulticast(MulticastConfig{Group: group, Interface: ifi}, impl)
				if errs = append(errs, err); err != nil {
					return
				}
				check("multicast (interface "+map[bool]string{true: "eth0", false: "by route"}[ifi != nil]+")", mc, group)
				mc.Close()
			}
		})
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rx.Close(); tx.Close() })
		dst := rx.LocalAddr()
		gso := tx.GSO()

		// Too large: nothing leaves, whether one datagram or a train.
		for _, n := range []int{1, 3} {
			err := tx.WriteTo(train(n, 1400, 0), 1400, dst)
			var se *SizeError
			if !errors.As(err, &se) || se.Size != 1400 || se.Sent != 0 || !errors.Is(err, unix.EMSGSIZE) {
				t.Fatalf("WriteTo of %d datagrams of 1400 bytes over a 1280 link: %v, want a SizeError (1400 bytes, none sent); got %+v", n, err, se)
			}
		}
		if tx.GSO() != gso {
			t.Errorf("GSO went from %v to %v after a train too large for the path", gso, tx.GSO())
		}
		// What fits goes, as a train (GSO where the kernel has it).
		buf := train(3, want, 10)
		if err := tx.WriteTo(buf, want, dst); err != nil {
			t.Fatalf("WriteTo of datagrams of %d bytes: %v", want, err)
		}
		from := netip.AddrPortFrom(a.Addr.Addr(), tx.LocalAddr().Port())
		checkTrain(t, collect(t, rx, 4, testTimeout), buf, want, from)
		if tx.GSO() != gso {
			t.Errorf("GSO went from %v to %v", gso, tx.GSO())
		}
		// Fragmented, the large ones arrive whole; then WriteTo refuses
		// them again.
		buf = train(3, 1400, 100)
		if err := tx.WriteToFragmented(buf, 1400, dst); err != nil {
			t.Fatalf("WriteToFragmented: %v", err)
		}
		checkTrain(t, collect(t, rx, 4, testTimeout), buf, 1400, from)
		if err := tx.WriteTo(buf, 1400, dst); !errors.Is(err, ErrMessageSize) {
			t.Fatalf("WriteTo after WriteToFragmented: %v, want ErrMessageSize", err)
		}
		// WriteBatch refuses a datagram too large for the path (counted
		// failed, the others go); WriteBatchFragmented sends it whole.
		big, small := train(0, 0, 1400), train(0, 0, 100)
		msgs := []Outgoing{{B: big, Dst: dst}, {B: small, Dst: dst}}
		if failed, err := tx.WriteBatch(msgs); failed != 1 || !errors.Is(err, unix.EMSGSIZE) {
			t.Fatalf("WriteBatch of 1400 and 100 bytes over a 1280 link: %d failed, %v; want 1, EMSGSIZE", failed, err)
		}
		checkTrain(t, collect(t, rx, 1, testTimeout), small, 100, from)
		if failed, err := tx.WriteBatchFragmented(msgs); failed != 0 || err != nil {
			t.Fatalf("WriteBatchFragmented: %d failed, %v", failed, err)
		}
		got := collect(t, rx, 2, testTimeout)
		checkTrain(t, got[:1], big, 1400, from)
		checkTrain(t, got[1:], small, 100, from)
		if failed, _ := tx.WriteBatch(msgs[:1]); failed != 1 {
			t.Fatal("WriteBatch after WriteBatchFragmented sent a datagram too large for the path")
		}
		t.Logf("GSO %v; PathMTU %d", gso, want)
	})
}
