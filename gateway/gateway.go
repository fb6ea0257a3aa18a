package gateway

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/internal/gwire"
	"github.com/rwanda-go/rwanda/internal/udpio"
	"github.com/rwanda-go/rwanda/stack"
)

// Config configures a [Gateway].
type Config struct {
	// URL is the multicast channel to relay (scheme://group:port, with
	// iface=, ttl=, loop= as a channel URL takes them; other parameters
	// are ignored).
	URL string
	// Listen is the unicast address clients send to ("127.0.0.1:7500",
	// ":7500").
	Listen string
	// MaxClients bounds the clients served at once; a new address beyond
	// it is refused ("client-limit") until one is forgotten. Default 1024.
	MaxClients int
	// ClientTimeout is how long a client may be silent before it is
	// forgotten (clients say hello every announce interval, 1 s by
	// default). Default 10 s.
	ClientTimeout time.Duration
	// Shaper and Adapt configure each client's queues and rate adaptation.
	Shaper ShaperConfig
	Adapt  AdaptConfig
	// Absorb is how long past a thinned datagram's time left its client's
	// feedback on that stream is still absorbed; default 200 ms.
	Absorb time.Duration
	// Tick is the period of the loop that sends what clients' rates held
	// back, judges their reports and forgets silent ones; default 1 ms.
	Tick time.Duration
	// Log receives the gateway's warnings; nil: slog.Default().
	Log *slog.Logger
	// Heartbeat is how often each validated client gets a HEARTBEAT
	// (clients that hear nothing from their gateway for their timeout,
	// 1.5 s by default, move to a standby); default 500 ms, negative: none.
	Heartbeat time.Duration
	// CapTests bounds the capability tests (CAPTEST datagrams sent to the
	// group on clients' PROBEs) per second, in all; default 50.
	CapTests int
	// Directory is the list this gateway registers in (and answers
	// DIRQUERY from); nil: a list of this gateway alone. Gateways of one
	// process share one to list each other.
	Directory *Directory
	// Advertise is the address clients are told to send to in the
	// directory; default: Listen as bound.
	Advertise string
	// ReadBuffer is the receive buffer asked for each of the gateway's
	// sockets, beyond net.core.rmem_max where the process may (root,
	// CAP_NET_ADMIN); default 16 MiB. Stats.ReadBuffer is what the
	// kernel gave the clients' socket.
	ReadBuffer int
}

// Stats are a gateway's counters.
type Stats struct {
	// Clients is the number of clients, Validated of them validated.
	Clients, Validated int
	// FromGroup and FromClients count datagrams received; ToGroup and
	// ToClients datagrams sent.
	FromGroup, FromClients, ToGroup, ToClients uint64
	// Thinned counts droppable datagrams thinned for clients, by reason
	// (expired, superseded, frame, overload).
	Thinned map[string]uint64
	// Absorbed counts clients' feedback frames on streams the gateway
	// thinned that it did not forward.
	Absorbed uint64
	// ReadBuffer is the receive buffer of the clients' socket as the
	// kernel reports it (twice what it took: it counts its
	// bookkeeping); 0: unknown.
	ReadBuffer int
	// Probes counts PROBEs answered, CapTests the capability tests sent
	// to the group, Heartbeats the HEARTBEATs sent, Control the
	// directory answers sent, Receipts the clients' RECEIPTs taken.
	Probes, CapTests, Heartbeats, Control, Receipts uint64
	// Drops counts datagrams dropped otherwise, by reason: "malformed",
	// "looped" (a client's datagram the gateway sent to the group, heard
	// back), "client-limit", "unvalidated" (beyond 3× what an address
	// sent before it echoed a challenge), "reliable-overflow",
	// "absorb-keyed" (not a drop: a keyed datagram mixing feedback to
	// absorb with other frames, forwarded whole), "send-error",
	// "gateway-control" (a control datagram not for the gateway, or heard
	// on the group), "captest-limit" (a PROBE answered without the
	// capability test, beyond Config.CapTests per second).
	Drops map[string]uint64
}

// ClientInfo describes one client.
type ClientInfo struct {
	Addr      netip.AddrPort
	Validated bool
	// Rate is its token bucket's rate in bytes per second on its link,
	// each datagram counted with ShaperConfig.Overhead (0: unlimited).
	Rate    float64
	Queued  int
	Members []uint64
	Shaper  ShaperStats
	// Unvalidated counts datagrams not sent to it for want of validation
	// (beyond 3× what it sent before it echoed a challenge).
	Unvalidated uint64
	// NAKs counts its NAKs forwarded to senders on streams that carry
	// droppable data (where the gateway can read them).
	NAKs uint64
	// Delivered is what its path delivered over about the last
	// AdaptConfig.Period, bytes per second on its link, as its RECEIPTs
	// tell (0: unknown).
	Delivered float64
}

const (
	amplification  = 3
	challengeEvery = 100 * time.Millisecond
	maxMembers     = 16  // member ids kept per client
	maxFlows       = 256 // flows kept per client (adaptation, absorption)
	maxStreams     = 1 << 14
)

