package channel

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rwanda-go/rwanda/internal/keyphase"
	"github.com/rwanda-go/rwanda/internal/replay"
	"github.com/rwanda-go/rwanda/keys"
	"github.com/rwanda-go/rwanda/transport"
)

// Keyed channels authenticate whole datagrams. A keyed datagram sets
// flagAuth in its header and ends with a trailer:
//
//	check 8 | key id 1 | counter 8 | tag 16
//
// The tag is AES-128-GCM with an empty plaintext (GMAC) over the whole
// datagram up to the tag (the check, key id and counter included), under a
// key derived from the ring's key with HKDF, salted with the channel's
// identity and naming the sending member, so no two members share one; the
// nonce is the counter (4 zero bytes, then the counter), which each channel
// instance counts up from 1 across all its datagrams.
//
// The member's key changes with the counter's key phase, the counter
// divided by 2^23 (keyupdate.go): no key tags more datagrams than the
// confidentiality limit of RFC 9001 §6.6 for AES-128-GCM. Phase 0's key is
// the one above; phase n's is derived from the same ring key with its own
// info, naming the member and n, so a receiver derives any phase in one
// step, and a ring key switched to in the middle of a phase starts there.
// The phase needs no bit on the wire: the counter is there in full, under
// the tag. Receivers keep two phases' keys per member and key id (the
// current one and the previous or next), derive the next phase's key
// without a token of the limiter below and any other phase's behind the
// check like a new key id's, and count the tags that fail under each key:
// past the integrity limit (2^52) a key's datagrams are refused unverified
// ("key-exhausted") until the member's next phase.
//
// The check is the group's: the first 8 bytes of AES-128 under a check key
// derived once per ring key (HKDF, same salt, its own info, no member in
// it) of the block sender id 8 | counter 8. Deriving a member's key costs
// an HKDF and a key schedule (microseconds); the check costs one AES block
// under a key schedule kept per ring key id, so a receiver refuses a
// datagram from a sender it has no key for, made up by someone without
// the ring's key, for about the price of a map lookup, and a flood of
// forgeries from invented senders makes it derive nothing. It binds only
// the sender and the counter: it is a gate in front of the derivation, not
// the datagram's authentication (the tag is), and 8 bytes make a blind
// guess pass one time in 2^64. Without it, caches and rate limits alone
// could not help: every invented sender is new to every cache, and source
// addresses are as easy to invent as senders. It goes first in the
// trailer so that the key id, counter and tag keep their places from the
// end.
//
// A check copied from a captured datagram (the same sender and counter,
// other bytes) passes the gate and fails the tag. Such senders are real
// members, few, and their derived keys are kept whether or not the tag
// then verifies: in the member's entry, or, for a member with no authentic
// datagram yet, in a bounded cache beside the members (limit entries), so
// a replayed check costs one derivation per member and ring key, not one
// per datagram. What still derives — a member seen for the first time, a
// new key id, captured checks of more members than the caches hold, a
// member of the group making up senders — is limited per source address:
// each address may cause deriveBurst derivations at once, then one every
// deriveEvery; beyond that the datagram is dropped ("rate-limited"). The
// buckets of at most deriveAddrs addresses are kept; a bucket that has
// filled again is the same as none and is forgotten first, and when every
// kept bucket is still in use, new addresses share one bucket.
//
// Receivers check, before anything else in the datagram is read, the
// per-sender replay window on the counter (for members with an authentic
// datagram), then, unless the sender's key under the key id is at hand,
// the check, and the tag. A receiver that holds the sender's key skips the
// check, which the tag covers. Derived keys are kept per ring key, tagged
// with the check key's epoch: when the ring changes (its Generation), the
// check key of every kept id is derived again, and only an id whose key
// was removed or replaced gets a new epoch (and the keys derived under the
// old one are dropped), so adding, switching to or removing another key
// does not make every member's key be derived again.
const (
	flagAuth   = 0x1
	checkLen   = 8
	tagLen     = 16
	authLen    = checkLen + 1 + 8 + tagLen
	authWindow = 4096 // datagrams a sender's may be reordered by and still pass

	// Derivations one source address may cause: deriveBurst at once, then
	// one per deriveEvery (64 a second). Enough for a relay forwarding 64
	// members, who each need one derivation per key; at most ~0.5 ms of CPU
	// a second per address.
	deriveBurst = 64
	deriveEvery = time.Second / 64
	deriveAddrs = 1024 // addresses whose buckets are kept
)

const (
	memberInfo = "rwanda/datagram/v1/"       // + member id: a member's tag key
	checkInfo  = "rwanda/datagram-check/v1/" // the group's check key
)

