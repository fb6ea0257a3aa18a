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
// max bounds the body the application sees: a parcel may exceed it by
// [HeaderAllowance] (8 KiB) of headers — a posting's own header and those
// of the layers above frag — so frag(max=16MiB) carries a posting whose
// body is 16 MiB. A larger parcel is refused on send with [ErrTooLarge]
// and dropped on receipt ("too-large").
//
// The fragment size is the room under the MTU less the headers of the layers
// below and frag's own header: mtu − (overhead below) − [HeaderLen]. An MTU
// that leaves less than [MinFragment] bytes is refused when the stack is
// assembled, with an error naming the numbers. A parcel that fits in one
// packet travels whole with a one-byte header. [Layer.SetMTU] lowers the
// MTU parcels are cut for from the next one on, when the path turns out to
// carry less (package channel calls it when a send fails with EMSGSIZE);
// each fragment header says its parcel's fragment size, so receivers need
// not know.
//
// Channels write relay metadata beside every packet (stack.AppendRelay):
// they reserve stack.RelayBase bytes per datagram for it, but a parcel's
// latest-wins key and frame id add up to stack.RelayExtra bytes more
// (at most 75). For such a parcel both the fragment size and the largest
// parcel sent whole are that much smaller, so packet and metadata still
// fit the MTU; every fragment carries the parcel's metadata. The fragment
// size never drops below [MinFragment]: at an MTU leaving less than
// MinFragment + 75 bytes per fragment, a parcel with a long key may exceed
// it. Config.Max and the header allowance must fit in [MaxFragments] of
// the smallest fragments.
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
// What a flow holds grows with the fragments that arrive, never with the
// size a header declares: a 12-byte fragment announcing a 16 MiB parcel
// costs its own packet and the parcel's bookkeeping, a few hundred bytes
// and a bit per fragment (at most 8 KiB, for 65535 fragments). Fragments
// are held as the packets they came in,
// each costing its packet's buffer, until they are worth half the parcel;
// then one buffer of the parcel's size (fragment count × fragment size) is
// allocated, the fragments held are copied into it and given back, and
// later fragments are copied straight into place. Each byte is copied once,
// and a parcel's buffer costs at most twice what its fragments already made
// the flow hold. Small parcels, up to about two fragments' buffers, get
// their buffer on their first fragment.
//
// All of it is reserved before it is held: from the flow's budget
// (Config.Buffer) and from the channel's shared budget (stack.Budget) when
// the stack has one. When a fragment does not fit, the flow's oldest other
// incomplete parcels are evicted ("evicted", per parcel) until it does; if
// it still does not, it is dropped ("no-memory") and so is its parcel,
// which could never complete ("evicted"). A flow holds at most
// Config.Parcels incomplete parcels, the oldest evicted first, so invented
// parcel ids cost at most that many parcels' bookkeeping, all within the
// budgets. Incomplete parcels expire Config.Timeout after their first
// fragment arrived, on the stack's clock, or at their deadline. Duplicate
// fragments, fragments of one of the 64 parcels completed last, and
// malformed headers are dropped and counted. The stack's Stats show the
// drops "duplicate", "malformed", "too-large", "no-memory", and per parcel
// "evicted", "expired", "obsolete", "closed".
//
// # Limitations
//
// frag does not retransmit: over a lossy path, put a reliability layer
// below it, or accept that a parcel with a lost fragment is not delivered.
// A parcel has at most [MaxFragments] fragments. The reassembled parcel
// carries the metadata of its first fragment.
package frag