// A Gateway relays one multicast channel to unicast clients and back. See
// the package documentation.
type Gateway struct {
	cfg   Config
	log   *slog.Logger
	group netip.AddrPort
	mc    *udpio.Conn
	uc    *udpio.Conn
	key   [32]byte
	// rcvBuf is uc's receive buffer in effect.
	rcvBuf int

	mu      sync.Mutex
	clients map[netip.AddrPort]*client
	members map[uint64]*client
	streams map[streamKey]bool // announced streams: monitor at the wire side?
	// up follows the monitor sequence numbers of the group's flows: what
	// the gateway itself never got is no client's path's loss.
	up      map[streamKey]*upFlow
	drops   map[string]uint64
	thinned map[string]uint64
	st      Stats

	queued atomic.Int64  // clients with datagrams queued (a hint for the loop)
	kick   chan struct{} // wakes the loop when datagrams stay queued
	// pumpLocked's state, under mu: the client being pumped, the sends
	// so far, and emitItem bound once.
	cur      *client
	nowMicro int64
	sends    []out
	emit     func(*Item)
	// Issue 25: heartbeats, capability tests (a token bucket), the
	// directory entry.
	hbSeq  uint64
	hbAt   time.Time
	capTok float64
	capAt  time.Time
	dir    *Directory
	entry  DirEntry
	closed chan struct{}
	wg     sync.WaitGroup
	once   sync.Once
}

type streamKey struct {
	member uint64
	stream uint32
}

type client struct {
	addr       netip.AddrPort
	validated  bool
	recvd      int64 // bytes, until validated
	sent       int64
	challenged time.Time
	heard      time.Time
	members    map[uint64]bool
	sh         *Shaper
	ad         *Adapter
	flows      map[streamKey]*flow
	// lastKey and lastFlow are the flow the last datagram sent was of
	// (lastFlow nil: none), which the next is likely of too.
	lastKey   streamKey
	lastFlow  *flow
	sentBytes uint64 // since the last adaptation, with each datagram's Overhead
	absorbFor time.Duration
	unvalid   uint64 // datagrams dropped "unvalidated"
	naks      uint64 // NAKs forwarded on streams with droppable data
	// thinned lists the streams with data thinned since the last datagram
	// of theirs sent: a THINNED goes before the next.
	thinned map[streamKey]bool
	// rcpt holds the client's last RECEIPTs (rcptN in all).
	rcpt  [receiptRing]receipt
	rcptN int
}

// receiptRing is how many RECEIPTs a client's entry keeps: at
// gwire.ReceiptEvery, more than a default adaptation period's worth.
const receiptRing = 8

// receipt is what a client's RECEIPT said: the bytes and datagrams it had
// received in all, at its clock (µs, modulo 2³²).
type receipt struct {
	bytes  uint64
	dgrams uint32
	clock  uint32
	at     time.Time // when it arrived
}

// noteReceipt keeps a RECEIPT.
func (c *client) noteReceipt(ctl gwire.Control, now time.Time) {
	c.rcpt[c.rcptN%receiptRing] = receipt{ctl.Bytes, ctl.Datagrams, ctl.Clock, now}
	c.rcptN++
}

// delivered is the rate the client's path delivered at (bytes per second,
// each datagram with overhead bytes) over about the last period before its
// newest RECEIPT, as its RECEIPTs tell by its own clock: every datagram
// that reached it, of streams it has heard of or not. ok is false with no
// RECEIPT in the last period, none a quarter of a period before it, or
// counts that went back (the client started again).
func (c *client) delivered(now time.Time, period time.Duration, overhead int) (rate float64, ok bool) {
	n := min(c.rcptN, receiptRing)
	if n < 2 {
		return 0, false
	}
	last := c.rcpt[(c.rcptN-1)%receiptRing]
	if now.Sub(last.at) > period {
		return 0, false
	}
	var first receipt
	var dt int64
	for i := 2; i <= n; i++ {
		r := c.rcpt[(c.rcptN-i)%receiptRing]
		d := int64(int32(last.clock - r.clock))
		if d <= 0 || d > period.Microseconds() {
			break
		}
		first, dt = r, d
	}
	if dt < period.Microseconds()/4 || last.bytes < first.bytes {
		return 0, false
	}
	b := float64(last.bytes-first.bytes) + float64(overhead)*float64(last.dgrams-first.dgrams)
	return b / (float64(dt) / 1e6), true
}

// flow is what the gateway keeps of one (sender, stream) for one client.
type flow struct {
	thinned int64 // packets thinned, in all
	// periodBytes counts the bytes sent to the client (with Overhead)
	// since the last adaptation.
	periodBytes uint64
	lastSent    int64 // Unix µs of the last datagram sent
	// recvRate is the rate the client's last report gave (bytes per
	// second on the link, roughly), at reportAt: measured over the monitor's last
	// packets, right for a flow not thinned, an under-reading for one
	// thinned.
	recvRate    float64
	reportAt    time.Time
	thinnedAt   int64 // thinned at the last report
	reported    bool
	expected    uint64
	hwm         int64 // the highest lost − thinned reported
	absorbUntil time.Time
	// sent holds, for a client with a rate limit, the monitor stamps of
	// the flow's last datagrams sent and when (Unix microseconds): a
	// report's echo is looked up in it.
	sent  [sentRing]sentStamp
	sentN int
	// The least transit (report's arrival − hold − when the echoed
	// packet was sent, microseconds, modulo 2³²) in this window and the
	// one before: the path's base, with no queue.
	dMin  [2]uint32
	dOK   [2]bool
	dFrom time.Time
	// echo is the stamp the last timed report echoed (echoed: one did):
	// a report that echoes it again (nothing newer reached the client)
	// tells of no new packet, and its delay is not observed again.
	echo   uint32
	echoed bool
}

