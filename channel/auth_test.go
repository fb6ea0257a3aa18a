package channel

import (
	"bytes"
	"context"
	"crypto/aes"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/keys"
	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/transport"
)

// forgedDatagram is a keyed datagram from sender with a trailer of random
// bytes, except a key id in the ring (1) and a nonzero counter where the
// trailer has them, so that it gets as far as a receiver will let it.
func forgedDatagram(rng *rand.Rand, sender uint64) []byte {
	d := appendKeyedHeader(nil, sender)
	payload := make([]byte, 100)
	d = appendDataHeader(d, 0, 1, &stack.Meta{}, len(payload))
	d = append(d, payload...)
	for range authLen {
		d = append(d, byte(rng.Uint32()))
	}
	t := d[len(d)-authLen:]
	t[authLen-25] = 1 // key id: 1 | counter 8 | tag 16 end every trailer
	binary.BigEndian.PutUint64(t[authLen-24:], rng.Uint64()|1)
	return d
}

// BenchmarkRejectForged: forged keyed datagrams from 4096 distinct invented
// senders, each on its own address, every address sending one datagram per
// second of the channel's time (well under any derivation rate limit): the
// cost of refusing one.
func BenchmarkRejectForged(b *testing.B) {
	const n = 4096
	c, err := Open(context.Background(), "mem://bench-reject-forged", WithKey(testKey))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	rng := rand.New(rand.NewPCG(7, 7))
	dgrams := make([][]byte, n)
	froms := make([]transport.Addr, n)
	for i := range n {
		dgrams[i] = forgedDatagram(rng, 1<<40+uint64(i))
		froms[i] = transport.IPAddr(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), uint16(5000+i)))
	}
	before := c.Stats().Drops["unauthenticated"]
	now := time.Unix(1_000_000, 0)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		j := i % n
		if j == 0 {
			now = now.Add(time.Second)
		}
		c.receiveAt(dgrams[j], froms[j], now)
	}
	if got := c.Stats().Drops["unauthenticated"] - before; got == 0 {
		b.Fatalf("no forged datagram counted as unauthenticated: %v", c.Stats().Drops)
	}
}

const authTestIdentity = "mem?channel=auth-test"

// addrN is the Nth test source address.
func addrN(n int) transport.Addr {
	return transport.IPAddr(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 9, byte(n >> 8), byte(n)}), uint16(1000+n)))
}

// authRing is a ring holding testKey as key 1.
func authRing(t *testing.T) *keys.Ring {
	t.Helper()
	ring, err := keys.NewRing(1, testKey)
	if err != nil {
		t.Fatal(err)
	}
	return ring
}

// sealedFrom returns n datagrams sealed by member under ring: what a member
// of the group sends, or an insider pretending to be member.
func sealedFrom(ring *keys.Ring, member uint64, n int) [][]byte {
	tx := newDgramAuth(ring, authTestIdentity, member, 16)
	ds := make([][]byte, n)
	for i := range ds {
		ds[i] = tx.seal(appendHello(appendKeyedHeader(nil, member), 0, time.Unix(int64(i), 0)), 0)
	}
	return ds
}

// openAt opens d as the reader goroutine would, and the counts of
// derivations after it. An authentic datagram from a member that has not
// echoed rx's nonce ("unfresh" with its body) counts as accepted here:
// these tests are about authentication; fresh_test.go is about freshness.
func openAt(rx *dgramAuth, d []byte, from transport.Addr, now time.Time) (why string, derived, checked uint64) {
	sender := binary.BigEndian.Uint64(d[2:10])
	body, why, _ := rx.open(d, sender, from, now)
	if why == "unfresh" && body != nil {
		why = ""
	}
	rx.mu.Lock()
	defer rx.mu.Unlock()
	return why, rx.derived, rx.checked
}

// checkAuthTrailer checks d's trailer field by field: check 8 | key id 1 |
// counter 8 | tag 16, the check being AES under the key derived with
// checkInfo of sender | counter, cut to 8 bytes.
func checkAuthTrailer(t *testing.T, ring *keys.Ring, d []byte, sender uint64, id uint8, counter uint64) {
	t.Helper()
	if authLen != 33 {
		t.Fatalf("authLen %d", authLen)
	}
	tr := d[len(d)-authLen:]
	k, err := ring.Derive(id, []byte(authTestIdentity), []byte(checkInfo), 16)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := aes.NewCipher(k)
	var blk [16]byte
	binary.BigEndian.PutUint64(blk[:8], sender)
	binary.BigEndian.PutUint64(blk[8:], counter)
	b.Encrypt(blk[:], blk[:])
	if !bytes.Equal(tr[:8], blk[:8]) || tr[8] != id || binary.BigEndian.Uint64(tr[9:17]) != counter {
		t.Fatalf("trailer %x: want check %x, key id %d, counter %d", tr, blk[:8], id, counter)
	}
}

