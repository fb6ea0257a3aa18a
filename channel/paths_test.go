package channel

import (
	"net/netip"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/transport"
)

// TestPathsValidation: an address gets at most 3× what it sent until it
// echoes its cookie; a wrong cookie validates nothing; the configured
// peer needs no validation.
func TestPathsValidation(t *testing.T) {
	now := time.Unix(1e9, 0)
	peer := transport.IPAddr(netip.MustParseAddrPort("192.0.2.9:9"))
	ps := newPaths(true, peer, 8, time.Second, testCounters(), now)
	a := transport.IPAddr(netip.MustParseAddrPort("192.0.2.1:1"))
	cookie, challenge := ps.heard(a, 100, now)
	if !challenge {
		t.Fatal("a new address was not challenged")
	}
	if !ps.allow(a, 300) || ps.allow(a, 1) {
		t.Fatal("before validation: want exactly 3× the 100 bytes received")
	}
	ps.echoed(a, cookie+1, now)
	if ps.allow(a, 1) {
		t.Fatal("a wrong cookie validated the address")
	}
	ps.echoed(a, cookie, now)
	if !ps.allow(a, 1<<20) {
		t.Fatal("validated, yet refused")
	}
	if !ps.allow(peer, 1<<20) {
		t.Fatal("the URL's peer was refused")
	}
	if _, again := ps.heard(a, 10, now); again {
		t.Fatal("a validated address was challenged")
	}
}

// TestPathsQueries: QUERY answers are limited per address and in all, and
// earned back over the announce interval.
func TestPathsQueries(t *testing.T) {
	now := time.Unix(1e9, 0)
	ps := newPaths(false, transport.Addr{}, 1024, time.Second, testCounters(), now)
	addr := func(i int) transport.Addr {
		return transport.IPAddr(netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), 1))
	}
	n := 0
	for ps.answer(addr(1), now) {
		n++
	}
	if n != queryBurst {
		t.Fatalf("one address: %d answers, want %d", n, queryBurst)
	}
	n = 0
	for i := 2; i < 100; i++ {
		for ps.answer(addr(i), now) {
			n++
		}
	}
	if n != 3*queryBurst {
		t.Fatalf("all addresses: %d more answers, want %d (the shared bucket's rest)", n, 3*queryBurst)
	}
	if !ps.answer(addr(1), now.Add(time.Second)) {
		t.Fatal("no answer after an interval")
	}
}