// sentRing is how many sent stamps a flow keeps.
const sentRing = 32

type sentStamp struct {
	stamp uint32
	at    int64
}

// sentAt is when the datagram with monitor stamp st was sent (Unix
// microseconds), if the flow remembers.
func (f *flow) sentAt(st uint32) (int64, bool) {
	for i := range min(f.sentN, sentRing) {
		if e := &f.sent[(f.sentN-1-i)%sentRing]; e.stamp == st {
			return e.at, true
		}
	}
	return 0, false
}

// upFlow is what the gateway got of a group flow's monitor sequence.
type upFlow struct {
	high uint64
	lost int64 // numbers skipped, less those that came late
}

// upstream notes a datagram of the group flow k whose last stack packet
// has monitor sequence number seq, of n packets.
func (g *Gateway) upstream(k streamKey, seq uint64, n int) {
	u := g.up[k]
	if u == nil {
		if len(g.up) >= maxStreams {
			clear(g.up)
		}
		g.up[k] = &upFlow{high: seq}
		return
	}
	first := seq - uint64(n-1)
	switch {
	case seq > u.high && first > u.high+1 && first-u.high < 1<<15:
		u.lost += int64(first - u.high - 1)
		u.high = seq
	case seq > u.high:
		u.high = seq
	case u.lost > 0 && u.high-seq < 1<<15:
		u.lost-- // late, or a repair of what was skipped
	}
}

// delayWindow is how long a flow's least transit is kept as its base (two
// windows of it): a path whose base grows (a route change) is
// re-learned within twice this.
const delayWindow = 5 * time.Second

// queueDelay is the queueing delay a report's timing shows: its transit
// less the least transit of the last one to two delayWindows.
func (f *flow) queueDelay(transit uint32, now time.Time) time.Duration {
	if now.Sub(f.dFrom) >= delayWindow {
		f.dMin[1], f.dOK[1] = f.dMin[0], f.dOK[0]
		f.dOK[0], f.dFrom = false, now
	}
	if !f.dOK[0] || int32(transit-f.dMin[0]) < 0 {
		f.dMin[0], f.dOK[0] = transit, true
	}
	base := f.dMin[0]
	if f.dOK[1] && int32(f.dMin[1]-base) < 0 {
		base = f.dMin[1]
	}
	return time.Duration(int32(transit-base)) * time.Microsecond
}

// New opens the gateway's sockets (joining the group) and starts relaying.
func New(cfg Config) (*Gateway, error) {
	a, err := channel.ParseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	if !a.IsMulticast() {
		return nil, fmt.Errorf("gateway: %s is not a multicast channel", cfg.URL)
	}
	if cfg.MaxClients <= 0 {
		cfg.MaxClients = 1024
	}
	if cfg.ClientTimeout <= 0 {
		cfg.ClientTimeout = 10 * time.Second
	}
	if cfg.Absorb <= 0 {
		cfg.Absorb = 200 * time.Millisecond
	}
	if cfg.Tick <= 0 {
		cfg.Tick = time.Millisecond
	}
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = 500 * time.Millisecond
	}
	if cfg.CapTests <= 0 {
		cfg.CapTests = 50
	}
	if cfg.ReadBuffer <= 0 {
		cfg.ReadBuffer = 16 << 20
	}
	cfg.Shaper.defaults()
	cfg.Adapt.defaults()
	g := &Gateway{cfg: cfg, log: cfg.Log, group: a.Group, clients: make(map[netip.AddrPort]*client),
		members: make(map[uint64]*client), streams: make(map[streamKey]bool), up: make(map[streamKey]*upFlow),
		drops: make(map[string]uint64), thinned: make(map[string]uint64), closed: make(chan struct{}), kick: make(chan struct{}, 1)}
	if g.log == nil {
		g.log = slog.Default()
	}
	g.emit = g.emitItem
	rand.Read(g.key[:])
	var ifi *net.Interface
	if a.Iface != "" {
		if ifi, err = net.InterfaceByName(a.Iface); err != nil {
			return nil, fmt.Errorf("gateway: iface %s: %w", a.Iface, err)
		}
	}
	g.mc, err = udpio.ListenMulticast(udpio.MulticastConfig{Group: a.Group, Interface: ifi, TTL: a.TTL, Loopback: a.Loop, Source: a.Source})
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	la, err := net.ResolveUDPAddr("udp", cfg.Listen)
	if err != nil {
		g.mc.Close()
		return nil, fmt.Errorf("gateway: listen %q: %w", cfg.Listen, err)
	}
	// No host (":port") or an IPv4 address gives an IPv4 socket, an IPv6
	// address an IPv6-only one, as "udp4" and "udp6" did before.
	if g.uc, err = udpio.ListenUnicast(la.AddrPort()); err != nil {
		g.mc.Close()
		return nil, fmt.Errorf("gateway: %w", err)
	}
	_ = g.uc.SetReadBuffer(cfg.ReadBuffer) // SO_RCVBUFFORCE where permitted
	g.rcvBuf = g.uc.ReadBufferSize()
	_ = g.uc.SetWriteBuffer(4 << 20)
	_ = g.mc.SetReadBuffer(cfg.ReadBuffer)
	g.capTok = float64(cfg.CapTests)
	g.dir = cfg.Directory
	if g.dir == nil {
		g.dir = &Directory{}
	}
	g.entry = DirEntry{URL: cfg.URL, Addr: cfg.Advertise}
	if g.entry.Addr == "" {
		g.entry.Addr = g.Addr().String()
	}
	g.dir.Add(g.entry)
	g.wg.Add(3)
	go g.readGroup()
	go g.readClients()
	go g.loop()
	return g, nil
}

