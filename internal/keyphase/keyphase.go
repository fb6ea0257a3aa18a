package keyphase

import (
	"crypto/cipher"
	"math"
)

// The limits of RFC 9001 §6.6.
const (
	// GCMConfidentiality is the confidentiality limit of AEAD_AES_128_GCM
	// and AEAD_AES_256_GCM: packets protected under one key.
	GCMConfidentiality = 1 << 23
	// GCMIntegrity is their integrity limit: packets that fail
	// authentication under one key.
	GCMIntegrity = 1 << 52
	// ChaChaIntegrity is ChaCha20-Poly1305's integrity limit (its
	// confidentiality limit is above the number of possible packets).
	ChaChaIntegrity = 1 << 36
	// None is no limit.
	None = math.MaxUint64
)

// Limits are a key's usage limits.
type Limits struct {
	PhaseLen  uint64 // counters per key phase (the confidentiality limit)
	Forgeries uint64 // failed authentications that retire a key
}

// Lower returns l with each limit lowered to the one given, where that is
// not zero and lower: tests lower limits; nothing can raise one.
func (l Limits) Lower(phaseLen, forgeries uint64) Limits {
	if phaseLen != 0 {
		l.PhaseLen = min(l.PhaseLen, phaseLen)
	}
	if forgeries != 0 {
		l.Forgeries = min(l.Forgeries, forgeries)
	}
	return l
}

// Phase is the key phase of counter.
func (l Limits) Phase(counter uint64) uint64 { return counter / l.PhaseLen }

// End is the first counter after phase.
func (l Limits) End(phase uint64) uint64 {
	if phase >= math.MaxUint64/l.PhaseLen {
		return math.MaxUint64
	}
	return (phase + 1) * l.PhaseLen
}

// Slot is a key of one phase. Version is its user's: the channel's check
// key epoch, the encrypt layer's ring generation; 0 is no key.
type Slot struct {
	AEAD    cipher.AEAD
	Version uint64
	Phase   uint64
	Forged  uint64 // authentications that failed under it
}

// Keys are the keys a receiver keeps for one sender under one key id: one
// per phase parity, normally the current phase and the previous or the
// next one.
type Keys struct {
	slots     [2]Slot
	top       uint64 // the highest phase authenticated, if authentic
	authentic bool
}

// Get returns the key of phase at version, or nil.
func (m *Keys) Get(version, phase uint64) *Slot {
	k := &m.slots[phase&1]
	if k.AEAD != nil && k.Version == version && k.Phase == phase {
		return k
	}
	return nil
}

// Put keeps aead as phase's key at version and returns it where it is
// kept. A key of the same phase put again (derived again after the ring
// changed) keeps its count of forgeries.
func (m *Keys) Put(aead cipher.AEAD, version, phase uint64) *Slot {
	k := &m.slots[phase&1]
	forged := uint64(0)
	if k.AEAD != nil && k.Phase == phase {
		forged = k.Forged
	}
	*k = Slot{AEAD: aead, Version: version, Phase: phase, Forged: forged}
	return k
}

// Keep keeps a key made elsewhere (with its count) in its parity's place
// and returns it there.
func (m *Keys) Keep(s Slot) *Slot {
	k := &m.slots[s.Phase&1]
	*k = s
	return k
}

// IsNext says whether phase is the one after the highest authenticated.
func (m *Keys) IsNext(phase uint64) bool { return m.authentic && phase == m.top+1 }

// Authenticated records an authentic packet in phase and says whether it
// is a key update: a later phase than any authenticated before.
func (m *Keys) Authenticated(phase uint64) bool {
	switch {
	case !m.authentic:
		m.top, m.authentic = phase, true
		return false
	case phase > m.top:
		m.top = phase
		return true
	}
	return false
}

// Stale says whether a key kept is of a version current says is not: the
// ring's key under the id was replaced or removed.
func (m *Keys) Stale(current func(version uint64) bool) bool {
	for _, k := range m.slots {
		if k.AEAD != nil && !current(k.Version) {
			return true
		}
	}
	return false
}