type dgramAuth struct {
	ring  *keys.Ring
	salt  []byte
	self  uint64
	nonce uint64 // this instance's freshness nonce (fresh.go)
	limit int    // senders whose keys and windows are kept

	keyLim keyphase.Limits // AEAD usage limits, key phases (keyupdate.go)

	// Sending: under the outbox's lock.
	txID    int
	txGen   uint64
	tx      cipher.AEAD
	txPhase uint64 // tx's key phase
	txEnd   uint64 // the first counter after it
	txCheck cipher.Block
	counter uint64
	txNonce [12]byte // scratch: a nonce passed to the AEAD would escape
	txBlock [16]byte

	// Key updates, sent (phases this member's datagrams moved on to) and
	// received (later phases of other members authenticated).
	updatesSent, updatesSeen atomic.Uint64

	// Receiving: under mu.
	mu      sync.Mutex
	gen     uint64                        // the ring's Generation the check keys were checked at
	checks  [256]*checkKey                // by key id; nil: not derived, or not in the ring
	epochs  uint64                        // the last epoch given a check key
	peers   map[uint64]*authPeer          // members with an authentic datagram
	pending map[pendingKey]*keyphase.Slot // keys derived for members without one
	limiter deriveLimiter
	clock   uint64
	rxNonce [12]byte
	rxBlock [16]byte
	derived uint64 // members' keys derived while receiving
	checked uint64 // check keys derived while receiving
}

// checkKey is the group's check key for one ring key id.
type checkKey struct {
	block cipher.Block
	raw   [16]byte // to tell, when the ring changes, whether this key did
	epoch uint64
}

type pendingKey struct {
	member uint64
	id     uint8
}

type authPeer struct {
	keys    map[uint8]*keyphase.Keys
	window  replay.Window
	lastUse uint64
	// freshFrom is the counter of the datagram in which the member echoed
	// our nonce (fresh.go): its datagrams are accepted from this one on;
	// 0 until then.
	freshFrom uint64
	askedAt   time.Time // when we last asked it to echo our nonce
	lastAt    time.Time // when its latest datagram was accepted
}

func newDgramAuth(ring *keys.Ring, identity string, self uint64, limit int) *dgramAuth {
	return &dgramAuth{
		ring: ring, salt: []byte(identity), self: self, nonce: randomID(), limit: limit, txID: -1, keyLim: currentKeyLimits(),
		peers: make(map[uint64]*authPeer), pending: make(map[pendingKey]*keyphase.Slot),
		limiter: deriveLimiter{tat: make(map[transport.Addr]time.Duration)},
	}
}

