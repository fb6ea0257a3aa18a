package channel

import (
	"bytes"
	"context"
	"crypto/cipher"
	"encoding/binary"
	"github.com/rwanda-go/rwanda/internal/keyphase"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/keys"
	"github.com/rwanda-go/rwanda/posting"
)

// lowerKeyLimits lowers the AEAD usage limits of the authenticators (and
// so channels) made from now on to datagrams per key phase and forgeries
// per key (0: the real limit), until t ends.
func lowerKeyLimits(t testing.TB, datagrams, forgeries uint64) {
	d, f := testKeyLimits.datagrams.Load(), testKeyLimits.forgeries.Load()
	testKeyLimits.datagrams.Store(datagrams)
	testKeyLimits.forgeries.Store(forgeries)
	t.Cleanup(func() {
		testKeyLimits.datagrams.Store(d)
		testKeyLimits.forgeries.Store(f)
	})
}

// trailerCounter is the counter in keyed datagram d's trailer.
func trailerCounter(d []byte) uint64 { return binary.BigEndian.Uint64(d[len(d)-tagLen-8:]) }

// trailerID is the key id in keyed datagram d's trailer.
func trailerID(d []byte) uint8 { return d[len(d)-tagLen-9] }

func sealHello(tx *dgramAuth, member uint64, i int) []byte {
	return tx.seal(appendHello(appendKeyedHeader(nil, member), 0, time.Unix(int64(i), 0)), 0)
}

func (a *dgramAuth) derivedCount() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.derived
}

// drainBucket uses up from's derivation tokens at now.
func drainBucket(a *dgramAuth, from int, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for a.limiter.allow(addrN(from), now) {
	}
}

// TestKeyLimits: the real limits are RFC 9001's for AES-128-GCM, and the
// test knob lowers them but cannot raise them.
func TestKeyLimits(t *testing.T) {
	if l := currentKeyLimits(); l.PhaseLen != 1<<23 || l.Forgeries != 1<<52 {
		t.Fatalf("limits %+v, want 2^23 datagrams per key and 2^52 forgeries", l)
	}
	lowerKeyLimits(t, 1<<40, 1<<60)
	if l := currentKeyLimits(); l.PhaseLen != 1<<23 || l.Forgeries != 1<<52 {
		t.Fatalf("the knob raised the limits: %+v", l)
	}
	lowerKeyLimits(t, 50, 8)
	if l := currentKeyLimits(); l.PhaseLen != 50 || l.Forgeries != 8 {
		t.Fatalf("the knob did not lower the limits: %+v", l)
	}
	l := keyphase.Limits{PhaseLen: 50}
	for _, c := range []struct{ counter, phase, end uint64 }{{1, 0, 50}, {49, 0, 50}, {50, 1, 100}, {1<<64 - 1, (1<<64 - 1) / 50, 1<<64 - 1}} {
		if p := l.Phase(c.counter); p != c.phase || l.End(p) != c.end {
			t.Errorf("counter %d: phase %d ending at %d, want %d ending at %d", c.counter, p, l.End(p), c.phase, c.end)
		}
	}
	if got := (keyphase.Limits{PhaseLen: 1 << 23}).End((1<<64-1)>>23 - 1); got != ((1<<64-1)>>23)<<23 {
		t.Errorf("end of the last whole phase: %d", got)
	}
}

