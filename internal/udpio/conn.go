package udpio

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"time"
)

const (
	defaultReadBuffer  = 4 << 20
	defaultWriteBuffer = 1 << 20

	// maxPayload4/6 are the largest UDP payloads of one IPv4/IPv6 packet,
	// which also bound the payload of one GSO message.
	maxPayload4 = 65535 - 20 - 8
	maxPayload6 = 65535 - 8

	// maxBatch is the largest number of messages one batch system call
	// (sendmmsg/recvmmsg) handles (UIO_MAXIOV).
	maxBatch = 1024
	// initialBatch is the initial capacity of the reused batch arrays.
	initialBatch = 64
	// enobufsMaxWait bounds how long WriteTo retries ENOBUFS.
	enobufsMaxWait = time.Second

	// xnetBatch reports whether x/net's ReadBatch and WriteBatch move
	// several datagrams per system call (recvmmsg/sendmmsg) here. Elsewhere
	// they handle one message per call (and are not implemented on
	// Windows), so the portable implementation uses net.UDPConn directly.
	xnetBatch = runtime.GOOS == "linux"
)

// EnvIO is the environment variable that selects the implementation behind
// [ListenUnicast] and [ListenMulticast]; it is read on every call. Unset,
// empty or "fast": the Linux fast implementation on Linux, the portable one
// elsewhere. "portable": the portable implementation on every OS. Any other
// value makes ListenUnicast and ListenMulticast fail.
const EnvIO = "RWANDA_IO"

// Conn is a UDP socket for unicast or multicast, IPv4 or IPv6.
//
// Create one with [ListenUnicast] or [ListenMulticast]. All methods are safe
// for concurrent use.
type Conn struct {
	impl     connImpl
	portable bool
	// ifi is a multicast Conn's interface (nil: the OS chooses by route);
	// PathMTU uses its MTU for the group.
	ifi *net.Interface

	closeOnce sync.Once
	closeErr  error
}

// connImpl is what an implementation provides; Conn adds Close semantics
// and error prefixes where the implementations share them.
type connImpl interface {
	// writeTo sends a train; frag allows IP fragmentation for the call
	// (and sends without GSO).
	writeTo(buf []byte, segSize int, dst netip.AddrPort, frag bool) error
	// writeBatch sends each message to its own destination; frag
	// allows IP fragmentation for the call; see Conn.WriteBatch.
	writeBatch(msgs []Outgoing, frag bool) (failed int, err error)
	readBatch(msgs []Message) (int, error)
	waitRead() (bool, error)
	localAddr() netip.AddrPort
	gso() bool
	gro() bool
	setGSO(on bool)
	setMulticastOptions(ifi *net.Interface, ttl int, loopback bool) error
	setReadBuffer(bytes int) error
	readBufferSize() int
	setWriteBuffer(bytes int) error
	close() error
}

// implKind selects an implementation.
type implKind int

const (
	implFast     implKind = iota // Linux fast path (GSO/GRO, hand-made mmsg); portable elsewhere
	implPortable                 // net.UDPConn + x/net, batch I/O where x/net batches (Linux)
	// implPortableSingle is the portable implementation without batch I/O,
	// as on every OS but Linux; for tests.
	implPortableSingle
)

func (k implKind) String() string {
	switch k {
	case implFast:
		return "fast"
	case implPortable:
		return "portable"
	case implPortableSingle:
		return "portable-single"
	}
	return fmt.Sprintf("implKind(%d)", int(k))
}

// implFromEnv reads EnvIO.
func implFromEnv() (implKind, error) {
	switch v := os.Getenv(EnvIO); v {
	case "", "fast":
		return implFast, nil
	case "portable":
		return implPortable, nil
	default:
		return 0, fmt.Errorf("udpio: %s=%q: accepted values are %q, %q or empty", EnvIO, v, "fast", "portable")
	}
}

