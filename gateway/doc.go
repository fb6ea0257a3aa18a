// Package gateway relays a multicast channel to unicast UDP clients that
// cannot join the group, and adapts each client's stream to what it can
// take (issue 24; the IRI-h seed's gateway; DECISIONS §2).
//
//	g, err := gateway.New(gateway.Config{
//		URL:    "classroom://239.7.7.7:7400?iface=eth0&channel=lesson",
//		Listen: ":7500",
//	})
//	defer g.Close()
//
// A client opens the same channel with a unicast URL naming the gateway
// and uses the same API as any member:
//
//	ch, err := channel.Open(ctx, "classroom://gw.example.net:7500?channel=lesson")
//
// On keyed or signed channels every member names the same channel id
// (?channel=) so that they share one identity; a keyed unicast channel
// must name one anyway (DECISIONS §3).
//
// # Relaying
//
// The gateway relays datagrams, not postings: it neither decodes nor
// re-encodes, so stacks stay end to end (a sender's window spans the
// gateway; acknowledgements and NAKs travel back through it) and keyed
// channels stay protected end to end: the gateway holds no key and
// changes no keyed datagram. What it reads is the cleartext a channel
// datagram carries for relays (channel/wire.go): the sender, the frames'
// types, targets and streams, stream announcements, and each data frame's
// relay metadata. A datagram from the group goes to every client (or,
// when every frame in it is addressed to members, to the clients those
// members send from); a datagram from a client goes to the group and to
// every other client (n−1), or only to its targets. A client's own
// datagrams, heard back from the group, are dropped ("looped"). Sends to
// clients leave in batches across clients (sendmmsg on Linux).
//
// Client addresses are validated as the channel validates its peers'
// (RFC 9000 §8.1): a new address gets a CHALLENGE (a gateway control
// datagram, internal/gwire; again every 100 ms while it has not
// answered) and, until it echoes the cookie, at most 3× the bytes it sent
// ("unvalidated"), challenges included. Clients are forgotten after
// ClientTimeout of silence; at most MaxClients are served.
//
// # Adaptation
//
// Each client has a [Shaper] (its queues and token bucket) and an
// [Adapter] (its rate). Audio leaves first, then what is not droppable —
// reliable data, window control, announcements, hellos — which is queued
// (bounded) and never thinned, then other droppable data and video.
// Droppable datagrams (relay metadata: best effort, semi-reliable with a
// time to live, superseded) are thinned when the client's rate cannot
// carry them in time: expired ones (in the gateway for their time left,
// never earlier) and superseded ones (a newer posting of the same key)
// first, then whole video frames — a frame is admitted or refused at its
// first datagram, begun only if all of it can leave in its time left,
// and the rest of a frame begun goes before all but audio, so it is
// forwarded whole or not at all unless the rate falls while it goes —
// then other droppable data beyond its delay budget; audio only when
// expired. A stream's control datagrams queue behind its data, so nothing
// overtakes it. The rate, the bucket and the queues count every datagram
// with ShaperConfig.Overhead (42 B of UDP, IPv4 and Ethernet headers; 62
// for IPv6) besides its payload, as the client's link does: rates are
// bytes on the link.
//
// The rate follows the client's receiver reports: the monitor layer's, in
// the feedback the client sends back through the gateway, readable when
// monitor is the stream's wire-side layer (its announced QoS string says
// so) and the channel is not keyed (keyed stacks end in encrypt). The
// gateway judges them against what it sent itself: a report's packets
// and losses are counted without what the gateway thinned (a thinned
// flow's loss is judged among what was sent) and without what never
// reached the gateway (gaps in the group flow's monitor sequence as the
// gateway received it); and its timing (the echoed send stamp of the
// packet that arrived last, and how long the client held it) gives the
// time from the gateway's send of that packet to the report's arrival,
// whose excess over the least seen is the queueing delay on the client's
// path (the least is learned from a client's first packets, before any
// limit: a limit set once the path's queue has filled would otherwise
// take a standing queue for none).
//
// What a client's path delivers is measured apart from the reports: a
// channel whose peer has sent it a gateway control datagram (a CHALLENGE,
// HEARTBEAT or THINNED) sends that peer a RECEIPT every 100 ms while it
// hears from it within the channel's gateway timeout (the bytes and
// datagrams it has received in all, and its clock; internal/gwire),
// and two RECEIPTs give what arrived between them by the client's own
// clock, of every stream, whether the client has heard of it yet or not
// (ClientInfo.Delivered). That rate sets a client's first limit, and caps
// the floor below (a path found full carries no more). Without RECEIPTs
// (a client of another implementation), the first limit comes from the
// received rates the reports give: measured over the monitor's last
// packets, under-reading a thinned flow, and missing the flows a client
// has not heard of yet, which are reckoned at the share the reporting
// flows got; from a full path they read up to 2.6 times its rate.
//
// The Adapter (see its documentation) lowers the rate when the loss
// reaches 2 % (and 2 packets): from no limit to a little under what got
// through; from a limit to Backoff times the rate less the loss, at most
// halving it unless a tenth or more is lost (a limited client gets whole
// frames in bursts at the rate, whatever the average), and never below
// 1.25 times what is served before video (audio and what is never
// thinned) unless that is more than half the rate or Backoff times what
// the path was measured to deliver. A limited client's
// loss under a tenth counts only if a report of the period saw a queue
// (delay of DelayLow, 20 ms, or more) or the period before lost as much:
// a tail-drop queue is full before it drops, and loss without one is the
// reports lagging a decrease, or not of the rate (it lowers nothing, but
// the rate does not rise on it either). A queueing delay of
// DelayHigh (60 ms) for a whole period (the least of its reports) lowers
// the rate by a tenth before any loss, once per growing queue. The
// judgement after a decrease is skipped, the rate holds, then probes
// upwards in small steps (gentler from a little under the rate at which
// the path was last found full to half as much again over it, and just
// past it each step judged for two periods) while loss and delay stay low,
// goes back after a probe that met loss or delay and waits twice as long
// before the next, so quality does not flap. A probe also fails when two
// reports of its period show a queue of 40 ms or more, or one of
// DelayHigh, though the least stays low: frames leave in bursts, the
// path's queue drains between them, and its peaks grow towards overflow
// (where a tail-drop queue takes audio with the video) before its least
// does. A failed probe goes back to the last rate that passed with no
// such peak when that is lower than the rate before it (by at most twice
// Step): the queue a probe builds may show only once the next has begun.
// A report that echoes the same packet as the flow's last (nothing newer
// reached the client) adds no delay sample.
// Without readable reports the rate stays at AdaptConfig.Max (none by
// default) and only the bounds and time left thin.
//
// Thinning never causes repairs: the gateway absorbs a client's NAKs on a
// stream it thinned while the thinned data is within its time left (only
// the NAKs where the feedback is readable; the whole feedback frame where
// it is not, and on keyed channels only when the datagram holds nothing
// else), and before the next datagram of that stream it sends the client
// a THINNED notice, so the client's window gives the gap up at once
// (stack.FlagThinned) instead of holding what follows until its deadline.
// When it lowers a client's rate for loss it also absorbs the client's
// NAKs on its streams of droppable data for two adaptation periods plus
// Absorb and MaxDelay: that loss is the gateway's own overshoot on the
// client's path, to be thinned, not repaired for every client.
//
// The clients' socket is read with recvmmsg where the platform has it (a
// batch relayed under one lock, one pump of the queues after it), and
// both sockets ask for Config.ReadBuffer (16 MiB) of receive buffer,
// beyond net.core.rmem_max where the process may; Stats.ReadBuffer is
// what the kernel gave the clients' socket.
//
// # Choosing a gateway, failover, directory (issue 25)
//
// A member that may or may not receive the group opens the group's URL
// naming its gateways (package channel, "Gateways"):
//
//	ch, err := channel.Open(ctx, "classroom://239.7.7.7:7400?iface=eth0&channel=lesson&gateway=gw1.example.net:7500,gw2.example.net:7500")
//
// It sends each gateway a PROBE (internal/gwire). The gateway answers
// with a PROBED naming its group (the round trip is the RTT test) and, at
// most Config.CapTests times a second, sends a CAPTEST with the probe's
// nonce to the group: the capability test. A member that hears its
// CAPTEST on the group is told so, and joins the group directly; the
// gateway never serves it. Otherwise the gateway with the smallest round
// trip serves it and the others, by round trip, are its standbys. The
// answer is never larger than the probe, so a probe from a forged address
// makes the gateway no amplifier.
//
// Every Config.Heartbeat (500 ms by default) the gateway sends each
// validated client a HEARTBEAT. A client that hears nothing from its
// gateway — no datagram of the channel, no heartbeat — for its timeout
// (channel.WithGatewayTimeout, 1.5 s by default) moves to the next
// gateway: it says hello there, is validated, and is served. Nothing
// about the channel changes: its identity is its channel id, streams and
// windows are end to end, so what was sent during the outage is repaired
// through the new gateway (reliable streams: none lost, none twice) and
// live media resume as soon as the new gateway forwards them. Keep the
// timeout under the senders' window receiver timeout (2 s) and under five
// announce intervals, or senders give the client up meanwhile.
//
// A gateway registers in its Config.Directory (gateways of one process
// share one) and answers a DIRQUERY with the channels listed there, in
// pages no larger than the query; [QueryDirectory] asks, and
// "rwgateway -dir HOST:PORT" prints them.
//
// # Not (yet) here
//
// Relaying between gateways is not built; on keyed channels the
// adaptation has no reports to read (no loss, no delay: the rate stays
// unlimited unless AdaptConfig.Max is set). Heartbeats and probes are not
// authenticated (the gateway holds no key): whoever can send from a
// gateway's address can keep its clients on it, and whoever can send to
// the group can pass a member's capability test. The WebSocket side is
// package gateway/ws, served by cmd/rwgateway -ws.
package gateway