// derive derives member's tag key in key phase under key id.
func (a *dgramAuth) derive(id uint8, member, phase uint64) (cipher.AEAD, error) {
	k, err := a.ring.Derive(id, a.salt, memberKeyInfo(member, phase), 16)
	if err != nil {
		return nil, err
	}
	b, err := aes.NewCipher(k)
	clear(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// deriveCheck returns the check key for key id, and its bytes.
func (a *dgramAuth) deriveCheck(id uint8) (cipher.Block, [16]byte, error) {
	var raw [16]byte
	k, err := a.ring.Derive(id, a.salt, []byte(checkInfo), 16)
	if err != nil {
		return nil, raw, err
	}
	copy(raw[:], k)
	clear(k)
	b, err := aes.NewCipher(raw[:])
	return b, raw, err
}

// gmacNonce writes the nonce for counter into n (4 zero bytes, then the
// counter) and returns it.
func gmacNonce(n *[12]byte, counter uint64) []byte {
	binary.BigEndian.PutUint64(n[4:], counter)
	return n[:]
}

// groupCheck writes the check of sender and counter under b into the first
// checkLen bytes of scratch and returns them.
func groupCheck(b cipher.Block, scratch *[16]byte, sender, counter uint64) []byte {
	binary.BigEndian.PutUint64(scratch[:8], sender)
	binary.BigEndian.PutUint64(scratch[8:], counter)
	b.Encrypt(scratch[:], scratch[:])
	return scratch[:checkLen]
}

// seal appends the trailer to the datagram that starts at buf[start:] and
// returns buf. Called with the outbox's lock held.
func (a *dgramAuth) seal(buf []byte, start int) []byte {
	id, gen := a.ring.Current(), a.ring.Generation()
	if int(id) != a.txID || gen != a.txGen {
		check, raw, err := a.deriveCheck(id)
		clear(raw[:])
		if err != nil {
			panic("channel: the ring's current key cannot be derived: " + err.Error()) // a Ring always holds its current key
		}
		a.txCheck, a.txID, a.txGen, a.txEnd = check, int(id), gen, 0
	}
	a.counter++
	if a.counter >= a.txEnd { // a new key id, or a new key phase
		a.sealKey()
	}
	buf = append(buf, groupCheck(a.txCheck, &a.txBlock, a.self, a.counter)...)
	buf = append(buf, id)
	buf = binary.BigEndian.AppendUint64(buf, a.counter)
	// The tag is appended after the authenticated bytes: the bytes written
	// do not overlap the bytes read.
	return a.tx.Seal(buf, gmacNonce(&a.txNonce, a.counter), nil, buf[start:])
}

// open checks a keyed datagram from sender, read from address from at now,
// and returns it without its trailer, or the reason to drop it. An
// authentic datagram from a member that has not echoed our nonce yet is
// returned with the reason "unfresh" (fresh.go): the caller reads only its
// NONCE frames, and asks the member for an echo when ask says so.
func (a *dgramAuth) open(d []byte, sender uint64, from transport.Addr, now time.Time) ([]byte, string, bool) {
	if len(d) < dgramHeaderLen+authLen {
		return nil, "unauthenticated", false
	}
	body := d[:len(d)-tagLen]
	tag := d[len(d)-tagLen:]
	trailer := body[len(body)-(authLen-tagLen):]
	check, id := trailer[:checkLen], trailer[checkLen]
	counter := binary.BigEndian.Uint64(trailer[checkLen+1:])
	if counter == 0 {
		return nil, "unauthenticated", false
	}
	gen := a.ring.Generation()

	// One critical section: the replay check, the key (behind the group's
	// check when it must be derived), the tag, the mark. Verifying under the lock serialises receivers of one
	// channel, which is one reader goroutine per socket anyway.
	a.mu.Lock()
	defer a.mu.Unlock()
	if gen != a.gen {
		a.refreshLocked(gen)
	}
	ck := a.checks[id]
	if ck == nil {
		if !a.ring.Has(id) {
			return nil, "unknown-key", false
		}
		block, raw, err := a.deriveCheck(id)
		a.checked++
		if err != nil {
			return nil, "unknown-key", false
		}
		a.epochs++
		ck = &checkKey{block: block, raw: raw, epoch: a.epochs}
		a.checks[id] = ck
	}
	p := a.peers[sender]
	if p != nil {
		switch {
		case !p.window.Fresh(counter):
			return nil, "replayed", false
		case counter < p.freshFrom:
			return nil, "unfresh", false // sent before it echoed our nonce
		}
	}
	phase := a.keyLim.Phase(counter)
	var k *keyphase.Slot // the key of sender's phase under id, where it is kept
	if p != nil {
		if m := p.keys[id]; m != nil {
			k = m.Get(ck.epoch, phase)
		}
	}
	if k == nil { // no key at hand: the group's check first
		if subtle.ConstantTimeCompare(groupCheck(ck.block, &a.rxBlock, sender, counter), check) != 1 {
			return nil, "unauthenticated", false
		}
		if p == nil {
			if pk := a.pending[pendingKey{sender, id}]; pk != nil && pk.Version == ck.epoch && pk.Phase == phase {
				k = pk
			}
		}
	}
	if k == nil {
		// The next phase of a member's own traffic needs no token.
		if !(p != nil && p.keys[id] != nil && p.keys[id].IsNext(phase)) && !a.limiter.allow(from, now) {
			return nil, "rate-limited", false
		}
		aead, err := a.derive(id, sender, phase)
		a.derived++
		if err != nil {
			return nil, "unknown-key", false
		}
		// Kept before the tag is checked: the key is the member's whatever
		// the datagram holds, and a copied check must not cost a derivation
		// per datagram.
		if p != nil {
			k = p.keysUnder(id).Put(aead, ck.epoch, phase)
		} else {
			if len(a.pending) >= a.limit {
				for pk := range a.pending { // any one
					delete(a.pending, pk)
					break
				}
			}
			k = &keyphase.Slot{AEAD: aead, Version: ck.epoch, Phase: phase}
			a.pending[pendingKey{sender, id}] = k
		}
	}
	if k.Forged >= a.keyLim.Forgeries {
		return nil, "key-exhausted", false
	}
	if _, err := k.AEAD.Open(nil, gmacNonce(&a.rxNonce, counter), tag, body); err != nil {
		k.Forged++
		return nil, "unauthenticated", false
	}
	if p != nil && counter > p.window.Top() && counter-p.window.Top() > counterJump(now.Sub(p.lastAt)) {
		// Authentic, so from an insider (or the member itself, beyond any
		// rate it could send at): it would silence the member.
		return nil, "counter-jump", false
	}
	frames := body[dgramHeaderLen : len(body)-(authLen-tagLen)]
	fresh := p != nil && p.freshFrom != 0
	if !fresh && seenIn(frames, a.self, a.nonce) {
		fresh = true
	}
	if p == nil { // no window is kept for a member until it is authentic
		if len(a.peers) >= a.limit {
			a.evictLocked()
		}
		p = &authPeer{keys: make(map[uint8]*keyphase.Keys, 1), window: replay.New(authWindow)}
		a.peers[sender] = p
		delete(a.pending, pendingKey{sender, id})
		p.keysUnder(id).Keep(*k)
	}
	p.window.Mark(counter)
	if p.keys[id].Authenticated(phase) {
		a.updatesSeen.Add(1)
	}
	a.clock++
	p.lastUse, p.lastAt = a.clock, now
	if !fresh {
		// Authentic, and perhaps recorded long ago: only its NONCE frames
		// are read. Ask the member to echo our nonce, at most every
		// freshRetry.
		ask := p.askedAt.IsZero() || now.Sub(p.askedAt) >= freshRetry || now.Before(p.askedAt)
		if ask {
			p.askedAt = now
		}
		return body[:len(body)-(authLen-tagLen)], "unfresh", ask
	}
	if p.freshFrom == 0 {
		p.freshFrom = counter
	}
	return body[:len(body)-(authLen-tagLen)], "", false
}

// refreshLocked brings the check keys up to the ring's generation gen: an
// id no longer in the ring loses its check key, one whose key changed gets
// a new one, of a new epoch, so that members' keys derived under the old
// one are derived again.
func (a *dgramAuth) refreshLocked(gen uint64) {
	a.gen = gen
	changed := false
	for id, ck := range a.checks {
		if ck == nil {
			continue
		}
		if !a.ring.Has(uint8(id)) {
			a.checks[id], changed = nil, true
			continue
		}
		block, raw, err := a.deriveCheck(uint8(id))
		a.checked++
		switch {
		case err != nil:
			a.checks[id], changed = nil, true
		case raw != ck.raw:
			a.epochs++
			a.checks[id], changed = &checkKey{block: block, raw: raw, epoch: a.epochs}, true
		}
		clear(raw[:])
	}
	if !changed {
		return
	}
	// Drop the keys derived under a key removed or replaced (rare: the
	// ring changes by hand), so no old key outlives its removal here.
	current := func(id uint8, epoch uint64) bool { ck := a.checks[id]; return ck != nil && ck.epoch == epoch }
	for _, p := range a.peers {
		for id, m := range p.keys {
			if m.Stale(func(epoch uint64) bool { return current(id, epoch) }) {
				delete(p.keys, id)
			}
		}
	}
	for pk, k := range a.pending {
		if !current(pk.id, k.Version) {
			delete(a.pending, pk)
		}
	}
}

func (a *dgramAuth) evictLocked() {
	var oldest uint64
	min := ^uint64(0)
	for s, p := range a.peers {
		if p.lastUse < min {
			oldest, min = s, p.lastUse
		}
	}
	delete(a.peers, oldest)
}

// deriveLimiter is a token bucket per source address, kept as the
// theoretical arrival time of the generic cell rate algorithm: the time,
// after base, at which the address's bucket is full again. A bucket
// allows a derivation when it is at most (deriveBurst-1)·deriveEvery
// ahead of now, which pushes it deriveEvery further.
type deriveLimiter struct {
	base    time.Time // the first reading; times are kept as durations after it
	tat     map[transport.Addr]time.Duration
	shared  time.Duration // the bucket of addresses beyond deriveAddrs
	sweepAt time.Duration // no bucket of tat is full again before this
}

// allow says whether from may cause a derivation at now, and counts it.
func (l *deriveLimiter) allow(from transport.Addr, now time.Time) bool {
	if l.base.IsZero() {
		l.base = now
	}
	t := now.Sub(l.base) // monotonic when the clock's readings are
	tat, kept := l.tat[from]
	shared := false
	if !kept {
		tat = t // a full bucket
		if len(l.tat) >= deriveAddrs {
			if t >= l.sweepAt || l.sweepAt-t > deriveBurst*deriveEvery { // or the clock went back
				l.sweep(t)
			}
			if shared = len(l.tat) >= deriveAddrs; shared {
				tat = l.shared
			}
		}
	}
	// A bucket is never more than full; a clock that went back costs at
	// most one interval.
	tat = min(max(tat, t), t+deriveBurst*deriveEvery)
	ok := tat-t <= (deriveBurst-1)*deriveEvery
	if ok {
		tat += deriveEvery
	}
	if shared {
		l.shared = tat
	} else {
		l.tat[from] = tat
	}
	return ok
}

// sweep forgets the buckets that are full again at t: a full bucket is
// what an address without one gets.
func (l *deriveLimiter) sweep(t time.Duration) {
	next := time.Duration(1<<63 - 1)
	for addr, tat := range l.tat {
		if tat <= t {
			delete(l.tat, addr)
		} else {
			next = min(next, tat)
		}
	}
	l.sweepAt = next
}
