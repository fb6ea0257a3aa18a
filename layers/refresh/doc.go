// Package refresh is the periodic-refresh layer of the dynamic image
// protocol: a sender keeps the last parcels it sent (image tiles, the
// latest state of something) and sends them again every period, with a
// random jitter, so that receivers that lost one, or joined late, get it
// without asking.
//
// Importing the package registers the layer as "refresh":
//
//	refresh(every=2s, keep=64, bytes=4MiB)/frag/order/window(ttl=2s)
//
// It belongs at the application side of the stack, above frag, so a
// refresh is a whole parcel. What a sender keeps is bounded by keep
// parcels and bytes, the oldest dropped first; skip markers pass
// untouched.
//
// # Each parcel delivered once
//
// Every parcel carries a 5-byte header ([HeaderLen]): a kind (first
// transmission or refresh) and a parcel id counting up per sending stack;
// a refresh goes out under its parcel's id. Ids are 32-bit serial
// numbers (RFC 1982: an id less than 2^31 ahead is newer), so "once" holds
// per turn of the id space: ids that jump ahead by 2^31 at a time, which
// only a forged or garbled stream does, come round again. A receiver
// delivers each id once: it remembers which of the last keep ids (at least 64) it has
// delivered, in a bitmap of that many bits (512 bytes at the receive
// limit keep=4096; its only per-flow state). A refreshed copy of a parcel
// already delivered is dropped and counted as "refreshed-dup"; a late
// joiner, or a receiver that lost the first transmission, delivers the
// refreshed copy once (counted as "refresh-delivered"). Since a sender
// refreshes only its last keep parcels, every refresh falls within that
// window; an id older than it cannot be told from one delivered before
// and is dropped as "stale" (only a first transmission reordered by more
// than keep parcels can be). Duplicates of a first transmission are
// dropped as "duplicate", a packet shorter than the header or of an
// unknown kind as "malformed".
//
// Counters: "refreshed" (parcels sent again), "kept", "refresh-delivered".
package refresh
