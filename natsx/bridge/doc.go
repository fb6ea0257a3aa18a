// Package bridge joins sites' channels through NATS: a Bridge joins a
// site's channel (a multicast group, an in-process hub) and a NATS
// subject, and relays datagrams both ways, so members at two or more LANs
// share one channel across the WAN. cmd/rwbridge is the program.
//
//	site A: rwbridge -lan 'lesson://239.1.2.3:7400?channel=lesson' -leaf-listen 0.0.0.0:7422
//	site B: rwbridge -lan 'lesson://239.1.2.3:7400?channel=lesson' -leaf-remote nats-leaf://site-a:7422
//
// With no NATS server named, rwbridge starts one ([StartServer]); the
// second site's server connects to the first's as a leaf node, so the
// subject reaches both.
//
// # What a bridge does
//
// It relays datagrams, not postings (../shared/DECISIONS.md §2): the
// members' stacks run end to end, so a sender's window spans both sites
// and the far receivers' acknowledgements and NAKs come back through the
// bridges. A bridge holds no key and reads only what a relay may: a wire
// v2 datagram's header (its sending member's id) and the relay metadata
// of its data frames (droppable, time left at send), with [Inspect].
// Keyed channels cross encrypted and authenticated end to end; a bridge
// could not alter what it forwards without the members refusing it.
//
//   - No loops, no duplicates. A bridge remembers the members it hears on
//     each side (by sender id, bounded, forgotten after 30 s of silence):
//     a datagram from a member of the other side is not sent back (its
//     own sends, looped back by the LAN, are the common case; counted
//     "loop"). Each datagram crosses once per bridge.
//   - Expired datagrams are dropped before they cross: a droppable
//     datagram (semi-reliable with a TTL, best effort) whose time left at
//     send its residence has reached is dropped ("expired"), never
//     earlier. Residence counts the time held in the sending bridge and
//     the time between the bridges beyond the fastest seen (bridges stamp
//     their clock on what they send; see the wire notes in heartbeat.go),
//     so what a stalled leaf node connection delivers seconds late is
//     dropped at the far bridge instead of entering its site. Receivers'
//     own deadline check stays the last guard.
//   - Outages. Bridges heartbeat on the WAN subject (every 100 ms by
//     default). A bridge that has heard a far bridge and then hears
//     nothing from it for Config.Silence (500 ms) holds what it would
//     send across, in order, in a queue bounded in bytes (16 MiB;
//     beyond, "hold-full"), dropping what expires meanwhile, and releases
//     the rest when heartbeats return. Core NATS gives no such signal: it
//     drops silently when a leaf node link is down while both servers
//     run. A far bridge silent for Config.Forget (30 s) is forgotten, and
//     what was held for it is released; one that closes says goodbye.
//   - Reliable streams are not thinned: their datagrams are held, not
//     dropped, during an outage; what the hold queue cannot take is
//     repaired end to end by the window, as long as the receivers are not
//     forgotten meanwhile. That is the WAN profile's job ([WANProfile]: a
//     window receiver timeout of 30 s, an announce interval of 3 s so
//     members are forgotten after 15 s): with the defaults (2 s and 5 s)
//     an outage longer than 2 s makes senders forget far receivers.
//
// # The WAN subject
//
// Bridges send on the subject each datagram in an envelope (their id,
// clock and the datagram's residence) and their heartbeats; both are
// described in heartbeat.go. The subject is the bridges': a channel
// member that joined it directly (app+nats://) would drop both as
// malformed. Malformed input on either side is dropped and counted
// ("malformed", "heartbeat"), never forwarded.
//
// Not done: JetStream history for late joiners at the far site; thinning
// by media class (audio before video) when the hold queue fills; more than
// one bridge per site and subject (untested).
package bridge
