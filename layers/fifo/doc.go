// Package fifo registers the "fifo" layer: a stream whose stack holds it
// has its packets sent, when its channel's link is the bottleneck
// (channel.WithLinkRate), under the fifo policy of the channel's send
// queue. See package sched for the policies and how classes mix.
//
//	reliable/fifo
package fifo
