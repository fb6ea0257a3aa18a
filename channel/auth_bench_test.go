package channel

import (
	"fmt"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/keys"
	"github.com/rwanda-go/rwanda/stack"
)

// benchDatagram is a keyed datagram of about n bytes from sender, before
// its trailer: a DATA frame of stream 1.
func benchDatagram(sender uint64, n int) []byte {
	d := appendKeyedHeader(nil, sender)
	payload := make([]byte, max(0, n-dgramHeaderLen-authLen-8))
	d = appendDataHeader(d, 0, 1, &stack.Meta{}, len(payload))
	return append(d, payload...)
}

// BenchmarkDatagramSeal: the cost of authenticating one datagram on a
// keyed channel (the trailer: check, key id, counter, GMAC tag).
func BenchmarkDatagramSeal(b *testing.B) {
	for _, n := range []int{64, 1200} {
		b.Run(fmt.Sprintf("%dB", n), func(b *testing.B) {
			ring, _ := keys.NewRing(1, testKey)
			tx := newDgramAuth(ring, authTestIdentity, 5, 16)
			base := benchDatagram(5, n)
			buf := make([]byte, 0, 2048)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				buf = tx.seal(append(buf[:0], base...), 0)
			}
		})
	}
}

// BenchmarkDatagramSealOpen: sealing a datagram and opening it at a
// receiver that knows the sender: the steady-state cost of datagram
// authentication, both ends.
func BenchmarkDatagramSealOpen(b *testing.B) {
	for _, n := range []int{64, 1200} {
		b.Run(fmt.Sprintf("%dB", n), func(b *testing.B) {
			ring, _ := keys.NewRing(1, testKey)
			tx := newDgramAuth(ring, authTestIdentity, 5, 16)
			rx := newDgramAuth(ring, authTestIdentity, 1, 16)
			base := benchDatagram(5, n)
			buf := make([]byte, 0, 2048)
			from, now := addrN(1), time.Unix(1000, 0)
			// The sender echoes the receiver's nonce first (fresh.go).
			seen := tx.seal(appendSeen(appendKeyedHeader(nil, 5), 1, rx.nonce), 0)
			if _, why, _ := rx.open(seen, 5, from, now); why != "" {
				b.Fatal(why)
			}
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				buf = tx.seal(append(buf[:0], base...), 0)
				if _, why, _ := rx.open(buf, 5, from, now); why != "" {
					b.Fatal(why)
				}
			}
		})
	}
}
