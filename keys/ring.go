package keys

import (
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
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

// DefaultGrace is how long a [Ring] keeps a removed key's bytes before it
// wipes them, unless [Ring.SetGrace] says otherwise.
const DefaultGrace = 10 * time.Second

// Ring is a set of channel keys, each with a one-byte id that travels with
// every protected packet, and the id of the key senders use now. Receivers
// accept any key in the ring, so a key can be rotated without losing
// packets: add the new key everywhere, switch to it, remove the old one.
//
// A removed key is wiped (its bytes overwritten with zeros) once its grace
// period has passed; see [Ring.Remove].
type Ring struct {
	mu    sync.Mutex
	state atomic.Pointer[ringState]
	w     hidden[wiper] // guarded by mu; hidden, so that no fmt path reaches the removed keys
}

// wiper holds the keys removed from a ring until they are wiped.
type wiper struct {
	grace   time.Duration
	now     func() time.Time
	retired []retiredKey
}

type retiredKey struct {
	key      []byte
	deadline time.Time // wiped at or after
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
	r := &Ring{w: hide(&wiper{grace: DefaultGrace, now: time.Now})}
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
	w := r.w.get()
	w.sweep(w.now())
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
	w := r.w.get()
	w.sweep(w.now())
	old := r.state.Load()
	if _, ok := old.keys[id]; !ok {
		return ErrNoKey
	}
	next := old.clone()
	next.current = id
	r.state.Store(next)
	return nil
}

// Remove takes the key with id out of the ring: from the moment Remove
// returns, [Ring.Has], [Ring.IDs] and [Ring.Derive] no longer see it, so
// packets under it are refused. The key in use cannot be removed.
//
// The key's bytes are wiped (overwritten with zeros) once the grace period
// ([DefaultGrace], or as set with [Ring.SetGrace]) has passed on the ring's
// clock, measured from the Remove call: the first [Ring.Add], [Ring.Use],
// [Ring.Remove] or [Ring.WipeExpired] at or after that time wipes them, and
// a timer started by Remove calls WipeExpired when the grace period has
// passed in real time. Until then a Derive that had already started when
// Remove was called (a packet in flight, being opened) finishes with the
// real key. A grace period of zero wipes the bytes within Remove, and a
// Derive running at that moment may derive garbage.
//
// Keys derived before the removal are the callers' copies: the ring does not
// wipe them, and holders (the encrypt layer's and a keyed channel's caches)
// should drop them when [Ring.Generation] changes.
func (r *Ring) Remove(id uint8) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.w.get()
	now := w.now()
	w.sweep(now)
	old := r.state.Load()
	k, ok := old.keys[id]
	if !ok {
		return ErrNoKey
	}
	if old.current == id {
		return ErrInUse
	}
	next := old.clone()
	delete(next.keys, id)
	r.state.Store(next)
	grace := w.grace
	if grace <= 0 {
		clear(k)
		return nil
	}
	w.retired = append(w.retired, retiredKey{key: k, deadline: now.Add(grace)})
	clock := w.now
	time.AfterFunc(grace, func() { r.WipeExpired(clock()) })
	return nil
}

// SetGrace sets how long keys removed from now on are kept before they are
// wiped (see [Ring.Remove]), and the clock the ring reads the time from
// (nil: [time.Now]). Tests pass a fake clock and call [Ring.WipeExpired].
// Keys already removed keep the deadline they were given.
func (r *Ring) SetGrace(grace time.Duration, now func() time.Time) {
	if now == nil {
		now = time.Now
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.w.get()
	w.grace, w.now = grace, now
}

// WipeExpired wipes the removed keys whose grace period has ended at or
// before now, and returns how many it wiped.
func (r *Ring) WipeExpired(now time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.w.get().sweep(now)
}

// sweep wipes and forgets the retired keys due at or before now.
func (w *wiper) sweep(now time.Time) int {
	n := 0
	kept := w.retired[:0]
	for _, rk := range w.retired {
		if now.Before(rk.deadline) {
			kept = append(kept, rk)
			continue
		}
		clear(rk.key)
		n++
	}
	clear(w.retired[len(kept):])
	w.retired = kept
	return n
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
// The result is a new slice that belongs to the caller, who should clear
// it when done; the ring never touches it again (see [Ring.Remove]).
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

// MarshalText returns [Ring.String]; keys are never marshalled.
func (r *Ring) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// LogValue makes log/slog log [Ring.String].
func (r *Ring) LogValue() slog.Value { return slog.StringValue(r.String()) }

func (s *ringState) clone() *ringState {
	n := &ringState{keys: make(map[uint8][]byte, len(s.keys)+1), current: s.current, gen: s.gen + 1}
	for id, k := range s.keys {
		n.keys[id] = k
	}
	return n
}
