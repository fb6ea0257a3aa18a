//go:build race

package floor

// raceEnabled: the race detector slows the harness several times over, so
// it runs fewer seeds, and timing tests only log their figures.
const raceEnabled = true
