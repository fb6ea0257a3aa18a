// Package monitor is the measuring layer: per flow, the rate over a
// sliding window of the last k packets, loss, round-trip time and jitter,
// exposed as counters in the stack's (and the channel's) Stats, through a
// Go API for adaptation policies, and as events.
//
// Importing the package registers the layer as "monitor". It belongs at
// the wire side of a stack, below any window, where it measures what the
// network does:
//
//	frag/monitor
//	frag/order/window(ttl=200ms)/monitor
//	frag/order/window/monitor(k=128,report=500ms)/encrypt
//
// # Parameters
//
//	name       kind      default  meaning
//	k          int       64       packets the rate and recent loss are measured over (2..4096)
//	report     duration  1s       period of receiver reports and events; 0s: none
//	reorder    int       3        a gap counts as lost once this many later packets arrived (0..1024)
//	receivers  int       256      receivers a sender keeps figures for (1..65536)
//
// [Config] holds the same settings for code that builds layers with [New].
//
// # How it measures
//
// In a sender's stack the layer stamps each data packet going down with a
// sequence number of its own and the send time on the stack's clock. In a
// receiver's stack it strips the stamp and measures:
//
//   - Rate and packet rate over the last k packets: the payload bytes (and
//     the number) of all of them but the oldest, over the time from the
//     oldest to the newest arrival. A silence longer than the mean gap
//     counts in (less one gap), so a stopped flow's rate decays to zero.
//     The sender measures what it sends the same way.
//   - Loss, from gaps in the sequence numbers, tolerant of reordering: a
//     missing number counts as lost once reorder later numbers have
//     arrived; if it arrives after all (within the last 1024 or so), it is
//     counted back, as late. Duplicates are counted, not measured twice.
//     Lost and Expected are cumulative from the first packet received (a
//     late joiner starts there); Loss is the fraction lost among the last
//     k settled numbers. A number more than 32768 ahead, or too far behind
//     to tell, is believed only when the next packet follows it (RFC 3550's
//     probation); the tracker then starts over from it.
//   - Interarrival jitter as in RFC 3550 §6.4.1: J += (|D| − J)/16, where
//     D is the change in relative transit time (arrival on the receiver's
//     clock less the stamped send time) between consecutive arrivals. The
//     clocks need not agree: only differences of transit times count.
//
// Every report period while data arrives, the receiver sends a report back
// down its stack as a control packet (stack.FlagControl): its highest
// number, expected and lost counts, recent loss, jitter, rate, and the send
// time of the packet that arrived last with how long it held it. The
// sender computes the round-trip time as RTCP does with LSR and DLSR: RTT
// = now − echoed send time − hold, smoothed by 1/8, per receiver. On a
// multicast flow every receiver reports; the sender keeps figures per
// receiver, keyed by stack.Meta.Peer, for at most receivers of them (the
// one heard from least recently is forgotten first, and any silent for ten
// report periods, at least ten seconds), and shows the worst and the
// median. Reports are marked stack.FlagForSender: a channel sends them so
// that other receivers on a multicast group skip them unread, and a
// receiver ignores those of others it overhears where they do reach it.
//
// Reporting stops when a flow goes idle (a period without data) and
// resumes with it; so do the sender's events. Above a sequencing layer (a
// window), receivers send no reports, which the window would take for its
// own data: they still measure, but the sender learns no RTT and no
// receiver figures.
//
// # What it exposes
//
// Counters (stack.Counted; in Channel.Stats per stream and flow; zero
// ones left out): "packets", "bytes", "rate-Bps", "pps", "loss-ppm",
// "lost", "jitter-us", "reports" and "overheard" (others' reports heard);
// a sender adds "send-Bps", "send-pps", "rtt-us", "receivers" and the
// medians "rtt-median-us", "loss-median-ppm", "jitter-median-us", and a
// receiver "expected", "late", "duplicates", "stale" (from before its first
// packet), "out-of-range" and "restarts". At a sender, "rate-Bps", "pps",
// "loss-ppm", "lost", "jitter-us" and "rtt-us" are the worst receiver's
// (the slowest rate, the most loss, jitter and RTT).
//
// [Layer.Report] returns the same as a [Report], [Layer.Receivers] the
// figures of each receiver, and [Layer.Measure] the stack.Measures an
// adaptation policy reads through stack.Stack.Measure (the channel's
// WithAdapter); all may be called from any goroutine. Each report period
// the layer emits an event of kind [EventKind], "monitor-report", with a
// Detail such as
//
//	rate=125000B/s pps=100.0 loss=1.56% jitter=1.2ms rtt=14ms receivers=3 sent=125000B/s
//	rate=125000B/s pps=100.0 loss=1.56% jitter=1.2ms lost=4/97
//
// (a sender's, then a receiver's). Malformed packets are dropped and
// counted as drops "malformed".
//
// # Wire format
//
// Every packet the layer sends down starts with a kind byte:
//
//	DATA 0x4D 'M'  a data packet of a sender's stack:
//	    byte 0        0x4D
//	    uvarint       sequence number, from 0 (1 to 10 bytes)
//	    bytes +0..3   send time: the low 32 bits of the Unix time in
//	                  microseconds, big-endian (wraps every 71.6 minutes;
//	                  differences are read as signed 32-bit numbers)
//	    rest          the payload
//
//	PASS 0x50 'P'  anything else, unstamped: control packets of other
//	    layers (stack.FlagControl), skip markers, and whatever a
//	    receiver's stack sends down:
//	    byte 0        0x50
//	    rest          the payload
//
//	REPORT 0x52 'R'  a receiver report (a control packet):
//	    byte 0        0x52
//	    uvarint       highest sequence number received
//	    uvarint       numbers settled (received or lost) since the first received
//	    uvarint       of those, lost (late arrivals counted back)
//	    uvarint       recent loss: lost among the last k settled, parts per million
//	    uvarint       jitter, microseconds
//	    uvarint       rate received, bytes per second
//	    uvarint       packet rate received, thousandths of a packet per second
//	    4 bytes       the echoed send time of the packet that arrived last
//	    uvarint       hold: microseconds between its arrival and this report
//	    (nothing after)
//
// The layer's Overhead is the longest DATA header, 15 bytes (usually 6 to
// 9). A report is at most 85 bytes; a stack whose room under the MTU is
// smaller is refused when built. Skip markers coming up (made by a layer
// below, not from the wire) pass untouched.
//
// # Limitations
//
// Measures cover what crosses the layer: below a window, retransmissions
// are packets like any other (loss is the path's, before repair). The
// receiver's report is not authenticated beyond what the layers below
// provide; a forged one can skew the sender's figures for that receiver,
// not its own state.
package monitor