// MulticastConfig describes a multicast group membership for [ListenMulticast].
type MulticastConfig struct {
	// Group is the group address and port (IPv4 224.0.0.0/4 or IPv6
	// ff00::/8). The port must not be 0. An IPv6 zone in the address is used
	// as the interface when Interface is nil.
	Group netip.AddrPort
	// Source, when valid, makes the membership source-specific (SSM): only
	// datagrams sent by Source to Group are received. It must be a unicast
	// address of the group's family. The SSM ranges are 232.0.0.0/8 and
	// ff3x::/32; other groups are not refused (Linux accepts source-specific
	// joins on any group) but routers may not handle them. The zero Addr
	// means any source.
	Source netip.Addr
	// Interface is the interface to join on and send through. nil lets the
	// OS choose: join on the interface of the route to the group and send by
	// the routing table. Link-local IPv6 groups (ff02::/16, ff12::/16, ...)
	// need an interface (or a zone in Group).
	Interface *net.Interface
	// TTL is the multicast TTL (IPv4) or hop limit (IPv6); 0 means 1.
	TTL int
	// Loopback sets IP_MULTICAST_LOOP / IPV6_MULTICAST_LOOP: whether datagrams
	// sent by this socket are also delivered to group members on this host
	// (including this socket).
	Loopback bool
}

// ListenUnicast opens a socket bound to local. Port 0 picks an ephemeral port;
// an unspecified address binds all interfaces. An IPv4 local address (or the
// zero netip.AddrPort) gives an IPv4 socket, an IPv6 one an IPv6-only socket.
// The socket does not use SO_REUSEPORT. The implementation is chosen by the
// environment variable [EnvIO].
func ListenUnicast(local netip.AddrPort) (*Conn, error) {
	kind, err := implFromEnv()
	if err != nil {
		return nil, err
	}
	return listenUnicast(local, kind)
}

func listenUnicast(local netip.AddrPort, kind implKind) (*Conn, error) {
	addr := local.Addr().Unmap()
	if !addr.IsValid() {
		addr = netip.IPv4Unspecified()
	}
	if z := addr.Zone(); z != "" {
		if _, err := zoneToIndex(z); err != nil {
			return nil, fmt.Errorf("udpio: listen %v: %w", local, err)
		}
	}
	bind := netip.AddrPortFrom(addr, local.Port())
	var (
		impl connImpl
		err  error
	)
	if kind == implFast && haveFast {
		impl, err = listenFastUnicast(bind)
	} else {
		impl, err = listenPortableUnicast(bind, xnetBatch && kind != implPortableSingle)
	}
	if err != nil {
		return nil, fmt.Errorf("udpio: listen %v: %w", local, err)
	}
	return &Conn{impl: impl, portable: kind != implFast || !haveFast}, nil
}

// ListenMulticast opens a socket for the group's port with SO_REUSEADDR
// (plus SO_REUSEPORT on BSD-derived systems and macOS, which need it; not on
// Linux), so that several sockets in one or several processes on a host
// share the group and each receives every datagram. It joins the group on cfg.Interface (source-specific when
// cfg.Source is set) and sets the outgoing multicast interface (when given),
// the TTL / hop limit and loopback. The resulting Conn can send to any
// destination, usually the group. The implementation is chosen by the
// environment variable [EnvIO].
func ListenMulticast(cfg MulticastConfig) (*Conn, error) {
	kind, err := implFromEnv()
	if err != nil {
		return nil, err
	}
	return listenMulticast(cfg, kind)
}

// mcastSpec is a validated MulticastConfig.
type mcastSpec struct {
	group  netip.Addr // unmapped, no zone
	port   uint16
	source netip.Addr // unmapped, no zone; invalid: any source
	ifi    *net.Interface
	ttl    int
	loop   bool
}

func (s *mcastSpec) v6() bool { return s.group.Is6() }

func listenMulticast(cfg MulticastConfig, kind implKind) (*Conn, error) {
	spec, err := checkMulticast(cfg)
	if err != nil {
		return nil, fmt.Errorf("udpio: listen multicast %v: %w", cfg.Group, err)
	}
	var impl connImpl
	if kind == implFast && haveFast {
		impl, err = listenFastMulticast(spec)
	} else {
		impl, err = listenPortableMulticast(spec, xnetBatch && kind != implPortableSingle)
	}
	if err != nil {
		return nil, fmt.Errorf("udpio: listen multicast %v: %w", cfg.Group, err)
	}
	return &Conn{impl: impl, portable: kind != implFast || !haveFast, ifi: spec.ifi}, nil
}

