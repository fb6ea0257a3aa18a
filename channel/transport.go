package channel

import (
	"context"

	"errors"
	"fmt"
	"github.com/rwanda-go/rwanda/transport"
	"net/netip"
	"sync"
	"sync/atomic"
)

// The built-in transports, in package transport's registry: "multicast"
// and "udp" (udp.go) and "mem" (below). file:// is not a transport: it
// records postings, and the channel handles it itself (file.go).
func init() {
	transport.MustRegister(transport.Entry{Name: "mem", Forms: []string{"mem://name"}, Open: func(_ context.Context, e *transport.Endpoint) (transport.Opened, error) {
		return transport.Opened{Conn: openMem(e.Name)}, nil
	}})
	transport.MustRegister(transport.Entry{Name: "udp", Forms: []string{"scheme://host:port[?listen=[addr]:port]", "scheme://:port (listening side)"}, Open: openUDP})
	transport.MustRegister(transport.Entry{Name: "multicast", Forms: []string{"scheme://group:port[?iface=NAME&ttl=N&loop=BOOL&source=ADDR]"}, Open: openUDP})
}

// The mem transport: an in-process hub per name. Every endpoint has an
// inbox bounded in bytes; a datagram that does not fit is dropped (as a
// full socket buffer would drop it) and counted by the hub.

var memHubs = struct {
	sync.Mutex
	m map[string]*memHub
}{m: make(map[string]*memHub)}

type memHub struct {
	name    string
	mu      sync.RWMutex
	eps     map[transport.Addr]*memEndpoint
	next    uint32
	dropped atomic.Uint64 // datagrams that found an inbox full
}

const memInboxBytes = 32 << 20

type memDatagram struct {
	b    []byte
	from transport.Addr
}

type memEndpoint struct {
	hub  *memHub
	addr transport.Addr

	mu     sync.Mutex
	inbox  []memDatagram
	bytes  int
	signal chan struct{}
	closed bool
}

func openMem(name string) *memEndpoint {
	memHubs.Lock()
	defer memHubs.Unlock()
	h := memHubs.m[name]
	if h == nil {
		h = &memHub{name: name, eps: make(map[transport.Addr]*memEndpoint)}
		memHubs.m[name] = h
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.next++
	// Synthetic addresses from the documentation range, one per endpoint.
	addr := transport.IPAddr(netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(h.next >> 8)}), uint16(h.next)))
	ep := &memEndpoint{hub: h, addr: addr, signal: make(chan struct{}, 1)}
	h.eps[addr] = ep
	return ep
}

// ReachAll: one send reaches every endpoint of the hub.
func (e *memEndpoint) ReachAll() bool { return true }

// LocalAddr is the endpoint's synthetic address (192.0.2.x, documentation range).
func (e *memEndpoint) LocalAddr() transport.Addr { return e.addr }

// MTU is the largest UDP payload: mem carries what UDP could.
func (e *memEndpoint) MTU(transport.Addr) int { return DefaultMTUMem }

// Offloads: none; a train is cut up and delivered datagram by datagram.
func (e *memEndpoint) Offloads() transport.Offloads { return transport.Offloads{} }

// Send delivers a copy of each datagram of run to dst's inbox, or to every
// other endpoint's for the zero Addr.
func (e *memEndpoint) Send(run []byte, seg int, dst transport.Addr) error {
	h := e.hub
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.eps[e.addr] != e {
		return ErrClosed // Close took it out of the hub
	}
	if !dst.IsZero() {
		to := h.eps[dst]
		if to == nil {
			return fmt.Errorf("channel: mem://%s has no member at %v", h.name, dst)
		}
		transport.SplitRun(run, seg, func(d []byte) { to.deliver(d, e.addr) })
		return nil
	}
	transport.SplitRun(run, seg, func(d []byte) {
		for addr, to := range h.eps {
			if addr != e.addr {
				to.deliver(d, e.addr)
			}
		}
	})
	return nil
}

func (e *memEndpoint) deliver(d []byte, from transport.Addr) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return
	}
	if e.bytes+len(d) > memInboxBytes {
		e.hub.dropped.Add(1)
		return
	}
	e.inbox = append(e.inbox, memDatagram{b: append([]byte(nil), d...), from: from})
	e.bytes += len(d)
	select {
	case e.signal <- struct{}{}:
	default:
	}
}

// Serve hands the inbox's datagrams to recv, a batch at a time.
func (e *memEndpoint) Serve(recv func([]byte, transport.Addr), done func()) {
	var batch []memDatagram
	for {
		e.mu.Lock()
		for len(e.inbox) == 0 && !e.closed {
			e.mu.Unlock()
			<-e.signal
			e.mu.Lock()
		}
		if e.closed {
			e.mu.Unlock()
			return
		}
		batch, e.inbox = e.inbox, batch[:0]
		e.bytes = 0
		e.mu.Unlock()
		for i, d := range batch {
			recv(d.b, d.from)
			batch[i] = memDatagram{}
		}
		done()
	}
}

// Close leaves the hub; the last endpoint to leave removes it.
func (e *memEndpoint) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	e.inbox = nil
	e.mu.Unlock()
	select {
	case e.signal <- struct{}{}:
	default:
	}
	h := e.hub
	memHubs.Lock()
	h.mu.Lock()
	delete(h.eps, e.addr)
	empty := len(h.eps) == 0
	h.mu.Unlock()
	if empty && memHubs.m[h.name] == h {
		delete(memHubs.m, h.name)
	}
	memHubs.Unlock()
	return nil
}

var errNoRoute = errors.New("channel: no address for member")
