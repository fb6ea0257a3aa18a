package udpio

// isRefusal reports false: Plan 9 has no errno values.
func isRefusal(error) bool { return false }
