package encrypt

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"

	"github.com/rwanda-go/rwanda/internal/keyphase"
	"golang.org/x/crypto/chacha20poly1305"
)

// Suite is an AEAD construction the layer can use.
type Suite struct {
	Name    string
	KeyLen  int
	New     func(key []byte) (cipher.AEAD, error)
	nonceSz int

	// The usage limits of RFC 9001 §6.6: packets sealed under one key
	// (keyphase.None: none), and packets failing authentication under one key.
	confLimit, integLimit uint64
}

// Suites lists the suites, the default first.
var Suites = []Suite{
	{Name: "aes128-gcm", KeyLen: 16, New: newGCM, nonceSz: 12,
		confLimit: keyphase.GCMConfidentiality, integLimit: keyphase.GCMIntegrity},
	{Name: "aes256-gcm", KeyLen: 32, New: newGCM, nonceSz: 12,
		confLimit: keyphase.GCMConfidentiality, integLimit: keyphase.GCMIntegrity},
	{Name: "chacha20-poly1305", KeyLen: chacha20poly1305.KeySize, New: chacha20poly1305.New, nonceSz: chacha20poly1305.NonceSize,
		confLimit: keyphase.None, integLimit: keyphase.ChaChaIntegrity},
	// XChaCha20-Poly1305 is not in RFC 9001; its limits are ChaCha20-Poly1305's
	// (the same cipher and authenticator, a longer nonce).
	{Name: "xchacha20-poly1305", KeyLen: chacha20poly1305.KeySize, New: chacha20poly1305.NewX, nonceSz: chacha20poly1305.NonceSizeX,
		confLimit: keyphase.None, integLimit: keyphase.ChaChaIntegrity},
}

func newGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// SuiteByName returns the suite called name.
func SuiteByName(name string) (Suite, error) {
	for _, s := range Suites {
		if s.Name == name {
			return s, nil
		}
	}
	return Suite{}, fmt.Errorf("encrypt: unknown suite %q", name)
}

func suiteNames() []string {
	n := make([]string, len(Suites))
	for i, s := range Suites {
		n[i] = s.Name
	}
	return n
}
