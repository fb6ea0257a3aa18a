// Package filter decides what kind of medium a posting carries and which
// protocol stack that medium deserves.
//
// A [Classifier] looks, in order, at:
//
//  1. the posting's explicit Media field (any class but the default, Data);
//  2. the body's own declaration, when its type implements [Medium];
//  3. its rules, first match wins: by stream name ([StreamRule], a
//     path.Match pattern such as "audio/*"), by Go type of the body
//     ([TypeRule]), or by content sniffing of []byte and string bodies
//     ([SniffRule]: audio, video and image magic numbers, UTF-8 text);
//
// and answers Data when nothing matches. [Default] sniffs content.
// [Classifier.Classify] also says which step decided ([Reason]): a class
// found by content sniffing ([ByContent]) is a guess from a body's first
// bytes, the others are the application's word.
//
// A [Table] maps each media class to a [Profile]: a QoS string and a
// default time to live for postings that carry none. [DefaultTable]:
//
//	audio    realtime, small packets, TTL 100ms  frag(mtu=600)/order/window(mode=besteffort)
//	video    media                               frag/order/window(ttl=200ms)
//	text     reliable, compressed                compress/reliable
//	image    semi-reliable tiles, refreshed      refresh/frag/order/window(ttl=2s)
//	control  reliable                            reliable
//	data     reliable                            reliable
//
// Channels classify every pushed posting and give each (stream, medium) its
// own stack from the table; channel options override the table per medium
// and per stream. Sniffing picks the media class only: a posting
// classified by content keeps its class (its Media field, statistics,
// relay metadata) but travels on the Data profile's stack and takes that
// profile's default TTL, so that a file is never made unreliable,
// short-lived or repeated by its first bytes; a channel opened with
// channel.WithSniffStacks gives it its medium's profile instead. A medium
// named by the posting's Media field, the body's [Medium] method or a
// stream or type rule always picks its profile.
package filter
