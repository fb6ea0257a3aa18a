package replay

import (
	"math/rand/v2"
	"testing"
)

// TestAgainstModel checks the window against a map of every counter seen,
// over random walks with jumps, reordering and repeats.
func TestAgainstModel(t *testing.T) {
	for _, n := range []int{64, 100, 1024} {
		rng := rand.New(rand.NewPCG(uint64(n), 7))
		w := New(n)
		if w.Size() < uint64(n) {
			t.Fatalf("window %d: size %d", n, w.Size())
		}
		seen := map[uint64]bool{}
		var top uint64
		for range 200000 {
			var c uint64
			switch rng.IntN(10) {
			case 0:
				c = top + 1 + uint64(rng.IntN(5000)) // a jump ahead
			case 1, 2:
				if top > 0 {
					c = top - uint64(rng.IntN(int(min(top, 3*w.Size())))) // old or repeated
				}
			default:
				c = top + uint64(rng.IntN(3))
			}
			want := c != 0 && !seen[c] && (c > top || top-c < w.Size())
			if got := w.Fresh(c); got != want {
				t.Fatalf("window %d, top %d: Fresh(%d) = %v, want %v", n, top, c, got, want)
			}
			if want {
				w.Mark(c)
				seen[c] = true
				top = max(top, c)
			}
		}
	}
}
