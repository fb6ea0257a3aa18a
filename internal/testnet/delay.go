package testnet

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"
)

// A Delay is a user-space delaying UDP relay: what arrives at its address
// goes to the target after the delay, and what the target answers goes
// back to the sender after the delay again (a socket per sender, so the
// target sees one address per sender). It stands in for netem, which the
// project does not use: a path of a given round-trip time (twice the
// delay, plus the hosts' own). Each direction is a FIFO queue of at most
// 4096 datagrams (beyond, datagrams are dropped, as a full link would),
// so order is kept and memory bounded; at most 256 senders.
type Delay struct {
	conn   *net.UDPConn
	target netip.AddrPort
	delay  time.Duration

	mu    sync.Mutex
	peers map[netip.AddrPort]*net.UDPConn
	q     chan delayed
	done  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once
}

type delayed struct {
	b    []byte
	at   time.Time
	from *net.UDPConn // the socket to send from
	to   netip.AddrPort
}

const (
	delayQueue = 4096
	delayPeers = 256
)

// NewDelay listens on listen ("127.0.0.1:0", ":7600") and relays to target
// with delay each way.
func NewDelay(listen string, target netip.AddrPort, delay time.Duration) (*Delay, error) {
	la, err := net.ResolveUDPAddr("udp", listen)
	if err != nil {
		return nil, err
	}
	c, err := net.ListenUDP("udp", la)
	if err != nil {
		return nil, err
	}
	d := &Delay{conn: c, target: target, delay: delay, peers: make(map[netip.AddrPort]*net.UDPConn),
		q: make(chan delayed, delayQueue), done: make(chan struct{})}
	d.wg.Add(2)
	go d.readFront()
	go d.send()
	return d, nil
}

// Addr is the address senders send to.
func (d *Delay) Addr() netip.AddrPort { return d.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// Close stops the relay and waits for its goroutines.
func (d *Delay) Close() error {
	d.once.Do(func() {
		close(d.done)
		d.conn.Close()
		d.mu.Lock()
		for _, p := range d.peers {
			p.Close()
		}
		d.mu.Unlock()
	})
	d.wg.Wait()
	return nil
}

func (d *Delay) enqueue(b []byte, from *net.UDPConn, to netip.AddrPort) {
	select {
	case d.q <- delayed{b: append([]byte(nil), b...), at: time.Now().Add(d.delay), from: from, to: to}:
	default: // the queue is full: dropped
	}
}

// readFront reads what senders send, and queues it for the target.
func (d *Delay) readFront() {
	defer d.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, from, err := d.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		d.mu.Lock()
		p := d.peers[from]
		if p == nil && len(d.peers) < delayPeers {
			if p, err = net.ListenUDP("udp", &net.UDPAddr{IP: d.conn.LocalAddr().(*net.UDPAddr).IP}); err == nil {
				d.peers[from] = p
				d.wg.Add(1)
				go d.readBack(p, from)
			}
		}
		d.mu.Unlock()
		if p != nil {
			d.enqueue(buf[:n], p, d.target)
		}
	}
}

// readBack reads what the target answers to one sender, and queues it.
func (d *Delay) readBack(p *net.UDPConn, sender netip.AddrPort) {
	defer d.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, _, err := p.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		d.enqueue(buf[:n], d.conn, sender)
	}
}

// send writes each queued datagram at its time, in order.
func (d *Delay) send() {
	defer d.wg.Done()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		var x delayed
		select {
		case <-d.done:
			return
		case x = <-d.q:
		}
		if w := time.Until(x.at); w > 0 {
			t.Reset(w)
			select {
			case <-d.done:
				return
			case <-t.C:
			}
		}
		x.from.WriteToUDPAddrPort(x.b, x.to)
	}
}
