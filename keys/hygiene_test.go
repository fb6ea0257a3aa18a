package keys

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// leak returns a description of the piece of secret found in s, or "".
// It looks for every 6-byte window of secret as raw bytes, hex (either
// case), the decimal list %v prints for a byte slice, %q escapes, and for
// base64 (standard and URL, padded or not) of the whole secret and of the
// windows a whole-slice encoding would contain.
func leak(s string, secret []byte) string {
	const w = 6
	for i := 0; i+w <= len(secret); i++ {
		win := secret[i : i+w]
		forms := []string{
			string(win),
			hex.EncodeToString(win),
			strings.ToUpper(hex.EncodeToString(win)),
			strings.Trim(fmt.Sprint(win), "[]"),
			strings.Trim(strconv.Quote(string(win)), `"`),
		}
		if i%3 == 0 {
			forms = append(forms, base64.RawStdEncoding.EncodeToString(win), base64.RawURLEncoding.EncodeToString(win))
		}
		for _, f := range forms {
			if strings.Contains(s, f) {
				return fmt.Sprintf("bytes %d-%d as %q", i, i+w, f)
			}
		}
	}
	for _, f := range []string{base64.StdEncoding.EncodeToString(secret), base64.URLEncoding.EncodeToString(secret)} {
		if strings.Contains(s, f) {
			return "base64 " + f
		}
	}
	return ""
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestNoKeyMaterialPrinted prints identities and rings every way fmt,
// encoding/json and log/slog can (values, pointers, nested in slices, maps,
// exported and unexported struct fields) and checks that no piece of a
// private key, a ring key or a removed ring key not yet wiped shows.
func TestNoKeyMaterialPrinted(t *testing.T) {
	seed := randomBytes(t, ed25519.SeedSize)
	priv := ed25519.NewKeyFromSeed(seed)
	id, err := NewIdentity(priv)
	if err != nil {
		t.Fatal(err)
	}
	k1, k2 := randomBytes(t, 32), randomBytes(t, 32)
	r, _ := NewRing(1, k1)
	if err := r.Add(2, k2); err != nil {
		t.Fatal(err)
	}
	if err := r.Remove(2); err != nil { // k2 is retired, not yet wiped
		t.Fatal(err)
	}
	secrets := map[string][]byte{"identity seed": seed, "ring key": k1, "removed ring key": k2}

	type exported struct {
		ID  Identity
		PID *Identity
		R   *Ring
	}
	type unexported struct {
		id  Identity
		pid *Identity
		ids []Identity
		r   *Ring
	}
	forms := map[string]any{
		"*Identity":            id,
		"Identity":             *id,
		"[]*Identity":          []*Identity{id},
		"[]Identity":           []Identity{*id},
		"[1]Identity":          [1]Identity{*id},
		"map[string]Identity":  map[string]Identity{"a": *id},
		"struct, exported":     exported{*id, id, r},
		"*struct, exported":    &exported{*id, id, r},
		"struct, unexported":   unexported{*id, id, []Identity{*id}, r},
		"*struct, unexported":  &unexported{*id, id, []Identity{*id}, r},
		"[]any":                []any{id, *id, r},
		"*Ring":                r,
		"[]*Ring":              []*Ring{r},
		"zero Identity":        Identity{},
		"nil *Identity, *Ring": []any{(*Identity)(nil), (*Ring)(nil)},
		// What fmt does with a value it cannot call methods on: fields
		// printed by reflection, pointers followed at the top.
		"reflect.Value of Identity": reflect.ValueOf(id).Elem(),
		"reflect.Value of Ring":     reflect.ValueOf(r).Elem(),
		"struct, nested deeper":     struct{ X struct{ y []Identity } }{struct{ y []Identity }{[]Identity{*id}}},
	}
	var outs []string
	for name, v := range forms {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d", "%T %p"} {
			outs = append(outs, name+" "+verb+": "+fmt.Sprintf(verb, v))
		}
		outs = append(outs, name+" Sprint: "+fmt.Sprint(v), name+" Sprintln: "+fmt.Sprintln(v))
		j, err := json.Marshal(v)
		if err != nil && !strings.Contains(name, "unexported") {
			t.Errorf("json of %s: %v", name, err)
		}
		outs = append(outs, name+" json: "+string(j))
		var text, js bytes.Buffer
		slog.New(slog.NewTextHandler(&text, nil)).Info("m", "v", v)
		slog.New(slog.NewJSONHandler(&js, nil)).Info("m", "v", v)
		outs = append(outs, name+" slog text: "+text.String(), name+" slog json: "+js.String())
	}
	if b, err := id.MarshalText(); err == nil {
		outs = append(outs, "MarshalText: "+string(b))
	}
	for _, out := range outs {
		for what, sec := range secrets {
			if l := leak(out, sec); l != "" {
				t.Errorf("%s printed %s (%s)", out, what, l)
			}
		}
	}
	// The printed forms say which key it is.
	want := "keys.Identity{" + id.Fingerprint().String() + "}"
	for _, v := range []any{id, *id} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q", "%d"} {
			if got := fmt.Sprintf(verb, v); got != want {
				t.Errorf("Sprintf(%s, %T) = %q, want %q", verb, v, got, want)
			}
		}
	}
	if j, _ := json.Marshal(exported{ID: *id, PID: id}); !strings.Contains(string(j), `"ID":"`+want+`","PID":"`+want+`"`) {
		t.Errorf("json: %s", j)
	}
	// The leak check does catch what it looks for.
	if leak(fmt.Sprint([]byte(priv)), seed) == "" || leak(fmt.Sprintf("%x", priv), seed) == "" ||
		leak(base64.StdEncoding.EncodeToString(priv), seed) == "" {
		t.Fatal("the leak check misses printed keys")
	}
}

