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
//
// A [Table] maps each media class to a [Profile]: a QoS string and a
// default time to live for postings that carry none. [DefaultTable]:
//
//	audio    realtime, small packets, TTL 100ms  frag(mtu=600)/order/window(mode=besteffort)
//	video    media                               frag/order/window(ttl=200ms)
//	text     reliable, compressed                compress/reliable
//	image    semi-reliable tiles, refreshed         refresh/frag/order/window(ttl=2s)
//	control  reliable                            reliable
//	data     reliable                            reliable
//
// Channels classify every pushed posting and give each (stream, medium) its
// own stack from the table; channel options override the table per medium
// and per stream.
package filter