// checkMulticast validates cfg and resolves the interface.
func checkMulticast(cfg MulticastConfig) (mcastSpec, error) {
	g := cfg.Group.Addr().Unmap()
	if !g.IsMulticast() {
		return mcastSpec{}, errors.New("not a multicast address")
	}
	if cfg.Group.Port() == 0 {
		return mcastSpec{}, errors.New("port must not be 0")
	}
	s := mcastSpec{group: g.WithZone(""), port: cfg.Group.Port(), ifi: cfg.Interface, ttl: cfg.TTL, loop: cfg.Loopback}
	if s.ttl <= 0 {
		s.ttl = 1
	}
	if s.ifi == nil && g.Zone() != "" {
		idx, err := zoneToIndex(g.Zone())
		if err != nil {
			return mcastSpec{}, err
		}
		ifi, err := net.InterfaceByIndex(int(idx))
		if err != nil {
			return mcastSpec{}, err
		}
		s.ifi = ifi
	}
	if cfg.Source.IsValid() {
		src := cfg.Source.Unmap().WithZone("")
		if src.Is4() != g.Is4() {
			return mcastSpec{}, fmt.Errorf("source %v is not of the group's address family", cfg.Source)
		}
		if src.IsMulticast() || src.IsUnspecified() || src == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
			return mcastSpec{}, fmt.Errorf("source %v is not a unicast address", cfg.Source)
		}
		s.source = src
	}
	return s, nil
}

// WriteTo sends buf to dst as consecutive datagrams of segSize bytes each
// (the last one may be shorter). segSize <= 0 or segSize >= len(buf) sends buf
// as one datagram (an empty buf sends one empty datagram).
//
// The fast implementation hands a train to the kernel as GSO messages of up
// to 64 segments and at most one IP packet's worth of payload each, all in
// one sendmmsg call when possible; without GSO each datagram is one sendmmsg
// entry (up to 1024 per call). The portable one sends each datagram as a
// message of a batch (x/net WriteBatch, sendmmsg on Linux) or, where the OS
// has no batch send, with one system call each. WriteTo blocks until the
// kernel has accepted every datagram: a full send buffer waits in the
// runtime's poller, ENOBUFS is retried with backoff for up to about a
// second. It returns the first error; after an error some leading datagrams
// may have been sent. After Close it returns an error wrapping
// net.ErrClosed.
//
// On Linux, WriteTo does not fragment (IP_PMTUDISC_DO): a datagram larger
// than the path MTU fails with a [*SizeError], which wraps
// [ErrMessageSize] and says how much of buf was sent before it; send such
// datagrams with [Conn.WriteToFragmented]. Elsewhere the OS fragments them
// as it does by default.
func (c *Conn) WriteTo(buf []byte, segSize int, dst netip.AddrPort) error {
	return c.impl.writeTo(buf, segSize, dst, false)
}

// WriteToFragmented is WriteTo for datagrams that may be larger than the
// path MTU: the kernel cuts them into IP fragments (on Linux,
// IP_PMTUDISC_DONT for the call), and the train leaves datagram by
// datagram, never as GSO messages. It is for what was cut to a larger MTU
// than the path turned out to have; every fragment lost loses its whole
// datagram, so new datagrams should fit [Conn.PathMTU].
func (c *Conn) WriteToFragmented(buf []byte, segSize int, dst netip.AddrPort) error {
	return c.impl.writeTo(buf, segSize, dst, true)
}

// Outgoing is one datagram for [Conn.WriteBatch]: B sent to Dst.
type Outgoing struct {
	B   []byte
	Dst netip.AddrPort
}

