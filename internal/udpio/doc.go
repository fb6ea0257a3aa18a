// Package udpio is a thin, fast UDP socket layer for unicast and IP
// multicast (IPv4 and IPv6) on Linux.
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
//   - Receiving: [Conn.ReadBatch] uses recvmmsg to fill many [Message] slots
//     per call. With UDP generic receive offload (UDP_GRO) enabled the kernel
//     may also coalesce consecutive datagrams from one sender into one slot
//     and report the segment size; [Message.Datagrams] splits such a slot
//     back into datagrams.
//
// GSO is probed when a Conn is opened (getsockopt UDP_SEGMENT). If a GSO send
// later fails with EIO (the device cannot checksum-offload) or EINVAL (for
// example a segment larger than the path MTU), GSO is switched off for that
// Conn for good and the train is re-sent datagram by datagram, as quic-go
// does. [Conn.GSO] and [Conn.GRO] report the current state.
//
// The package issues sendmmsg and recvmmsg itself (golang.org/x/sys/unix)
// through the Go runtime's network poller (syscall.RawConn), instead of using
// golang.org/x/net/ipv4.PacketConn.WriteBatch/ReadBatch, because those
// allocate per call (about two allocations per datagram); with reused mmsghdr, iovec, sockaddr and control-message
// arrays WriteTo and ReadBatch do not allocate in steady state.
//
// # Sockets
//
// [ListenUnicast] opens an ordinary socket (no SO_REUSEPORT) bound to a local
// address. [ListenMulticast] opens a socket bound to the group address and
// port with SO_REUSEADDR and SO_REUSEPORT, so several sockets, in one or in
// several processes, can share a group; the kernel delivers every multicast
// datagram to each of them. It joins the group and sets the outgoing
// interface, TTL / hop limit and loopback. IP_MULTICAST_ALL (and
// IPV6_MULTICAST_ALL) are switched off, so a socket only receives groups it
// joined itself. IPv6 sockets are IPV6_V6ONLY; IPv4-mapped IPv6 addresses
// are unmapped everywhere (an IPv4 destination on an IPv6 socket is sent to
// its mapped form, which a V6ONLY socket rejects with an error).
//
// Socket buffers default to 4 MiB for receiving and 1 MiB for sending; the
// package tries SO_RCVBUFFORCE/SO_SNDBUFFORCE first (which succeed when
// running as root or with CAP_NET_ADMIN) and falls back to
// SO_RCVBUF/SO_SNDBUF, which the kernel caps at net.core.rmem_max/wmem_max.
//
// # Flow control
//
// Sockets are non-blocking underneath, but WriteTo never drops silently: on
// EAGAIN (send buffer full) it parks the goroutine in the network poller
// until the socket is writable; on ENOBUFS (a device or qdisc queue is full;
// the poller would not report a change) it retries with a short exponential
// backoff for up to about one second and then returns the error. WriteTo
// returns only after every datagram of the train was accepted by the kernel
// or an error occurred; on error some leading datagrams may have been sent.
// UDP itself stays unreliable: the receiver's buffer may overflow.
//
// # Concurrency
//
// A Conn is safe for concurrent use. WriteTo calls are serialised among
// themselves and ReadBatch calls among themselves (each direction owns reused
// buffers); one writer and one reader run in parallel. The package starts no
// goroutines. [Conn.Close] may be called at any time, more than once, and
// unblocks a pending ReadBatch, which then returns an error wrapping
// net.ErrClosed.
//
// # Limitations
//
//   - Linux only (the package has no other implementation).
//   - ReadBatch buffers should be 64 KiB: with GRO the kernel may deliver up
//     to ~64 KiB in one slot and truncates what does not fit
//     ([Message.Truncated] reports it; a cut-off GRO batch is trimmed to its
//     whole datagrams; the lost bytes are gone).
//   - A multicast Conn is bound to the group address, so it receives only
//     datagrams sent to the group, not unicast replies addressed to it; its
//     datagrams leave with the interface's address and the group's port as
//     source. With Loopback set, a multicast Conn also receives what it sends
//     itself.
//   - Receive-side timestamps, ECN, packet info and source-specific
//     multicast are not supported.
//   - GSO trains use one segment size and one destination per WriteTo call.
package udpio
