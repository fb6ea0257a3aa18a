//go:build race

package posting

// raceEnabled reports whether the race detector is on; it turns off the
// runtime's packing of small objects into shared 16-byte blocks.
const raceEnabled = true
