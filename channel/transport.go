package channel

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
)

// transport carries datagrams for a channel.
type transport interface {
	// send writes run, a train of datagrams of seg bytes each (the last
	// may be shorter; seg 0: run is one datagram), to dst. The zero dst
	// means every member, on transports where reachAll is true.
	send(run []byte, seg int, dst netip.AddrPort) error
	// reachAll reports whether one send to the zero dst reaches every
	// member (multicast, mem); unicast channels send to each peer.
	reachAll() bool
	// serve reads datagrams and hands each to recv, calling done after
	// each batch read at once, until the transport is closed; it runs on a
	// goroutine of its own and returns when closed. recv must not keep the
	// slice.
	serve(recv func(d []byte, from netip.AddrPort), done func())
	// localAddr is the address the transport receives on.
	localAddr() netip.AddrPort
	// close stops serve and releases the transport. It is idempotent.
	close() error
}

// splitRun calls f for each datagram of a run.
func splitRun(run []byte, seg int, f func([]byte)) {
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
	eps     map[netip.AddrPort]*memEndpoint
	next    uint32
	dropped atomic.Uint64 // datagrams that found an inbox full
}

const memInboxBytes = 32 << 20

type memDatagram struct {
	b    []byte
	from netip.AddrPort
}

type memEndpoint struct {
	hub  *memHub
	addr netip.AddrPort

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
		h = &memHub{name: name, eps: make(map[netip.AddrPort]*memEndpoint)}
		memHubs.m[name] = h
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.next++
	// Synthetic addresses from the documentation range, one per endpoint.
	addr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(h.next >> 8)}), uint16(h.next))
	ep := &memEndpoint{hub: h, addr: addr, signal: make(chan struct{}, 1)}
	h.eps[addr] = ep
	return ep
}

func (e *memEndpoint) reachAll() bool            { return true }
func (e *memEndpoint) localAddr() netip.AddrPort { return e.addr }

func (e *memEndpoint) send(run []byte, seg int, dst netip.AddrPort) error {
	h := e.hub
	h.mu.RLock()
	defer h.mu.RUnlock()
	if dst.IsValid() {
		to := h.eps[dst]
		if to == nil {
			return fmt.Errorf("channel: mem://%s has no member at %v", h.name, dst)
		}
		splitRun(run, seg, func(d []byte) { to.deliver(d, e.addr) })
		return nil
	}
	splitRun(run, seg, func(d []byte) {
		for addr, to := range h.eps {
			if addr != e.addr {
				to.deliver(d, e.addr)
			}
		}
	})
	return nil
}

func (e *memEndpoint) deliver(d []byte, from netip.AddrPort) {
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

func (e *memEndpoint) serve(recv func([]byte, netip.AddrPort), done func()) {
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

func (e *memEndpoint) close() error {
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
