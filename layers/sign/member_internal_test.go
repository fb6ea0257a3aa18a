package sign

import (
	"crypto/ed25519"
	"testing"

	"github.com/rwanda-go/rwanda/keys"
)

// The binding of a flow's member id to its signer costs one SHA-256 per
// flow: once found, it is a comparison of the key and the salt. (The
// flow's member id never changes; the test changes it under the cache to
// see that no hash is computed again.) Another salt or key is checked
// anew, and salt 0 passes only outside a channel.
func TestBindingCached(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(nil)
	other, _, _ := ed25519.GenerateKey(nil)
	l := &Layer{cfg: Config{Channel: "mem://x"}}
	l.flow.member = keys.MemberID(pub, 9)
	if l.speaksFor(other, 9) || l.rcv.bound {
		t.Fatal("another key speaks for the member")
	}
	if !l.speaksFor(pub, 9) || !l.rcv.bound || l.rcv.boundSalt != 9 {
		t.Fatalf("the member's own key refused: %+v", l.rcv.bound)
	}
	l.flow.member++
	if !l.speaksFor(pub, 9) {
		t.Fatal("the binding was computed again")
	}
	if l.speaksFor(pub, 10) || l.speaksFor(other, 9) {
		t.Fatal("a cached binding let another salt or key through")
	}
	if l.speaksFor(pub, 0) {
		t.Fatal("an unbound signature accepted on a channel")
	}
	l.cfg.Channel = ""
	if !l.speaksFor(pub, 0) {
		t.Fatal("an unbound signature refused outside a channel")
	}
}
