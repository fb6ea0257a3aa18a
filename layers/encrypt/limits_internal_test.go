package encrypt

import (
	"math"
	"testing"

	"github.com/rwanda-go/rwanda/internal/keyphase"
)

// TestLimits: each suite's limits are RFC 9001's (§6.6), XChaCha20's
// ChaCha20's; the test knob lowers them and cannot raise them.
func TestLimits(t *testing.T) {
	want := map[string]keyphase.Limits{
		"aes128-gcm":         {PhaseLen: 1 << 23, Forgeries: 1 << 52},
		"aes256-gcm":         {PhaseLen: 1 << 23, Forgeries: 1 << 52},
		"chacha20-poly1305":  {PhaseLen: math.MaxUint64, Forgeries: 1 << 36},
		"xchacha20-poly1305": {PhaseLen: math.MaxUint64, Forgeries: 1 << 36},
	}
	if len(want) != len(Suites) {
		t.Fatalf("%d suites, %d with limits here", len(Suites), len(want))
	}
	for _, s := range Suites {
		if got := limitsFor(s); got != want[s.Name] {
			t.Errorf("%s: limits %+v, want %+v", s.Name, got, want[s.Name])
		}
	}
	if got := limitsFor(Suite{Name: "made-up", KeyLen: 16, New: newGCM}); got != (keyphase.Limits{PhaseLen: 1 << 23, Forgeries: 1 << 36}) {
		t.Errorf("a suite without limits: %+v", got)
	}
	// A ChaCha20 sender never changes key: its phase is 0 to the last counter.
	if l := limitsFor(Suites[2]); l.Phase(math.MaxUint64-1) != 0 || l.End(0) != math.MaxUint64 {
		t.Errorf("chacha20: phase %d, end %d", l.Phase(math.MaxUint64-1), l.End(0))
	}
	LowerLimits(t, 1<<40, 1<<60)
	for _, s := range Suites {
		if got := limitsFor(s); got.PhaseLen > want[s.Name].PhaseLen || got.Forgeries > want[s.Name].Forgeries ||
			(s.Name[:3] == "aes" && got != want[s.Name]) {
			t.Errorf("%s: the knob raised the limits to %+v", s.Name, got)
		}
	}
	LowerLimits(t, 16, 8)
	for _, s := range Suites {
		if got := limitsFor(s); got != (keyphase.Limits{PhaseLen: 16, Forgeries: 8}) {
			t.Errorf("%s: lowered limits %+v", s.Name, got)
		}
	}
	l := keyphase.Limits{PhaseLen: 16}
	for _, c := range []struct{ counter, phase, end uint64 }{{1, 0, 16}, {15, 0, 16}, {16, 1, 32}, {math.MaxUint64, math.MaxUint64 / 16, math.MaxUint64}} {
		if p := l.Phase(c.counter); p != c.phase || l.End(p) != c.end {
			t.Errorf("counter %d: phase %d ending at %d, want %d ending at %d", c.counter, p, l.End(p), c.phase, c.end)
		}
	}
}