// Addr is the unicast address clients send to.
func (g *Gateway) Addr() netip.AddrPort { return g.uc.LocalAddr() }

// Close stops the gateway and waits for its goroutines.
func (g *Gateway) Close() error {
	g.once.Do(func() {
		g.dir.Remove(g.entry)
		close(g.closed)
		g.mc.Close()
		g.uc.Close()
	})
	g.wg.Wait()
	return nil
}

func (g *Gateway) drop(why string) { g.drops[why]++ }

// Stats returns a snapshot of the counters.
func (g *Gateway) Stats() Stats {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.st
	st.Clients = len(g.clients)
	st.ReadBuffer = g.rcvBuf
	for _, c := range g.clients {
		if c.validated {
			st.Validated++
		}
	}
	st.Drops = make(map[string]uint64, len(g.drops)+1)
	for k, v := range g.drops {
		st.Drops[k] = v
	}
	for _, c := range g.clients {
		if n := c.sh.stats.ReliableOverflow; n > 0 {
			st.Drops["reliable-overflow"] += n
		}
	}
	st.Thinned = make(map[string]uint64, len(g.thinned))
	for k, v := range g.thinned {
		st.Thinned[k] = v
	}
	return st
}

// Clients describes the clients.
func (g *Gateway) Clients() []ClientInfo {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]ClientInfo, 0, len(g.clients))
	for _, c := range g.clients {
		ci := ClientInfo{Addr: c.addr, Validated: c.validated, Rate: c.sh.Rate(), Queued: c.sh.Queued(), Shaper: c.sh.Stats(), Unvalidated: c.unvalid, NAKs: c.naks}
		ci.Delivered, _ = c.delivered(time.Now(), g.cfg.Adapt.Period, c.sh.cfg.Overhead)
		for m := range c.members {
			ci.Members = append(ci.Members, m)
		}
		out = append(out, ci)
	}
	return out
}

func (g *Gateway) cookie(a netip.AddrPort) uint64 {
	mac := hmac.New(sha256.New, g.key[:])
	b, _ := a.MarshalBinary()
	mac.Write(b)
	v := binary.BigEndian.Uint64(mac.Sum(nil))
	return max(v, 1)
}

// readGroup reads the multicast group.
func (g *Gateway) readGroup() {
	defer g.wg.Done()
	msgs := make([]udpio.Message, 32)
	for i := range msgs {
		msgs[i].Buf = make([]byte, 64<<10)
	}
	var sends []out
	var d dgram
	for {
		n, err := g.mc.ReadBatch(msgs)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			select {
			case <-g.closed:
				return
			default:
			}
			time.Sleep(time.Millisecond) // a transient error: do not spin
			continue
		}
		now := time.Now()
		g.mu.Lock()
		for i := range n {
			for b := range msgs[i].Datagrams {
				g.fromGroup(b, &d, now)
			}
		}
		sends = g.pumpLocked(now, sends[:0])
		g.mu.Unlock()
		g.send(sends)
	}
}

// readClients reads the unicast socket, a batch of datagrams a system
// call where the platform has one (recvmmsg), and relays a batch under
// one lock, with one pump of the clients' queues after it.
func (g *Gateway) readClients() {
	defer g.wg.Done()
	msgs := make([]udpio.Message, 32)
	for i := range msgs {
		msgs[i].Buf = make([]byte, 64<<10) // room for a GRO batch
	}
	var sends []out
	var d dgram
	var now time.Time
	for {
		n, err := g.uc.ReadBatch(msgs)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			select {
			case <-g.closed:
				return
			default:
			}
			continue // ICMP errors surface as read errors on some systems
		}
		now = time.Now()
		sends = sends[:0]
		g.mu.Lock()
		for i := range n {
			m := &msgs[i]
			for b := range m.Datagrams { // several with GRO
				sends = g.fromClient(b, m.From, &d, now, sends)
			}
		}
		sends = g.pumpLocked(now, sends)
		g.mu.Unlock()
		g.send(sends)
	}
}

