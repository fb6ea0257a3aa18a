package encrypt

import "testing"

// LowerLimits lowers the AEAD usage limits of the layers t makes from now
// on to packets per key phase and forgeries per key (0: the suite's), and
// restores them when t ends. Layers that talk to each other must be made
// under the same limits.
func LowerLimits(t testing.TB, packets, forgeries uint64) {
	p, f := testLimits.packets.Load(), testLimits.forgeries.Load()
	testLimits.packets.Store(packets)
	testLimits.forgeries.Store(forgeries)
	t.Cleanup(func() {
		testLimits.packets.Store(p)
		testLimits.forgeries.Store(f)
	})
}
