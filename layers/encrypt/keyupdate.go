package encrypt

import (
	"sync/atomic"

	"github.com/rwanda-go/rwanda/internal/keyphase"
)

// The AEAD usage limits of RFC 9001 §6.6, kept with key phases: a stack's
// key changes every phaseLen counters (see "Key update" in the package
// documentation).
const updateInfo = "rwanda/encrypt-ku/v1/" // a later phase's key; see info

// testLimits, when not zero, lower the limits of the layers made after
// they are set (export_test.go sets them; nothing else can). They cannot
// raise a limit.
var testLimits struct {
	packets   atomic.Uint64 // per key phase
	forgeries atomic.Uint64 // per key
}

// limitsFor returns s's usage limits (RFC 9001 §6.6), as lowered by the
// tests' testLimits. A suite made outside the package gets the lowest.
func limitsFor(s Suite) keyphase.Limits {
	l := keyphase.Limits{PhaseLen: s.confLimit, Forgeries: s.integLimit}
	if l.PhaseLen == 0 || l.Forgeries == 0 {
		l = keyphase.Limits{PhaseLen: keyphase.GCMConfidentiality, Forgeries: keyphase.ChaChaIntegrity}
	}
	return l.Lower(testLimits.packets.Load(), testLimits.forgeries.Load())
}
