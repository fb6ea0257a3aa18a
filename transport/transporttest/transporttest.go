package transporttest

import (
	"bytes"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/internal/testnet"
	"github.com/rwanda-go/rwanda/transport"
)

// Pair is two Conns of one medium that can reach each other.
type Pair struct {
	A, B transport.Conn
	// AtoB is the address A sends to for B: B's address, or the zero
	// Addr on a transport that reaches every member.
	AtoB transport.Addr
}

// Timeout bounds every wait for a datagram. Loopback and in-process
// transports deliver in microseconds; the bound is there for a loaded
// machine.
var Timeout = 10 * time.Second

// Run runs the suite. open is called once per subtest and must return a
// fresh pair; the suite closes both Conns.
func Run(t *testing.T, open func(t *testing.T) Pair) {
	t.Run("Datagram", func(t *testing.T) {
		testnet.CheckGoroutines(t)
		p := start(t, open)
		msg := []byte("A:one datagram")
		if err := p.A.Send(msg, 0, p.AtoB); err != nil {
			t.Fatalf("Send: %v", err)
		}
		msg[2] = 'X' // Send must not keep run
		d := p.b.next(t)
		if string(d.b) != "A:one datagram" {
			t.Fatalf("received %q", d.b)
		}
		if d.from.IsZero() {
			t.Fatal("received from the zero Addr: the receiver cannot answer")
		}
		// B answers to the address it saw (or, where A sent to everyone,
		// to everyone: a multicast member's source address is not one it
		// receives on).
		answer := d.from
		if p.AtoB.IsZero() {
			answer = transport.Addr{}
		}
		if err := p.B.Send([]byte("B:answer"), 0, answer); err != nil {
			t.Fatalf("B answering %v: %v", answer, err)
		}
		if r := p.a.next(t); string(r.b) != "B:answer" {
			t.Fatalf("A received %q", r.b)
		}
		for deadline := time.Now().Add(Timeout); p.b.batches() == 0; {
			if time.Now().After(deadline) {
				t.Fatal("Serve delivered without calling done")
			}
			time.Sleep(time.Millisecond) // waiting on B's Serve goroutine
		}
	})
	t.Run("Train", func(t *testing.T) {
		testnet.CheckGoroutines(t)
		p := start(t, open)
		const seg, n = 100, 5
		piece := func(i int) []byte {
			l := seg
			if i == n-1 {
				l = seg / 2 // a shorter last datagram
			}
			return append([]byte("A:"), bytes.Repeat([]byte{byte('a' + i)}, l-2)...)
		}
		run := make([]byte, 0, seg*n)
		for i := range n {
			run = append(run, piece(i)...)
		}
		if err := p.A.Send(run, seg, p.AtoB); err != nil {
			t.Fatalf("Send: %v", err)
		}
		var got []string
		for range n {
			got = append(got, string(p.b.next(t).b))
		}
		slices.Sort(got)
		for i, g := range got {
			if want := string(piece(i)); g != want {
				t.Fatalf("datagram %d of the train: %d bytes %.5q..., want %d bytes %.5q...", i, len(g), g, len(want), want)
			}
		}
		p.b.none(t)
	})
	t.Run("ReachAll", func(t *testing.T) {
		testnet.CheckGoroutines(t)
		p := start(t, open)
		err := p.A.Send([]byte("A:to everyone"), 0, transport.Addr{})
		if !p.A.ReachAll() {
			if err == nil {
				t.Fatal("a transport that does not reach every member accepted a send to the zero Addr")
			}
			return
		}
		if err != nil {
			t.Fatalf("Send to everyone: %v", err)
		}
		if d := p.b.next(t); string(d.b) != "A:to everyone" {
			t.Fatalf("received %q", d.b)
		}
	})
	t.Run("Properties", func(t *testing.T) {
		testnet.CheckGoroutines(t)
		p := start(t, open)
		if p.A.LocalAddr().IsZero() {
			t.Error("LocalAddr is the zero Addr")
		}
		if m := p.A.MTU(p.AtoB); m < 256 {
			t.Errorf("MTU %d: a channel needs at least 256", m)
		}
	})
	t.Run("Close", func(t *testing.T) {
		testnet.CheckGoroutines(t)
		p := start(t, open)
		if err := p.A.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		select {
		case <-p.a.served:
		case <-time.After(Timeout):
			t.Fatal("Serve still running after Close")
		}
		if err := p.A.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if err := p.A.Send([]byte("A:late"), 0, p.AtoB); err == nil {
			t.Fatal("Send after Close succeeded")
		}
	})
}

type datagram struct {
	b    []byte
	from transport.Addr
}

// served collects what one Conn's Serve delivers.
type served struct {
	own    string // the tag of what this Conn sent: echoes are skipped
	ch     chan datagram
	served chan struct{}
	mu     sync.Mutex
	n      int
}

func (s *served) next(t *testing.T) datagram {
	t.Helper()
	deadline := time.After(Timeout)
	for {
		select {
		case d := <-s.ch:
			if bytes.HasPrefix(d.b, []byte(s.own)) {
				continue // its own multicast, looped back
			}
			return d
		case <-deadline:
			t.Fatalf("no datagram within %v", Timeout)
			return datagram{}
		}
	}
}

// none checks that nothing more is queued once everything sent has been
// taken (a train delivered twice, say).
func (s *served) none(t *testing.T) {
	t.Helper()
	for {
		select {
		case d := <-s.ch:
			if !bytes.HasPrefix(d.b, []byte(s.own)) {
				t.Fatalf("unexpected datagram %q", d.b)
			}
		default:
			return
		}
	}
}

func (s *served) batches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

type started struct {
	Pair
	a, b *served
}

func start(t *testing.T, open func(t *testing.T) Pair) started {
	t.Helper()
	p := open(t)
	if p.A == nil || p.B == nil {
		t.Fatal("open returned a nil Conn")
	}
	s := started{Pair: p, a: serve(p.A, "A:"), b: serve(p.B, "B:")}
	t.Cleanup(func() {
		p.A.Close()
		p.B.Close()
		<-s.a.served
		<-s.b.served
	})
	return s
}

func serve(c transport.Conn, own string) *served {
	s := &served{own: own, ch: make(chan datagram, 1024), served: make(chan struct{})}
	go func() {
		defer close(s.served)
		c.Serve(func(d []byte, from transport.Addr) {
			select {
			case s.ch <- datagram{slices.Clone(d), from}:
			default:
				panic(fmt.Sprintf("transporttest: more than %d datagrams queued", cap(s.ch)))
			}
		}, func() {
			s.mu.Lock()
			s.n++
			s.mu.Unlock()
		})
	}()
	return s
}
