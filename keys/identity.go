package keys

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
)

// ErrBadPublicKey is returned for a public key of the wrong length.
var ErrBadPublicKey = fmt.Errorf("keys: public key is not %d bytes", ed25519.PublicKeySize)

// Fingerprint names a public key in 8 bytes: the start of its SHA-256. It
// travels in signed packets so receivers find the key to verify with.
type Fingerprint uint64

// FingerprintOf returns the fingerprint of an Ed25519 public key.
func FingerprintOf(pub ed25519.PublicKey) Fingerprint {
	h := sha256.Sum256(pub)
	return Fingerprint(binary.BigEndian.Uint64(h[:8]))
}

// String prints the fingerprint in hex.
func (f Fingerprint) String() string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(f))
	return hex.EncodeToString(b[:])
}

// Identity is a member's Ed25519 signing key. It prints as its public
// fingerprint only.
type Identity struct {
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
	return &Identity{priv: priv, pub: pub, fp: FingerprintOf(pub)}, nil
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
func (id *Identity) Public() ed25519.PublicKey { return slices.Clone(id.pub) }

// Fingerprint returns the fingerprint of the public key.
func (id *Identity) Fingerprint() Fingerprint { return id.fp }

// Sign signs msg with the private key.
func (id *Identity) Sign(msg []byte) []byte { return ed25519.Sign(id.priv, msg) }

// AppendSign appends the signature of msg to dst.
func (id *Identity) AppendSign(dst, msg []byte) []byte {
	return append(dst, ed25519.Sign(id.priv, msg)...)
}

// String prints the public fingerprint: "keys.Identity{0123456789abcdef}".
func (id *Identity) String() string {
	if id == nil {
		return "keys.Identity(nil)"
	}
	return "keys.Identity{" + id.fp.String() + "}"
}

// GoString is String.
func (id *Identity) GoString() string { return id.String() }

// Format prints [Identity.String] for every verb.
func (id *Identity) Format(f fmt.State, _ rune) { fmt.Fprint(f, id.String()) }

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

// Add trusts pub.
func (t *Trust) Add(pub ed25519.PublicKey) error {
	if len(pub) != ed25519.PublicKeySize {
		return ErrBadPublicKey
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.keys.Load()
	m := make(map[Fingerprint]ed25519.PublicKey, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[FingerprintOf(pub)] = slices.Clone(pub)
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
