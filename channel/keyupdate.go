package channel

import (
	"crypto/cipher"
	"encoding/binary"
	"math"
	"sync/atomic"
)

// Key updates: the AEAD usage limits of RFC 9001 §6.6 for the datagram
// tags (AES-128-GCM as GMAC), kept by changing a sender's key every
// phaseLen counters, with no message and no change to the ring.
//
// A sender's key phase is its datagram counter divided by phaseLen: phase
// n covers counters n·phaseLen to (n+1)·phaseLen−1, so no key tags more
// than phaseLen datagrams, whatever the ring does (a key id switched to in
// the middle of a phase starts there, and a member's counters never
// repeat). Phase 0 is the key derived with memberInfo; phase n > 0 is
// derived from the same ring key with updateInfo, the member and n, so any
// phase can be derived directly: a receiver that joins late, misses
// datagrams or (on a unicast channel) sees only those addressed to it
// derives the phase it needs in one step instead of walking a chain.
// The counter is on the wire in full and covered by the tag, so the phase
// needs no bit of its own (QUIC's key phase bit stands for a packet
// number it does not carry whole, and its peers are never more than one
// update apart; here a receiver can be any number of phases behind).
//
// A receiver keeps, per member and key id, the keys of two phases, by
// phase parity: normally the current and the previous one (datagrams
// reordered across an update), or the current and the next. The first
// datagram of the phase after the highest one authenticated derives its
// key without a token of the derivation limiter: it is a derivation the
// member's own traffic needs, one per phase. Any other phase not at hand
// (two or more ahead, or an older one whose place the next phase took) is
// treated as a new key id is: the group's check first, then a token.
//
// The integrity limit: a receiver counts, with each kept key, the tags
// that failed under it; once gcmIntegrityLimit have, it refuses the key's
// datagrams unverified ("key-exhausted") until the member moves on to its
// next phase. The count lives with the key: a key evicted (with its
// member, or from the pending cache, or from its place by another phase)
// or dropped because the ring's key under its id changed counts again from
// zero when derived again, which the derivation limit bounds.
const (
	// gcmConfidentialityLimit is RFC 9001's confidentiality limit for
	// AEAD_AES_128_GCM: packets protected under one key.
	gcmConfidentialityLimit = 1 << 23
	// gcmIntegrityLimit is its integrity limit: packets that fail
	// authentication under one key.
	gcmIntegrityLimit = 1 << 52

	updateInfo = "rwanda/datagram-ku/v1/" // + member id + phase: a later phase's tag key
)

// testKeyLimits, when not zero, lower the limits of the channels opened
// after they are set. Only this package's tests set them; they cannot
// raise a limit.
var testKeyLimits struct {
	datagrams atomic.Uint64 // per key phase
	forgeries atomic.Uint64 // per key
}

// keyLimits are a channel's AEAD usage limits.
type keyLimits struct {
	phaseLen  uint64 // counters per key phase
	forgeries uint64 // failed tags that retire a key
}

func currentKeyLimits() keyLimits {
	l := keyLimits{phaseLen: gcmConfidentialityLimit, forgeries: gcmIntegrityLimit}
	if n := testKeyLimits.datagrams.Load(); n != 0 {
		l.phaseLen = min(l.phaseLen, n)
	}
	if n := testKeyLimits.forgeries.Load(); n != 0 {
		l.forgeries = min(l.forgeries, n)
	}
	return l
}

// phase is the key phase of counter.
func (l keyLimits) phase(counter uint64) uint64 { return counter / l.phaseLen }

// end is the first counter after phase.
func (l keyLimits) end(phase uint64) uint64 {
	if phase >= math.MaxUint64/l.phaseLen {
		return math.MaxUint64
	}
	return (phase + 1) * l.phaseLen
}

// memberKeyInfo is the HKDF info of member's tag key in phase.
func memberKeyInfo(member, phase uint64) []byte {
	if phase == 0 {
		return binary.BigEndian.AppendUint64([]byte(memberInfo), member)
	}
	b := make([]byte, 0, len(updateInfo)+16)
	b = binary.BigEndian.AppendUint64(append(b, updateInfo...), member)
	return binary.BigEndian.AppendUint64(b, phase)
}

// sealKey makes the sending key the one of the counter's phase under the
// ring's key id. Called from seal, with the outbox's lock held.
func (a *dgramAuth) sealKey() {
	phase := a.keyLim.phase(a.counter)
	aead, err := a.derive(uint8(a.txID), a.self, phase)
	if err != nil {
		panic("channel: the ring's current key cannot be derived: " + err.Error()) // a Ring always holds its current key
	}
	if a.tx != nil && phase > a.txPhase {
		a.updatesSent.Add(1)
	}
	a.tx, a.txPhase, a.txEnd = aead, phase, a.keyLim.end(phase)
}

// phaseKey is a member's tag key in one phase under the check key of
// epoch (epochs start at 1: 0 is no key).
type phaseKey struct {
	aead   cipher.AEAD
	epoch  uint64
	phase  uint64
	forged uint64 // tags that failed under it
}

// phaseKeys are the keys kept for a member under one key id: one per
// phase parity.
type phaseKeys struct {
	slots     [2]phaseKey
	top       uint64 // the highest phase authenticated, if authentic
	authentic bool
}

// get returns the key of phase under epoch, or nil.
func (m *phaseKeys) get(epoch, phase uint64) *phaseKey {
	k := &m.slots[phase&1]
	if k.epoch == epoch && k.phase == phase && k.aead != nil {
		return k
	}
	return nil
}

// put keeps k in its parity's place and returns it there.
func (m *phaseKeys) put(k phaseKey) *phaseKey {
	s := &m.slots[k.phase&1]
	*s = k
	return s
}

// isNext says whether phase is the one after the highest authenticated.
func (m *phaseKeys) isNext(phase uint64) bool { return m.authentic && phase == m.top+1 }

// authenticated records an authentic datagram in phase and says whether it
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

// stale says whether a key kept is not of its id's current epoch: the
// ring's key under the id was replaced or removed.
func (m *phaseKeys) stale(current func(epoch uint64) bool) bool {
	for _, k := range m.slots {
		if k.aead != nil && !current(k.epoch) {
			return true
		}
	}
	return false
}

// keysUnder returns p's keys under id, made if need be.
func (p *authPeer) keysUnder(id uint8) *phaseKeys {
	m := p.keys[id]
	if m == nil {
		m = new(phaseKeys)
		p.keys[id] = m
	}
	return m
}
