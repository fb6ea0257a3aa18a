// Command keyed shows a keyed channel: the members holding the key
// authenticate every datagram and encrypt every stream, an outsider with
// another key hears nothing, and the key is rotated while postings flow.
//
//	go run ./examples/keyed
//
// It runs three members on an in-process hub (mem://) and exits; the same
// options work on a multicast group or between two peers (a keyed
// unicast channel names itself: ?channel=NAME on both ends).
package main
