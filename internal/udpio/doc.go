// Package udpio is a thin, fast UDP socket layer for unicast and IP
// multicast (IPv4 and IPv6). It builds on every OS Go supports; it is tested
// on Linux only.
//
// # What and why
//
// On the machines this library targets a single UDP send system call costs
// several microseconds of CPU, so datagram throughput is bounded by the number
// of system calls, not by bandwidth. udpio therefore moves as many datagrams
// per system call as the kernel allows:
//
//   - Sending: [Conn.WriteTo] takes a "train" of equal-size datagrams laid out
//     back to back in one buffer. When the kernel supports UDP generic
//     segmentation offload (UDP_SEGMENT, "GSO"), a train is handed to the
//     kernel as one large message plus a segment-size control message and the
//     kernel cuts it into datagrams. A kernel message carries at most 64
//     segments and one IP packet's worth of payload (65507 bytes over IPv4,
//     65527 over IPv6), so longer trains are cut into several
//     GSO messages, all submitted with a single sendmmsg call. Without GSO
//     every datagram becomes one entry of a sendmmsg batch.
//   - Sending to many peers: [Conn.WriteBatch] takes datagrams each with its
//     own destination and hands up to 1024 of them to one sendmmsg call (no
//     GSO); a datagram the kernel refuses is skipped and counted, the others
//     still go.
//   - Receiving: [Conn.ReadBatch] uses recvmmsg to fill many [Message] slots
//     per call. With UDP generic receive offload (UDP_GRO) enabled the kernel
//     may also coalesce consecutive datagrams from one sender into one slot
//     and report the segment size; [Message.Datagrams] splits such a slot
//     back into datagrams.
//
// # Two implementations
//
// The fast implementation (Linux only) does all of the above. It issues
// sendmmsg and recvmmsg itself (golang.org/x/sys/unix) through the Go
// runtime's network poller (syscall.RawConn), instead of using
// golang.org/x/net/ipv4.PacketConn.WriteBatch/ReadBatch, because those
// allocate per call (about two allocations per datagram); with reused
// mmsghdr, iovec, sockaddr and control-message arrays WriteTo, WriteBatch
// and ReadBatch do not allocate in steady state. It creates its socket by hand too, to bind
// a multicast socket to the group address (package net binds the wildcard
// address instead) and to set what only Linux has: SO_RCVBUFFORCE,
// IP_MULTICAST_ALL, UDP_SEGMENT, UDP_GRO. Group membership (including
// source-specific), the outgoing multicast interface, TTL / hop limit and
// loopback are set through golang.org/x/net/ipv4 and ipv6 on the socket. The
// receive control messages (the GRO segment size and IP_PKTINFO /
// IPV6_PKTINFO for [Message.IfIndex]) are parsed in the recvmmsg loop, without
// allocating.
//
// GSO is probed when a Conn is opened (getsockopt UDP_SEGMENT). If a GSO send
// later fails with EIO (the device cannot checksum-offload) or EINVAL, the
// train is re-sent datagram by datagram, and if that works GSO is switched
// off for that Conn for good, as quic-go does. A segment larger than the
// path MTU is no reason to: newer kernels say EMSGSIZE for it, older ones
// EINVAL, and then the datagram-by-datagram resend fails with EMSGSIZE too;
// either way WriteTo returns a [*SizeError] and GSO stays on for trains
// that fit. [Conn.GSO] and [Conn.GRO] report the current state.
//
// The portable implementation (every OS) is a net.UDPConn opened with
// net.ListenConfig (a Control function sets the socket options below) and
// golang.org/x/net/ipv4 and ipv6 for group membership, source-specific
// membership, the multicast interface, TTL / hop limit, loopback, control
// messages (destination address and arrival interface) and, on Linux, batch
// I/O: x/net's ReadBatch and WriteBatch are recvmmsg and sendmmsg there. On
// other OSes x/net moves one message per call, so the portable
// implementation reads and writes one datagram per system call through
// net.UDPConn. It has no GSO or GRO: a train is sent as separate datagrams,
// and every [Message] holds one datagram (Seg 0). It allocates per datagram
// (x/net's addresses and control-message parsing). A multicast socket is
// bound to the wildcard address and the group's port, so it could also
// receive unicast datagrams for that port and, on Linux, datagrams of other
// groups joined by other sockets on the port; ReadBatch drops datagrams whose
// reported destination is not the group (where the OS reports it, see below).
//
// Selection: on Linux [ListenUnicast] and [ListenMulticast] use the fast
// implementation unless the environment variable RWANDA_IO ([EnvIO]) is
// "portable"; it is read on every call, so child processes inherit the
// choice. Unset, empty or "fast" means the default; any other value makes
// the Listen functions fail. On other OSes only the portable implementation
// exists ("fast" then means the default, portable). [Conn.Portable] reports
// which one a Conn uses.
//
// # What each OS has
//
//   - GSO, GRO and hand-made sendmmsg/recvmmsg: Linux (fast implementation).
//   - Batch I/O in the portable implementation: Linux only in practice.
//   - Arrival interface ([Message.IfIndex]) and, for the portable multicast
//     filter, the destination address: Linux (both implementations), macOS,
//     iOS, the BSDs, Solaris, illumos, AIX, through x/net's control
//     messages; not Windows (x/net does not implement them there), js,
//     wasip1 or Plan 9, where IfIndex is 0 and a portable multicast Conn may
//     also receive unicast datagrams sent to its port.
//   - Source-specific multicast ([MulticastConfig.Source]): x/net implements
//     JoinSourceSpecificGroup on Linux, macOS, iOS, FreeBSD, Solaris and
//     illumos; on other OSes (Windows, OpenBSD, NetBSD, DragonFly, AIX, ...)
//     ListenMulticast with a Source fails.
//   - Sharing a group and port: SO_REUSEADDR on Linux and Windows,
//     SO_REUSEADDR and SO_REUSEPORT on macOS and the BSDs; on js, wasip1 and
//     Plan 9 no socket options can be set.
//   - Truncation ([Message.Truncated]): MSG_TRUNC on Unix systems; on Windows
//     a datagram larger than the buffer is reported truncated without its
//     sender; not reported on js, wasip1 and Plan 9.
//
// # Sockets
//
// [ListenUnicast] opens an ordinary socket (no SO_REUSEADDR or SO_REUSEPORT)
// bound to a local address. [ListenMulticast] opens a socket for the group's
// port with SO_REUSEADDR, so several sockets, in one or in several processes,
// can share a group; the kernel delivers every multicast datagram to each of
// them. On Linux it does not set SO_REUSEPORT: the kernel hands a datagram
// that only some sockets of a reuseport group accept (say, one refused by
// another socket's source filter) to a member chosen by a hash, whatever that
// member's memberships, so an SSM socket beside an any-source socket on the
// same group and port would steal or lose datagrams. It joins the group
// (source-specific when [MulticastConfig.Source] is set) and sets the
// outgoing interface, TTL / hop limit and loopback. In the fast
// implementation IP_MULTICAST_ALL (and IPV6_MULTICAST_ALL) are switched off,
// so a socket only receives groups it joined itself. IPv6 sockets are
// IPV6_V6ONLY; IPv4-mapped IPv6 addresses are unmapped everywhere (an IPv4
// destination on an IPv6 socket is an error).
//
// Source-specific multicast: a Conn with a Source receives only what that
// source sends to the group. The SSM ranges are 232.0.0.0/8 and ff3x::/32;
// other groups are accepted (Linux allows source-specific joins on any
// group), but routers may not forward them source-specifically.
//
// Socket buffers default to 4 MiB for receiving and 1 MiB for sending; on
// Linux the package tries SO_RCVBUFFORCE/SO_SNDBUFFORCE first (which succeed
// when running as root or with CAP_NET_ADMIN) and falls back to
// SO_RCVBUF/SO_SNDBUF, which the kernel caps at net.core.rmem_max/wmem_max;
// other OSes apply their own caps.
//
// # Path MTU
//
// On Linux every socket is opened with IP_MTU_DISCOVER (IPV6_MTU_DISCOVER)
// set to IP_PMTUDISC_DO: datagrams leave with the don't-fragment bit, the
// kernel never fragments them, and one larger than the path MTU (the
// interface's, the route's, or what ICMP "fragmentation needed" / "packet
// too big" taught the kernel) fails with EMSGSIZE, which [Conn.WriteTo]
// returns as a [*SizeError] saying how much of the train was sent before
// it. [Conn.PathMTU] reports the largest payload the kernel would send to a
// destination in one piece (the IP_MTU of a socket connected to it, or the
// interface of a multicast Conn). [Conn.WriteToFragmented] sends datagrams
// cut for a larger MTU anyway, as IP fragments (IP_PMTUDISC_DONT for the
// call, no GSO). Other OSes keep their default, which fragments; PathMTU
// there is the MTU of the interface holding the local address the OS
// would send from.
//
// # Flow control
//
// Sockets are non-blocking underneath, but WriteTo never drops silently: when
// the send buffer is full (EAGAIN) it parks the goroutine in the network
// poller until the socket is writable; on ENOBUFS (a device or qdisc queue is
// full; the poller would not report a change) it retries with a short
// exponential backoff for up to about one second and then returns the error.
// WriteTo returns only after every datagram of the train was accepted by the
// kernel or an error occurred; on error some leading datagrams may have been
// sent. WriteBatch waits for a full send buffer too but does not retry
// ENOBUFS: it counts that datagram as failed and goes on with the others,
// as a relay to many peers wants (a full device queue costs datagrams, not
// up to a second of every peer's time). UDP itself stays unreliable: the
// receiver's buffer may overflow.
//
// # Concurrency
//
// A Conn is safe for concurrent use. WriteTo and WriteBatch calls are
// serialised among themselves and ReadBatch calls among themselves (each
// direction owns reused buffers); one writer and one reader run in
// parallel. The package starts no goroutines. [Conn.Close] may be called
// at any time, more than once, and unblocks a pending ReadBatch, which then
// returns an error wrapping net.ErrClosed.
//
// # Limitations
//
//   - Tested on Linux only; the other OSes are only compiled and vetted.
//   - ReadBatch buffers should be 64 KiB: with GRO the kernel may deliver up
//     to ~64 KiB in one slot and truncates what does not fit
//     ([Message.Truncated] reports it; a cut-off GRO batch is trimmed to its
//     whole datagrams; the lost bytes are gone).
//   - The fast implementation's multicast Conn is bound to the group
//     address, so it receives only datagrams sent to the group, not unicast
//     replies addressed to it (the portable one drops those where it can
//     tell). Datagrams leave with the interface's address and the group's
//     port as source. With Loopback set, a multicast Conn also receives what
//     it sends itself.
//   - Receive-side timestamps and ECN are not supported.
//   - GSO trains use one segment size and one destination per WriteTo call.
package udpio
