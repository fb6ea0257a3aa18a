package channel

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rwanda-go/rwanda/internal/gwire"
	"github.com/rwanda-go/rwanda/internal/udpio"
	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/transport"
)

// Gateways (issue 25; the IRI-h seed): a multicast URL that names
// gateways (gateway=HOST:PORT,...) opens through gwSelect: the capability
// test (can this member receive the group? then it joins directly), the
// RTT test (else the nearest gateway that answers serves it, the others
// are its standbys), and, while served, gwWatch: when nothing is heard
// from the gateway in use for the configured timeout, the channel moves
// to the next gateway. The channel's identity is its channel id
// (gateway= requires channel=), the same on the group and through any
// gateway, so keys, signatures and streams carry on across a move.

const (
	maxGateways = 8
	// DefaultGatewayTimeout is how long a channel served by a gateway
	// hears nothing from it before it moves to the next.
	DefaultGatewayTimeout = 1500 * time.Millisecond
	// DefaultGatewayProbe is how long Open waits for the gateways'
	// answers and the capability test.
	DefaultGatewayProbe = 500 * time.Millisecond
	// probeResend: a PROBE lost is sent again this often.
	probeResend = 100 * time.Millisecond
)

// GatewayInfo describes how a channel whose URL names gateways reaches
// its group: see [Channel.Gateway].
type GatewayInfo struct {
	// Direct: the capability test passed, and the channel joined the
	// group itself.
	Direct bool
	// Gateways are the gateways in the order the channel uses them (the
	// nearest first; those that did not answer last, as listed), with the
	// round-trip times measured at Open (0: no answer).
	Gateways []netip.AddrPort
	RTTs     []time.Duration
	// Current is the gateway in use (zero when Direct), Moves how often
	// the channel moved to another, LastMove when it last did.
	Current  netip.AddrPort
	Moves    int
	LastMove time.Time
}

// Gateway describes how the channel reaches its group when its URL names
// gateways (gateway=); ok is false otherwise.
func (c *Channel) Gateway() (info GatewayInfo, ok bool) {
	if c.gwInfo == nil {
		return GatewayInfo{}, false
	}
	info = *c.gwInfo
	info.Gateways, info.RTTs = slices.Clone(info.Gateways), slices.Clone(info.RTTs)
	if w := c.gws; w != nil {
		w.mu.Lock()
		info.Current, info.Moves, info.LastMove = w.cands[w.curIdx].IP, w.moves, w.lastMove
		w.mu.Unlock()
	}
	return info, true
}

// probeResult is what the probes found of one gateway.
type probeResult struct {
	addr netip.AddrPort
	rtt  time.Duration // 0: no answer
	idx  int           // its place in the URL
}

// rankGateways orders the gateways for use: those that answered by
// round-trip time (ties: as listed), then those that did not, as listed.
func rankGateways(rs []probeResult) []probeResult {
	out := slices.Clone(rs)
	slices.SortStableFunc(out, func(a, b probeResult) int {
		switch {
		case (a.rtt == 0) != (b.rtt == 0):
			if a.rtt == 0 {
				return 1
			}
			return -1
		case a.rtt != b.rtt:
			return cmp.Compare(a.rtt, b.rtt)
		}
		return a.idx - b.idx
	})
	return out
}

