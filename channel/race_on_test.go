//go:build race

package channel

// raceEnabled: the race detector slows goroutines several times over, so
// tests that judge timing to the millisecond only log it.
const raceEnabled = true
