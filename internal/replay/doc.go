// Package replay is a sliding anti-replay window over 64-bit counters, in a
// ring of 64-bit words (the scheme of RFC 6479, as WireGuard uses it): the
// keyed channel's datagram check and the encrypt layer keep one per sender.
package replay