// TestAuthKeyPhases: with the limit lowered to L, a sender's key changes
// every L counters, so no key tags more than L datagrams; a receiver
// follows every phase, each derived once and without a token of the
// derivation limiter, accepts a datagram of the previous phase that
// arrives after the next phase began, and counts the updates. A receiver
// under the real limits shows that the keys did change.
func TestAuthKeyPhases(t *testing.T) {
	const L = 10
	ring := authRing(t)
	unlowered := newDgramAuth(ring, authTestIdentity, 1, 64)
	lowerKeyLimits(t, L, 0)
	const member = 5
	tx := newDgramAuth(ring, authTestIdentity, member, 16)
	ds := make([][]byte, 5*L)
	uses := map[cipher.AEAD]int{}
	for i := range ds {
		ds[i] = sealHello(tx, member, i)
		uses[tx.tx]++
	}
	phases := trailerCounter(ds[len(ds)-1])/L + 1
	if uint64(len(uses)) != phases {
		t.Fatalf("%d keys for %d phases", len(uses), phases)
	}
	for _, n := range uses {
		if n > L {
			t.Fatalf("a key tagged %d datagrams, limit %d", n, L)
		}
	}
	if got := tx.updatesSent.Load(); got != phases-1 {
		t.Fatalf("%d key updates sent over %d phases", got, phases)
	}
	now := time.Unix(1000, 0)
	if why, _, _ := openAt(unlowered, ds[0], addrN(1), now); why != "" {
		t.Fatalf("phase 0 under the real limits: %q", why)
	}
	if why, _, _ := openAt(unlowered, ds[L], addrN(1), now); why != "unauthenticated" {
		t.Fatalf("phase 1 under phase 0's key: %q", why)
	}

	rx := newDgramAuth(ring, authTestIdentity, 1, 64)
	// The member's first datagram takes a token; then the address has none.
	if why, _, _ := openAt(rx, ds[0], addrN(1), now); why != "" {
		t.Fatal(why)
	}
	drainBucket(rx, 1, now)
	// The rest, with the last datagram of each phase after the first of
	// the next one.
	order := make([]int, 0, len(ds))
	for i := 1; i < len(ds); i++ {
		order = append(order, i)
	}
	for j := 0; j+1 < len(order); j++ {
		if trailerCounter(ds[order[j+1]])%L == 0 {
			order[j], order[j+1] = order[j+1], order[j]
			j++
		}
	}
	for _, i := range order {
		if why, _, _ := openAt(rx, ds[i], addrN(1), now); why != "" {
			t.Fatalf("datagram %d (counter %d): %q", i, trailerCounter(ds[i]), why)
		}
	}
	if d := rx.derivedCount(); d != phases {
		t.Fatalf("%d keys derived for %d phases", d, phases)
	}
	if got := rx.updatesSeen.Load(); got != phases-1 {
		t.Fatalf("%d key updates received, %d sent", got, phases-1)
	}
	if why, _, _ := openAt(rx, ds[3], addrN(1), now); why != "replayed" {
		t.Fatalf("replayed across phases: %q", why)
	}
}

// TestAuthKeyPhaseJump: a datagram two phases ahead of the last one
// authenticated for a member (datagrams lost, or on a unicast channel sent
// to others) is not the next phase: it passes only behind the group's check
// and with a token of the derivation limiter, as a new key id's first
// datagram does. A forgery of it is refused at the check without a
// derivation; the genuine one waits for a token; the phase after it then
// needs none.
func TestAuthKeyPhaseJump(t *testing.T) {
	const L = 10
	lowerKeyLimits(t, L, 0)
	ring := authRing(t)
	const member = 5
	tx := newDgramAuth(ring, authTestIdentity, member, 16)
	ds := make([][]byte, 4*L)
	for i := range ds {
		ds[i] = sealHello(tx, member, i)
	}
	at := func(phase uint64) []byte { // the first datagram of phase
		for _, d := range ds {
			if trailerCounter(d)/L == phase {
				return d
			}
		}
		t.Fatalf("no datagram in phase %d", phase)
		return nil
	}
	rx := newDgramAuth(ring, authTestIdentity, 1, 64)
	now := time.Unix(1000, 0)
	if why, _, _ := openAt(rx, at(0), addrN(1), now); why != "" {
		t.Fatal(why)
	}
	drainBucket(rx, 1, now)
	rng := rand.New(rand.NewPCG(5, 6))
	for range 100 {
		f := forgedDatagram(rng, member)
		binary.BigEndian.PutUint64(f[len(f)-tagLen-8:], 2*L+1+rng.Uint64N(L-1))
		if why, derived, _ := openAt(rx, f, addrN(1), now); why != "unauthenticated" || derived != 1 {
			t.Fatalf("forgery two phases ahead: %q, %d derived", why, derived)
		}
	}
	if why, derived, _ := openAt(rx, at(2), addrN(1), now); why != "rate-limited" || derived != 1 {
		t.Fatalf("two phases ahead, no token: %q, %d derived", why, derived)
	}
	now = now.Add(deriveEvery)
	if why, derived, _ := openAt(rx, at(2), addrN(1), now); why != "" || derived != 2 {
		t.Fatalf("two phases ahead, a token: %q, %d derived", why, derived)
	}
	drainBucket(rx, 1, now)
	if why, derived, _ := openAt(rx, at(3), addrN(1), now); why != "" || derived != 3 {
		t.Fatalf("the next phase: %q, %d derived", why, derived)
	}
	if got := rx.updatesSeen.Load(); got != 2 {
		t.Fatalf("%d key updates received, want 2 (phase 0 to 2 to 3)", got)
	}
}

