package channel

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/transport"
)

// testMembers returns a membership part of at most limit members that
// records whom it forgot.
func testMembers(limit int, remote transport.Addr, reachAll, multicast bool) (*members, *[]uint64, *counters) {
	var forgot []uint64
	k := testCounters()
	m := newMembers(limit, remote, reachAll, multicast, k, func(id uint64) { forgot = append(forgot, id) })
	return m, &forgot, k
}

var (
	addrA = transport.IPAddr(netip.MustParseAddrPort("192.0.2.1:7400"))
	addrB = transport.IPAddr(netip.MustParseAddrPort("192.0.2.2:7400"))
	addrC = transport.IPAddr(netip.MustParseAddrPort("192.0.2.3:7400"))
)

func TestMembersEvictLeastRecent(t *testing.T) {
	m, forgot, k := testMembers(2, transport.Addr{}, false, false)
	t0 := time.Unix(100, 0)
	m.touch(1, addrA, t0, true)
	m.touch(2, addrB, t0.Add(time.Second), true)
	m.touch(1, addrA, t0.Add(2*time.Second), true) // 1 heard again: 2 is now the oldest
	m.touch(3, addrC, t0.Add(3*time.Second), true)
	if !slices.Equal(*forgot, []uint64{2}) || drops(k, "evicted-peer") != 1 {
		t.Fatalf("forgot %v, evicted %d; want [2], 1", *forgot, drops(k, "evicted-peer"))
	}
	var ids []uint64
	for _, p := range m.list() {
		ids = append(ids, p.ID)
	}
	if !slices.Equal(ids, []uint64{1, 3}) {
		t.Fatalf("members %v", ids)
	}
	if m.skew(2) != nil || m.skew(3) == nil {
		t.Fatal("skew: a forgotten member has one, or a member has none")
	}
	m.close()
	if m.touch(4, addrA, t0, true) {
		t.Fatal("touch after close")
	}
}

func TestMembersHelloServersBye(t *testing.T) {
	m, forgot, _ := testMembers(8, transport.Addr{}, false, false)
	now := time.Unix(100, 0)
	if m.hello(9, helloServes, 0, addrA, now) {
		t.Fatal("a stranger's hello answered")
	}
	m.touch(9, addrA, now, true)
	m.touch(8, addrB, now, true)
	servers, seen := m.servers()
	if len(servers) != 0 {
		t.Fatalf("servers %v before any said so", servers)
	}
	if m.hello(8, helloServes, 0, addrB, now) {
		t.Fatal("answered a hello that did not ask")
	}
	select {
	case <-seen:
	default:
		t.Fatal("a new server did not wake those waiting for one")
	}
	if !m.hello(9, helloServes|helloAsk, 0, addrA, now) {
		t.Fatal("a hello asking for ours not answered")
	}
	if servers, _ = m.servers(); !slices.Equal(servers, []uint64{8, 9}) {
		t.Fatalf("servers %v", servers)
	}
	m.hello(8, 0, 0, addrB, now) // stops serving
	m.hello(9, helloBye, 0, addrA, now)
	if servers, _ = m.servers(); len(servers) != 0 || !slices.Equal(*forgot, []uint64{9}) {
		t.Fatalf("servers %v, forgot %v after 8 stopped and 9 left", servers, *forgot)
	}
}

func TestMembersExpire(t *testing.T) {
	m, forgot, _ := testMembers(8, transport.Addr{}, false, false)
	t0 := time.Unix(100, 0)
	m.touch(1, addrA, t0, true)
	m.touch(2, addrB, t0.Add(5*time.Second), true)
	m.expire(t0.Add(time.Second))
	if !slices.Equal(*forgot, []uint64{1}) || m.len() != 1 {
		t.Fatalf("forgot %v, %d left", *forgot, m.len())
	}
}

func TestMembersResolve(t *testing.T) {
	now := time.Unix(100, 0)
	// Unicast: everyone is each member's address and the URL's peer, once.
	m, _, k := testMembers(8, addrA, false, false)
	m.touch(1, addrA, now, true)
	m.touch(2, addrB, now, true)
	got := slices.Clone(m.resolve(everyone))
	slices.SortFunc(got, func(a, b transport.Addr) int { return a.IP.Compare(b.IP) })
	if !slices.Equal(got, []transport.Addr{addrA, addrB}) {
		t.Fatalf("everyone resolves to %v", got)
	}
	if got := m.resolve(2); !slices.Equal(got, []transport.Addr{addrB}) {
		t.Fatalf("member 2 resolves to %v", got)
	}
	if got := m.resolve(7); len(got) != 0 || drops(k, "no-route") != 1 {
		t.Fatalf("a stranger resolves to %v (no-route %d)", got, drops(k, "no-route"))
	}
	// Multicast: one send to the group, whoever it is for.
	g, _, _ := testMembers(8, transport.Addr{}, true, true)
	g.touch(1, addrA, now, true)
	for _, dst := range []uint64{everyone, 1, 7} {
		if got := g.resolve(dst); !slices.Equal(got, []transport.Addr{{}}) {
			t.Fatalf("multicast: %d resolves to %v", dst, got)
		}
	}
}

// TestSkewEstimate: the age of a posting is its arrival less send time,
// less the smallest such offset seen (the clock offset plus the shortest
// one-way delay).
func TestSkewEstimate(t *testing.T) {
	var e skewEstimate
	t0 := time.Unix(1.8e9, 0)
	off := 3 * time.Hour // the sender's clock is 3 h behind
	if a := e.age(t0, t0.Add(-off-10*time.Millisecond)); a != 0 {
		t.Fatalf("first sample aged %v", a)
	}
	if a := e.age(t0.Add(time.Second), t0.Add(time.Second-off-50*time.Millisecond)); a != 40*time.Millisecond {
		t.Fatalf("aged %v, want 40ms", a)
	}
	if a := e.age(t0.Add(2*time.Second), t0.Add(2*time.Second-off-5*time.Millisecond)); a != 0 {
		t.Fatalf("a faster sample aged %v, want 0", a)
	}
}
