// Package channel is the API applications import: URL-named channels that
// carry postings over IP multicast, UDP unicast, an in-process hub or a
// recording file, each stream through a protocol stack built from a QoS
// string.
//
//	ch, err := channel.Open(ctx, "classroom://239.7.7.7:7400?iface=eth0&qos=frag")
//	defer ch.Close()
//
//	err = ch.Push(ctx, posting.New(Chat{From: "ana", Text: "hi"}, posting.WithStream("chat")))
//
//	sub, err := ch.Subscribe(channel.Media(posting.Text))
//	for p := range sub.Postings() { msg := p.Body.(Chat) ... }
//
//	ch.Serve(func(ctx context.Context, req *posting.Posting) (*posting.Posting, error) { ... })
//	reply, err := ch.Pull(ctx, posting.New(Query{Since: 42}))
//
// # URLs
//
// The scheme is the application's namespace; the host picks the transport
// (see [Address]): a multicast group joins the group (several processes on
// one host share it), a unicast address talks to that peer, an empty host
// listens (scheme://:7400), mem://name is an in-process hub, and
// file:///path records what is pushed and replays it to subscribers.
// Query parameters — qos, iface, ttl, loop, mtu, listen, replay, channel,
// source, gateway — are checked strictly: an unknown parameter or a bad
// value is an error naming it. On multicast the library follows the OS
// default interface unless iface= (or [WithInterface]) names one;
// source=ADDR joins source-specifically, so only that sender's datagrams
// arrive.
//
// # Gateways
//
// A multicast URL may name the gateways (package gateway) that relay its
// group to members that cannot receive it:
//
//	classroom://239.7.7.7:7400?channel=lesson&gateway=gw1.example.net:7500,gw2.example.net:7500
//
// (at most 8; gateway= needs channel=, so that the channel's identity is
// the same on the group and through any gateway). Open then probes every
// gateway (for at most [WithGatewayProbe], 500 ms by default): when the
// capability test passes — this member hears, on the group, the test
// datagram a gateway sends there for its probe — it joins the group
// directly, as without gateway=; otherwise the gateway with the smallest
// round trip serves it (as a unicast channel to that gateway), and the
// others, by round trip, are its standbys. While served it counts
// everything from its gateway, and the gateway's heartbeats, as signs of
// life; after [WithGatewayTimeout] (1.5 s by default) of silence it moves
// to the next gateway (round the list) and says hello there, reporting a
// "gateway-move" event. Streams, keys and identity are unchanged by a
// move: senders' windows span it, so reliable postings sent meanwhile are
// repaired through the new gateway, none lost or delivered twice.
// [Channel.Gateway] tells how the group is reached. [WithoutDirectJoin]
// skips the capability test. A channel served by a gateway (any unicast
// channel whose peer has sent it a gateway's challenge, heartbeat or
// thinning notice) sends that peer a small receipt every 100 ms: what it
// has received in all, from which the gateway learns what the client's
// path delivers and sets its rate. Nothing in probes, heartbeats or
// receipts is authenticated (see package gateway).
//
// # Transports
//
// What carries the datagrams is a transport from package transport's
// registry: "multicast", "udp" and "mem" are registered by this package,
// and a URL names any other with a suffix on its scheme
// (classroom+nats://hub:4222/lesson, once a package registering "nats" is
// imported). [Address.Form] is the URL's shape and [Address.Transport] the
// transport's name. On Linux the UDP transports use a fast socket path (GSO,
// GRO, sendmmsg, recvmmsg); elsewhere, or with the environment variable
// RWANDA_IO=portable, a portable one on golang.org/x/net.
//
// # MTU
//
// A channel cuts postings into datagrams of at most its MTU ([Channel.MTU],
// in bytes of UDP payload). Without mtu= in the URL a UDP channel takes it
// from the path when it opens: the MTU of the interface named by iface=
// (multicast), else of the route to the group or to the URL's peer, less
// the IP and UDP headers, capped at [DefaultMTU4] (1472; [DefaultMTU6],
// 1452, for IPv6), so that loopback and jumbo-frame paths still see
// Ethernet-sized datagrams; a listening side, which has no peer yet,
// starts at the cap. mtu= sets it as given, higher or lower (mtu=9000 on a
// jumbo-frame LAN, mtu=65000 on loopback). On Linux datagrams leave
// without fragmentation allowed, so a datagram larger than the path fails
// to send (EMSGSIZE) instead of leaving as IP fragments or vanishing: the
// channel then lowers its MTU to the path's (as the kernel knows it, path
// MTU discovery included), cuts what is pushed from then on to it, and
// sends what was cut before — the failed datagrams at once, a reliable
// stream's retransmissions later, under their sequence numbers — with IP
// fragmentation allowed. The failure is logged at Warn (per kind, at most
// every 10 s after the first), a lowered MTU is a "path-mtu" event
// ([WithEvents], Stats.Events), and a send that fails otherwise counts as
// "send-error" in Stats.Drops and is logged at Warn the same way.
//
// # Streams and stacks
//
// Every posting belongs to a stream (posting.WithStream; "" is the default
// stream). A sender runs one stack per outgoing stream, built from the
// channel's QoS string ([WithQoS], qos=, [WithStreamQoS]) by the layer
// registry. It announces each stream — its id, name and canonical QoS
// string — in-band before the first data and again every announce
// interval, and on request, so late joiners can decode: data of a stream
// not yet announced is held (bounded) and the receiver asks its sender
// to announce all its streams, once a quarter interval at most; on
// multicast one announcement answers every request that crossed it. A
// receiver builds the mirror stack per (remote sender, stream) from the
// announcement, checked against its receive [Policy]. A stream idle for 30 announce
// intervals (and, to everyone, with nothing unacknowledged) is closed;
// receivers forget a stream and its flow once they have heard neither its
// announcement nor its data for 3 intervals; a push on its name opens a
// new stream (a new id, its sequence numbers from 1), announced again.
// Member ids are random per channel
// instance, or, with [WithIdentity], derived from the identity's public
// key and a salt random per instance (keys.MemberID), so that signed
// streams bind them.
//
// # The wire
//
// A datagram holds a small header (magic, wire version 2, sender id) and
// frames, each a type, a length and a body: stream data, feedback for a
// sender's stream (acknowledgements), stream announcements, queries and
// hellos; the layout is documented byte by byte in wire.go. A frame of a
// type this build does not know is skipped and counted ("unknown-frame"),
// so later versions can add frames; a datagram of another wire version is
// refused, counted ("version-1") and logged once. Recordings (file://)
// made by version 1 still replay.
//
// Every data frame carries relay metadata beside its packet: the media
// class, whether a relay may drop it (best effort, semi-reliable with a
// time to live), the time left at send in milliseconds, the posting's
// latest-wins key and its frame id and end marker. It is readable without
// a key and changeable by nobody (the datagram's tag and the sign layer
// cover it), and it is not encrypted: an observer learns those fields of
// every packet, though not the payload. Droppable packets share a datagram
// only with droppable packets of the same stream, frame and key.
//
// Small postings share datagrams; runs of full datagrams leave in one UDP
// GSO call where the kernel supports it, and arrive through GRO and
// recvmmsg. When the send path is idle, Push writes on the caller's
// goroutine with no hand-off; a caller pushing in a loop has its postings
// bundled and written by the channel's writer goroutine.
//
// A caller that pushes faster than its receivers acknowledge also shares
// stack packets: while a stream's stack holds packets it has not sent (a
// window waiting for acknowledgements) or, in ack mode, a sixteenth of
// its window or more is unacknowledged ([stack.Stack.Backlogged]), plain
// reliable postings (no time to live, latest-wins key or frame) are
// gathered into one stack packet, a batch, up to what one datagram
// carries without fragmenting: one window slot, one stack call and one
// acknowledgement's worth of work per datagram-full instead of per
// posting. A batch goes down when it is full, when the backlog has
// drained, before any other posting of its stream, on Flush and Close,
// and at the latest 1 ms (on the channel's clock) after its first posting
// joined it; a posting pushed with no backlog goes alone, at once, as
// before. A batch's payload is a marker byte (0xBA, never a posting's
// wire version) and length-prefixed posting encodings (the layout is in
// batch.go); the receiving channel splits it after its stack and hands
// each posting up on its own, in order, with its own Seq and counters. A
// malformed batch is dropped whole and counted ("bad-batch"); an entry
// that does not decode is dropped alone ("bad-posting"). Counts of packets
// (an [UndeliveredError]'s, a stack's Stats) count a batch once. Malformed,
// truncated and foreign datagrams are dropped and counted in [Stats], never
// a panic.
//
// # Delivery
//
// [Channel.Subscribe] gives a bounded queue with an explicit overflow
// policy (drop oldest, drop newest, or fail), counted;
// [Channel.SubscribeFunc] calls a function on the receiving goroutine, the
// lowest-latency path. A slow queued subscriber never stalls the others or
// the receiver. Postings delivered to several subscribers are shared: treat
// them as read-only.
//
// Receiving without allocating: a function subscribed with [NoRetain]
// promises not to keep the posting, its Body or anything aliasing them
// after it returns. While every subscription of the channel makes that
// promise, each flow decodes into one posting it reuses and a []byte body
// aliases the received datagram ([posting.Borrower]), so receiving
// allocates nothing in the steady state; any other subscription gets a
// copy of its own. Pushing a []byte posting allocates nothing beyond the
// Posting the caller made (nothing at all when the caller reuses one),
// and neither does carrying it through a stack, acknowledgements
// included. TestPushReceiveAllocs holds both with testing.AllocsPerRun:
// sender and receiver together, best effort and reliable, unicast and
// multicast-like.
//
// On a keyed channel a receiver delivers nothing a member sent before
// that member echoed the receiver's nonce (see Keyed channels): a
// restarted or late receiver gets the backlog a reliable sender still
// holds as it is retransmitted after the echo, never the original
// transmissions.
//
// [Channel.Pull] is a blocking request to a member that called
// [Channel.Serve]; [Channel.PullName] and [Channel.ServeName] do the same
// for a named service (a member serves any number of names, one handler
// each). The members that serve a name form a queue group, as a NATS queue
// group's subscribers do: each request goes to one of them, round robin
// per name in member-id order, never to all; [To] names the member to ask.
// A request names its service in a header ([ServiceHeader]); which member
// serves which name is not announced (HELLO says only that a member
// serves), so a member asked for a name it does not serve says so, and the
// client passes it over for twice the announce interval and asks the next.
//
// A request carries its client's deadline (the posting's ReplyWithin), and
// the handler's context gets it, corrected for the client's clock offset
// as TTLs are (see Clocks, below); that context also ends when the client
// gives up (its Pull's context is done: a Cancel posting follows the
// request on its stream) and when the client leaves (says goodbye, or is
// forgotten). A handler's panic is recovered, logged with its stack at
// Error level, and answered as a [RemoteError] with Panicked set: the
// server lives on, and the client learns that the handler panicked, not
// the panic's value. A server that leaves while clients wait for its
// replies wakes them at once with [ErrNoServer]; "nobody serves"
// ([ErrNoServer]) and timeouts ([ErrTimeout]) are errors of their own.
//
// # Delivery guarantees
//
// What holds, per kind of stream (its QoS; the media profiles pick them,
// see Media and stacks):
//
//   - Reliable (the default, "reliable"; frag/order/window): every posting
//     pushed is delivered to every receiver the sender knows, once, in
//     order per stream, or the sender hears why — a receiver that refused
//     the stream ([RefusedError], "stream-refused"), one that fell silent
//     for the window's receiver timeout, or [Channel.Close]'s
//     [UndeliveredError]. A receiver that gives up on a gap reports
//     "unrecoverable-gap".
//   - Semi-reliable (a window with a TTL: the video profile, "media", or a
//     posting's TTL on a reliable stream): repaired only while it can
//     still arrive in time;
//     never delivered after its time is up (judged without synchronised
//     clocks; see Reliability and time); Close and Flush wait for it only
//     until then.
//   - Best effort ("none", window(mode=besteffort); the audio profile is
//     that with a 100 ms TTL): at most once, in order of arrival as the
//     stack keeps it; losses are not repaired and not waited for.
//   - Image profile (refresh): like reliable for 2 s, then the last
//     parcels are sent again every period, and receivers deliver each
//     parcel once.
//
// At Close: what was pushed on reliable streams is repaired for up to the
// linger ([WithLinger], 2 s) until the receivers the sender knows have
// acknowledged it; what they did not is counted in the error Close
// returns, never dropped silently. [Channel.Flush] waits the same way for
// everything pushed so far, without closing.
//
// At late join, and after a receiver restarts: a receiver of a
// point-to-point stream, or of a stream whose beginning its sender still
// holds, starts at the sender's oldest retained packet and recovers the
// rest (the window's floor); a late joiner of a long multicast stream
// starts with the first packet it sees. On a keyed channel it accepts a
// member's datagrams only after that member echoed its nonce, so the
// backlog arrives as retransmitted after the echo, never as recorded
// originals (see Keyed channels); best-effort postings sent before the
// echo are lost to it.
// A receiver that forgot a flow (its stream silent for 3 announce
// intervals, its sender for 5, or evicted) and builds it again starts the
// same way, but does not hand up again what the forgotten flow did (by
// posting Seq, counted "duplicate"), for 30 intervals after: a sender
// that never had the acknowledgements retransmits those postings.
//
// To slow consumers: each subscription has a bounded queue and an
// overflow policy ([Queue]: drop the oldest, drop the newest, or end the
// subscription with [ErrSlowConsumer]); a slow subscriber never stalls the
// others or the receiver. Its drops are counted ([Subscription.Stats],
// Stats.Drops "slow-consumer"), and drops of postings of reliable streams
// are events ("slow-consumer", at most one a second per subscription).
// [Channel.SubscribeFunc] never drops: a slow function stalls the channel's
// receiving, and the senders' windows then wait for it.
//
// Latest-wins postings ([posting.WithKey]): a posting with a key
// supersedes the older postings of the same sender, stream and key, also
// on reliable streams: the latest value of each key is delivered, in order
// with the stream's other postings, and older values may not be. The
// sender drops superseded postings still in its window's queue (never
// sent; a posting partly sent in fragments is sent whole) and abandons
// those sent but not yet acknowledged (never repaired; receivers skip them
// as they skip expired ones); the refresh layer sends again only the
// latest value of each key, and its receivers drop a refreshed value older
// than the one delivered; a queued subscription holds at most one posting
// per key: the newest, in the place of the one it supersedes when nothing
// else of its sender's stream was queued after that one (so a key updated
// faster than the subscriber reads keeps its turn), else at the back. All
// are counted "superseded": the window's and refresh's counters and drops
// in the stream's stack stats, [SubStats].Superseded and Stats.Drops for
// subscriptions. Relays never drop reliable postings, superseded or not.
// Postings without a key keep their guarantees.
//
// On a sender restart: a restarted member is a new member (a new id, new
// streams, sequence numbers from the start); what the old instance had not
// had acknowledged is lost unless its Close lingered long enough, and
// receivers forget the old instance after five silent announce intervals.
//
// A member's own postings are never delivered to it: its multicast,
// looped back by the host, is dropped on arrival.
//
// # Concurrency and lifetime
//
// A Channel is safe for concurrent use. It runs one reader goroutine per
// socket and one writer goroutine, and handlers of Serve on goroutines of
// their own; [Channel.Close] stops and waits for all of them. Timers
// (announcements, and the stacks' retransmissions and expiries) run from
// the clock given with [WithClock].
//
// [Channel.Close] is graceful. From its start Push returns [ErrClosed]
// (pushes already under way finish); then it lingers, at most the linger
// ([WithLinger], [DefaultLinger] of 2 s by default, 0: not at all), until
// what was pushed on reliable streams is acknowledged by the receivers
// this member knows, while everything keeps running: the readers, the
// writer, the stacks' repairs, hellos and announcements. The receivers
// waited for are, on a stream to one member and on a unicast channel to
// its peer, that member; on a multicast stream (or one to every member of
// a unicast channel), every member that reported its status on the stream
// within the window's receiver timeout (2 s by default), receivers
// behind a relay included, whose status travels through it. A receiver
// silent for the receiver timeout is given up; one that says goodbye is
// not waited for (on a point-to-point stream, what it lacks is lost).
// Only then does Close say goodbye (with the acknowledgements and status
// of its own flows, so that senders need not wait for it), stop the
// goroutines and close the stacks. Best-effort postings are never waited
// for, semi-reliable ones only until their deadline. What was not
// acknowledged in time is an *[UndeliveredError] (wrapping
// [ErrUndelivered]) naming the streams and members and counting the
// window's packets each lacks; Close returns nil only when nothing was
// lost to a receiver it knew. A second Close waits for the first and
// returns nil.
//
// [Channel.Flush] waits in the same way, bounded by its context, for
// everything pushed before it was called, and leaves the channel open; it
// returns nil once all is acknowledged, else an *[UndeliveredError]. A
// receiver becomes known with its first status, which leaves with the
// first packet it receives: a Flush or Close begun before any receiver's
// status has come back waits for the members that may receive the stream
// (for at most a receiver timeout from the stream's start), and counts
// the stream's packets as undelivered to no one in particular if none
// answers in time.
//
// # Reliability and time
//
// Streams use the "reliable" profile unless a QoS string says otherwise:
// fragmentation, ordering, and a sliding window that acknowledges point to
// point and NAKs on multicast (see package layers/window). Push waits for
// the window's room (WithBlockingPush) or reports ErrBackpressure. A
// posting with a TTL is semi-reliable: it is repaired only while it can
// still arrive in time, and a receiver never delivers it after its time is
// up. Receivers judge that without synchronised clocks: members' hellos
// carry their clock, and the smallest arrival − send time seen from a
// sender stands for its clock offset plus the shortest one-way delay.
// Events of the stacks (an unrecoverable gap, say) are counted in Stats,
// logged, and handed to the function given with WithEvents.
//
// # Media and stacks
//
// Push classifies every posting ([WithFilter]; package filter): its Media
// field, else its body's declaration, else rules and content sniffing. A
// stream's postings of one medium travel on the stack of that medium's
// profile (the filter table, [WithMediaProfile]) unless the channel was
// given one QoS ([WithQoS], qos=) or the stream one ([WithStreamQoS]);
// media whose stacks are the same share one. Content sniffing sets the
// class only: a []byte or string body classified by its first bytes (PNG,
// Ogg, ...) travels on the Data profile's stack, reliable by default, unless
// the channel was opened with [WithSniffStacks]. The image profile's
// refresh layer sends tiles again, but a receiver delivers each once. [Channel.Reconfigure] swaps a
// stream's stack while postings flow, announcing the new stack as the
// successor of the old at an exact posting count; receivers hold the new
// stack's postings until the old one has handed up its share.
//
// [WithLinkRate] paces what the channel sends through a queue ordered by
// each stream's scheduling layer (fifo, priority, edf; package sched).
//
// [WithAdapter] runs an adaptation policy ([LossAdapter] by default) over
// the streams whose stacks measure their flow (the monitor layer), and
// reconfigures them from what they measure.
//
// # Keyed channels
//
// [WithKey] (or [WithKeyRing], for rotation; see package keys) makes a
// channel keyed. Every datagram it sends ends with a trailer — a group
// check, key id, a counter, and an AES-GMAC tag over the whole datagram
// under a key derived for the sending member — and a keyed channel drops, before any
// further parsing, every datagram without a valid tag under a key in its
// ring ("unauthenticated", "unknown-key") and every datagram whose counter
// it has seen from that member or that is too far behind
// ("replayed"; reordering within 4096 datagrams is accepted). The keys are
// derived from the channel's identity ([Address.Identity]): the scheme and
// an explicit channel id (?channel=NAME) when the URL gives one. A keyed
// unicast channel must give one, or Open fails: without it every unicast
// channel of a scheme has the same identity. Every stream
// it sends carries the encrypt layer (appended at the wire side when the
// QoS string lacks it), and its receive policy requires encrypt in every
// announced stack, so a member cannot downgrade a stream to plaintext.
// Unkeyed channels drop keyed datagrams ("keyed").
//
// Receivers ask for freshness (see fresh.go for the design): each channel
// instance draws a nonce, and a keyed channel accepts a member's datagrams
// only from the one in which that member echoed its nonce, so a recording
// is useless to a receiver that restarted or joined late, and to another
// channel. Until a member has echoed, its datagrams are dropped
// ("unfresh", all but the frames that carry nonces) and it is not listed
// in [Stats].Peers; the handshake takes one round trip and is repeated
// when a NONCE or its echo is lost. A late or restarted receiver gets a
// sender's retained backlog only as the sender retransmits it after the
// echo; the original transmissions are refused, and best-effort postings
// sent before the echo are lost to it (DECISIONS §3). A member's counter
// may not leap ahead by more than 2^24 datagrams plus 16 per microsecond
// since its last one ("counter-jump"). Strangers' datagrams
// cost no memory: nothing is kept for a member until one of its datagrams
// is authentic. They cost little time either: a datagram from a sender
// the channel holds no key for must first pass the group check (one AES
// block under a key shared by the group), so a forgery from an invented
// member costs no key derivation, and the derivations one source address
// may cause are limited (64 at once, then 64 a second; beyond that
// "rate-limited"). Keys never appear in logs or errors.
//
// Keys are updated automatically, as RFC 9001 §6.6 requires of AEADs: a
// member's datagram key changes every 2^23 datagrams (its key phase is
// its counter divided by that, read from the authenticated trailer, so no
// phase bit is needed and a receiver that missed many datagrams still
// knows the phase); receivers keep two phases' keys per member, and a key
// that failed 2^52 tags is refused until the member's next phase
// ("key-exhausted"). The encrypt layer does the same per stream. Stats.Keys
// counts the updates. This is independent of [keys.Ring] rotation, which
// the application does.
//
// [WithIdentity] and [WithTrusted] give the sign layer its signing key and
// the public keys it accepts; its signatures bind the channel's identity
// and each packet's relay metadata.
//
// # Hostile input
//
// Anyone who can send the channel a datagram can be a hostile sender: the
// channel must not become a reflector, nor spend memory or time beyond
// its bounds, whatever arrives.
//
// No amplification. On unicast transports, where the channel sends each
// member at its address, an address is validated as QUIC does it (RFC
// 9000 §8.1): the channel sends a CHALLENGE with a cookie to a new
// address, and until the address echoes it, sends it at most 3× the bytes
// received from it (the rest is not sent, counted as "unvalidated"; the
// reliable layers send it again once validated). The peer the URL names
// is validated by configuration. Traffic for everyone goes once to each
// address, however many member ids claim it, and member ids are never
// merged by address. QUERY answers are rate-limited per address and in
// all ("query-limit"), and so are the repairs NAKs trigger (see package
// window).
//
// Memory. What the channel keeps for others is bounded: members and flows
// ([WithLimits]; least recently active evicted), the addresses it hears
// from, announced streams (flows per member, 4 × flows in all; a refused
// stream is told to its sender), frames held
// for streams not yet announced (per member and against the memory
// budget), and every stack's buffers (reassembly, retransmission) against
// the budget of [WithMemory]. An announced stack is built only within the
// receive limits of its layers' parameters ([Policy]), with its largest
// parcel lowered to [WithMaxPosting] (which, like frag's max, bounds the
// body: the posting's header does not count). Whatever is refused is counted in
// [Stats].Drops.
//
// Clocks. A posting's age (for its TTL) is measured against the smallest
// offset between its sender's clock and ours seen recently (see
// members.go). On an unkeyed channel anyone can send a hello in a
// member's name, so there only the postings' own send times feed that
// estimate; on a keyed channel hellos are authenticated and their clocks
// are used too. A forged hello's clock ages nothing.
//
// # Threat model
//
// What each kind of channel protects against, and what it does not.
//
// Every channel, whoever sends to it: no amplification (a new unicast
// address gets at most 3× what it sent until it proves it receives there;
// traffic for everyone goes once per address), no memory or CPU beyond the
// bounds of Hostile input, no clock poisoning through hellos, and no
// acceptance of another channel's datagrams when keyed (keys are derived
// from [Address.Identity]: two multicast groups, or two unicast channels
// with different ?channel= ids, never accept each other's traffic).
//
// Unkeyed channels protect content against nothing: anyone who can send
// the channel a datagram can invent members and inject postings in any
// member's name. A goodbye, or a refusal of a stream (REFUSE), counts only
// from the address the member's datagrams come from, and a member's address moves only once it has
// been silent at the old one for two announce intervals, so a spoofer
// elsewhere cannot make a receiver forget a member (which would let a
// recording of it be delivered again). That protects nothing against a
// spoofer who can send from the member's address, nor among members
// behind one relay or NAT, who share an address. A receiver that forgets
// a member anyway (silence, eviction) will take a recording of it again:
// unkeyed channels have no freshness.
//
// Keyed channels ([WithKey]) protect content against outsiders: every
// datagram is authenticated (and every stream encrypted), a datagram is
// accepted once, and a receiver accepts a member's datagrams only after
// that member echoed the receiver's fresh nonce, so recordings are useless
// to restarted and late receivers. Goodbyes are authenticated like
// everything else. Each member's datagram key is updated automatically
// before it has protected as many datagrams as RFC 9001 §6.6 allows under
// one key (see auth.go). The channel key is a group key: every holder can
// derive every member's datagram key, so an insider can forge any
// member's datagrams — its postings on unsigned streams, its
// announcements, its goodbye — and can hold a member back by spending its
// datagram counters ahead of it (at most 2^24 plus 16 per microsecond of
// the member's silence at a time: it cannot silence a member for ever with
// one datagram, but can keep at it). Observers and relays see each
// datagram's relay metadata (media class, droppable, time left,
// latest-wins key, frame id) and the frames that carry nonces in the
// clear; it is all authenticated, not hidden.
//
// Signed channels ([WithIdentity], [WithTrusted]) bind postings to
// members: a member id is derived from its signing key, and a receiver
// delivers a signed packet only if a trusted key signed it and that key
// derives the sending member's id, over the channel's identity, the
// stream and the packet's relay metadata. No trusted signer can speak for
// another member or take over its flows (forging an id costs about 2^64
// work), and an insider cannot make a signed stream deliver a forged
// posting under another member's id. Goodbyes, announcements and datagram
// counters are not signed: on a keyed channel an insider can still make a
// receiver forget a member (its next datagram makes it known again; its
// flows start over, refusing any recording by the datagram replay windows
// and freshness) or hold it back as above; on an unkeyed signed channel
// the outsider's powers of the unkeyed case remain, except forging
// postings. Trust is whatever the application puts in [keys.Trust].
//
// # Inside a channel
//
// A Channel is a façade over parts that each own one job, its state and
// its lock, and talk to each other through a few functions:
//
//   - members (members.go): the other members — addresses, last heard,
//     whether they serve, clock skew; bounded, evicting the least recently
//     heard; it tells the incoming and requests parts whom it forgot.
//   - outgoing (outgoing.go): this member's streams — push, their stacks,
//     announcements, Reconfigure's retire-and-succeed, feedback from
//     receivers, the end of retired and idle streams.
//   - incoming (incoming.go, follow.go): what others announce and send —
//     frames held for late announcements, one flow and mirror stack per
//     (sender, stream), follow-on flows after a reconfiguration, decoding
//     and delivery in order. The flows' stacks share one timer service
//     (timers.go): timers due together run together, so the statuses of
//     all flows leave in one datagram.
//   - requests (reqrep.go): Serve and Pull — the handlers by service name
//     and the requests they are running (cancelled by their clients'
//     Cancel or departure), pending requests (failed when their server
//     leaves), the choice of a server, the handlers' goroutines.
//   - subscribers (subscribe.go), counters (counters.go), the outbox and
//     link queue (outbox.go, link.go), and the loops (maintain.go) that
//     run maintenance and adaptation on the channel's clock.
//
// receive.go is the reader: it checks each datagram and hands each frame
// to the part that owns it. Close takes the parts down in order: the
// loops stop, every part refuses new work, the goodbye and what is queued
// are written, the goroutines are waited for, then every stack is closed
// (those of streams retired and still draining too) and the
// subscriptions end.
//
// Lock order: code holding one of these locks may take only locks later
// in the list:
//
//  1. an outgoing stream's mu (a push in progress; Reconfigure takes
//     several, in stream id order)
//  2. outgoing.mu
//  3. incoming.mu (it closes evicted and forgotten flows' stacks under it)
//  4. members.mu
//  5. a stack's own lock (its layers write frames under it)
//  6. the link queue's lock
//  7. the outbox's lock
//  8. leaves, which take nothing while held: requests.mu, a follow's, a
//     subscription's, counters.mu, the datagram authenticator's, the
//     flows' timer service's (taken under a stack's lock when it arms its
//     timer; it runs the timers without it).
//
// Stacks hand postings and events up with their lock released, and the
// outbox writes (resolving members' addresses) with its own released.
// Membership calls the incoming and requests parts (forget, forgot) with
// no lock held; the
// incoming part asks membership (skewOf) under its own lock.
//
// # Limitations
//
// On multicast channels, traffic for one member (replies, feedback) is sent
// to the group with the member's id, and the others skip it (NAKs are used:
// other receivers hear them and hold their own).
package channel