// loop sends what rates held back (every Tick while something is
// queued), adapts rates and forgets silent clients (every 50 ms).
func (g *Gateway) loop() {
	defer g.wg.Done()
	maint := time.NewTicker(50 * time.Millisecond)
	defer maint.Stop()
	fast := time.NewTicker(g.cfg.Tick)
	fast.Stop()
	fastOn := false
	var sends []out
	for {
		var now time.Time
		doMaint := false
		select {
		case <-g.closed:
			return
		case <-g.kick:
			if !fastOn {
				fast.Reset(g.cfg.Tick)
				fastOn = true
			}
			continue
		case <-fast.C:
		case <-maint.C:
			doMaint = true
		}
		now = time.Now()
		g.mu.Lock()
		sends = sends[:0]
		if doMaint {
			sends = g.maintainLocked(now, sends)
		}
		sends = g.pumpLocked(now, sends)
		g.mu.Unlock()
		g.send(sends)
		if fastOn && g.queued.Load() == 0 {
			fast.Stop()
			fastOn = false
		}
	}
}

func (g *Gateway) send(sends []out) {
	if len(sends) == 0 {
		return
	}
	// Fragmented: the gateway relays datagrams sized for the group's
	// network, which a client's path (a tunnel, say) may carry only in
	// pieces. The Conn serialises the readers' sends.
	if failed, _ := g.uc.WriteBatchFragmented(sends); failed > 0 {
		g.mu.Lock()
		g.drops["send-error"] += uint64(failed)
		g.mu.Unlock()
	}
}

// item builds the queue item of a datagram read into d.
func newItem(b []byte, d *dgram, now time.Time) *Item {
	it := &Item{B: append([]byte(nil), b...), Sender: d.sender, Stream: d.stream, At: now, Packets: d.data, Stamp: d.stamp, Stamped: d.stamped}
	if d.data > 0 {
		m := &d.meta
		it.Droppable = m.Flags&stack.FlagDroppable != 0
		it.Media = m.Media
		if m.Flags&stack.FlagLeft != 0 {
			it.HasLeft, it.Left = true, time.Duration(m.Left)*time.Millisecond
		}
		it.Key, it.Frame, it.End = m.Key(), m.Frame(), m.Flags&stack.FlagFrameEnd != 0
	}
	return it
}

// fromGroup relays a datagram heard on the group to the clients it is
// for.
func (g *Gateway) fromGroup(b []byte, d *dgram, now time.Time) {
	g.st.FromGroup++
	if len(b) > 0 && b[0] == gwire.Magic {
		g.drop("gateway-control") // a CAPTEST (ours, looped back, or another gateway's)
		return
	}
	if err := inspect(b, d); err != nil {
		g.drop("malformed")
		return
	}
	if g.members[d.sender] != nil {
		g.drop("looped")
		return
	}
	g.noteAnnounces(d)
	if d.stamped && d.data > 0 {
		g.upstream(streamKey{d.sender, d.stream}, d.seq, d.data)
	}
	it := newItem(b, d, now)
	if d.all {
		for _, c := range g.clients {
			g.enqueue(c, it, now)
		}
		return
	}
	for _, t := range d.targets {
		if c := g.members[t]; c != nil {
			g.enqueue(c, it, now)
		}
	}
}

func (g *Gateway) noteAnnounces(d *dgram) {
	for _, a := range d.announces {
		k := streamKey{d.sender, a.stream}
		if _, ok := g.streams[k]; !ok && len(g.streams) >= maxStreams {
			for old := range g.streams {
				delete(g.streams, old)
				break
			}
		}
		g.streams[k] = monitorOuter(a.qos)
	}
}

func (g *Gateway) enqueue(c *client, it *Item, now time.Time) {
	c.sh.Push(it, now)
}

// fromClient handles a datagram from a client's address.
func (g *Gateway) fromClient(b []byte, from netip.AddrPort, d *dgram, now time.Time, sends []out) []out {
	g.st.FromClients++
	c := g.clients[from]
	if len(b) > 0 && b[0] == gwire.Magic {
		ctl, err := gwire.Parse(b)
		switch {
		case err != nil:
			g.drop("malformed")
		case ctl.Type == gwire.Probe:
			sends = g.probed(ctl, from, now, sends)
		case ctl.Type == gwire.DirQuery:
			b, _ := gwire.AppendDirectory(nil, g.dir.wire(), int(ctl.Index))
			sends = append(sends, out{B: b, Dst: from})
			g.st.Control++
		case ctl.Type == gwire.Receipt && c != nil && c.validated:
			c.noteReceipt(ctl, now)
			c.heard = now
			g.st.Receipts++
		case ctl.Type != gwire.Echo || c == nil || ctl.Cookie != g.cookie(from):
			g.drop("gateway-control")
		default:
			if !c.validated && g.log.Enabled(context.Background(), slog.LevelDebug) {
				g.log.Debug("gateway: validated", "client", from, "unvalidated-drops", c.unvalid)
			}
			c.validated = true
			c.heard = now
		}
		return sends
	}
	if err := inspect(b, d); err != nil {
		g.drop("malformed")
		return sends
	}
	if c == nil {
		if c = g.newClient(from, now); c == nil {
			g.drop("client-limit")
			return sends
		}
		g.log.Debug("gateway: new client", "client", from)
	}
	c.heard = now
	if !c.validated {
		c.recvd += int64(len(b))
		if now.Sub(c.challenged) >= challengeEvery {
			c.challenged = now
			c.sent += gwire.Len
			sends = append(sends, out{B: gwire.Append(nil, gwire.Challenge, g.cookie(from)), Dst: from})
		}
	}
	g.claim(c, d.sender)
	g.noteAnnounces(d)
	b = g.readFeedback(c, b, d, now)
	if b == nil {
		return sends
	}
	// n−1: to the group and the other clients, or only to the targets.
	var it *Item
	toGroup := d.all
	for _, t := range d.targets {
		if g.members[t] == nil {
			toGroup = true
		}
	}
	if toGroup {
		if err := g.mc.WriteTo(b, len(b), g.group); err != nil {
			g.drop("send-error")
		} else {
			g.st.ToGroup++
		}
	}
	if d.all {
		for _, o := range g.clients {
			if o != c {
				if it == nil {
					it = newItem(b, d, now)
				}
				g.enqueue(o, it, now)
			}
		}
		return sends
	}
	for _, t := range d.targets {
		if o := g.members[t]; o != nil && o != c {
			if it == nil {
				it = newItem(b, d, now)
			}
			g.enqueue(o, it, now)
		}
	}
	return sends
}

