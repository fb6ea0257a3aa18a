// Package frag is the fragmentation layer: it splits a parcel (one posting,
// an application-defined unit such as a video frame) that does not fit under
// the MTU into fragments, and reassembles the fragments at the receiver,
// delivering the parcel whole or not at all, as XUDP's parcels are.
//
// Importing the package registers the layer as "frag":
//
//	frag(mtu=1200, max=16MiB, buffer=32MiB, parcels=256, timeout=2s)
//
// # Sizes
//
// The fragment size is the room under the MTU less the headers of the layers
// below and frag's own header: mtu − (overhead below) − [HeaderLen]. An MTU
// that leaves less than [MinFragment] bytes is refused when the stack is
// assembled, with an error naming the numbers. A parcel that fits in one
// packet travels whole with a one-byte header.
//
// Channels write relay metadata beside every packet (stack.AppendRelay):
// they reserve stack.RelayBase bytes per datagram for it, but a parcel's
// latest-wins key and frame id add up to stack.RelayExtra bytes more
// (at most 75). For such a parcel both the fragment size and the largest
// parcel sent whole are that much smaller, so packet and metadata still
// fit the MTU; every fragment carries the parcel's metadata. The fragment
// size never drops below [MinFragment]: at an MTU leaving less than
// MinFragment + 75 bytes per fragment, a parcel with a long key may exceed
// it. Config.Max must fit in [MaxFragments] of the smallest fragments.
//
// # Wire format
//
// Every packet starts with a kind byte: 0 for a whole parcel (nothing more),
// 1 for a fragment, followed by the parcel id (4 bytes), the fragment's
// index and the parcel's fragment count (2 bytes each) and the size of every
// fragment but the last (2 bytes), big-endian; see [Header].
//
// # Memory and time
//
// The receiver places each fragment straight into one buffer of the parcel's
// size, reserved on the first fragment from the flow's budget
// (Config.Buffer), from the channel's shared budget (stack.Budget) when the
// stack has one, and limited to Config.Parcels incomplete parcels; when a new
// parcel does not fit, the oldest incomplete parcels are evicted. Incomplete
// parcels expire Config.Timeout after their first fragment arrived, on the
// stack's clock. Duplicate fragments, fragments of a parcel completed
// recently, and malformed headers are dropped and counted (see the stack's
// Stats: drops "duplicate", "malformed", "too-large", "no-memory", and per
// parcel "evicted", "expired", "obsolete").
//
// # Limitations
//
// frag does not retransmit: over a lossy path, put a reliability layer
// below it, or accept that a parcel with a lost fragment is not delivered.
// A parcel has at most [MaxFragments] fragments. The reassembled parcel
// carries the metadata of its first fragment.
package frag