// gwSelect runs the capability and RTT tests for a multicast address that
// names gateways: it sends each gateway PROBEs (again every probeResend),
// asking for the capability test when this host can join the group, and
// listens on the group for the CAPTEST a gateway then sends there. It
// ends when a CAPTEST is heard (direct), or when every gateway answered
// and the CAPTEST had time to come (twice the largest round trip, at
// least 20 ms), or at wait. Without capTest (WithoutDirectJoin) it only
// measures round trips.
func gwSelect(ctx context.Context, a *Address, wait time.Duration, capTest bool) (direct bool, ranked []probeResult, err error) {
	var rs []probeResult
	for i, g := range a.Gateways {
		h, p, _ := net.SplitHostPort(g)
		ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", h)
		if err != nil || len(ips) == 0 {
			return false, nil, &URLError{URL: a.Raw, Param: "gateway", Reason: fmt.Sprintf("cannot resolve %q", h), Err: errors.Join(ErrBadURL, err)}
		}
		port, _ := strconv.ParseUint(p, 10, 16) // checked by ParseURL
		ip := ips[0].Unmap()
		for _, c := range ips { // of the group's family, when it has one
			if c.Unmap().Is4() == a.Group.Addr().Is4() {
				ip = c.Unmap()
				break
			}
		}
		rs = append(rs, probeResult{addr: netip.AddrPortFrom(ip, uint16(port)), idx: i})
	}
	is6 := a.Group.Addr().Is6()
	local := netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	if is6 {
		local = netip.AddrPortFrom(netip.IPv6Unspecified(), 0)
	}
	uc, err := udpio.ListenUnicast(local)
	if err != nil {
		return false, nil, fmt.Errorf("channel: probing gateways: %w", err)
	}
	defer uc.Close()
	// The capability test needs the group joined; a host without a
	// multicast route cannot even join, and is served.
	var ifi *net.Interface
	if a.Iface != "" {
		ifi, _ = net.InterfaceByName(a.Iface)
	}
	var mc *udpio.Conn
	mcErr := errors.New("no capability test (WithoutDirectJoin)")
	if capTest {
		mc, mcErr = udpio.ListenMulticast(udpio.MulticastConfig{Group: a.Group, Interface: ifi, TTL: a.TTL, Loopback: a.Loop, Source: a.Source})
	}
	if mcErr == nil {
		defer mc.Close()
	}
	type heard struct {
		b    []byte
		from netip.AddrPort
		at   time.Time
		mc   bool
	}
	got := make(chan heard, 64)
	var wg sync.WaitGroup
	read := func(conn *udpio.Conn, isMC bool) {
		defer wg.Done()
		msgs := make([]udpio.Message, 4)
		for i := range msgs {
			msgs[i].Buf = make([]byte, 2048)
		}
		for {
			n, err := conn.ReadBatch(msgs)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			at := time.Now()
			for i := range n {
				b := msgs[i].Buf[:msgs[i].N]
				if len(b) == 0 || b[0] != gwire.Magic {
					continue // the group's traffic: not ours to read here
				}
				select {
				case got <- heard{b: slices.Clone(b), from: msgs[i].From, at: at, mc: isMC}:
				default:
				}
			}
		}
	}
	wg.Add(1)
	go read(uc, false)
	if mcErr == nil {
		wg.Add(1)
		go read(mc, true)
	}
	defer func() {
		uc.Close()
		if mcErr == nil {
			mc.Close()
		}
		wg.Wait()
	}()

	var flags byte
	if mcErr == nil {
		flags = gwire.ProbeCapability
	}
	type sent struct {
		gw int
		at time.Time
	}
	nonces := make(map[uint64]sent)
	probeAll := func() {
		now := time.Now()
		for i := range rs {
			if rs[i].rtt != 0 {
				continue
			}
			var b [8]byte
			rand.Read(b[:])
			nonce := max(binary.BigEndian.Uint64(b[:]), 1)
			nonces[nonce] = sent{i, now}
			p := gwire.AppendProbe(nil, nonce, flags)
			_ = uc.WriteTo(p, len(p), rs[i].addr) // a lost probe is sent again
		}
	}
	start := time.Now()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	resend := time.NewTicker(probeResend)
	defer resend.Stop()
	var settle <-chan time.Time
	probeAll()
	for {
		select {
		case <-ctx.Done():
			return false, nil, ctx.Err()
		case <-deadline.C:
			return false, rankGateways(rs), nil
		case <-settle:
			return false, rankGateways(rs), nil
		case <-resend.C:
			probeAll()
		case h := <-got:
			ctl, err := gwire.Parse(h.b)
			if err != nil {
				continue
			}
			s, ours := nonces[ctl.Cookie]
			switch {
			case !ours:
			case h.mc && ctl.Type == gwire.CapTest:
				return true, rankGateways(rs), nil
			case !h.mc && ctl.Type == gwire.Probed && h.from == rs[s.gw].addr && ctl.Group == a.Group && rs[s.gw].rtt == 0:
				rs[s.gw].rtt = max(h.at.Sub(s.at), time.Nanosecond)
				if settle == nil && !slices.ContainsFunc(rs, func(r probeResult) bool { return r.rtt == 0 }) {
					if mcErr != nil {
						return false, rankGateways(rs), nil
					}
					var worst time.Duration
					for _, r := range rs {
						worst = max(worst, r.rtt)
					}
					settle = time.After(min(max(2*worst, 20*time.Millisecond), max(wait-time.Since(start), 0)))
				}
			}
		}
	}
}

