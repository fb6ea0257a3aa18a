package keys

import (
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
)

// MinKeyLen is the shortest channel key a [Ring] accepts.
const MinKeyLen = 16

// Errors returned by [Ring] methods.
var (
	ErrShortKey  = fmt.Errorf("keys: key shorter than %d bytes", MinKeyLen)
	ErrNoKey     = errors.New("keys: no key with that id")
	ErrKeyExists = errors.New("keys: a different key already has that id")
	ErrInUse     = errors.New("keys: the key is the one in use for sending")
)

// Ring is a set of channel keys, each with a one-byte id that travels with
// every protected packet, and the id of the key senders use now. Receivers
// accept any key in the ring, so a key can be rotated without losing
// packets: add the new key everywhere, switch to it, remove the old one.
type Ring struct {
	mu    sync.Mutex
	state atomic.Pointer[ringState]
}

type ringState struct {
	keys    map[uint8][]byte
	current uint8
	gen     uint64
}

// NewRing returns a ring holding key under id, in use for sending. The key
// is copied; it must be at least [MinKeyLen] bytes of secret (32 random
// bytes is right).
func NewRing(id uint8, key []byte) (*Ring, error) {
	if len(key) < MinKeyLen {
		return nil, ErrShortKey
	}
	r := &Ring{}
	r.state.Store(&ringState{keys: map[uint8][]byte{id: slices.Clone(key)}, current: id, gen: 1})
	return r, nil
}

// Add puts key under id. Adding the same key again is a no-op; a different
// key under an id in the ring is refused with [ErrKeyExists].
func (r *Ring) Add(id uint8, key []byte) error {
	if len(key) < MinKeyLen {
		return ErrShortKey
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.state.Load()
	if k, ok := old.keys[id]; ok {
		if string(k) == string(key) {
			return nil
		}
		return ErrKeyExists
	}
	next := old.clone()
	next.keys[id] = slices.Clone(key)
	r.state.Store(next)
	return nil
}

// Use makes the key with id the one senders use from now on.
func (r *Ring) Use(id uint8) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.state.Load()
	if _, ok := old.keys[id]; !ok {
		return ErrNoKey
	}
	next := old.clone()
	next.current = id
	r.state.Store(next)
	return nil
}

// Remove takes the key with id out of the ring: packets under it are
// refused from now on. The key in use cannot be removed.
func (r *Ring) Remove(id uint8) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.state.Load()
	if _, ok := old.keys[id]; !ok {
		return ErrNoKey
	}
	if old.current == id {
		return ErrInUse
	}
	next := old.clone()
	delete(next.keys, id)
	r.state.Store(next)
	return nil
}

// Current is the id of the key in use for sending.
func (r *Ring) Current() uint8 { return r.state.Load().current }

// Has says whether a key with id is in the ring.
func (r *Ring) Has(id uint8) bool {
	_, ok := r.state.Load().keys[id]
	return ok
}

// IDs lists the ids in the ring, in increasing order.
func (r *Ring) IDs() []uint8 {
	st := r.state.Load()
	ids := make([]uint8, 0, len(st.keys))
	for id := range st.keys {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Generation changes whenever the ring does: users that cache derived keys
// compare it to notice a removed key.
func (r *Ring) Generation() uint64 { return r.state.Load().gen }

// Derive returns n bytes of key material derived with HKDF-SHA256 from the
// key with id, salt (the channel's URL, say) and info (the purpose and the
// context: layer, version, member and stream ids). Different info gives
// independent keys; the same inputs give the same key on every member.
func (r *Ring) Derive(id uint8, salt, info []byte, n int) ([]byte, error) {
	k, ok := r.state.Load().keys[id]
	if !ok {
		return nil, ErrNoKey
	}
	return hkdf.Key(sha256.New, k, salt, string(info), n)
}

// String describes the ring without its keys: "keys.Ring{ids: [1 2], current: 2}".
func (r *Ring) String() string {
	if r == nil {
		return "keys.Ring(nil)"
	}
	return fmt.Sprintf("keys.Ring{ids: %v, current: %d}", r.IDs(), r.Current())
}

// GoString is String, so %#v does not print keys either.
func (r *Ring) GoString() string { return r.String() }

// Format prints [Ring.String] for every verb.
func (r *Ring) Format(f fmt.State, _ rune) { fmt.Fprint(f, r.String()) }

func (s *ringState) clone() *ringState {
	n := &ringState{keys: make(map[uint8][]byte, len(s.keys)+1), current: s.current, gen: s.gen + 1}
	for id, k := range s.keys {
		n.keys[id] = k
	}
	return n
}