// TestAuthIntegrityLimit: forged datagrams under a key at hand (a real
// member's, tampered with) count against the key; once the lowered
// integrity limit is reached, the key's datagrams are refused unverified,
// genuine or not, until the member's next phase. Another member's key is
// not touched.
func TestAuthIntegrityLimit(t *testing.T) {
	const L, forgeries = 100, 8
	lowerKeyLimits(t, L, forgeries)
	ring := authRing(t)
	tx := newDgramAuth(ring, authTestIdentity, 5, 16)
	other := newDgramAuth(ring, authTestIdentity, 6, 16)
	ds := make([][]byte, L+20)
	for i := range ds {
		ds[i] = sealHello(tx, 5, i)
	}
	rx := newDgramAuth(ring, authTestIdentity, 1, 64)
	now := time.Unix(1000, 0)
	for _, d := range ds[:10] {
		if why, _, _ := openAt(rx, d, addrN(1), now); why != "" {
			t.Fatal(why)
		}
	}
	for i := range forgeries {
		bad := bytes.Clone(ds[10])
		bad[dgramHeaderLen+2] ^= byte(1 + i)
		if why, _, _ := openAt(rx, bad, addrN(2), now); why != "unauthenticated" {
			t.Fatalf("forgery %d: %q", i, why)
		}
	}
	for i, d := range ds[10:] {
		why, _, _ := openAt(rx, d, addrN(1), now)
		switch phase := trailerCounter(d) / L; {
		case phase == 0 && why != "key-exhausted":
			t.Fatalf("datagram %d of the exhausted phase: %q", 10+i, why)
		case phase > 0 && why != "":
			t.Fatalf("datagram %d of the next phase: %q", 10+i, why)
		}
	}
	if why, _, _ := openAt(rx, sealHello(other, 6, 0), addrN(3), now); why != "" {
		t.Fatalf("another member: %q", why)
	}
	if got := rx.updatesSeen.Load(); got != 1 {
		t.Fatalf("%d key updates received, want 1", got)
	}
}

// TestAuthKeyUpdateRingRotation: key phases and the ring's rotation (a key
// added, then used, mid-stream) go together: with datagrams reordered,
// every datagram passes, each (key id, phase) key is derived once, and the
// updates counted are the phases each key id went through.
func TestAuthKeyUpdateRingRotation(t *testing.T) {
	const L = 20
	lowerKeyLimits(t, L, 0)
	ringTx, ringRx := authRing(t), authRing(t)
	tx := newDgramAuth(ringTx, authTestIdentity, 5, 16)
	rx := newDgramAuth(ringRx, authTestIdentity, 1, 64)
	var ds [][]byte
	for i := range 1000 {
		switch i {
		case 300:
			must(t, ringRx.Add(2, otherKey))
			must(t, ringTx.Add(2, otherKey))
		case 500:
			must(t, ringTx.Use(2))
		case 700:
			must(t, ringRx.Use(2))
		}
		ds = append(ds, sealHello(tx, 5, i))
	}
	// Every 7th datagram is held back by 3.
	order := make([]int, 0, len(ds))
	var held []int
	for i := range ds {
		if i%7 == 6 {
			held = append(held, i)
			continue
		}
		order = append(order, i)
		if len(held) > 0 && i%7 == 2 {
			order = append(order, held...)
			held = nil
		}
	}
	order = append(order, held...)
	type idPhase struct {
		id    uint8
		phase uint64
	}
	pairs := map[idPhase]bool{}
	span := map[uint8][2]uint64{} // the first and last phase under each id
	now := time.Unix(1000, 0)
	for _, i := range order {
		d := ds[i]
		if why, _, _ := openAt(rx, d, addrN(1), now); why != "" {
			t.Fatalf("datagram %d (key %d, counter %d): %q", i, trailerID(d), trailerCounter(d), why)
		}
		id, phase := trailerID(d), trailerCounter(d)/L
		pairs[idPhase{id, phase}] = true
		s, ok := span[id]
		if !ok {
			s = [2]uint64{phase, phase}
		}
		span[id] = [2]uint64{min(s[0], phase), max(s[1], phase)}
	}
	if len(span) != 2 {
		t.Fatalf("datagrams under %d key ids", len(span))
	}
	var updates uint64
	for _, s := range span {
		updates += s[1] - s[0]
	}
	if got := rx.updatesSeen.Load(); got != updates {
		t.Fatalf("%d key updates received, want %d", got, updates)
	}
	if got := tx.updatesSent.Load(); got != trailerCounter(ds[len(ds)-1])/L {
		t.Fatalf("%d key updates sent for %d counters", got, trailerCounter(ds[len(ds)-1]))
	}
	if d := rx.derivedCount(); d != uint64(len(pairs)) {
		t.Fatalf("%d keys derived for %d (key id, phase) pairs", d, len(pairs))
	}
	// Key 1 goes: what is left of it is refused.
	must(t, ringRx.Remove(1))
	if why, _, _ := openAt(rx, ds[len(ds)-1], addrN(1), now); why != "replayed" {
		t.Fatalf("a datagram under key 2 after key 1 went: %q", why)
	}
	d := sealedFrom(authRing(t), 7, 1)[0]
	if why, _, _ := openAt(rx, d, addrN(1), now); why != "unknown-key" {
		t.Fatalf("a datagram under the removed key: %q", why)
	}
}