// TestAuthForgedNoDerivation: forged datagrams from invented senders, each
// on its own address, with a key id in the ring, are refused without
// deriving anything and without anything kept for them; the trailer's
// layout is what auth.go says.
func TestAuthForgedNoDerivation(t *testing.T) {
	ring := authRing(t)
	rx := newDgramAuth(ring, authTestIdentity, 1, 64)
	now := time.Unix(1000, 0)
	good := sealedFrom(ring, 2, 1)[0]
	checkAuthTrailer(t, ring, good, 2, 1, 1)
	if why, derived, checked := openAt(rx, good, addrN(0), now); why != "" || derived != 1 || checked != 1 {
		t.Fatalf("genuine datagram: %q, %d member keys and %d check keys derived", why, derived, checked)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 5000 {
		why, derived, checked := openAt(rx, forgedDatagram(rng, 1<<32+uint64(i)), addrN(i+1), now)
		if why != "unauthenticated" || derived != 1 || checked != 1 {
			t.Fatalf("forgery %d: %q, %d member keys and %d check keys derived", i, why, derived, checked)
		}
	}
	// A forgery of a real member's datagram (its sender, a new counter):
	// refused at the check too.
	for i := range 100 {
		d := forgedDatagram(rng, 2)
		if why, derived, _ := openAt(rx, d, addrN(i), now); why != "unauthenticated" || derived != 1 {
			t.Fatalf("forgery as member 2: %q, %d derived", why, derived)
		}
	}
	if len(rx.peers) != 1 || len(rx.pending) != 0 || len(rx.limiter.tat) != 1 {
		t.Fatalf("forgeries kept: %d peers, %d pending keys, %d buckets", len(rx.peers), len(rx.pending), len(rx.limiter.tat))
	}
}

// TestAuthForgedRejectedCheaply: on a keyed channel, refusing forged
// datagrams from invented senders allocates nothing (deriving a key
// allocates) and derives nothing.
func TestAuthForgedRejectedCheaply(t *testing.T) {
	c := open(t, memURL(t), WithKey(testKey))
	rng := rand.New(rand.NewPCG(3, 4))
	const n = 256
	ds := make([][]byte, n)
	for i := range ds {
		ds[i] = forgedDatagram(rng, 1<<50+uint64(i))
	}
	now := time.Unix(1000, 0)
	i := 0
	allocs := testing.AllocsPerRun(2*n, func() {
		c.receiveAt(ds[i%n], addrN(i%n), now)
		i++
	})
	if got := c.Stats().Drops["unauthenticated"]; got < 2*n {
		t.Fatalf("%d of %d forgeries counted as unauthenticated", got, 2*n)
	}
	c.auth.mu.Lock()
	derived := c.auth.derived
	c.auth.mu.Unlock()
	if derived != 0 {
		t.Fatalf("forgeries from invented senders made the channel derive %d keys", derived)
	}
	if allocs > 0 && !raceEnabled {
		t.Fatalf("refusing a forgery allocates %v times", allocs)
	}
}

// TestAuthDerivationRateLimited: a member of the group (it holds the key)
// making up senders, or anyone replaying checks of many real members with
// another tag, makes a receiver derive keys. One source address gets
// deriveBurst derivations at once, then one per deriveEvery; another
// address has its own bucket.
func TestAuthDerivationRateLimited(t *testing.T) {
	ring := authRing(t)
	rx := newDgramAuth(ring, authTestIdentity, 1, 1<<16)
	const senders = 4 * deriveBurst
	ds := make([][]byte, senders)
	for i := range ds {
		ds[i] = sealedFrom(ring, 1<<20+uint64(i), 1)[0]
		ds[i][len(ds[i])-1] ^= 1 // a bad tag: never kept as a peer
	}
	now := time.Unix(1000, 0)
	attacker := addrN(7)
	var limited int
	for _, d := range ds {
		if why, _, _ := openAt(rx, d, attacker, now); why == "rate-limited" {
			limited++
		} else if why != "unauthenticated" {
			t.Fatalf("got %q", why)
		}
	}
	_, derived, _ := openAt(rx, ds[0], attacker, now) // cached: no token needed
	if derived != deriveBurst || limited != senders-deriveBurst {
		t.Fatalf("at once from one address: %d derived, %d rate-limited; want %d, %d", derived, limited, deriveBurst, senders-deriveBurst)
	}
	// Time passes: one more derivation per deriveEvery.
	now = now.Add(10 * deriveEvery)
	for _, d := range ds {
		openAt(rx, d, attacker, now)
	}
	if _, derived, _ = openAt(rx, ds[0], attacker, now); derived != deriveBurst+10 {
		t.Fatalf("after 10 intervals: %d derived, want %d", derived, deriveBurst+10)
	}
	// Another address is not held back by the first one's bucket.
	for _, d := range ds {
		openAt(rx, d, addrN(8), now)
	}
	if _, derived, _ = openAt(rx, ds[0], addrN(8), now); derived != 2*deriveBurst+10 {
		t.Fatalf("a second address: %d derived in all, want %d", derived, 2*deriveBurst+10)
	}
	// Over a long run, the rate per address is the limit's.
	for range 100 {
		now = now.Add(deriveEvery)
		for _, d := range ds {
			openAt(rx, d, attacker, now)
		}
	}
	want := uint64(2*deriveBurst + 10 + 100)
	if _, derived, _ = openAt(rx, ds[0], attacker, now); derived > want {
		t.Fatalf("100 intervals later: %d derived, at most %d allowed", derived, want)
	}
}

// TestAuthCopiedCheckDerivesOnce: a real member's datagram captured and
// tampered with (same sender, counter and check, other bytes) passes the
// check and fails the tag; its key is derived once and kept, from however
// many addresses it comes, and then the genuine datagram needs no
// derivation. For a known member under a new key id, the same.
func TestAuthCopiedCheckDerivesOnce(t *testing.T) {
	ring := authRing(t)
	rx := newDgramAuth(ring, authTestIdentity, 1, 64)
	now := time.Unix(1000, 0)
	genuine := sealedFrom(ring, 5, 3)
	for i := range 200 {
		d := bytes.Clone(genuine[0])
		d[dgramHeaderLen+1+i%8] ^= byte(1 + i/8) // inside the HELLO frame
		if why, derived, _ := openAt(rx, d, addrN(i), now); why != "unauthenticated" || derived != 1 {
			t.Fatalf("tampered copy %d: %q, %d derived", i, why, derived)
		}
	}
	if len(rx.pending) != 1 || len(rx.peers) != 0 {
		t.Fatalf("%d pending keys, %d peers", len(rx.pending), len(rx.peers))
	}
	if why, derived, _ := openAt(rx, genuine[0], addrN(0), now); why != "" || derived != 1 {
		t.Fatalf("genuine after tampered copies: %q, %d derived", why, derived)
	}
	if len(rx.pending) != 0 || len(rx.peers) != 1 {
		t.Fatalf("after the genuine one: %d pending keys, %d peers", len(rx.pending), len(rx.peers))
	}
	if why, _, _ := openAt(rx, genuine[0], addrN(0), now); why != "replayed" {
		t.Fatalf("replayed genuine datagram: %q", why)
	}

	// Key 2 comes: the member's key under it is derived once, even for a
	// datagram whose tag fails.
	must(t, ring.Add(2, otherKey))
	must(t, ring.Use(2))
	under2 := sealedFrom(ring, 5, 4)[3] // counter 4
	bad := bytes.Clone(under2)
	bad[len(bad)-1] ^= 1
	for i := range 10 {
		if why, derived, _ := openAt(rx, bad, addrN(i), now); why != "unauthenticated" || derived != 2 {
			t.Fatalf("bad tag under key 2: %q, %d derived", why, derived)
		}
	}
	if why, derived, _ := openAt(rx, under2, addrN(0), now); why != "" || derived != 2 {
		t.Fatalf("genuine under key 2: %q, %d derived", why, derived)
	}
	// Still under key 1 (reordered): its key was kept across the ring's
	// changes, since key 1 did not change.
	if why, derived, _ := openAt(rx, genuine[1], addrN(0), now); why != "" || derived != 2 {
		t.Fatalf("key 1 after the ring changed: %q, %d derived", why, derived)
	}
}

// TestAuthPendingBounded: keys kept for members with no authentic datagram
// are at most limit.
func TestAuthPendingBounded(t *testing.T) {
	ring := authRing(t)
	const limit = 4
	rx := newDgramAuth(ring, authTestIdentity, 1, limit)
	now := time.Unix(1000, 0)
	for i := range 3 * limit {
		d := sealedFrom(ring, 100+uint64(i), 1)[0]
		d[len(d)-1] ^= 1
		if why, _, _ := openAt(rx, d, addrN(i), now); why != "unauthenticated" {
			t.Fatalf("got %q", why)
		}
		if len(rx.pending) > limit {
			t.Fatalf("%d pending keys, limit %d", len(rx.pending), limit)
		}
	}
}

// TestAuthKeyRotation: members' keys follow the ring. Adding a key, using
// it and removing another derive no member key again for the keys kept; a
// removed key's datagrams are "unknown-key"; a key id given a different
// key refuses datagrams under the old one.
func TestAuthKeyRotation(t *testing.T) {
	ringTx, ringRx := authRing(t), authRing(t)
	rx := newDgramAuth(ringRx, authTestIdentity, 1, 64)
	tx := newDgramAuth(ringTx, authTestIdentity, 9, 64)
	now := time.Unix(1000, 0)
	send := func() []byte { return tx.seal(appendHello(appendKeyedHeader(nil, 9), 0, now), 0) }
	expect := func(d []byte, want string, wantDerived uint64) {
		t.Helper()
		if why, derived, _ := openAt(rx, d, addrN(1), now); why != want || derived != wantDerived {
			t.Fatalf("got %q with %d derived, want %q with %d", why, derived, want, wantDerived)
		}
	}
	old := send()
	expect(send(), "", 1)
	must(t, ringRx.Add(2, otherKey))
	must(t, ringTx.Add(2, otherKey))
	expect(send(), "", 1) // key 1's member key kept
	must(t, ringTx.Use(2))
	expect(send(), "", 2)
	must(t, ringRx.Use(2))
	must(t, ringRx.Remove(1))
	expect(send(), "", 2)
	expect(old, "unknown-key", 2)
	rx.mu.Lock()
	kept := len(rx.peers[9].keys)
	rx.mu.Unlock()
	if kept != 1 {
		t.Fatalf("%d keys kept for the member after key 1 went", kept)
	}
	// Key 1 again, but another key: what was sealed under the old key 1
	// fails the check.
	must(t, ringRx.Add(1, bytes.Repeat([]byte{0x44}, 32)))
	expect(old, "unauthenticated", 2)
}

// TestAuthLimiterKeepsFewAddresses: the limiter keeps at most deriveAddrs
// buckets; addresses beyond share one until kept buckets fill again, and a
// clock that goes back does not hold an address back for long.
func TestAuthLimiterKeepsFewAddresses(t *testing.T) {
	l := deriveLimiter{tat: make(map[transport.Addr]time.Duration)}
	now := time.Unix(1000, 0)
	for i := range deriveAddrs {
		if !l.allow(addrN(i), now) {
			t.Fatalf("address %d refused its first derivation", i)
		}
	}
	// Beyond the bound: one shared bucket.
	n := 0
	for i := range 4 * deriveBurst {
		if l.allow(addrN(deriveAddrs+i), now) {
			n++
		}
	}
	if n != deriveBurst || len(l.tat) != deriveAddrs {
		t.Fatalf("new addresses beyond the bound: %d allowed (want %d), %d buckets kept", n, deriveBurst, len(l.tat))
	}
	// Once the kept buckets are full again they are forgotten, and a new
	// address gets its own.
	now = now.Add(deriveEvery)
	if !l.allow(addrN(5000), now) || len(l.tat) != 1 {
		t.Fatalf("after the buckets filled: %d kept", len(l.tat))
	}
	// The clock goes back an hour: the address is held back one interval
	// at most.
	for l.allow(addrN(5000), now) {
	}
	back := now.Add(-time.Hour)
	if l.allow(addrN(5000), back) {
		t.Fatal("an empty bucket allowed a derivation right after the clock went back")
	}
	if !l.allow(addrN(5000), back.Add(deriveEvery)) {
		t.Fatal("the clock went back: the address is still held back an interval later")
	}
}
