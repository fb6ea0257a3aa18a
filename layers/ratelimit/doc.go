// Package ratelimit is the rate-limiting layer: a token bucket with a rate,
// a bucket size and a peak rate (the DMIF flowspec's), which paces what
// leaves a stack instead of letting it out in bursts. A sender that
// exceeds it is delayed or, for obsolescent postings, thinned.
//
// Importing the package registers the layer as "ratelimit". It belongs at
// the wire side of a stack, so that it paces everything the stack sends,
// retransmissions included:
//
//	frag/order/window/ratelimit(rate=1MB)
//	frag/order/window/ratelimit(rate=2MiB,bucket=64KiB,peak=4MiB,queue=1MiB)
//
// # Parameters
//
//	name    kind  default                        meaning
//	rate    size  (required)                     long-run rate, bytes per second
//	bucket  size  rate/10, at least 2×MTU        the most that passes at once
//	peak    size  none                           peak rate, bytes per second (≥ rate)
//	queue   size  rate/2, at least 64KiB, bucket bytes held back before "no room"
//
// Sizes take the registry's units: 1MB is 10⁶ bytes, 1MiB 2²⁰. [Config]
// holds the same settings for code that builds layers with [New].
//
// # The bucket
//
// The bucket fills at rate bytes per second up to bucket bytes, and starts
// full. A data packet of n bytes may leave when the bucket holds n tokens
// (a packet larger than the bucket: when the bucket is full), and takes n
// tokens, so the bucket may go into debt by what a large packet exceeds
// it. Over any span T, what leaves is at most rate×T + bucket, plus one
// packet. With a peak rate, a packet of n bytes leaving at t lets the next
// leave no earlier than t + n/peak: the packets of a burst are spaced at
// the peak rate instead of leaving back to back.
//
// A data packet that may leave at once, with nothing queued before it,
// passes straight down within the call. Otherwise it waits in a FIFO
// queue, and one stack timer (Binding.SetTimer, on the stack's clock)
// releases the queue's head at the instant its tokens and its peak spacing
// allow: the queue drains paced at the rate, not in bursts when the bucket
// refills.
//
// # Control packets
//
// Control packets (stack.FlagControl: acknowledgements, NAKs, reports of
// the layers above) are never delayed: they jump the queue. They do take
// tokens, since they use the link as much as data does, so the data behind
// them waits correspondingly longer; but control packets alone never run
// the bucket more than one bucket into debt, so a storm of feedback cannot
// starve the data for long. They also count toward the peak spacing, up to
// a bucket's worth. Skip
// markers (stack.FlagSkip) pass untouched and take nothing.
//
// # Thinning obsolete postings
//
// A packet whose deadline (stack.Meta.Deadline: its posting's time to
// obsolescence) has passed when it arrives, or by which it could not leave
// — its estimated departure, supposing everything queued before it goes
// first, is after its deadline — is thinned: released instead of sent, and
// counted. The queue's head is checked again when its turn comes, since
// control packets may have pushed it back. Thinning never consumes tokens.
// The layer cannot see parcels: when a fragmented parcel is thinned, its
// later fragments (with the same deadline, and later departures) are
// thinned too, but fragments that already left are not recalled.
//
// # Backpressure
//
// The layer implements stack.Roomer: its Room is queue less the bytes it
// holds back, and a channel's Push waits (or reports backpressure) while
// it is zero. Room is advisory: the layer still accepts what it is given,
// so a parcel is never split. Once it has reported no room, the layer
// emits an event of kind "room" when its queue drains below half. It
// implements stack.Drainer too: a stack retired by a reconfiguration is
// not closed while packets still wait in its queue.
//
// # Statistics
//
// Counters (stack.Stats, the layer's Counters; zero counters are left
// out): "passed" (data packets sent at once), "delayed" (data packets
// queued), "thinned" (obsolete packets released unsent; they are counted
// here only, not also as drops), "control" (control packets passed), "bytes"
// (bytes sent down, control included) and "queued" (bytes held back now).
//
// # Wire format
//
// None: the layer adds no header (Overhead 0), and passes packets coming
// up through untouched.
//
// # Limitations
//
// The limit is per stack, so per stream and direction: a channel's streams
// are limited one by one, not together. The queue is FIFO: an urgent
// posting waits behind earlier ones (thinning drops the obsolete ones, it
// does not reorder).
package ratelimit
