package channel

import (
	"encoding/binary"
	"sync/atomic"

	"github.com/rwanda-go/rwanda/internal/keyphase"
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
// that failed under it; once keyphase.GCMIntegrity have, it refuses the key's
// datagrams unverified ("key-exhausted") until the member moves on to its
// next phase. The count lives with the key: a key evicted (with its
// member, or from the pending cache, or from its place by another phase)
// or dropped because the ring's key under its id changed counts again from
// zero when derived again, which the derivation limit bounds.
const updateInfo = "rwanda/datagram-ku/v1/" // + member id + phase: a later phase's tag key

// testKeyLimits, when not zero, lower the limits of the channels opened
// after they are set. Only this package's tests set them; they cannot
// raise a limit.
var testKeyLimits struct {
	datagrams atomic.Uint64 // per key phase
	forgeries atomic.Uint64 // per key
}

// currentKeyLimits are the limits of AES-128-GCM (RFC 9001 §6.6), as
// lowered by the tests' testKeyLimits.
func currentKeyLimits() keyphase.Limits {
	l := keyphase.Limits{PhaseLen: keyphase.GCMConfidentiality, Forgeries: keyphase.GCMIntegrity}
	return l.Lower(testKeyLimits.datagrams.Load(), testKeyLimits.forgeries.Load())
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
	phase := a.keyLim.Phase(a.counter)
	aead, err := a.derive(uint8(a.txID), a.self, phase)
	if err != nil {
		panic("channel: the ring's current key cannot be derived: " + err.Error()) // a Ring always holds its current key
	}
	if a.tx != nil && phase > a.txPhase {
		a.updatesSent.Add(1)
	}
	a.tx, a.txPhase, a.txEnd = aead, phase, a.keyLim.End(phase)
}

// keysUnder returns p's keys under id, made if need be.
func (p *authPeer) keysUnder(id uint8) *keyphase.Keys {
	m := p.keys[id]
	if m == nil {
		m = new(keyphase.Keys)
		p.keys[id] = m
	}
	return m
}