// WriteBatch sends each message's datagram to its own destination, in
// order, with as few system calls as the implementation allows: the fast
// implementation hands up to 1024 messages to one sendmmsg call (no GSO:
// the destinations differ), with reused headers and addresses, so that a
// call allocates nothing; the portable one uses x/net WriteBatch (sendmmsg)
// on Linux and one system call per datagram elsewhere. It is for sending to
// many peers at once, where [Conn.WriteTo] sends a train to one.
//
// A message that cannot be sent does not stop the others: it is skipped
// and counted in failed. That covers destinations the socket cannot address
// (an invalid address or zone, an IPv6 one on an IPv4 socket, an IPv4 one
// on an IPv6-only socket; IPv4-mapped IPv6 addresses count as IPv4) and
// every error the kernel reports for one datagram (unreachable, port 0,
// larger than the path MTU, ENOBUFS: unlike WriteTo, WriteBatch does not
// retry a full device queue, which would stall every destination for it).
// A full socket send buffer (EAGAIN) waits in the runtime's poller.
// err is nil when every message was sent, else it describes the first
// failure; after Close the remaining messages count as failed and err wraps
// net.ErrClosed. WriteBatch calls are serialised with each other and with
// WriteTo. The messages' buffers are not retained.
func (c *Conn) WriteBatch(msgs []Outgoing) (failed int, err error) {
	return c.impl.writeBatch(msgs, false)
}

// WriteBatchFragmented is WriteBatch for datagrams that may be larger than
// their paths' MTU: the kernel cuts them into IP fragments (on Linux,
// IP_PMTUDISC_DONT for the call), as [Conn.WriteToFragmented] does. A
// relay that forwards others' datagrams unchanged (the gateway) uses it:
// a datagram sized for one network may meet a smaller MTU on the way to
// another peer.
func (c *Conn) WriteBatchFragmented(msgs []Outgoing) (failed int, err error) {
	return c.impl.writeBatch(msgs, true)
}

// ErrMessageSize is wrapped by the error of a write whose datagram is
// larger than the path MTU (EMSGSIZE).
var ErrMessageSize = errors.New("udpio: datagram larger than the path MTU")

// SizeError is the error of [Conn.WriteTo] for a datagram larger than the
// path to Dst carries in one piece. The datagrams of the train before it
// were sent (Sent bytes); it and those after it were not.
type SizeError struct {
	Dst  netip.AddrPort
	Size int   // the datagram's size
	Sent int   // bytes of the train sent before it (whole datagrams)
	Err  error // the system's error
}

func (e *SizeError) Error() string {
	return fmt.Sprintf("udpio: write to %v: a datagram of %d bytes is larger than the path MTU: %v", e.Dst, e.Size, e.Err)
}

// Unwrap returns [ErrMessageSize] and the system's error.
func (e *SizeError) Unwrap() []error { return []error{ErrMessageSize, e.Err} }

// ReadBatch blocks until at least one datagram arrives, then fills up to
// len(msgs) slots with what is queued and returns how many slots it filled.
// The fast implementation reads up to 1024 slots with one recvmmsg call, and
// with GRO one slot may hold several datagrams (see [Message.Datagrams]). The
// portable one reads a batch with x/net ReadBatch where the OS has batch
// reads (Linux: recvmmsg) and one datagram per call elsewhere; its slots
// always hold one datagram (Seg 0). After Close it returns an error wrapping
// net.ErrClosed.
func (c *Conn) ReadBatch(msgs []Message) (int, error) {
	return c.impl.readBatch(msgs)
}

// WaitRead blocks, holding no buffer, until a datagram (or a pending
// socket error) is there for ReadBatch to read, so that a reader of a
// quiet socket need not keep its buffers while it waits. It reports false
// at once where the implementation cannot wait this way (the portable
// one): there ReadBatch is the way to wait. After Close it returns an
// error wrapping net.ErrClosed.
func (c *Conn) WaitRead() (bool, error) {
	return c.impl.waitRead()
}

