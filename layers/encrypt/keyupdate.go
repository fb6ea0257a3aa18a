package encrypt

import (
	"crypto/cipher"
	"math"
	"sync/atomic"
)

// The AEAD usage limits of RFC 9001 §6.6, kept with key phases: a stack's
// key changes every phaseLen counters (see "Key update" in the package
// documentation).
const (
	// gcmConfidentialityLimit is the confidentiality limit of
	// AEAD_AES_128_GCM and AEAD_AES_256_GCM: packets sealed under one key.
	gcmConfidentialityLimit = 1 << 23
	// gcmIntegrityLimit is their integrity limit: packets that fail
	// authentication under one key.
	gcmIntegrityLimit = 1 << 52
	// chachaIntegrityLimit is ChaCha20-Poly1305's (its confidentiality
	// limit is above the number of possible packets: none is kept).
	chachaIntegrityLimit = 1 << 36

	noLimit = math.MaxUint64

	updateInfo = "rwanda/encrypt-ku/v1/" // a later phase's key; see info
)

// testLimits, when not zero, lower the limits of the layers made after
// they are set (export_test.go sets them; nothing else can). They cannot
// raise a limit.
var testLimits struct {
	packets   atomic.Uint64 // per key phase
	forgeries atomic.Uint64 // per key
}

// limits are a layer's AEAD usage limits.
type limits struct {
	phaseLen  uint64 // counters per key phase
	forgeries uint64 // failed authentications that retire a key
}

func limitsFor(s Suite) limits {
	l := limits{phaseLen: s.confLimit, forgeries: s.integLimit}
	if l.phaseLen == 0 || l.forgeries == 0 { // a suite made outside the package: the lowest limits
		l = limits{phaseLen: gcmConfidentialityLimit, forgeries: chachaIntegrityLimit}
	}
	if n := testLimits.packets.Load(); n != 0 {
		l.phaseLen = min(l.phaseLen, n)
	}
	if n := testLimits.forgeries.Load(); n != 0 {
		l.forgeries = min(l.forgeries, n)
	}
	return l
}

// phase is the key phase of counter.
func (l limits) phase(counter uint64) uint64 { return counter / l.phaseLen }

// end is the first counter after phase.
func (l limits) end(phase uint64) uint64 {
	if phase >= math.MaxUint64/l.phaseLen {
		return math.MaxUint64
	}
	return (phase + 1) * l.phaseLen
}

// phaseKey is a key of one phase, derived at the ring's generation gen.
type phaseKey struct {
	aead   cipher.AEAD
	gen    uint64
	phase  uint64
	forged uint64 // packets that failed authentication under it
}

// phaseKeys are the keys a receiver keeps for one originator's instance
// under one key id: one per phase parity, normally the current phase and
// the previous or the next one.
type phaseKeys struct {
	slots     [2]phaseKey
	top       uint64 // the highest phase authenticated, if authentic
	authentic bool
}

// get returns the key of phase derived at the ring's generation gen, or
// nil.
func (m *phaseKeys) get(gen, phase uint64) *phaseKey {
	k := &m.slots[phase&1]
	if k.aead != nil && k.gen == gen && k.phase == phase {
		return k
	}
	return nil
}

// put keeps aead as phase's key, derived at gen, and returns it where it is
// kept. A key of the same phase derived again (the ring changed) keeps its
// count of forgeries.
func (m *phaseKeys) put(aead cipher.AEAD, gen, phase uint64) *phaseKey {
	k := &m.slots[phase&1]
	forged := uint64(0)
	if k.aead != nil && k.phase == phase {
		forged = k.forged
	}
	*k = phaseKey{aead: aead, gen: gen, phase: phase, forged: forged}
	return k
}

// authenticated records an authentic packet in phase and says whether it
// is a key update: a later phase than any authenticated before.
func (m *phaseKeys) authenticated(phase uint64) bool {
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
