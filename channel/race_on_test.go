//go:build race

package channel

// raceEnabled: the race detector's instrumentation allocates, so tests that
// count allocations skip or only log them under it. (Timing tests judge the
// same bounds either way: they widen them by the scheduling delay they
// measure, which the race detector's slowness is part of.)
const raceEnabled = true
