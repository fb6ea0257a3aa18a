package keys

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
)

// ErrBadPublicKey is returned for a public key of the wrong length.
var ErrBadPublicKey = fmt.Errorf("keys: public key is not %d bytes", ed25519.PublicKeySize)

// ErrFingerprintCollision is returned by [Trust.Add] (and [NewTrust]) for a
// key whose fingerprint is that of a different key already trusted.
var ErrFingerprintCollision = errors.New("keys: a different trusted key has the same fingerprint")

// Fingerprint names a public key in 8 bytes: the start of its SHA-256. It
// travels in signed packets so receivers find the key to verify with.
type Fingerprint uint64

// FingerprintOf returns the fingerprint of an Ed25519 public key.
func FingerprintOf(pub ed25519.PublicKey) Fingerprint {
	h := sha256.Sum256(pub)
	return Fingerprint(binary.BigEndian.Uint64(h[:8]))
}

// memberIDDomain starts the input of [MemberID], so that no other use of a
// SHA-256 over a public key can be taken for it.
const memberIDDomain = "rwanda/member-id/v1\x00"

// MemberID returns the member id that the Ed25519 public key pub takes
// with salt: the first 8 bytes, big-endian, of
//
//	SHA-256("rwanda/member-id/v1\x00" ‖ pub (32 bytes) ‖ salt (8 bytes, big-endian))
//
// A channel opened with an identity draws a random salt and takes this as
// its member id, and the sign layer carries the salt in every signature,
// so a receiver can check that a signer speaks for the member id it sends
// under: binding a key to an id not derived from it takes about 2^64
// SHA-256 evaluations (a preimage of 64 bits). The result may be 0, which
// is never a member id (channels draw another salt); it is 0 for a pub
// that is not an Ed25519 public key.
func MemberID(pub ed25519.PublicKey, salt uint64) uint64 {
	if len(pub) != ed25519.PublicKeySize {
		return 0
	}
	var in [len(memberIDDomain) + ed25519.PublicKeySize + 8]byte
	n := copy(in[:], memberIDDomain)
	n += copy(in[n:], pub)
	binary.BigEndian.PutUint64(in[n:], salt)
	h := sha256.Sum256(in[:])
	return binary.BigEndian.Uint64(h[:8])
}

// String prints the fingerprint in hex.
func (f Fingerprint) String() string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(f))
	return hex.EncodeToString(b[:])
}

// Identity is a member's Ed25519 signing key. It prints as its public
// fingerprint only, "keys.Identity{0123456789abcdef}", by value or by
// pointer, for every fmt verb, through encoding/json, encoding.TextMarshaler
// users and log/slog. The private key is kept where fmt's reflection does
// not reach (see hidden), so even where fmt cannot call these methods (an
// Identity in an unexported struct field) it prints an address, never key
// bytes.
type Identity struct {
	k hidden[identityKey]
}

type identityKey struct {
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
	fp   Fingerprint
}

// NewIdentity wraps an Ed25519 private key (copied).
func NewIdentity(priv ed25519.PrivateKey) (*Identity, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("keys: private key is not %d bytes", ed25519.PrivateKeySize)
	}
	priv = slices.Clone(priv)
	pub := priv.Public().(ed25519.PublicKey)
	return &Identity{k: hide(&identityKey{priv: priv, pub: pub, fp: FingerprintOf(pub)})}, nil
}

// GenerateIdentity makes a fresh random identity.
func GenerateIdentity() (*Identity, error) {
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, err
	}
	return NewIdentity(priv)
}

// Public returns the identity's public key, to give to the members that
// should trust it.
func (id *Identity) Public() ed25519.PublicKey {
	k := id.k.get()
	if k == nil {
		return nil
	}
	return slices.Clone(k.pub)
}

// Fingerprint returns the fingerprint of the public key.
func (id *Identity) Fingerprint() Fingerprint {
	k := id.k.get()
	if k == nil {
		return 0
	}
	return k.fp
}

// Sign signs msg with the private key.
func (id *Identity) Sign(msg []byte) []byte { return ed25519.Sign(id.k.get().priv, msg) }

// AppendSign appends the signature of msg to dst.
func (id *Identity) AppendSign(dst, msg []byte) []byte {
	return append(dst, ed25519.Sign(id.k.get().priv, msg)...)
}

