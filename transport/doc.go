// Package transport is the contract between a channel and what carries
// its datagrams, and the registry of transports a channel URL can name.
//
// A transport moves trains of datagrams between opaque addresses ([Addr]):
// a train is several datagrams of one size laid end to end (the last may be
// shorter), which a transport with segmentation offload (UDP GSO) hands to
// the kernel in one call and any other transport cuts up itself. It says
// whether one send reaches every member ([Conn.ReachAll]: multicast, an
// in-process hub, a broker subject) or the channel must send to each member
// in turn (unicast), its MTU towards a destination, and its offloads. The
// MTU may fall while a Conn is open (path MTU discovery): a Send that
// finds the path smaller returns an [*MTUError], and datagrams larger than
// the MTU still go, in pieces (IP fragments), so that what was cut before
// arrives. A transport may say more through optional interfaces: what it
// dropped itself ([DropCounter]), and that its medium controls flow and
// congestion itself, as TCP to a broker does ([CongestionController]), so
// that the channel's reliability does not do it again.
//
// Transports register under a name with the URL forms they accept. The
// channel package registers the built-in ones: "udp" (unicast and
// listening, scheme://host:port and scheme://:port), "multicast" (IPv4 and
// IPv6 groups, with source-specific joins) and "mem" (mem://name,
// in-process). file:///path is not a transport: it records and replays
// postings, not datagrams, so it has no Conn, is not registered, and none
// of the conformance suite applies to it; package channel handles it. A
// transport in another module (NATS) registers itself in its package's
// init, and a URL names it with a suffix on the application scheme:
// classroom+nats://hub:4222/lesson. The channel's identity uses the
// application part only, so one channel can span transports.
//
// Package transporttest is the conformance suite every transport runs.
package transport
