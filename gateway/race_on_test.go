//go:build race

package gateway

// raceEnabled: the namespace test's 100 channels in 7 processes do not
// keep up under the race detector on a 2-CPU machine (it skips), and the
// loopback thinning test judges only its reliable strokes there.
const raceEnabled = true
