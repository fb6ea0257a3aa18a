package keyphase

import (
	"crypto/aes"
	"crypto/cipher"
	"math"
	"testing"
)

func gcm(t *testing.T) cipher.AEAD {
	t.Helper()
	b, err := aes.NewCipher(make([]byte, 16))
	if err != nil {
		t.Fatal(err)
	}
	a, err := cipher.NewGCM(b)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestLimits: phases of PhaseLen counters, the last ending at the last
// counter; Lower lowers and never raises.
func TestLimits(t *testing.T) {
	l := Limits{PhaseLen: 16, Forgeries: 8}
	for _, c := range []struct{ counter, phase, end uint64 }{{1, 0, 16}, {15, 0, 16}, {16, 1, 32}, {math.MaxUint64, math.MaxUint64 / 16, math.MaxUint64}} {
		if p := l.Phase(c.counter); p != c.phase || l.End(p) != c.end {
			t.Errorf("counter %d: phase %d ending at %d, want %d ending at %d", c.counter, p, l.End(p), c.phase, c.end)
		}
	}
	if got := l.Lower(32, 0); got != l {
		t.Errorf("Lower raised %+v to %+v", l, got)
	}
	if got := l.Lower(4, 2); got != (Limits{PhaseLen: 4, Forgeries: 2}) {
		t.Errorf("Lower(4, 2) = %+v", got)
	}
	if (Limits{PhaseLen: None}).End(0) != None {
		t.Error("an unlimited key has an end")
	}
}

// TestKeys: one key per phase parity; a phase put again keeps its count of
// forgeries, another phase in its place does not; the next phase and key
// updates are told; a key of a version no longer current is stale.
func TestKeys(t *testing.T) {
	var m Keys
	a := gcm(t)
	if m.Get(1, 0) != nil || m.IsNext(0) {
		t.Fatal("empty Keys hold a key")
	}
	k := m.Put(a, 1, 0)
	k.Forged = 3
	if m.Get(1, 0) != k || m.Get(2, 0) != nil || m.Get(1, 2) != nil {
		t.Fatal("Get does not find the key by version and phase")
	}
	if m.Put(a, 2, 0).Forged != 3 {
		t.Fatal("the same phase put again lost its count")
	}
	if m.Put(a, 2, 2).Forged != 0 || m.Get(2, 0) != nil {
		t.Fatal("phase 2 did not take phase 0's place afresh")
	}
	if m.Authenticated(2) || !m.IsNext(3) || m.IsNext(4) {
		t.Fatal("the first phase authenticated is no update; the next is 3")
	}
	m.Put(a, 2, 3)
	if !m.Authenticated(3) || m.Authenticated(2) {
		t.Fatal("phase 3 is an update; 2 again is not")
	}
	if m.Stale(func(v uint64) bool { return v == 2 }) || !m.Stale(func(v uint64) bool { return v == 1 }) {
		t.Fatal("Stale")
	}
	s := m.Keep(Slot{AEAD: a, Version: 5, Phase: 4, Forged: 7})
	if m.Get(5, 4) != s || s.Forged != 7 {
		t.Fatal("Keep")
	}
}
