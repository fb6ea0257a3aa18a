package channel

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"

	"github.com/rwanda-go/rwanda/transport"
)

// The "zzpipe" transport joins two members of one process back to back:
// a Send on one end calls the other end's receive function on the
// sending goroutine, with no copy and no queue. It exists to measure what
// the channel itself allocates (the mem transport copies each datagram
// into an inbox): allocation tests run a sender and a receiver over it.
//
// URL: app+zzpipe://NAME?end=a|b[&reach=all]: two ends per NAME; with
// reach=all both ends see the pipe as a medium that reaches everyone
// (multicast-like), otherwise end a names end b as its peer (unicast).

var pipes = struct {
	sync.Mutex
	m map[string]*[2]*pipeEnd
}{m: make(map[string]*[2]*pipeEnd)}

type pipeEnd struct {
	name  string
	self  int
	peers *[2]*pipeEnd
	reach bool
	mtu   int

	mu      sync.RWMutex
	recv    func([]byte, transport.Addr)
	done    func()
	closed  chan struct{}
	once    sync.Once
	pending []pipeDatagram // arrived before Serve (a socket would hold them)
	dropped atomic.Uint64  // datagrams past what pending holds
	cut     atomic.Bool    // what this end sends is lost (a test's outage)
}

// cutPipe makes what end (0: a, 1: b) of the pipe named name sends lost
// (cut) or delivered again.
func cutPipe(name string, end int, cut bool) {
	pipes.Lock()
	defer pipes.Unlock()
	if pair := pipes.m[name]; pair != nil && pair[end] != nil {
		pair[end].cut.Store(cut)
	}
}

type pipeDatagram struct {
	b    []byte
	from transport.Addr
}

func init() {
	transport.MustRegister(transport.Entry{Name: "zzpipe", Forms: []string{"app+zzpipe://name?end=a|b[&reach=all] (tests)"},
		Open: func(_ context.Context, e *transport.Endpoint) (transport.Opened, error) {
			q := e.URL.Query()
			end := map[string]int{"a": 0, "b": 1}
			i, ok := end[q.Get("end")]
			if !ok {
				return transport.Opened{}, errors.New("zzpipe: want end=a or end=b")
			}
			pipes.Lock()
			defer pipes.Unlock()
			pair := pipes.m[e.URL.Host]
			if pair == nil {
				pair = new([2]*pipeEnd)
				pipes.m[e.URL.Host] = pair
			}
			if pair[i] != nil {
				return transport.Opened{}, errors.New("zzpipe: end in use")
			}
			pe := &pipeEnd{name: e.URL.Host, self: i, peers: pair, reach: q.Get("reach") == "all", mtu: e.MTU, closed: make(chan struct{})}
			pair[i] = pe
			o := transport.Opened{Conn: pe}
			if !pe.reach && i == 0 {
				o.Peer = pipeAddr(1)
			}
			return o, nil
		}})
}

func pipeAddr(i int) transport.Addr { return transport.NameAddr([]string{"pipe-a", "pipe-b"}[i]) }

func (p *pipeEnd) Send(run []byte, seg int, dst transport.Addr) error {
	select {
	case <-p.closed:
		return net.ErrClosed
	default:
	}
	if p.cut.Load() {
		return nil // lost in an outage
	}
	pipes.Lock()
	other := p.peers[1-p.self]
	pipes.Unlock()
	if other == nil {
		return nil // nobody there yet: the datagram is lost, as on a network
	}
	if !dst.IsZero() && dst != pipeAddr(other.self) {
		return nil
	}
	from := pipeAddr(p.self)
	other.mu.RLock()
	recv, done := other.recv, other.done
	other.mu.RUnlock()
	if recv == nil {
		other.mu.Lock()
		if other.recv == nil {
			transport.SplitRun(run, seg, func(d []byte) {
				if len(other.pending) < 1024 {
					other.pending = append(other.pending, pipeDatagram{bytes.Clone(d), from})
				} else {
					other.dropped.Add(1)
				}
			})
			other.mu.Unlock()
			return nil
		}
		recv, done = other.recv, other.done
		other.mu.Unlock()
	}
	transport.SplitRun(run, seg, func(d []byte) { recv(d, from) })
	done()
	return nil
}

func (p *pipeEnd) Serve(recv func(d []byte, from transport.Addr), done func()) {
	// What arrived before Serve goes first; Sends meanwhile keep queueing
	// (recv stays nil until pending is empty), so order holds and a reply
	// sent back from inside recv cannot wait on this goroutine.
	p.mu.Lock()
	for len(p.pending) > 0 {
		batch := p.pending
		p.pending = nil
		p.mu.Unlock()
		for _, d := range batch {
			recv(d.b, d.from)
		}
		done()
		p.mu.Lock()
	}
	p.recv, p.done = recv, done
	p.mu.Unlock()
	<-p.closed
	p.mu.Lock()
	p.recv, p.done = nil, nil
	p.mu.Unlock()
}

func (p *pipeEnd) LocalAddr() transport.Addr    { return pipeAddr(p.self) }
func (p *pipeEnd) ReachAll() bool               { return p.reach }
func (p *pipeEnd) MTU(transport.Addr) int       { return p.mtu }
func (p *pipeEnd) Offloads() transport.Offloads { return transport.Offloads{} }
func (p *pipeEnd) Drops() map[string]uint64 {
	return map[string]uint64{"pipe-not-serving": p.dropped.Load()}
}
func (p *pipeEnd) Close() error {
	p.once.Do(func() {
		close(p.closed)
		pipes.Lock()
		if p.peers[p.self] == p {
			p.peers[p.self] = nil
		}
		if p.peers[0] == nil && p.peers[1] == nil {
			delete(pipes.m, p.name)
		}
		pipes.Unlock()
	})
	return nil
}