// readFeedback reads the receiver reports in a client's datagram for the
// client's adaptation, and absorbs its feedback on streams of which the
// gateway thinned data still within its time left: so the client's NAKs
// for what the gateway dropped never reach the sender. It returns the
// datagram to forward (b, or a copy without the absorbed frames), or nil
// when nothing is left to forward.
func (g *Gateway) readFeedback(c *client, b []byte, d *dgram, now time.Time) []byte {
	absorb := 0
	for i := range d.feedback {
		fb := &d.feedback[i]
		k := streamKey{fb.target, fb.stream}
		f := c.flows[k]
		if g.streams[k] {
			if r, ok := monitorReport(fb.payload); ok {
				if f == nil {
					f = g.flowOf(c, k)
				}
				if f != nil {
					g.report(c, k, f, r, now)
				}
			}
		}
		if g.absorbs(fb, f, now) {
			absorb++
		} else if g.streams[k] && isNAK(fb.payload) {
			if _, droppable := c.sh.classes[k]; droppable {
				c.naks++
			}
		}
	}
	if absorb == 0 {
		return b
	}
	if absorb == d.frames {
		g.st.Absorbed += uint64(absorb)
		return nil
	}
	if d.keyed {
		g.drop("absorb-keyed") // its tag covers every frame: forwarded whole
		return b
	}
	nb := make([]byte, 0, len(b))
	nb = append(nb, b[:headerLen]...)
	off := headerLen
	for i := range d.feedback {
		fb := &d.feedback[i]
		if g.absorbs(fb, c.flows[streamKey{fb.target, fb.stream}], now) {
			nb = append(nb, b[off:fb.off]...)
			off = fb.end
			g.st.Absorbed++
		}
	}
	return append(nb, b[off:]...)
}

// absorbs reports whether a client's feedback frame fb is to be absorbed:
// its stream has data the gateway thinned for the client still within its
// time left, and it may be a NAK. Where the feedback is readable (the
// monitor layer at the wire side, no encryption) only NAKs are absorbed
// (a window layer's NAK passed through monitor), and status, acknowledgements and reports go on;
// otherwise the whole frame is.
func (g *Gateway) absorbs(fb *fbFrame, f *flow, now time.Time) bool {
	if f == nil || !now.Before(f.absorbUntil) {
		return false
	}
	if g.streams[streamKey{fb.target, fb.stream}] {
		return isNAK(fb.payload)
	}
	return true
}

// report feeds one monitor report into the client's adapter: packets
// settled since the last and lost beyond what the gateway thinned, both
// without what it thinned (a thinned flow's losses are judged among what
// was sent), and the queueing delay the report's timing shows.
func (g *Gateway) report(c *client, k streamKey, f *flow, r mreport, now time.Time) {
	expected, lost := r.expected, r.lost
	f.recvRate = float64(r.rate) + float64(r.mpps)/1000*float64(reportOverhead+c.sh.cfg.Overhead)
	f.reportAt = now
	if r.timed && (!f.echoed || r.echo != f.echo) {
		f.echo, f.echoed = r.echo, true
		// Transit: from when the gateway sent the echoed packet to the
		// report's arrival, less the client's hold: the way to the client
		// and back, with no part before the gateway in it. The constant
		// parts cancel against the least. The least is learned with no
		// limit too: the first packets of a flow find the path's queue
		// empty, and a limit set once it has filled would otherwise
		// take a standing queue for none.
		if sent, ok := f.sentAt(r.echo); ok {
			d := f.queueDelay(uint32(now.UnixMicro()-int64(r.hold)-sent), now)
			if c.sh.rate > 0 {
				c.ad.ObserveDelay(d)
			}
		}
	}
	net := int64(lost) - f.thinned
	if u := g.up[k]; u != nil {
		net -= u.lost // what never reached the gateway
	}
	thinned := f.thinned - f.thinnedAt
	f.thinnedAt = f.thinned
	if !f.reported || expected < f.expected {
		f.reported, f.expected, f.hwm = true, expected, net
		return
	}
	packets := expected - f.expected
	f.expected = expected
	packets -= min(packets, uint64(max(thinned, 0)))
	var l uint64
	if net > f.hwm {
		l = uint64(net - f.hwm)
		f.hwm = net
	}
	if l > 0 && g.log.Enabled(context.Background(), slog.LevelDebug) {
		g.log.Debug("gateway: loss", "client", c.addr, "stream", fmt.Sprintf("%x/%d", k.member, k.stream), "expected", expected, "lost", lost, "thinned", f.thinned, "new", l, "of", packets)
	}
	c.ad.Observe(packets, l)
}