// fakeClock is a clock tests move by hand.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// TestRingWipesRemovedKey: a removed key stays intact for the grace period
// (a Derive that had loaded the ring before Remove still gets the real
// key), then is overwritten with zeros; keys derived earlier are the
// caller's and stay as they were.
func TestRingWipesRemovedKey(t *testing.T) {
	clk := &fakeClock{}
	clk.ns.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	k1, k2 := randomBytes(t, 32), randomBytes(t, 32)
	r, _ := NewRing(1, k1)
	r.SetGrace(time.Minute, clk.now) // the real-time timer is far beyond the test
	if err := r.Add(2, k2); err != nil {
		t.Fatal(err)
	}
	derived, _ := r.Derive(1, []byte("salt"), []byte("info"), 32)
	kept := bytes.Clone(derived)
	inFlight := r.state.Load() // what a Derive running during Remove sees
	held := inFlight.keys[1]

	if err := r.Use(2); err != nil {
		t.Fatal(err)
	}
	if err := r.Remove(1); err != nil {
		t.Fatal(err)
	}
	if r.Has(1) {
		t.Fatal("removed key still in the ring")
	}
	if _, err := r.Derive(1, nil, nil, 32); !errors.Is(err, ErrNoKey) {
		t.Fatalf("derive from a removed key: %v", err)
	}
	clk.advance(time.Minute - time.Nanosecond)
	if n := r.WipeExpired(clk.now()); n != 0 || !bytes.Equal(held, k1) {
		t.Fatalf("wiped %d keys before the grace period ended: %x", n, held)
	}
	if err := r.Use(2); err != nil { // a change of the ring sweeps too
		t.Fatal(err)
	}
	if !bytes.Equal(held, k1) {
		t.Fatal("key wiped before the grace period ended")
	}
	clk.advance(time.Nanosecond)
	if n := r.WipeExpired(clk.now()); n != 1 {
		t.Fatalf("wiped %d keys at the end of the grace period, want 1", n)
	}
	if !bytes.Equal(held, make([]byte, 32)) {
		t.Fatalf("removed key not wiped: %x", held)
	}
	if len(r.w.get().retired) != 0 {
		t.Fatalf("%d wiped keys still held", len(r.w.get().retired))
	}
	if !bytes.Equal(derived, kept) {
		t.Fatal("the ring wiped a key derived before the removal: it is the caller's")
	}
	if !bytes.Equal(r.state.Load().keys[2], k2) {
		t.Fatal("the key in use was touched")
	}

	// Sweeping on Remove, with the clock: key 3 is due when key 4 goes.
	for _, id := range []uint8{3, 4} {
		if err := r.Add(id, randomBytes(t, 32)); err != nil {
			t.Fatal(err)
		}
	}
	k3 := r.state.Load().keys[3]
	if err := r.Remove(3); err != nil {
		t.Fatal(err)
	}
	clk.advance(2 * time.Minute)
	if err := r.Remove(4); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k3, make([]byte, 32)) || len(r.w.get().retired) != 1 {
		t.Fatalf("Remove did not sweep the key due: %x, %d retired", k3, len(r.w.get().retired))
	}

	// A zero grace period wipes within Remove.
	r.SetGrace(0, clk.now)
	if err := r.Add(5, randomBytes(t, 32)); err != nil {
		t.Fatal(err)
	}
	k5 := r.state.Load().keys[5]
	if err := r.Remove(5); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k5, make([]byte, 32)) {
		t.Fatal("zero grace: not wiped on Remove")
	}
}

// TestTrustRefusesCollision: a key whose fingerprint is that of another
// trusted key is refused and the trusted key kept; the same key again is
// fine. A real 64-bit collision is out of reach, so the test plants one:
// it files key b under a's fingerprint, as if they collided.
func TestTrustRefusesCollision(t *testing.T) {
	a, _ := GenerateIdentity()
	b, _ := GenerateIdentity()
	tr, err := NewTrust(b.Public(), b.Public())
	if err != nil {
		t.Fatalf("the same key twice: %v", err)
	}
	if err := tr.Add(b.Public()); err != nil || tr.Len() != 1 {
		t.Fatalf("the same key again: %v, %d keys", err, tr.Len())
	}
	tr.keys.Store(&map[Fingerprint]ed25519.PublicKey{a.Fingerprint(): b.Public()})
	if err := tr.Add(a.Public()); !errors.Is(err, ErrFingerprintCollision) {
		t.Fatalf("colliding key: %v", err)
	}
	if k, _ := tr.Lookup(a.Fingerprint()); !bytes.Equal(k, b.Public()) {
		t.Fatal("the colliding key replaced the trusted one")
	}
	if _, err := NewTrust(b.Public(), a.Public(), a.Public()); err != nil {
		t.Fatalf("distinct keys: %v", err)
	}
}
