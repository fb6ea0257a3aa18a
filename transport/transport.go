package transport

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// Addr names an endpoint of a transport. It is comparable and cheap to
// copy: IP transports set IP; others (an in-process hub, a broker) may set
// Name instead. The zero Addr is "every member" in [Conn.Send], on
// transports where [Conn.ReachAll] is true.
type Addr struct {
	IP   netip.AddrPort
	Name string
}

// IPAddr is the Addr of an IP address and port.
func IPAddr(ap netip.AddrPort) Addr { return Addr{IP: ap} }

// NameAddr is the Addr of a named endpoint.
func NameAddr(name string) Addr { return Addr{Name: name} }

// IsZero reports whether a is the zero Addr.
func (a Addr) IsZero() bool { return a == Addr{} }

// String is the IP address and port, or the name.
func (a Addr) String() string {
	switch {
	case a.Name != "" && a.IP.IsValid():
		return a.Name + "@" + a.IP.String()
	case a.Name != "":
		return a.Name
	case a.IP.IsValid():
		return a.IP.String()
	}
	return "everyone"
}

// Offloads say what a transport does to move many datagrams per call.
type Offloads struct {
	// GSO: a train leaves as one kernel call that the kernel or the NIC
	// cuts into datagrams (UDP generic segmentation offload).
	GSO bool
	// GRO: consecutive datagrams from one sender may arrive coalesced
	// (UDP generic receive offload); Serve splits them again.
	GRO bool
	// BatchWrite and BatchRead: several datagrams per system call
	// (sendmmsg, recvmmsg).
	BatchWrite, BatchRead bool
}

// Conn is one member's attachment to a channel's medium. Send and
// Serve may run concurrently with each other; Send is called by one
// goroutine at a time.
type Conn interface {
	// Send writes run, a train of datagrams of seg bytes each (the last
	// may be shorter; seg 0: run is one datagram), to dst. The zero dst
	// means every member, when ReachAll is true; otherwise it is an error.
	// Send must not keep run.
	Send(run []byte, seg int, dst Addr) error
	// Serve reads datagrams and hands each to recv with its sender's
	// address, calling done after each batch read at once, until the Conn
	// is closed; it runs on a goroutine of its own and returns when
	// closed. recv must not keep the slice.
	Serve(recv func(d []byte, from Addr), done func())
	// LocalAddr is the address this member receives on.
	LocalAddr() Addr
	// ReachAll reports whether one Send to the zero Addr reaches every
	// member.
	ReachAll() bool
	// MTU is the largest datagram Send carries to dst in one piece (the
	// zero Addr: to every member): see [Endpoint.MTU] for what it starts
	// at. It may fall while the Conn is open: when a Send finds the path
	// smaller, it returns an [*MTUError] and MTU reports the lower value
	// from then on. Callers cut new datagrams to it; a datagram larger
	// than MTU(dst) (cut for a larger MTU earlier, such as a
	// retransmission) is still sent, in pieces where the transport can
	// (IP fragmentation), else refused with an error.
	MTU(dst Addr) int
	// Offloads reports what the transport does to batch datagrams.
	Offloads() Offloads
	// Close stops Serve and releases the Conn. It is idempotent.
	Close() error
}

// DropCounter is implemented by a transport that drops datagrams itself
// and counts them (its inbox full, a message that names no sender, a
// broker that dropped what this member was too slow to take): a
// channel's Stats adds the counts to its Drops, under the transport's
// names. Drops returns a fresh map.
type DropCounter interface {
	Drops() map[string]uint64
}

// CongestionController is implemented by a transport whose medium does on
// every hop what a reliability layer's per-packet acknowledgements and
// congestion window would do end to end: it carries datagrams over
// connections that order, checksum, and control flow and congestion
// themselves (TCP to a broker), and loses them only in bulk (while it
// reconnects, or when the broker cuts a consumer too slow to keep up). A
// channel on such a transport tells its stacks so
// (stack.Flow.CarrierControlled): the window then runs its NAK mode on
// streams to one member too, without acknowledgements every few packets
// or a congestion window, and repairs what the bulk losses leave on NAK.
type CongestionController interface {
	// CongestionControlled reports whether the medium controls flow and
	// congestion itself, as above.
	CongestionControlled() bool
}

// CongestionControlled reports whether c implements
// [CongestionController] and says its medium controls flow and congestion
// itself.
func CongestionControlled(c Conn) bool {
	cc, ok := c.(CongestionController)
	return ok && cc.CongestionControlled()
}

