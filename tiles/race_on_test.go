//go:build race

package tiles

// raceEnabled: the simulations run the protocol's cores on one goroutine,
// where the race detector finds nothing and slows them tenfold; they skip
// under it, and .ci/run runs the package without it too.
const raceEnabled = true
