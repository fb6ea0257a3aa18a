package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/xtaci/kcp-go/v5"

	"github.com/rwanda-go/rwanda/cmd/rwbench/harness"
)

// rwbench's fec rows (issue 23): kcp-go round trips through a path that
// loses 2% of the datagrams independently and delays each 40 ms, each
// way, as rwanda's impair layer does for its rows: a wrapper of each
// end's socket drops (seed 7) and delays what it sends. "kcp" runs
// without FEC, "kcp-fec" with kcptun's default FEC, 10 data and 3 parity
// shards. Otherwise kcp runs as in kcp.go (fast mode, stream mode).
const (
	lossyLoss     = 0.02
	lossyDelay    = 40 * time.Millisecond
	kcpDataShards = 10
	kcpParity     = 3
	lossyWarm     = 10 // round trips left out at the start, as rwbench's fec rows do
)

// lossyConn drops a share of what it sends and delays the rest, in order,
// on one goroutine.
type lossyConn struct {
	net.PacketConn
	mu   sync.Mutex
	rng  *rand.Rand
	q    chan delayed
	done chan struct{}
	once sync.Once
}

type delayed struct {
	due  time.Time
	b    []byte
	addr net.Addr
}

func newLossyConn(c net.PacketConn, seed uint64) *lossyConn {
	l := &lossyConn{PacketConn: c, rng: rand.New(rand.NewPCG(seed, 0x6c6f7373)), q: make(chan delayed, 1<<16), done: make(chan struct{})}
	go l.run()
	return l
}

func (l *lossyConn) run() {
	for {
		select {
		case <-l.done:
			return
		case d := <-l.q:
			if w := time.Until(d.due); w > 0 {
				t := time.NewTimer(w)
				select {
				case <-l.done:
					t.Stop()
					return
				case <-t.C:
				}
			}
			l.PacketConn.WriteTo(d.b, d.addr)
		}
	}
}

// WriteTo drops b with probability lossyLoss, else sends it lossyDelay
// later (or drops it when a full queue would block).
func (l *lossyConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	l.mu.Lock()
	drop := l.rng.Float64() < lossyLoss
	l.mu.Unlock()
	if drop {
		return len(b), nil
	}
	select {
	case l.q <- delayed{time.Now().Add(lossyDelay), append([]byte(nil), b...), addr}:
	default:
	}
	return len(b), nil
}

func (l *lossyConn) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.PacketConn.Close()
}

func shards(fec bool) (int, int) {
	if fec {
		return kcpDataShards, kcpParity
	}
	return 0, 0
}

// kcpLossyLatency measures round trips to a lossy echo process over one
// kcp session whose own socket is lossy too.
func (p *peers) kcpLossyLatency(ctx context.Context, fec bool, size int, d time.Duration) (harness.Sample, error) {
	kind := "kcp-lossy-echo"
	if fec {
		kind = "kcp-fec-echo"
	}
	c, err := p.child(ctx, kind)
	if err != nil {
		return harness.Sample{}, err
	}
	defer c.Kill()
	raddr, err := net.ResolveUDPAddr("udp", "127.0.0.1:"+c.Ready)
	if err != nil {
		return harness.Sample{}, err
	}
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return harness.Sample{}, err
	}
	conn := newLossyConn(udp, 7)
	defer conn.Close()
	ds, ps := shards(fec)
	s, err := kcp.NewConn2(raddr, nil, ds, ps, conn)
	if err != nil {
		return harness.Sample{}, err
	}
	defer s.Close()
	tuneKCP(s)
	if err := kcpHandshake(s); err != nil {
		return harness.Sample{}, err
	}
	before := *kcp.DefaultSnmp.Copy()
	msg, in := frame(size), make([]byte, 4+size)
	s.SetDeadline(time.Now().Add(d + 30*time.Second))
	cpu0 := harness.CPUTime()
	var lat []time.Duration
	warm := lossyWarm
	if d < 2*time.Second {
		warm = 0 // a short run (a test's) keeps every round trip
	}
	end := time.Now().Add(d)
	for i := 0; time.Now().Before(end) || len(lat) == 0; i++ {
		if err := ctx.Err(); err != nil {
			return harness.Sample{}, err
		}
		t0 := time.Now()
		if _, err := s.Write(msg); err != nil {
			return harness.Sample{}, err
		}
		if _, err := io.ReadFull(s, in); err != nil {
			return harness.Sample{}, err
		}
		if i >= warm {
			lat = append(lat, time.Since(t0))
		}
	}
	cpu := harness.CPUTime() - cpu0
	after := kcp.DefaultSnmp.Copy()
	if _, err := c.Stop(ctx, 0, 5*time.Second); err != nil {
		return harness.Sample{}, err
	}
	sm, err := latencySample(cpu, lat, 0, size, d)
	if n := len(lat) + warm; err == nil && n > 0 {
		sm.Note = fmt.Sprintf("2%% loss and 40 ms each way (socket wrapper, seed 7); client: %.2f FEC parity shards and %.2f retransmitted segments per posting",
			float64(after.FECParityShards-before.FECParityShards)/float64(n), float64(after.RetransSegs-before.RetransSegs)/float64(n))
	}
	return sm, err
}

// childKCPLossy is the far end of kcpLossyLatency: an echo on a lossy
// socket.
func childKCPLossy(fec bool, stdin io.Reader, stdout io.Writer) error {
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return err
	}
	conn := newLossyConn(udp, 7)
	defer conn.Close()
	ds, ps := shards(fec)
	l, err := kcp.ServeConn(nil, ds, ps, conn)
	if err != nil {
		return err
	}
	defer l.Close()
	var c harness.Counter
	go func() {
		s, err := l.AcceptKCP()
		if err != nil {
			return
		}
		defer s.Close()
		tuneKCP(s)
		serveFramed(s, true, &c)
	}()
	return harness.Serve(strconv.Itoa(udp.LocalAddr().(*net.UDPAddr).Port), &c, stdin, stdout)
}