// viaGateway is the address of a channel served by gateway g: a's, as a
// unicast channel to g.
func viaGateway(a *Address, g netip.AddrPort) *Address {
	v := *a
	v.Form, v.Transport = Unicast, "udp"
	v.Group, v.Iface, v.Source = netip.AddrPort{}, "", netip.Addr{}
	v.Host, v.Port = g.Addr().String(), g.Port()
	return &v
}

// gwWatch moves a channel served by a gateway to the next when the one in
// use falls silent: every datagram from it (channel datagrams, and a
// HEARTBEAT every half second at least) counts as heard; check (gwTimer,
// on the channel's clock) moves when nothing was heard for the timeout.
type gwWatch struct {
	timeout time.Duration
	cur     atomic.Pointer[transport.Addr] // the gateway in use
	heard   atomic.Int64                   // when last heard from it, UnixNano on the channel's clock
	move    func(from, to transport.Addr, now time.Time)

	mu       sync.Mutex
	cands    []transport.Addr
	curIdx   int
	moves    int
	lastMove time.Time
}

func newGwWatch(cands []transport.Addr, timeout time.Duration, now time.Time, move func(from, to transport.Addr, now time.Time)) *gwWatch {
	w := &gwWatch{timeout: timeout, cands: cands, move: move}
	w.cur.Store(&cands[0])
	w.heard.Store(now.UnixNano())
	return w
}

// heardFrom notes a datagram from from, read at now.
func (w *gwWatch) heardFrom(from transport.Addr, now time.Time) {
	if from == *w.cur.Load() {
		if t := now.UnixNano(); t > w.heard.Load() {
			w.heard.Store(t)
		}
	}
}

// check moves to the next gateway (round the list) when the one in use
// has been silent for the timeout; it reports whether it moved, and when
// to check next: when the one in use will have been silent for the
// timeout if nothing comes meanwhile.
func (w *gwWatch) check(now time.Time) (moved bool, next time.Duration) {
	silent := now.Sub(time.Unix(0, w.heard.Load()))
	if len(w.cands) < 2 {
		return false, w.timeout
	}
	if silent < w.timeout {
		return false, w.timeout - silent
	}
	w.mu.Lock()
	from := w.cands[w.curIdx]
	w.curIdx = (w.curIdx + 1) % len(w.cands)
	to := w.cands[w.curIdx]
	w.moves++
	w.lastMove = now
	w.mu.Unlock()
	w.cur.Store(&to)
	w.heard.Store(now.UnixNano()) // the next gets a whole timeout
	w.move(from, to, now)
	return true, w.timeout
}

// gwTimer runs the watch on the channel's clock: a timer set for the
// moment the gateway in use will have been silent for the timeout, set
// again after each check, so a move comes at the timeout, not later.
type gwTimer struct {
	clock   stack.Clock
	w       *gwWatch
	closed  func() bool
	mu      sync.Mutex
	t       stack.Timer
	stopped bool
}

func (g *gwTimer) run() {
	g.mu.Lock()
	stopped := g.stopped
	g.mu.Unlock()
	if stopped || g.closed() {
		return
	}
	_, next := g.w.check(g.clock.Now())
	g.mu.Lock()
	if !g.stopped {
		g.t = g.clock.AfterFunc(max(next, time.Millisecond), g.run)
	}
	g.mu.Unlock()
}

func (g *gwTimer) stop() {
	if g == nil {
		return
	}
	g.mu.Lock()
	g.stopped = true
	if g.t != nil {
		g.t.Stop()
	}
	g.mu.Unlock()
}

// gwMove moves the channel from one gateway to the next: the new one is
// the peer validated by configuration and where everything for "everyone"
// goes, the members heard through the old one are reached through the new
// one, and a HELLO asks the new one in (its CHALLENGE comes back and is
// echoed). Streams, windows and identity stay: a sender's window spans
// the move, and what was lost in it is repaired end to end.
func (c *Channel) gwMove(from, to transport.Addr, now time.Time) {
	if c.closed.Load() {
		return
	}
	c.paths.setPeer(to)
	c.members.moveRemote(from, to, now)
	c.cnt.report(Event{Kind: "gateway-move", Detail: fmt.Sprintf("%v silent: now through %v", from, to), At: now})
	c.hello(everyone, helloAsk)
	c.out.flushNow(true)
}
