// Package window is the sliding-window reliability layer: it numbers a
// flow's packets, retransmits the lost ones, and gives up, on time, those
// that can no longer arrive before their time to obsolescence. It follows
// XUDP's parcels and reliability modes, borrows from TCP for unicast
// (selective acks, RFC 6298 timers, fast retransmit, RACK-TLP's tail loss
// probe) and from PGM, NORM and JGroups' NAKACK for multicast.
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
// A receiver of a semi-reliable stream in nak mode (the layer's ttl set)
// gives a gap up itself once what is missing is past its time left: at
// the deadline of the packet above the gap (arrival plus the larger of its
// time left and ttl), since what is missing was sent before it (counted
// "expired-gap"); and at once when that packet is marked
// stack.FlagThinned, which a channel behind a gateway sets when the
// gateway says it dropped data of the stream (counted "thinned"; the
// gateway absorbs the NAKs). A posting given a longer TTL than the packet
// above its gap may be given up before its own deadline.
//
// # Point to point: acknowledgements (feedback=ack)
//
// The receiver acknowledges cumulatively and selectively (up to 16 ranges),
// at once when something is out of order and otherwise every ackevery
// packets or after ackdelay, echoing the newest packet it got. When the
// sender has more than 8×ackevery packets in flight (each DATA header
// says how far its floor is), the receiver acknowledges every eighth of
// that flight instead, up to 8×ackevery packets (after QUIC's ack
// frequency): still about eight acknowledgements a window, and fewer for
// a fast flow of small packets. The sender
// estimates the round trip from that echo (RFC 6298 smoothing and
// variance; Karn: never from a retransmitted packet) and sets the
// retransmission timeout from it with exponential backoff.
//
// Loss detection is a duplicate threshold, as in TCP's fast retransmit: a
// packet is lost once three packets above it have been selectively
// acknowledged (each time this finds a loss, "fast-retransmit" counts one).
// A packet already retransmitted counts as lost again only once something
// sent after that retransmission has been acknowledged (RACK's rule of
// judging by send time, so the same acks never repair one loss twice);
// there is no RACK reordering window or timer, so reordering deeper than
// three packets is taken for loss. When acknowledgements stop, a tail loss
// probe goes out after two round trips and two ack delays (no later than
// the retransmission timeout).
//
// A retransmission timeout is checked for being spurious, after F-RTO
// (RFC 5682) with selective acks, in a simpler form: the timer resends
// only the oldest packet (again, backed off, while nothing is heard), and
// the first acknowledgement with news decides (F-RTO sends new data and
// waits for a second one). If it reports, for the first time, a packet
// sent before the timeout and not resent since, the originals were only
// late — a receiver or a path that stalled for longer than the timeout,
// as a descheduled process on a busy machine does — and the window,
// threshold and loss episode go back to what they were before it (RFC
// 4015's response; counted "spurious-rto"). If it reports only the resent
// packet, the timeout was a loss: everything still in flight is marked
// lost and resent as the window allows. (A loss whose later packets'
// acknowledgements were all lost too passes for late: the window then
// keeps its size, and the selective acks repair the loss.)
//
// Congestion response. The window starts at iw packets, doubles each
// round trip below ssthresh (slow start) and grows by one packet a round
// trip above it. It is cut at most once per loss episode (until what was
// outstanding at the loss is acknowledged), by how much depending on the
// round trip, not on the loss: while the queue's round trip (below) is
// within twice the minimum plus a quarter of minrto (5 ms by default), or
// the window is under 2 × ackevery packets, the loss is taken for random
// loss and costs an eighth of the window, never below iw (counted
// "random-loss"); only with a longer round trip (queues building) or
// before any sample does a loss halve the window, to half of what is in
// flight. On a LAN, where a switch's queue usually overflows before it
// adds 5 ms (600 KB at 1 Gb/s), a loss therefore costs an eighth, seldom
// half: this is not TCP's AIMD, and a sender sharing a congested LAN link
// backs off less than TCP would. A retransmission timeout cuts the window
// to one packet (given back if the timeout proves spurious, above).
// Congestion anticipation (XUDP), without any loss, holds the window while
// the queue's round trip exceeds twice the minimum plus minrto/4, and cuts
// it by an eighth, once per round trip, while it exceeds four times the
// minimum plus minrto/2 (counted "anticipated"). The queue's round trip is
// the smallest sample of the last round (about one smoothed round trip of
// samples) or of the current one, not the smoothed round trip: a queue
// raises every sample, while a stall raises only those of what was in
// flight when it began, so a burst of late acknowledgements is not taken
// for a queue. Below two acknowledgements' worth of window (2 × ackevery
// packets) there is no anticipation: the receiver then acknowledges on its
// timer, and the samples measure its ack delay, not queues. The
// receiver's advertised window bounds what is in flight.
//
// # Many receivers: NAKs (feedback=nak)
//
// Receivers report gaps after a random delay up to nakdelay; on multicast
// they hear each other's NAKs and one NAK stands for all (the others
// postpone theirs, once: again only after a repair has filled their lowest
// gap, or their own NAK has gone out). The sender repairs a packet at most
// once per holdoff, and within the limits of "Hostile feedback" below.
// Receivers report their status (how far they have everything) with their
// first packet, then within a status interval of each change, at most once
// an interval, and four times per rcvtimeout otherwise; the sender frees
// what every live receiver has and forgets a receiver silent for
// rcvtimeout. Statuses fall on the clock's grid of status intervals, at
// an offset of the member's own (its id modulo the interval, so a group's
// members do not all report at once), so a channel bundles a member's
// statuses on all its flows into one datagram,
// and other receivers skip them unread (stack.FlagForSender; NAKs they
// read). When idle, the sender sends heartbeats (doubling from
// heartbeat to one second) with its next number and its floor, so tail
// losses are seen and a receiver learns what is gone; a stream that sends
// at a steady pace (a pointer updated 30 times a second) is its own
// heartbeat, and its first heartbeat waits one and a half of its gaps. A receiver whose gap
// the sender no longer holds — it fell behind the buffer, or it repeated
// its NAK naklimit times over at least rcvtimeout (a slow or paused
// sender is not a gone one) — skips it and reports an "unrecoverable-gap"
// event instead of waiting forever. A sender whose buffer is full waits
// for its receivers; it evicts old packets only when no receiver has been
// heard from for rcvtimeout.
//
// What the receivers have not acknowledged yet, and who they are, is at
// hand for whoever closes the sender (Unacknowledged, stack.Acknowledger:
// a channel's Close and Flush wait on it), and a receiver about to close
// sends its pending acknowledgement or status at once (FlushFeedback).
//
// feedback=auto (the default) uses ack for point-to-point flows (a stream
// addressed to one member, or a unicast channel to one peer) and nak
// otherwise, and nak for point-to-point flows too over a transport that
// controls flow and congestion itself (stack.Flow.CarrierControlled: TCP
// to a broker), where the receiver's status every Size/4 packets, or
// status interval, frees the bounded window; the receiver follows
// whatever mode the sender's packets say.
//
// # Hostile feedback
//
// Feedback is not authenticated by the window (authenticate below it), so
// whatever a feedback packet says — forged, replayed, from invented
// members — its cost to the sender is bounded, and NAKs cannot make it
// send much more than its own stream.
//
// One NAK. Its ranges (at most 64) count only within what the sender
// holds: numbers it never sent are ignored and the NAK counted "bad-nak";
// numbers below its floor get a SYNC saying they are gone (one per holdoff
// whoever asks). In all its ranges, overlapping or not, a NAK may ask for
// at most a quarter of the window and never more than 1024 numbers (16 per
// range on average) — 256 with the default size; the rest is ignored and
// counted "nak-excess" (numbers). A receiver's NAK lists its lowest gaps
// first, so it gets those and asks again for the others.
//
// Repairs. Each answer to a NAK — a repair, the SKIP for numbers the
// sender abandoned (at most one SKIP message of ranges per NAK, drawn
// once), a SYNC — takes a token from two buckets: the NAKing receiver's
// (keyed by its member id, Meta.Peer) and the sender's, for all receivers.
// Tokens are earned from the stream's own sending: the sender's bucket
// gets Config.RepairRatio tokens (default 4) for each new packet sent and
// Config.RepairFloor (default 128) per second however slow the stream,
// and holds at most RepairRatio windows' worth (4096 packets by default);
// a receiver's gets a quarter of each (1 per new packet, 32 per second, at
// most 1024 by default). Both start full. Once either is empty the rest of
// the NAK is refused and its numbers counted "repair-limited-peer" or
// "repair-limited"; repairs suppressed by the holdoff are counted
// "repair-suppressed". Only the clock readings the layer is given drive
// the buckets. With the defaults (window 1024, holdoff 2 ms) and an idle
// stream, a forged NAK for the whole retained buffer gets at most 256
// repairs, and the same NAK every 2 ms for a second at most 1056 from one
// member id and 4224 from invented ones (then 32 or 128 per second). A
// refused receiver asks again (see naklimit), and its lowest gap, asked
// first, is answered as soon as tokens come; but while forged NAKs drain
// the sender's bucket, real receivers share what trickles in: a whole lost
// window then takes about Size/RepairFloor seconds (8 s by default) to
// repair, and a gap left unanswered for naklimit NAKs and rcvtimeout is
// given up.
//
// Receivers. A nak-mode sender tracks at most Config.MaxReceivers (default
// 4096) receivers — those that sent a STATUS or a NAK — each charged 160
// bytes (on 64-bit platforms: its record, heap slot and map entry) to the
// memory budget. A new one beyond the cap, or refused by the budget, makes
// it forget the least recently heard, counted "receiver-evicted" (or, when
// the budget refuses and nobody is left to forget, the feedback is ignored
// and counted "receiver-refused"). A receiver silent for rcvtimeout is
// forgotten ("receiver-timeout"). Keeping them costs O(log receivers) per
// feedback packet: they are ordered by when last heard and by how far they
// have everything.
//
// Acknowledgements. An ACK's selective ranges count only up to the number
// of packets outstanding in all (the rest is ignored and counted
// "ack-excess"), loss detection runs only when an ACK acknowledges
// something new, and abandoned numbers are announced again at most once
// per round trip (or holdoff, before there is one). Feedback the sender has
// no use for — an ACK in nak mode or best effort, a STATUS or NAK in ack
// mode, a NAK in best effort (where a STATUS only notes who listens), and
// on a receiver's stack of a reliable window that has not sent, any — is
// counted "stray-feedback" and ignored.
//
// Memory. What the window allocates is reserved from the stack's memory
// budget (stack.Binding.Memory): the receive bitmap (Size/8 bytes) on
// every stack, at Bind, and on a sender's stack of a reliable window the
// retransmission slots (88 bytes a packet on 64-bit platforms), a ring
// that starts at 16 slots, doubles while more packets are outstanding, up
// to Size (88 KiB for the default 1024, 5.5 MiB for the largest window),
// and halves again at a moment when nothing is outstanding if it is four
// times what was outstanding at most since the last such moment. An idle
// stream's window so costs about 1.5 KiB. A receiver's stack allocates
// its slots only if it ever sends. When the budget refuses the first
// slots or the bitmap, Bind fails with an error wrapping ErrMemory
// (stack.New then closes the layers: nothing is held), so a receiver
// refuses to build the stack a hostile announcement asked for rather than
// exceed its budget; when it refuses a larger ring, the window holds at
// the ring it has until packets are acknowledged (counted "no-memory").
// Close gives everything back.
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
// The layer provides stack.CapSequenced (Meta.Seq is set on the way up,
// and on the way down, with stack.FlagRetransmit on repeats, for the
// layers below: fec groups packets by number) and, unless best effort,
// stack.CapReliable; it implements stack.Roomer so a channel's Push
// waits (or reports backpressure) while the queue is full, and emits a
// "room" event when it drains. NakSpans and AppendNak let a layer below
// read a NAK and pass up what it did not answer itself (fec answers with
// parity). It passes packets up as
// they arrive, with skip markers (stack.FlagSkip) for numbers that will
// never come; an order layer above puts them in sequence. [Layer.State]
// exposes the window, the congestion state and the round-trip estimate.
//
// # Limitations
//
// Sequence numbers are 32 bits with serial arithmetic; a window may not
// exceed 65536 packets. Multicast flow control follows the slowest live
// receiver; there is no multicast congestion control beyond that (use the
// ratelimit layer). Forged packets can derail a window — a STATUS or NAK
// from an invented member holds the sender's buffer for rcvtimeout, a
// forged ACK frees what never arrived, forged NAKs spend the repair budget
// — though never beyond the bounds above: authenticate below it (encrypt).
// The packets a sender retains (up to Size of them) are not charged to the
// memory budget; Queue and Size bound them.
package window