// Endpoint is what a transport is asked to open: the parts of a channel
// URL that concern the medium, parsed and checked by package channel.
type Endpoint struct {
	// URL is the channel URL as given.
	URL *url.URL
	// Scheme is the application scheme, without a +transport suffix.
	Scheme string
	// Group and Source: a multicast group and, for a source-specific
	// join, the one sender to receive from (zero: any).
	Group  netip.AddrPort
	Source netip.Addr
	// Host and Port name a unicast peer (Host empty: a listening side).
	Host string
	Port uint16
	// Listen is the local address to bind (zero: any, ephemeral port).
	Listen netip.AddrPort
	// Name is an in-process hub's name; Path a recording's path.
	Name, Path string
	// Iface, TTL and Loop are multicast settings: the interface ("": the
	// OS's choice), hop limit and loopback to this host.
	Iface string
	TTL   int
	Loop  bool
	// MTU is the largest datagram the channel will send: the URL's mtu=
	// when MTUGiven, which [Conn.MTU] then reports as it is (until a
	// send finds the path smaller); otherwise a cap, and a transport that
	// knows the path's MTU (an interface's or a route's, less the
	// headers) reports the smaller of the two.
	MTU      int
	MTUGiven bool
}

// ErrMTU is wrapped by the error of a Send that met a datagram larger than
// the path to its destination carries in one piece (EMSGSIZE).
var ErrMTU = errors.New("transport: datagram larger than the path MTU")

// MTUError is Send's error for a datagram larger than the path carries in
// one piece. The datagrams of the run before it were sent (Sent bytes,
// whole datagrams); it and those after it were not. [Conn.MTU] already
// reports the path's smaller MTU (MTU here), so sending the rest again
// carries it in pieces, and datagrams cut to MTU from now on fit.
type MTUError struct {
	Dst  Addr
	Size int   // the datagram's size
	MTU  int   // MTU(Dst) now
	Sent int   // bytes of the run sent before it
	Err  error // the cause, as the system said it
}

func (e *MTUError) Error() string {
	return fmt.Sprintf("transport: a datagram of %d bytes to %v is larger than the path MTU; the MTU is now %d: %v", e.Size, e.Dst, e.MTU, e.Err)
}

// Unwrap returns [ErrMTU] and the cause.
func (e *MTUError) Unwrap() []error { return []error{ErrMTU, e.Err} }

// Opened is what opening a transport gives: the Conn, and for a URL that
// names one peer (unicast), that peer's address.
type Opened struct {
	Conn Conn
	Peer Addr
}

// Entry describes a transport to the registry.
type Entry struct {
	// Name is what a URL's +suffix names, and what channel.Address's
	// Transport holds: lower-case letters, digits and '-'.
	Name string
	// Forms lists the URL forms the transport accepts, for users.
	Forms []string
	// Open opens the transport for one channel.
	Open func(ctx context.Context, e *Endpoint) (Opened, error)
}

var registry = struct {
	sync.RWMutex
	m map[string]Entry
}{m: make(map[string]Entry)}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// ValidName reports whether name can be a transport's name: lower-case
// letters, digits and '-', starting with a letter, at most 32 bytes.
func ValidName(name string) bool { return nameRE.MatchString(name) }

// ErrUnknown is wrapped by the error for a transport name nobody registered.
var ErrUnknown = errors.New("transport: unknown transport")

// Register adds a transport. A name registered twice, or an entry without
// Open, is an error.
func Register(e Entry) error {
	if !ValidName(e.Name) {
		return fmt.Errorf("transport: invalid name %q: lower-case letters, digits and '-', starting with a letter", e.Name)
	}
	if e.Open == nil {
		return fmt.Errorf("transport: %s has no Open", e.Name)
	}
	registry.Lock()
	defer registry.Unlock()
	if _, ok := registry.m[e.Name]; ok {
		return fmt.Errorf("transport: %s is already registered", e.Name)
	}
	registry.m[e.Name] = e
	return nil
}

// MustRegister is Register for init functions: it panics on error.
func MustRegister(e Entry) {
	if err := Register(e); err != nil {
		panic(err)
	}
}

// Lookup returns the transport registered under name.
func Lookup(name string) (Entry, error) {
	registry.RLock()
	defer registry.RUnlock()
	e, ok := registry.m[name]
	if !ok {
		known := make([]string, 0, len(registry.m))
		for n := range registry.m {
			known = append(known, n)
		}
		slices.Sort(known)
		return Entry{}, fmt.Errorf("%w %q (registered: %v; a transport in another module registers when its package is imported)", ErrUnknown, name, known)
	}
	return e, nil
}

// List returns every registered transport, sorted by name.
func List() []Entry {
	registry.RLock()
	defer registry.RUnlock()
	out := make([]Entry, 0, len(registry.m))
	for _, e := range registry.m {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// SplitRun calls f for each datagram of a train: run cut into seg-byte
// pieces (seg 0, or seg ≥ len(run): run is one datagram). It is for
// transports without segmentation offload.
func SplitRun(run []byte, seg int, f func([]byte)) {
	if seg <= 0 || seg >= len(run) {
		f(run)
		return
	}
	for len(run) > 0 {
		n := min(seg, len(run))
		f(run[:n:n])
		run = run[n:]
	}
}
