// Package window is the sliding-window reliability layer: it numbers a
// flow's packets, retransmits the lost ones, and gives up, on time, those
// that can no longer arrive before their time to obsolescence. It follows
// XUDP's parcels and reliability modes and modern reliable transports (TCP
// SACK and RACK-TLP for unicast; PGM, NORM and JGroups' NAKACK for
// multicast).
//
// Importing the package registers the layer as "window". The built-in
// profiles use it:
//
//	reliable   frag/order/window
//	media      frag/order/window(ttl=200ms)
//	realtime   frag/order/window(mode=besteffort)
//	bulk       frag/window(size=4096,queue=16MiB)
//
// # Reliability per parcel
//
// A packet with no deadline is fully reliable: retransmitted until
// acknowledged. A packet with a deadline — the posting's TTL, or the
// layer's ttl parameter for postings without one — is semi-reliable: the
// sender retransmits it only while it can still arrive in time (the
// deadline less half the smallest round trip), then abandons it and tells
// the receivers to skip it; a packet whose deadline passes while it waits
// for the window is dropped before it is numbered. mode=besteffort never
// retransmits and sends no feedback; the numbers still let an order layer
// drop late packets and the receiver count losses.
//
// Deadlines travel as the time left (microseconds) in each DATA header, so
// sender and receiver need no common clock; a receiver's deadline is its
// arrival time plus what was left.
//
// # Point to point: acknowledgements (feedback=ack)
//
// The receiver acknowledges cumulatively and selectively (up to 16 ranges),
// at once when something is out of order and otherwise every ackevery
// packets or after ackdelay, echoing the newest packet it got. The sender
// estimates the round trip from that echo (RFC 6298 smoothing and
// variance; Karn: never from a retransmitted packet), sets the
// retransmission timeout from it with exponential backoff, detects loss
// when three later packets are acknowledged (and, for a packet already
// resent, only once something sent after that resend has arrived, as RACK
// does), probes the tail when acknowledgements stop (a tail loss probe
// after two round trips and two ack delays), and runs a congestion window:
// slow start from iw packets, additive increase, and on loss a cut once per
// round trip. A loss while the round trip shows no queue is taken for
// random loss and costs an eighth of the window; with queues building it
// costs half. Congestion anticipation (XUDP) holds the window when the
// smoothed round trip exceeds twice its minimum and cuts it by an eighth
// when it exceeds four times. The receiver's advertised window bounds what
// is in flight.
//
// # Many receivers: NAKs (feedback=nak)
//
// Receivers report gaps after a random delay up to nakdelay; on multicast
// they hear each other's NAKs and one NAK stands for all (the others
// postpone theirs). The sender repairs a packet at most once per holdoff.
// Receivers report their status (how far they have everything) every
// status interval while data flows and less often when idle; the sender
// frees what every live receiver has and forgets a receiver silent for
// rcvtimeout. When idle, the sender sends heartbeats (doubling from
// heartbeat to one second) with its next number and its floor, so tail
// losses are seen and a receiver learns what is gone. A receiver whose gap
// the sender no longer holds — it fell behind the buffer, or it repeated
// its NAK naklimit times over at least rcvtimeout (a slow or paused
// sender is not a gone one) — skips it and reports an "unrecoverable-gap"
// event instead of waiting forever. A sender whose buffer is full waits
// for its receivers; it evicts old packets only when no receiver has been
// heard from for rcvtimeout.
//
// feedback=auto (the default) uses ack for point-to-point flows (a stream
// addressed to one member, or a unicast channel to one peer) and nak
// otherwise; the receiver follows whatever mode the sender's packets say.
//
// # Late joiners
//
// Every DATA header says how far back the sender's floor is. A receiver of
// a point-to-point flow, or of a stream whose beginning (isn) the sender
// still holds, starts at the floor and recovers what it missed; a late
// joiner of a long multicast stream starts with the first packet it sees.
//
// # Interfaces
//
// The layer provides stack.CapSequenced (Meta.Seq is set on the way up)
// and, unless best effort, stack.CapReliable; it implements stack.Roomer
// so a channel's Push waits (or reports backpressure) while the queue is
// full, and emits a "room" event when it drains. It passes packets up as
// they arrive, with skip markers (stack.FlagSkip) for numbers that will
// never come; an order layer above puts them in sequence. [Layer.State]
// exposes the window, the congestion state and the round-trip estimate.
//
// # Limitations
//
// Sequence numbers are 32 bits with serial arithmetic; a window may not
// exceed 65536 packets. Multicast flow control follows the slowest live
// receiver; there is no multicast congestion control beyond that (use the
// ratelimit layer). Forged packets can derail a window: authenticate below
// it (encrypt).
package window
