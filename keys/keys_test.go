package keys

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

func TestRingRotation(t *testing.T) {
	k1 := bytes.Repeat([]byte{1}, 32)
	k2 := bytes.Repeat([]byte{2}, 32)
	r, err := NewRing(1, k1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewRing(1, k1[:15]); !errors.Is(err, ErrShortKey) {
		t.Fatalf("short key: %v", err)
	}
	g := r.Generation()
	if err := r.Add(2, k2); err != nil {
		t.Fatal(err)
	}
	if r.Generation() == g {
		t.Fatal("generation did not change")
	}
	if err := r.Add(2, k1); !errors.Is(err, ErrKeyExists) {
		t.Fatalf("re-adding id 2 with another key: %v", err)
	}
	if err := r.Add(2, k2); err != nil {
		t.Fatalf("re-adding the same key: %v", err)
	}
	if err := r.Use(3); !errors.Is(err, ErrNoKey) {
		t.Fatalf("use of a missing id: %v", err)
	}
	if err := r.Use(2); err != nil || r.Current() != 2 {
		t.Fatalf("use 2: %v, current %d", err, r.Current())
	}
	if err := r.Remove(2); !errors.Is(err, ErrInUse) {
		t.Fatalf("removing the key in use: %v", err)
	}
	if err := r.Remove(1); err != nil {
		t.Fatal(err)
	}
	if r.Has(1) || !r.Has(2) || fmt.Sprint(r.IDs()) != "[2]" {
		t.Fatalf("ids after removal: %v", r.IDs())
	}
	if _, err := r.Derive(1, nil, nil, 32); !errors.Is(err, ErrNoKey) {
		t.Fatalf("derive from a removed key: %v", err)
	}
}

func TestDeriveSeparates(t *testing.T) {
	k := bytes.Repeat([]byte{7}, 32)
	a, _ := NewRing(1, k)
	b, _ := NewRing(9, k)
	x, _ := a.Derive(1, []byte("udp://239.1.2.3:5000"), []byte("encrypt"), 32)
	y, _ := b.Derive(9, []byte("udp://239.1.2.3:5000"), []byte("encrypt"), 32)
	if !bytes.Equal(x, y) {
		t.Fatal("the same key, salt and info derived different keys")
	}
	z, _ := a.Derive(1, []byte("udp://239.1.2.3:5000"), []byte("datagram"), 32)
	w, _ := a.Derive(1, []byte("udp://239.1.2.3:5001"), []byte("encrypt"), 32)
	if bytes.Equal(x, z) || bytes.Equal(x, w) || bytes.Equal(x, k) {
		t.Fatal("derived keys not separated by info and salt")
	}
}

func TestTrust(t *testing.T) {
	a, _ := GenerateIdentity()
	b, _ := GenerateIdentity()
	tr, err := NewTrust(a.Public())
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("hello")
	if err := tr.Verify(a.Fingerprint(), msg, a.Sign(msg)); err != nil {
		t.Fatal(err)
	}
	if err := tr.Verify(b.Fingerprint(), msg, b.Sign(msg)); err == nil {
		t.Fatal("untrusted signer accepted")
	}
	sig := a.Sign(msg)
	sig[3] ^= 1
	if err := tr.Verify(a.Fingerprint(), msg, sig); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("tampered signature: %v", err)
	}
	tr.Remove(a.Fingerprint())
	if tr.Len() != 0 {
		t.Fatal("remove did not remove")
	}
	if err := tr.Add(a.Public()[:5]); !errors.Is(err, ErrBadPublicKey) {
		t.Fatalf("short public key: %v", err)
	}
}

// MemberID is SHA-256 of the domain, the public key and the big-endian
// salt, cut to its first 8 bytes (values computed with Python's hashlib),
// and separates keys and salts.
func TestMemberID(t *testing.T) {
	pub := make([]byte, 32)
	for i := range pub {
		pub[i] = byte(i)
	}
	for _, tc := range []struct {
		salt uint64
		want uint64
	}{{0x0102030405060708, 0x64b86c9d5c07a556}, {0, 0x027d8667432dc073}} {
		if got := MemberID(pub, tc.salt); got != tc.want {
			t.Fatalf("MemberID(0..31, %#x) = %#016x, want %#016x", tc.salt, got, tc.want)
		}
	}
	a, _ := GenerateIdentity()
	b, _ := GenerateIdentity()
	if MemberID(a.Public(), 1) == MemberID(a.Public(), 2) || MemberID(a.Public(), 1) == MemberID(b.Public(), 1) {
		t.Fatal("member ids not separated by key and salt")
	}
	if MemberID(a.Public()[:31], 1) != 0 || MemberID(nil, 1) != 0 {
		t.Fatal("a public key of the wrong length has a member id")
	}
	if n := testing.AllocsPerRun(100, func() { MemberID(pub, 1) }); n != 0 {
		t.Fatalf("MemberID allocates %v times", n)
	}
}
