package encrypt_test

import (
	"fmt"
	"testing"

	"github.com/rwanda-go/rwanda/stack/stacktest"
)

// BenchmarkSealOpen sends packets down a sealing stack and up an opening
// one: the layer's whole cost per packet, both ends.
func BenchmarkSealOpen(b *testing.B) {
	for _, s := range []string{"aes128-gcm", "aes256-gcm", "chacha20-poly1305"} {
		for _, n := range []int{64, 1024, 1400} {
			b.Run(fmt.Sprintf("%s/%dB", s, n), func(b *testing.B) {
				r := ring(b, 1, 4)
				p := pair(b, r, r, s)
				msg := make([]byte, n)
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					pk := p.A.NewPacket(n)
					pk.Append(msg)
					if err := p.A.Down(pk); err != nil {
						b.Fatal(err)
					}
					p.Link.Step(stacktest.AtoB)
					p.GotB.Take()
				}
			})
		}
	}
}
