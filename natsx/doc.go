// Package natsx carries rwanda channels over NATS: importing it registers
// the transport "nats" (package transport), so that a channel URL with
// "+nats" on its application scheme travels as NATS messages on a subject.
// Only the URL changes; postings, streams, announcements, QoS strings,
// keyed-channel protection, signatures and Stats are the channel's, end
// to end through the broker.
//
//	import _ "github.com/rwanda-go/rwanda/natsx"
//
//	ch, err := channel.Open(ctx, "classroom+nats://hub:4222/lesson?channel=lesson")
//
// The package is a module of its own (github.com/rwanda-go/rwanda/natsx)
// so that the core's import graph stays free of nats-server and nats.go.
// It is called natsx, not nats, so that it does not clash with nats.go's
// package name in the programs that use both.
//
// # URLs
//
//	app+nats://host:4222/subject     a NATS server (port 4222 by default)
//	app+nats:///subject              an embedded nats-server, in this process only
//	app+nats://:4222/subject         an embedded nats-server listening on port 4222 (every interface)
//
// The path is the subject: dot-separated tokens of letters, digits, '_'
// and '-', at most 200 bytes, no wildcards. The channel's own parameters
// (qos, mtu, channel) work as on any channel URL; this transport's are
// creds=FILE (a NATS credentials file), tls=true (a TLS connection) and
// reconnect=DURATION (the wait between reconnection attempts, 250 ms by
// default, plus up to a quarter more at random); any other is an error.
// The channel's identity is the application scheme and its channel id, so
// classroom://239.1.2.3:7400?channel=lesson and
// classroom+nats://hub:4222/lesson?channel=lesson name one channel (and
// derive one key). Without channel= the identity is the URL's scheme, host
// and path: members that reach the subject through different servers (a
// cluster, leaf nodes) or name one server differently must then give the
// same channel id, or keyed and signed streams will not pass between them.
//
// An embedded server starts with the first channel of the process that
// names it and stops when the last one closes; a newcomer tries rwanda
// over NATS with nothing to install. The in-process one has no listener:
// only channels of the same process reach it.
//
// # What travels
//
// Each datagram of the channel is one NATS message: on the subject for
// every member, or on a member's inbox (subject.m.ID, ID its 16 hex
// digits) for one member. Its reply subject is the sender's inbox, which
// is how receivers know whom it came from; a message whose reply subject
// is not an inbox of the channel (a plain "nats pub", a reply pointed
// elsewhere) is dropped and counted "nats-no-sender" in the channel's
// Stats().Drops. Permissions granted on "subject" and "subject.>" cover a
// channel. Each member has a connection of its own, opened with NoEcho
// so that its broadcasts do not come back to it.
//
// The MTU is DatagramSize (32 766 bytes) unless the URL's mtu= says
// otherwise, and never more than the server's max_payload (1 MiB by
// default): the channel bundles small postings into datagrams up to it,
// and larger postings go through the frag layer, so a server configured
// with a small max_payload still carries any posting. Why not the largest
// datagram a channel cuts (65 507 bytes): nats.go reads its connection
// 32 KiB at a time and nats-server at most 64 KiB at a time, and a message
// that does not fit in what one read brings is copied into a buffer made
// for it, in the server and in every receiving client; above 32 KiB that
// buffer is a large object for Go's allocator and collector. Bundles of
// 1 KiB postings in 32 KiB messages cost the broker about a third less
// CPU per posting than in 64 KiB ones, and the three processes (sender,
// broker, receiver) about a sixth less in all; 64 KiB postings cost the
// same either way (bench/RESULTS.md). If the client reconnects to a
// server that takes less, the next send too large reports the lower MTU
// and the channel cuts to it from then on.
//
// Receiving is bounded: 32 MiB of datagrams the channel has not read yet
// per member ("nats-inbox-full" beyond), and the client library's pending
// queue per subscription, 64 Ki messages or 16 MiB ("nats-slow-consumer").
// The channel takes what piled up in batches of about 64 KiB, and what
// it answers (a window's status, a NAK) leaves after each batch, so
// feedback never waits behind a long backlog.
//
// # Stacks fit the carrier
//
// A NATS connection is TCP to the server: it orders, checksums, and
// controls flow and congestion on each hop, and loses messages only in
// bulk — while a client reconnects, or when the server cuts a client too
// slow to take what it is sent. The transport says so
// (transport.CongestionController), and a channel on it runs every
// stream's window in nak mode — streams to everyone (a subject reaches
// every member with one send, as multicast does) and streams to one
// member alike (requests to a server, its replies): no per-packet
// acknowledgements, no retransmission timers and no congestion window or
// pacing (what TCP already does is not done twice). Flow control stays
// end to end and bounded: a sender has at most its window (1 024 packets
// by default) outstanding and its queue (4 MiB) waiting, and receivers
// free it with a status to the sender's inbox every quarter window or
// 50 ms while data flows; a gap — only ever after an outage or an
// overload — is repaired by NAK. On a stream to one member that is a
// status every 256 postings where ack mode sends an acknowledgement every
// 16 at least (TestOneMemberStreamFitsCarrier: 32 feedback packets for
// 8 000 postings, where ack mode sent 506). The price: an idle stream
// keeps a heartbeat a second from its sender and a status every half
// second from its receiver, as streams to everyone always have. What the broker cannot give stays in the stack, end to
// end: order across reconnects (the window renumbers nothing; repairs
// arrive late and the order layer puts them back), time to obsolescence
// (a posting carries its send time: a datagram held in the client's
// reconnect buffer past its TTL is dropped by the receiver as
// "obsolete"), and encryption and signatures, which the broker neither
// holds keys for nor could forge.
//
// While the server is away, publishes wait in the client's reconnect
// buffer (nats.go's, 8 MiB) and the client retries for as long as the
// channel is open; members resubscribe by themselves when it is back.
// What was lost meanwhile (published before the receiver had
// resubscribed) the window repairs, as long as the outage is shorter than
// its receiver timeout (2 s): a longer one calls for a WAN profile
// (window rcvtimeout=...).
//
// # Deployments: clusters, superclusters, leaf nodes
//
// On paper; the figures are nats-server v2.15's defaults, and rwanda's.
//
// One site, one server. Members of a channel connect to the site's server
// (app+nats://nats.site:4222/lesson). Per channel and member: one client
// connection and two subscriptions. A server accepts 64 Ki connections by
// default (max_connections), holds up to 64 MiB waiting for each client
// (max_pending) and cuts one that cannot take its messages within 10 s
// (write_deadline): members are then repaired by the window when they
// reconnect, or give gaps up after its receiver timeout.
//
// The cost that grows fastest is the channel's own chatter: every member
// says hello and announces its streams every announce interval (1 s) to
// every member, so a channel of M members with S streams each makes about
// M·(1+S) small messages a second and M·(M−1)·(1+S) deliveries: 10 k/s at
// M = 100, 1 M/s at M = 1 000 (with S = 0) — one server's worth of small
// messages. Up to a few hundred members per channel is comfortable;
// beyond, split channels or raise WithAnnounceInterval. A channel tracks
// at most 4 096 members (WithLimits). Data costs one publish per
// datagram and one delivery per member.
//
// One site, a cluster. Three (or five) servers in a full mesh of routes
// (three connections per pair by default) survive the loss of one (or
// two). Members list any of them; the client learns the others from the
// server and fails over to them, reconnecting and resubscribing as after
// a restart: the window repairs the gap. A message crosses at most one
// route inside a cluster, and a route carries one copy per message for
// all the members behind it.
//
// Many sites, leaf nodes. Each site runs a server (or a small cluster)
// that connects to a hub cluster as a leaf node: one TCP connection per
// leaf and account, carrying only the subjects that have interest on the
// other side. A datagram crosses each WAN link once for all the members
// behind it, not once per member, and a site keeps working on its own
// while its link is down (members at the site still reach each other;
// the window repairs what the other sites missed if the link is back
// within its receiver timeout, else use a WAN profile). Leaf connections
// count against the hub servers' max_connections like clients: a hub
// cluster of three takes thousands of sites. Hub and spoke adds one hop:
// site to site is site → hub → site, two WAN crossings.
//
// Regions, a supercluster. Clusters in several regions joined by
// gateways: each server of a cluster connects to one server of every
// other cluster, and a gateway forwards a message only to clusters that
// have interest in its subject (after 1 000 subjects without interest
// a gateway switches to interest-only mode, the default for accounts
// with JetStream). Sites attach as leaf nodes to their region's cluster;
// a datagram crosses each inter-region gateway once.
//
// Whatever the topology, the identity, keys and stacks do not change:
// relays (leaf nodes, gateways, the NATS bridge, package natsx/bridge) forward
// datagrams, and reliability and keyed-channel protection need no trust
// in them. Round trips do: the window's repairs take a round trip
// between the members, over every hop.
//
// Limits. max_payload (1 MiB by default, warned about above 8 MiB)
// bounds the datagram, not the posting. A subject carries one channel's
// datagrams to all its members: a member that cannot keep up is cut by
// its server (write_deadline) or drops at its client
// ("nats-slow-consumer") and is repaired or gives gaps up; it never slows
// the others, as on multicast. JetStream (history) is not used: a late
// joiner gets what the senders still hold (the window's late-joiner
// rule), not the subject's history.
package natsx
