// Package refresh is the periodic-refresh layer of the dynamic image
// protocol: a sender keeps the last parcels it sent (image tiles, the
// latest state of something) and sends them again every period, with a
// random jitter, so that receivers that lost one, or joined late, get it
// without asking. Receivers need nothing: a refreshed parcel arrives as a
// new one, which for tiles and state is what they want (the newest copy
// wins).
//
// Importing the package registers the layer as "refresh":
//
//	refresh(every=2s, keep=64, bytes=4MiB)/frag/order/window(ttl=2s)
//
// It belongs at the application side of the stack, above frag, so a
// refresh is a whole parcel. What it keeps is bounded by keep parcels and
// bytes, the oldest dropped first; control packets and skip markers pass
// untouched. Counters: "refreshed" (parcels sent again), "kept".
package refresh