func (g *Gateway) newClient(from netip.AddrPort, now time.Time) *client {
	if len(g.clients) >= g.cfg.MaxClients {
		return nil
	}
	c := &client{addr: from, heard: now, members: make(map[uint64]bool), flows: make(map[streamKey]*flow), thinned: make(map[streamKey]bool),
		absorbFor: 2*g.cfg.Adapt.Period + g.cfg.Absorb + g.cfg.Shaper.MaxDelay,
		ad:        NewAdapter(g.cfg.Adapt)}
	scfg := g.cfg.Shaper
	if scfg.Overhead == 0 && from.Addr().Is6() && !from.Addr().Is4In6() {
		scfg.Overhead = OverheadIPv6
	}
	c.sh = NewShaper(scfg)
	c.sh.SetRate(c.ad.Rate(), now)
	c.sh.OnThin = func(it *Item, why string, now time.Time) {
		g.thinned[why]++
		if it.Packets > 0 && len(c.thinned) < maxFlows {
			c.thinned[streamKey{it.Sender, it.Stream}] = true
		}
		f := g.flowOf(c, streamKey{it.Sender, it.Stream})
		if f == nil {
			return
		}
		f.thinned += int64(it.Packets)
		until := it.At.Add(g.cfg.Absorb)
		if it.HasLeft {
			until = until.Add(it.Left)
		} else {
			until = until.Add(g.cfg.Shaper.MaxDelay)
		}
		if until.After(f.absorbUntil) {
			f.absorbUntil = until
		}
	}
	g.clients[from] = c
	return c
}

func (g *Gateway) flowOf(c *client, k streamKey) *flow {
	f := c.flows[k]
	if f == nil {
		if len(c.flows) >= maxFlows {
			return nil
		}
		f = &flow{}
		c.flows[k] = f
	}
	return f
}

// claim records that member sends from client c.
func (g *Gateway) claim(c *client, member uint64) {
	if c.members[member] {
		return
	}
	if o := g.members[member]; o != nil {
		delete(o.members, member) // it moved
	}
	if len(c.members) >= maxMembers {
		return
	}
	c.members[member] = true
	g.members[member] = c
}

// pumpLocked appends to sends what the clients' rates let go now.
func (g *Gateway) pumpLocked(now time.Time, sends []out) []out {
	var queued int64
	g.sends = sends
	g.nowMicro = now.UnixMicro()
	for _, c := range g.clients {
		if c.sh.Queued() == 0 {
			continue
		}
		g.cur = c
		c.sh.Pop(now, g.emit)
		if c.sh.Queued() > 0 {
			queued++
		}
	}
	g.cur = nil
	if queued > 0 && g.queued.Load() == 0 {
		select {
		case g.kick <- struct{}{}:
		default:
		}
	}
	g.queued.Store(queued)
	sends, g.sends = g.sends, nil
	return sends
}

// emit appends it, going to g.cur, to g.sends (pumpLocked; bound once so
// that pumping allocates nothing).
func (g *Gateway) emitItem(it *Item) {
	c := g.cur
	if !c.validated {
		if c.sent+int64(len(it.B)) > amplification*c.recvd {
			g.drop("unvalidated")
			c.unvalid++
			return
		}
		c.sent += int64(len(it.B))
	}
	if it.Packets > 0 && len(c.thinned) > 0 {
		if k := (streamKey{it.Sender, it.Stream}); c.thinned[k] {
			delete(c.thinned, k)
			g.sends = append(g.sends, out{B: gwire.AppendThinned(nil, it.Sender, it.Stream), Dst: c.addr})
		}
	}
	size := uint64(c.sh.size(it))
	if it.Packets > 0 {
		f := c.lastFlow
		if k := (streamKey{it.Sender, it.Stream}); f == nil || c.lastKey != k {
			f = g.flowOf(c, k)
			c.lastKey, c.lastFlow = k, f
		}
		if f != nil {
			f.periodBytes += size
			f.lastSent = g.nowMicro
			if it.Stamped {
				// When its flow's datagram went, for the delay its
				// client's reports show.
				f.sent[f.sentN%sentRing] = sentStamp{it.Stamp, g.nowMicro}
				f.sentN++
			}
		}
	}
	c.sentBytes += size
	g.st.ToClients++
	g.sends = append(g.sends, out{B: it.B, Dst: c.addr})
}