// String prints the public fingerprint: "keys.Identity{0123456789abcdef}"
// ("keys.Identity{}" for the zero Identity). A nil *Identity prints as
// "<nil>" through fmt.
func (id Identity) String() string {
	k := id.k.get()
	if k == nil {
		return "keys.Identity{}"
	}
	return "keys.Identity{" + k.fp.String() + "}"
}

// GoString is String, so %#v does not print the key either.
func (id Identity) GoString() string { return id.String() }

// Format prints [Identity.String] for every verb and flag.
func (id Identity) Format(f fmt.State, _ rune) { io.WriteString(f, id.String()) }

// MarshalText returns [Identity.String]; the private key is never marshalled.
func (id Identity) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// MarshalJSON returns [Identity.String] as a JSON string.
func (id Identity) MarshalJSON() ([]byte, error) { return json.Marshal(id.String()) }

// LogValue makes log/slog log [Identity.String].
func (id Identity) LogValue() slog.Value { return slog.StringValue(id.String()) }

// hidden holds a *T two pointers away, where no fmt verb reaches. fmt
// prints a pointer met inside a value (an unexported field, which it cannot
// call methods on) as an address, except that a verb pointers do not take
// (%s, %q) makes it print that pointer again with %v as if at top level,
// following it once: a single pointer would then show the secret, the
// second one stops it. encoding/json and log/slog skip unexported fields.
type hidden[T any] struct{ pp **T }

func hide[T any](v *T) hidden[T] { return hidden[T]{&v} }

// get returns the value, nil for the zero hidden.
func (h hidden[T]) get() *T {
	if h.pp == nil {
		return nil
	}
	return *h.pp
}

// Trust is a set of public keys whose signatures are accepted, looked up by
// fingerprint. Keys may be added and removed while channels use it.
type Trust struct {
	mu   sync.Mutex
	keys atomic.Pointer[map[Fingerprint]ed25519.PublicKey]
}

// NewTrust returns a set trusting pubs.
func NewTrust(pubs ...ed25519.PublicKey) (*Trust, error) {
	t := &Trust{}
	m := map[Fingerprint]ed25519.PublicKey{}
	t.keys.Store(&m)
	for _, p := range pubs {
		if err := t.Add(p); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// Add trusts pub. Adding a key already trusted is a no-op; a key whose
// fingerprint is that of a different trusted key is refused with
// [ErrFingerprintCollision] (signed packets name their signer by
// fingerprint only, so the two could not be told apart), and the trusted
// key stays.
func (t *Trust) Add(pub ed25519.PublicKey) error {
	if len(pub) != ed25519.PublicKeySize {
		return ErrBadPublicKey
	}
	fp := FingerprintOf(pub)
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.keys.Load()
	if k, ok := old[fp]; ok {
		if bytes.Equal(k, pub) {
			return nil
		}
		return fmt.Errorf("%w: %v", ErrFingerprintCollision, fp)
	}
	m := make(map[Fingerprint]ed25519.PublicKey, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[fp] = slices.Clone(pub)
	t.keys.Store(&m)
	return nil
}

// Remove stops trusting the key with fingerprint fp.
func (t *Trust) Remove(fp Fingerprint) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.keys.Load()
	if _, ok := old[fp]; !ok {
		return
	}
	m := make(map[Fingerprint]ed25519.PublicKey, len(old))
	for k, v := range old {
		if k != fp {
			m[k] = v
		}
	}
	t.keys.Store(&m)
}

// Lookup returns the trusted key with fingerprint fp.
func (t *Trust) Lookup(fp Fingerprint) (ed25519.PublicKey, bool) {
	if t == nil {
		return nil, false
	}
	k, ok := (*t.keys.Load())[fp]
	return k, ok
}

// Len is the number of trusted keys.
func (t *Trust) Len() int { return len(*t.keys.Load()) }

// Verify reports whether sig is a valid signature of msg by the trusted key
// with fingerprint fp.
func (t *Trust) Verify(fp Fingerprint, msg, sig []byte) error {
	k, ok := t.Lookup(fp)
	if !ok {
		return fmt.Errorf("keys: signer %v is not trusted", fp)
	}
	if !ed25519.Verify(k, msg, sig) {
		return ErrBadSignature
	}
	return nil
}

// ErrBadSignature is returned by [Trust.Verify] for a signature that does
// not verify.
var ErrBadSignature = errors.New("keys: bad signature")