// bigPosting is posting i with a body of bigBody bytes: more than half a
// datagram, so that each takes a datagram of its own.
func bigPosting(i int) *posting.Posting {
	b := make([]byte, bigBody)
	binary.BigEndian.PutUint64(b, uint64(i))
	return posting.New(b)
}

const bigBody = DefaultMTU4/2 + 64

// bigIndex is the i of bigPosting(i), or -1.
func bigIndex(p *posting.Posting) int {
	if b, ok := p.Body.([]byte); ok && len(b) == bigBody {
		return int(binary.BigEndian.Uint64(b))
	}
	return -1
}

// TestKeyUpdateWhilePostingsFlow sends reliable postings between keyed
// channels over UDP on the loopback with the limit lowered to 50 datagrams
// per key, so that the keys change every few milliseconds: every posting
// arrives exactly once and in order, no datagram is refused, and the
// updates each side counts are what its counter and the limit imply. The
// unicast run goes through a proxy that delays every 9th datagram past
// three others (across key updates too) and loses every 41st, and rotates
// the ring in the middle.
func TestKeyUpdateWhilePostingsFlow(t *testing.T) {
	checkGoroutines(t)
	const limit = 50
	const n = 2000 // postings, each in a datagram of its own
	lowerKeyLimits(t, limit, 0)
	for _, unicast := range []bool{false, true} {
		name := "multicast"
		if unicast {
			name = "unicast-reordered-rotated"
		}
		t.Run(name, func(t *testing.T) {
			ringRx, _ := keys.NewRing(1, testKey)
			ringTx, _ := keys.NewRing(1, testKey)
			var rx, tx *Channel
			var crossed int // delayed datagrams released in a later key phase
			var mu sync.Mutex
			if unicast {
				port := freePort(t)
				rx = open(t, "ktest://:"+strconv.Itoa(port)+"?channel=k", WithKeyRing(ringRx))
				px := newProxy(t, port)
				var seen int
				var late [][]byte
				px.setHold(func(d []byte) bool {
					mu.Lock()
					defer mu.Unlock()
					seen++
					switch {
					case seen%41 == 0:
						return true // lost
					case seen%9 == 0:
						late = append(late, bytes.Clone(d))
						return true
					case seen%9 == 3:
						for _, l := range late {
							if trailerCounter(l)/limit != trailerCounter(d)/limit {
								crossed++
							}
							px.back.WriteToUDP(l, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
						}
						late = nil
					}
					return false
				})
				tx = open(t, "ktest://127.0.0.1:"+strconv.Itoa(px.port())+"?channel=k", WithKeyRing(ringTx), WithBlockingPush())
			} else {
				url := groupURL("ktest")
				rx = open(t, url, WithKeyRing(ringRx))
				tx = open(t, url, WithKeyRing(ringTx), WithBlockingPush())
			}
			col := newCollect(n)
			rx.SubscribeFunc(func(p *posting.Posting) { col.add(posting.New(bigIndex(p))) })
			for i := range n {
				if unicast {
					switch i {
					case n / 3:
						must(t, ringRx.Add(2, otherKey))
						must(t, ringTx.Add(2, otherKey))
					case n / 2:
						must(t, ringTx.Use(2))
						must(t, ringRx.Use(2))
					}
				}
				must(t, tx.Push(context.Background(), bigPosting(i)))
			}
			col.wait(t, 60*time.Second)

			counter := func(c *Channel) uint64 {
				c.out.mu.Lock()
				defer c.out.mu.Unlock()
				return c.auth.counter
			}
			txSt, rxSt := tx.Stats(), rx.Stats()
			txCounter, rxCounter := counter(tx), counter(rx)
			mu.Lock()
			defer mu.Unlock()
			t.Logf("%d postings: sender %d datagrams, %d key updates sent; receiver %d datagrams, %d updates received, %d sent; %d retransmissions, %d datagrams delayed across an update",
				n, txCounter, txSt.Keys.Sent, rxCounter, rxSt.Keys.Received, rxSt.Keys.Sent, windowCounter(txSt, "", "retransmits"), crossed)
			if unicast && (crossed == 0 || windowCounter(txSt, "", "retransmits") == 0) {
				t.Errorf("the proxy delayed no datagram across a key update (%d) or lost none (%d retransmissions)", crossed, windowCounter(txSt, "", "retransmits"))
			}
			// Every datagram counts up; a key update at every limit-th.
			// (The channels may still be sending: read the stats first.)
			for _, c := range []struct {
				who   string
				sent  uint64
				count uint64
			}{{"sender", txSt.Keys.Sent, txCounter}, {"receiver", rxSt.Keys.Sent, rxCounter}} {
				if c.sent > c.count/limit || c.sent+1 < c.count/limit {
					t.Errorf("%s: %d key updates sent for %d datagrams at %d per key", c.who, c.sent, c.count, limit)
				}
			}
			// The postings alone took n datagrams.
			if minUpdates := uint64(n/limit - 1); txSt.Keys.Sent < minUpdates {
				t.Errorf("%d key updates sent for %d postings, want at least %d", txSt.Keys.Sent, n, minUpdates)
			}
			// A receiver sees every phase it got a datagram of: all but a
			// few (those whose datagrams were all lost or left unread).
			for _, c := range []struct {
				who            string
				received, sent uint64
			}{{"receiver", rxSt.Keys.Received, txSt.Keys.Sent}, {"sender", txSt.Keys.Received, rxSt.Keys.Sent}} {
				if slack := c.sent/10 + 2; c.received+slack < c.sent || c.received > c.sent+1 {
					t.Errorf("%s: %d key updates received, the other sent %d", c.who, c.received, c.sent)
				}
			}
			for _, c := range []*Channel{tx, rx} {
				d := c.Stats().Drops
				for _, r := range []string{"unauthenticated", "key-exhausted", "rate-limited", "unknown-key", "replayed"} {
					if d[r] != 0 {
						t.Errorf("drops: %v", d)
						break
					}
				}
			}
		})
	}
}

// FuzzKeyPhases feeds a receiver, with the limit lowered to 4 datagrams
// per key, the first of a member's genuine datagrams (several phases),
// then an arbitrary datagram, then the rest: nothing may panic, the
// arbitrary one passes only if it is one of the genuine ones, and it
// cannot make the receiver refuse any genuine datagram it has not seen.
func FuzzKeyPhases(f *testing.F) {
	const L, member = 4, 5
	lowerKeyLimits(f, L, 16)
	ring, _ := keys.NewRing(1, testKey)
	tx := newDgramAuth(ring, authTestIdentity, member, 16)
	genuine := make([][]byte, 6*L)
	for i := range genuine {
		genuine[i] = sealHello(tx, member, i)
	}
	for i, d := range genuine {
		f.Add(d, uint8(i))
		jumped := bytes.Clone(d)
		binary.BigEndian.PutUint64(jumped[len(d)-tagLen-8:], trailerCounter(d)+2*L)
		f.Add(jumped, uint8(i))
	}
	f.Fuzz(func(t *testing.T, d []byte, first uint8) {
		rx := newDgramAuth(ring, authTestIdentity, 1, 16)
		now := time.Unix(1000, 0)
		n := int(first) % len(genuine)
		for _, g := range genuine[:n] {
			if why, _, _ := openAt(rx, g, addrN(1), now); why != "" {
				t.Fatalf("genuine: %q", why)
			}
		}
		sender := uint64(member)
		if len(d) >= dgramHeaderLen {
			sender = binary.BigEndian.Uint64(d[2:10])
		}
		body, why, _ := rx.open(d, sender, addrN(2), now)
		if why == "unfresh" && body != nil { // authentic: see openAt
			why = ""
		}
		was := -1
		for i, g := range genuine {
			if bytes.Equal(g, d) {
				was = i
			}
		}
		if why == "" && was < 0 {
			t.Fatalf("a datagram not sealed by the member passed: %x", d)
		}
		for i, g := range genuine[n:] {
			want := ""
			if n+i == was && why == "" {
				want = "replayed"
			}
			if got, _, _ := openAt(rx, g, addrN(1), now); got != want {
				t.Fatalf("genuine datagram %d after %x: %q, want %q", n+i, d, got, want)
			}
		}
	})
}