// maintainLocked adapts the clients' rates, forgets the silent ones, and
// challenges again those not yet validated (a CHALLENGE or its ECHO may
// be lost), within their 3× budget, and every Config.Heartbeat sends the
// validated ones a HEARTBEAT; it appends what it sends to sends.
func (g *Gateway) maintainLocked(now time.Time, sends []out) []out {
	var hb []byte // one HEARTBEAT for every validated client
	if g.cfg.Heartbeat > 0 && now.Sub(g.hbAt) >= g.cfg.Heartbeat {
		g.hbAt = now
		g.hbSeq++
		hb = gwire.Append(nil, gwire.Heartbeat, g.hbSeq)
	}
	for a, c := range g.clients {
		if hb != nil && c.validated {
			sends = append(sends, out{B: hb, Dst: c.addr})
			g.st.Heartbeats++
		}
		if !c.validated && now.Sub(c.challenged) >= challengeEvery && c.sent+gwire.Len <= amplification*c.recvd {
			c.challenged = now
			c.sent += gwire.Len
			sends = append(sends, out{B: gwire.Append(nil, gwire.Challenge, g.cookie(c.addr)), Dst: c.addr})
		}
		if now.Sub(c.heard) > g.cfg.ClientTimeout {
			for m := range c.members {
				if g.members[m] == c {
					delete(g.members, m)
				}
			}
			g.drops["reliable-overflow"] += c.sh.Stats().ReliableOverflow
			delete(g.clients, a)
			continue
		}
		c.adapt(now, g.log)
		for k, f := range c.flows {
			if !f.reported && now.After(f.absorbUntil.Add(g.cfg.ClientTimeout)) && now.UnixMicro()-f.lastSent > g.cfg.ClientTimeout.Microseconds() {
				delete(c.flows, k)
				c.lastFlow = nil
			}
		}
	}
	return sends
}

// reportOverhead is what the gateway adds per packet to a monitor
// report's payload rate to reckon datagram bytes: datagram, frame and
// relay metadata headers, roughly (and the shaper's Overhead on top, for
// the bytes on the link).
const reportOverhead = 28

// absorbLoss makes the gateway absorb the client's NAKs on the streams
// that carry droppable data for a while: its rate was lowered for loss
// (DECISIONS §2: a NAK for what the gateway dropped, or had the client's
// path drop by sending too much, is no concern of the sender's).
func (c *client) absorbLoss(now time.Time) {
	until := now.Add(c.absorbFor)
	for k := range c.sh.classes {
		if f := c.flows[k]; f != nil && until.After(f.absorbUntil) {
			f.absorbUntil = until
		}
	}
}

// adapt runs the client's adapter on what was sent since the last call
// and what the client reports receiving.
func (c *client) adapt(now time.Time, log *slog.Logger) {
	if c.ad.last.IsZero() {
		c.ad.Update(now, 0, 0)
		c.sentBytes = 0
		return
	}
	el := now.Sub(c.ad.last)
	if el < c.ad.cfg.Period {
		return
	}
	sending := float64(c.sentBytes) / el.Seconds()
	c.sentBytes = 0
	// The rates the monitor reports are measured over its last packets,
	// which under-read a thinned flow: the adapter goes by what the
	// gateway sent and the loss and delay reported, and by the received
	// rates only for its first limit, while nothing is thinned. A flow
	// that has not reported lately (a client reports on a stream only
	// once it has heard of it) is reckoned to have got through what the
	// flows that did report got of what was sent to them: with no limit,
	// the client's path drops alike from all (roughly: audio and what is
	// never thinned go first).
	var received float64
	var all, reporting uint64
	for _, f := range c.flows {
		all += f.periodBytes
		if c.sh.rate <= 0 && now.Sub(f.reportAt) <= 2*c.ad.cfg.Period {
			received += f.recvRate
			reporting += f.periodBytes
		}
		f.periodBytes = 0
	}
	if d, ok := c.delivered(now, c.ad.cfg.Period, c.sh.cfg.Overhead); ok {
		// What the path delivered, by the client's RECEIPTs: every
		// stream's datagrams, not only those of streams it reports on.
		received = d
	} else if reporting > 0 && all > reporting {
		received *= float64(all) / float64(reporting)
	}
	// The rate never goes below what the shaper never thins, and audio,
	// with a margin: a rate under them would starve a reliable stream.
	c.ad.SetFloor(c.sh.urgentRate(now) * 1.25)
	before := c.ad.Rate()
	if r, changed := c.ad.Update(now, sending, received); changed {
		if j := c.ad.Last(); (before <= 0 || r < before) && j.Lost > 0 {
			// Lowered for loss: the gateway sent more than the client's
			// path takes, and absorbs the client's NAKs of droppable
			// data for what was lost meanwhile, as for what it thins.
			c.absorbLoss(now)
		}
		if log.Enabled(context.Background(), slog.LevelDebug) {
			j := c.ad.Last()
			log.Debug("gateway: rate", "client", c.addr, "rate", int(r), "sending", int(j.Sending), "received", int(received), "receipts", c.rcptN, "packets", j.Packets, "lost", j.Lost, "delay", j.Delay, "delay-max", j.DelayMax, "timed", j.Timed, "unvalidated-drops", c.unvalid, "queued", c.sh.Queued())
		}
		c.sh.SetRate(r, now)
	} else if j := c.ad.Last(); j.Lost > 0 && log.Enabled(context.Background(), slog.LevelDebug) {
		log.Debug("gateway: rate kept", "client", c.addr, "rate", int(r), "sending", int(j.Sending), "packets", j.Packets, "lost", j.Lost, "delay", j.Delay, "delay-max", j.DelayMax, "timed", j.Timed, "queued", c.sh.Queued())
	}
}
