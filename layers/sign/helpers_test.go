package sign_test

import (
	"bytes"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/keys"
	"github.com/rwanda-go/rwanda/layers/sign"
	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/stack/stacktest"
)

// ident returns a deterministic identity from a one-byte seed.
func ident(t testing.TB, seed byte) *keys.Identity {
	t.Helper()
	id, err := keys.NewIdentity(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize)))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// trust returns a trust set of the identities' public keys.
func trust(t testing.TB, ids ...*keys.Identity) *keys.Trust {
	t.Helper()
	var pubs []ed25519.PublicKey
	for _, id := range ids {
		pubs = append(pubs, id.Public())
	}
	tr, err := keys.NewTrust(pubs...)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// testFlow is the flow of the test pairs: member 7's stream 3. Member 7's
// id is not bound to any key: the stacks run unbound (no member salt, no
// channel).
var testFlow = stack.Flow{Local: 7, Remote: 7, ID: 3, Instance: 1}

// testSalt is the member salt of the bound test stacks.
const testSalt = 0x5a17

// boundFlow is stream 3 of the member whose id id derives with salt
// (keys.MemberID), as a channel with that identity would number it.
func boundFlow(id *keys.Identity, salt uint64) stack.Flow {
	return stack.Flow{Local: keys.MemberID(id.Public(), salt), Remote: keys.MemberID(id.Public(), salt), ID: 3, Instance: 1}
}

// bound returns c on channel ch with member salt salt.
func bound(c sign.Config, ch string, salt uint64) sign.Config {
	c.Channel, c.MemberSalt = ch, salt
	return c
}

// config returns a configuration with the given batch, signing with id
// and trusting tr.
func config(id *keys.Identity, tr *keys.Trust, batch int) sign.Config {
	c := sign.DefaultConfig()
	c.Identity, c.Trusted, c.Batch = id, tr, batch
	return c
}

func mustNew(t testing.TB, c sign.Config) *sign.Layer {
	t.Helper()
	l, err := sign.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// fixture is a sender stack A and a receiver stack B with a sign layer
// each, joined by a stacktest link.
type fixture struct {
	*stacktest.Pair
	la, lb *sign.Layer
}

func newFixture(t testing.TB, a, b sign.Config, flow stack.Flow) *fixture {
	t.Helper()
	f := &fixture{la: mustNew(t, a), lb: mustNew(t, b)}
	p, err := stacktest.NewPair(t, []stack.Layer{f.la}, []stack.Layer{f.lb}, stacktest.PairConfig{Flow: flow})
	if err != nil {
		t.Fatal(err)
	}
	f.Pair = p
	return f
}

// payload is n bytes that say which payload they are.
func payload(n int, id int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(id) ^ byte(i) ^ byte(i>>8) ^ byte(id>>8)
	}
	return b
}

// sendN sends payloads 0..n-1 of varying sizes down A.
func (f *fixture) sendN(t testing.TB, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if err := f.Send(payload(50+i%700, i), stack.Meta{}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
}

// expect checks that B delivered exactly payloads from..from+n-1, in order.
func (f *fixture) expect(t testing.TB, from, n int) {
	t.Helper()
	got := f.GotB.Take()
	if len(got) != n {
		t.Fatalf("delivered %d payloads, want %d", len(got), n)
	}
	for i, d := range got {
		if want := payload(50+(from+i)%700, from+i); !bytes.Equal(d.Bytes, want) {
			t.Fatalf("delivery %d is %d bytes that are not payload %d", i, len(d.Bytes), from+i)
		}
	}
}

// take removes the packets queued from A to B and returns their bytes.
func (f *fixture) take() [][]byte {
	q := f.Link.Queued(stacktest.AtoB)
	for f.Link.DropAt(stacktest.AtoB, 0) {
	}
	return q
}

// feed passes packets up B as if they came from the wire.
func (f *fixture) feed(pkts ...[]byte) {
	for _, b := range pkts {
		f.B.Up(f.Pool.FromBytes(0, b))
	}
}

// layerStats returns the sign layer's statistics in s.
func layerStats(s *stack.Stack) stack.LayerStats {
	for _, ls := range s.Stats().Layers {
		if ls.Name == "sign" {
			return ls
		}
	}
	return stack.LayerStats{}
}

// drops returns B's sign drops.
func (f *fixture) drops() map[string]uint64 { return layerStats(f.B).Drops }

// checkDrops fails unless B's sign layer dropped exactly want, by reason.
func (f *fixture) checkDrops(t testing.TB, want map[string]uint64) {
	t.Helper()
	got := f.drops()
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("drops %v, want %v", got, want)
		}
	}
	for k, v := range got {
		if want[k] != v {
			t.Fatalf("drops %v, want %v", got, want)
		}
	}
}

const delay = 2 * time.Millisecond
