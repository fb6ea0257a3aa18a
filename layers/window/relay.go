package window

// What a relay (the gateway) reads of a window's packets in passing.

// IsNAK reports whether b, a packet of the window layer, is a NAK: a
// receiver's list of what it lacks (nak mode). The gateway absorbs a
// client's NAKs for what it thinned itself, so they never reach the
// sender.
func IsNAK(b []byte) bool { return len(b) > 0 && b[0] == msgNak }
