package channel

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"sync"

	"github.com/rwanda-go/rwanda/internal/replay"
	"github.com/rwanda-go/rwanda/keys"
)

// Keyed channels authenticate whole datagrams. A keyed datagram sets
// flagAuth in its header and ends with a trailer:
//
//	key id 1 | counter 8 | tag 16
//
// The tag is AES-128-GCM with an empty plaintext (GMAC) over the whole
// datagram up to the tag, under a key derived from the ring's key with
// HKDF, salted with the channel's identity and naming the sending member,
// so no two members share one; the nonce is the counter (4 zero bytes, then
// the counter), which each channel instance counts up from 1 across all
// its datagrams. Receivers check the tag, then a per-sender replay window
// on the counter, before anything else in the datagram is read.
const (
	flagAuth   = 0x1
	authLen    = 1 + 8 + 16
	authWindow = 4096 // datagrams a sender's may be reordered by and still pass
)

type dgramAuth struct {
	ring  *keys.Ring
	salt  []byte
	self  uint64
	limit int // senders whose keys and windows are kept

	// Sending: under the outbox's lock.
	txID    int
	txGen   uint64
	tx      cipher.AEAD
	counter uint64
	txNonce [12]byte // scratch: a nonce passed to the AEAD would escape

	// Receiving: under mu.
	mu      sync.Mutex
	peers   map[uint64]*authPeer
	clock   uint64
	rxNonce [12]byte
}

type authPeer struct {
	keys    map[uint8]cipher.AEAD
	gen     uint64
	window  replay.Window
	lastUse uint64
}

func newDgramAuth(ring *keys.Ring, identity string, self uint64, limit int) *dgramAuth {
	return &dgramAuth{ring: ring, salt: []byte(identity), self: self, limit: limit, txID: -1, peers: make(map[uint64]*authPeer)}
}

func (a *dgramAuth) derive(id uint8, member uint64) (cipher.AEAD, error) {
	info := binary.BigEndian.AppendUint64([]byte("rwanda/datagram/v1/"), member)
	k, err := a.ring.Derive(id, a.salt, info, 16)
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

// gmacNonce writes the nonce for counter into n (4 zero bytes, then the
// counter) and returns it.
func gmacNonce(n *[12]byte, counter uint64) []byte {
	binary.BigEndian.PutUint64(n[4:], counter)
	return n[:]
}

// seal appends the trailer to the datagram that starts at buf[start:] and
// returns buf. Called with the outbox's lock held.
func (a *dgramAuth) seal(buf []byte, start int) []byte {
	id, gen := a.ring.Current(), a.ring.Generation()
	if int(id) != a.txID || gen != a.txGen {
		aead, err := a.derive(id, a.self)
		if err != nil {
			panic("channel: the ring's current key cannot be derived: " + err.Error()) // a Ring always holds its current key
		}
		a.tx, a.txID, a.txGen = aead, int(id), gen
	}
	a.counter++
	buf = append(buf, id)
	buf = binary.BigEndian.AppendUint64(buf, a.counter)
	// The tag is appended after the authenticated bytes: the bytes written
	// do not overlap the bytes read.
	return a.tx.Seal(buf, gmacNonce(&a.txNonce, a.counter), nil, buf[start:])
}

// open checks a keyed datagram from sender and returns it without its
// trailer, or the reason to drop it.
func (a *dgramAuth) open(d []byte, sender uint64) ([]byte, string) {
	if len(d) < dgramHeaderLen+authLen {
		return nil, "unauthenticated"
	}
	body := d[:len(d)-16]
	tag := d[len(d)-16:]
	id := body[len(body)-9]
	counter := binary.BigEndian.Uint64(body[len(body)-8:])
	if counter == 0 {
		return nil, "unauthenticated"
	}
	gen := a.ring.Generation()

	// One critical section: the replay check, the key, the tag, the mark.
	// Verifying under the lock serialises receivers of one channel, which
	// is one reader goroutine per socket anyway.
	a.mu.Lock()
	defer a.mu.Unlock()
	p := a.peers[sender]
	if p != nil && !p.window.Fresh(counter) {
		return nil, "replayed"
	}
	var aead cipher.AEAD
	if p != nil {
		if p.gen != gen {
			clear(p.keys) // a key may have been removed or replaced
			p.gen = gen
		}
		aead = p.keys[id]
	}
	if aead == nil {
		if !a.ring.Has(id) {
			return nil, "unknown-key"
		}
		var err error
		if aead, err = a.derive(id, sender); err != nil {
			return nil, "unknown-key"
		}
	}
	if _, err := aead.Open(nil, gmacNonce(&a.rxNonce, counter), tag, body); err != nil {
		return nil, "unauthenticated"
	}
	if p == nil { // nothing is kept for a member until it is authentic
		if len(a.peers) >= a.limit {
			a.evictLocked()
		}
		p = &authPeer{keys: make(map[uint8]cipher.AEAD, 1), gen: gen, window: replay.New(authWindow)}
		a.peers[sender] = p
	}
	p.window.Mark(counter)
	p.keys[id] = aead
	a.clock++
	p.lastUse = a.clock
	return body[:len(body)-9], ""
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