// SetMulticastOptions sets how datagrams this Conn sends to multicast groups
// leave the host: through ifi (nil: by the routing table, which leaves the
// current setting unchanged), with TTL / hop limit ttl (0 means 1), and
// whether they loop back to members on this host. It is useful on a unicast
// Conn that sends to a group; [ListenMulticast] already applies its
// configuration.
func (c *Conn) SetMulticastOptions(ifi *net.Interface, ttl int, loopback bool) error {
	if ttl <= 0 {
		ttl = 1
	}
	if err := c.impl.setMulticastOptions(ifi, ttl, loopback); err != nil {
		return fmt.Errorf("udpio: set multicast options: %w", err)
	}
	return nil
}

// SetReadBuffer sets the socket receive buffer size in bytes. On Linux it
// uses SO_RCVBUFFORCE when permitted (root / CAP_NET_ADMIN) and SO_RCVBUF,
// which the kernel caps at net.core.rmem_max, otherwise. (Linux doubles the
// value internally to account for bookkeeping overhead.)
func (c *Conn) SetReadBuffer(bytes int) error {
	if err := c.impl.setReadBuffer(bytes); err != nil {
		return fmt.Errorf("udpio: set read buffer: %w", err)
	}
	return nil
}

// ReadBufferSize returns the socket receive buffer size as the kernel
// reports it (SO_RCVBUF; Linux reports twice what was set, counting its
// bookkeeping), or 0 where it is not known (js, wasip1, Plan 9, errors).
func (c *Conn) ReadBufferSize() int { return c.impl.readBufferSize() }

// SetWriteBuffer sets the socket send buffer size in bytes, using
// SO_SNDBUFFORCE when permitted (Linux) and SO_SNDBUF otherwise.
func (c *Conn) SetWriteBuffer(bytes int) error {
	if err := c.impl.setWriteBuffer(bytes); err != nil {
		return fmt.Errorf("udpio: set write buffer: %w", err)
	}
	return nil
}

// LocalAddr returns the address the socket is bound to; for a multicast
// Conn: the group address and port (whatever address the implementation
// binds underneath).
func (c *Conn) LocalAddr() netip.AddrPort { return c.impl.localAddr() }

// GSO reports whether WriteTo currently sends trains with UDP generic
// segmentation offload (UDP_SEGMENT). It becomes false for good after a send
// fails in a way that indicates the path cannot do GSO. Always false for the
// portable implementation.
func (c *Conn) GSO() bool { return c.impl.gso() }

// GRO reports whether UDP generic receive offload (UDP_GRO) is enabled, i.e.
// whether ReadBatch may return slots holding several coalesced datagrams.
// Always false for the portable implementation.
func (c *Conn) GRO() bool { return c.impl.gro() }

// SetGSO switches sending with GSO off (false) or back on (true, where
// the kernel supports it): for measuring what GSO is worth. It has no
// effect on the portable implementation.
func (c *Conn) SetGSO(on bool) { c.impl.setGSO(on) }

// Portable reports whether c uses the portable implementation (net.UDPConn
// and golang.org/x/net) rather than the Linux fast one.
func (c *Conn) Portable() bool { return c.portable }

// Close closes the socket. It unblocks a pending ReadBatch (which then returns
// an error wrapping net.ErrClosed) and WriteTo. Calling Close again returns
// the result of the first call.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		c.closeErr = c.impl.close()
	})
	return c.closeErr
}

// wrapErr prefixes err with the operation; the runtime's error for a closed
// descriptor becomes one that wraps net.ErrClosed.
func wrapErr(op string, err error) error {
	if errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("udpio: %s: %w", op, net.ErrClosed)
	}
	return fmt.Errorf("udpio: %s: %w", op, err)
}

// backoff is the ENOBUFS retry state of one WriteTo.
type backoff struct {
	delay, waited time.Duration
}

// wait sleeps before the next retry and reports false when the retries are
// exhausted.
func (b *backoff) wait() bool {
	if b.waited >= enobufsMaxWait {
		return false
	}
	b.delay = min(max(2*b.delay, 20*time.Microsecond), 5*time.Millisecond)
	b.waited += b.delay
	time.Sleep(b.delay)
	return true
}

// reset is called after progress.
func (b *backoff) reset() { b.delay = 0 }
