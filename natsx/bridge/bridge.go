package bridge

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/natsx"
	"github.com/rwanda-go/rwanda/transport"
)

// Defaults of [Config].
const (
	DefaultHeartbeat = 100 * time.Millisecond
	DefaultSilence   = 500 * time.Millisecond
	DefaultForget    = 30 * time.Second
	DefaultHoldBytes = 16 << 20
)

// Side names a bridge's two transports, for [Config.Wrap].
type Side string

// The two sides.
const (
	LAN Side = "lan" // the site's channel (multicast, mem, udp)
	WAN Side = "wan" // the NATS subject shared with the other sites' bridges
)

// Config configures a [Bridge].
type Config struct {
	// LAN is the site's channel URL (app://239.1.2.3:7400?channel=lesson,
	// mem://name, ...): the bridge opens its transport, without a key.
	LAN string
	// WAN is the NATS side's URL (app+nats://host:4222/subject): the
	// subject the sites' bridges share.
	WAN string
	// Heartbeat is how often the bridge says it is there on the WAN
	// subject (DefaultHeartbeat); Silence how long without a heartbeat
	// from a far bridge it has heard makes that site unreachable
	// (DefaultSilence, at least 2 heartbeats); Forget how long a silent far
	// bridge is waited for before it is forgotten (DefaultForget), and
	// what was held for it released.
	Heartbeat, Silence, Forget time.Duration
	// HoldBytes bounds what the bridge holds while a far site is
	// unreachable (DefaultHoldBytes; each datagram counts its size and 64
	// bytes); beyond, datagrams are dropped and counted "hold-full"
	// (reliable streams repair them end to end).
	HoldBytes int
	// Wrap, if set, is given each transport as it opens and the bridge uses
	// what it returns: a hook for tests and captures.
	Wrap func(Side, transport.Conn) transport.Conn
	// Logger receives state changes (default: discarded).
	Logger *slog.Logger
}

// Stats are a bridge's counters.
type Stats struct {
	ToWAN, ToLAN uint64            // datagrams forwarded each way
	Held         uint64            // datagrams held while a far site was unreachable
	Holding      int               // datagrams held now
	Reachable    bool              // every far bridge heard within Silence
	Peers        int               // far bridges known
	Drops        map[string]uint64 // by reason
}

// Drop reasons counted in [Stats].Drops.
const (
	DropMalformed = "malformed"  // not a wire v2 datagram, or frames that do not parse
	DropLoop      = "loop"       // a member of the other side, coming back
	DropOwn       = "own"        // the bridge's own send, looped back by the LAN
	DropExpired   = "expired"    // droppable, and its time left spent in the bridges or between them
	DropHoldFull  = "hold-full"  // the hold queue was full
	DropHeartbeat = "heartbeat"  // a heartbeat that does not parse
	DropSendError = "send-error" // a transport refused it
)

// Bridge relays one channel's datagrams between a site's LAN transport and
// a NATS subject. Create it with [New]; Close stops it.
type Bridge struct {
	cfg      Config
	id       uint64
	lan, wan transport.Conn
	log      *slog.Logger

	wmu  sync.Mutex // WAN sends (LAN serve, pump, heartbeats), and:
	wbuf []byte     // the envelope and datagram being sent
	lmu  sync.Mutex // LAN sends

	mu        sync.Mutex
	local     idSet // members heard on the LAN
	remote    idSet // members heard on the WAN
	peers     map[uint64]*peer
	reachable bool
	held      []heldDgram
	heldBytes int
	releasing bool // the pump is sending held datagrams: newer ones queue behind
	drops     map[string]uint64

	toWAN, toLAN, heldN atomic.Uint64

	wake    chan struct{}
	stop    chan struct{}
	wg      sync.WaitGroup
	closing sync.Once
}

// peer is a far bridge.
type peer struct {
	last    time.Time // its latest heartbeat
	transit transit
}

type heldDgram struct {
	b    []byte
	at   time.Time
	info Info
}

// New opens both transports and starts relaying.
func New(ctx context.Context, cfg Config) (*Bridge, error) {
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.Silence <= 0 {
		cfg.Silence = DefaultSilence
	}
	if cfg.Silence < 2*cfg.Heartbeat {
		return nil, fmt.Errorf("bridge: silence %v shorter than two heartbeats (%v)", cfg.Silence, 2*cfg.Heartbeat)
	}
	if cfg.Forget <= 0 {
		cfg.Forget = DefaultForget
	}
	if cfg.HoldBytes <= 0 {
		cfg.HoldBytes = DefaultHoldBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	b := &Bridge{cfg: cfg, log: cfg.Logger, local: newIDSet(), remote: newIDSet(),
		peers: make(map[uint64]*peer), reachable: true, drops: make(map[string]uint64),
		wake: make(chan struct{}, 1), stop: make(chan struct{})}
	var idb [8]byte
	for b.id == 0 {
		rand.Read(idb[:])
		b.id = binary.BigEndian.Uint64(idb[:])
	}
	lan, err := openSide(ctx, cfg.LAN, false)
	if err != nil {
		return nil, err
	}
	wan, err := openSide(ctx, cfg.WAN, true)
	if err != nil {
		lan.Close()
		return nil, err
	}
	if cfg.Wrap != nil {
		lan, wan = cfg.Wrap(LAN, lan), cfg.Wrap(WAN, wan)
	}
	b.lan, b.wan = lan, wan
	b.wg.Add(3)
	go func() { defer b.wg.Done(); lan.Serve(b.fromLAN, func() {}) }()
	go func() { defer b.wg.Done(); wan.Serve(b.fromWAN, func() {}) }()
	go func() { defer b.wg.Done(); b.pump() }()
	return b, nil
}

// openSide opens the transport a channel URL names. The WAN side must be
// NATS.
func openSide(ctx context.Context, raw string, wan bool) (transport.Conn, error) {
	a, err := channel.ParseURL(raw)
	if err != nil {
		return nil, err
	}
	if wan && a.Transport != natsx.Name {
		return nil, fmt.Errorf("bridge: the WAN side %q is not a +nats URL", raw)
	}
	if !wan && a.Transport == "" {
		return nil, fmt.Errorf("bridge: %q has no transport (a recording?)", raw)
	}
	e, err := transport.Lookup(a.Transport)
	if err != nil {
		return nil, err
	}
	op, err := e.Open(ctx, a.Endpoint())
	if err != nil {
		return nil, err
	}
	if !op.Conn.ReachAll() {
		op.Conn.Close()
		return nil, fmt.Errorf("bridge: %q: one send does not reach every member (a unicast URL); a bridge joins a group, a hub or a subject", raw)
	}
	return op.Conn, nil
}

// ID is the bridge's id, in its heartbeats.
func (b *Bridge) ID() uint64 { return b.id }

func (b *Bridge) drop(reason string) {
	b.mu.Lock()
	b.drops[reason]++
	b.mu.Unlock()
}

// fromLAN handles a datagram from the site: forwarded to the WAN, or held
// while a far site is unreachable.
func (b *Bridge) fromLAN(d []byte, from transport.Addr) {
	if from == b.lan.LocalAddr() {
		b.drop(DropOwn)
		return
	}
	in, err := Inspect(d)
	if err != nil {
		b.drop(DropMalformed)
		return
	}
	now := time.Now()
	b.mu.Lock()
	if b.remote.has(in.Sender, now) {
		b.drops[DropLoop]++
		b.mu.Unlock()
		return
	}
	b.local.add(in.Sender, now)
	if in.Expired(0) { // sent with no time left
		b.drops[DropExpired]++
		b.mu.Unlock()
		return
	}
	if b.reachable && len(b.held) == 0 && !b.releasing {
		b.mu.Unlock()
		b.sendWAN(d, 0)
		return
	}
	if b.heldBytes+holdCost(d) > b.cfg.HoldBytes {
		b.drops[DropHoldFull]++
		b.mu.Unlock()
		return
	}
	b.held = append(b.held, heldDgram{b: append([]byte(nil), d...), at: now, info: in})
	b.heldBytes += holdCost(d)
	b.mu.Unlock()
	b.heldN.Add(1)
	b.poke()
}

// holdCost is what a held datagram counts against Config.HoldBytes: its
// bytes and its entry, so that tiny datagrams cannot make a long queue.
func holdCost(d []byte) int { return len(d) + 64 }

func (b *Bridge) poke() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// sendWAN sends d, in its envelope, to the far bridges; residence is
// how long it has been in this bridge.
func (b *Bridge) sendWAN(d []byte, residence time.Duration) {
	b.wmu.Lock()
	b.wbuf = append(appendEnvelope(b.wbuf[:0], b.id, time.Now(), residence), d...)
	err := b.wan.Send(b.wbuf, 0, transport.Addr{})
	b.wmu.Unlock()
	if err != nil {
		b.drop(DropSendError)
		return
	}
	b.toWAN.Add(1)
}

// fromWAN handles what came over NATS: a far bridge's heartbeat, or a far
// member's datagram for the site.
func (b *Bridge) fromWAN(d []byte, _ transport.Addr) {
	now := time.Now()
	if isHeartbeat(d) {
		id, bye, clock, ok := parseHeartbeat(d)
		if !ok {
			b.drop(DropHeartbeat)
			return
		}
		b.heard(id, bye, clock, now)
		return
	}
	peerID, clock, residence, d, ok := parseEnvelope(d)
	if !ok {
		b.drop(DropMalformed)
		return
	}
	in, err := Inspect(d)
	if err != nil {
		b.drop(DropMalformed)
		return
	}
	b.mu.Lock()
	if b.local.has(in.Sender, now) {
		b.drops[DropLoop]++
		b.mu.Unlock()
		return
	}
	b.remote.add(in.Sender, now)
	if in.Droppable && in.HasLeft {
		// Its time between the bridges: its residence in the far one, and
		// what it took beyond the fastest from there to here (a far
		// bridge not heard yet: a message of its own is the first sample).
		p := b.peers[peerID]
		var tr transit
		if p != nil {
			tr = p.transit
		}
		spent := residence + tr.sample(now, clock)
		if p != nil {
			p.transit = tr
		}
		if in.Expired(spent) {
			b.drops[DropExpired]++
			b.mu.Unlock()
			return
		}
	}
	b.mu.Unlock()
	b.lmu.Lock()
	err = b.lan.Send(d, 0, transport.Addr{})
	b.lmu.Unlock()
	if err != nil {
		b.drop(DropSendError)
		return
	}
	b.toLAN.Add(1)
}

// heard records a far bridge's heartbeat.
func (b *Bridge) heard(id uint64, bye bool, clock, now time.Time) {
	b.mu.Lock()
	if bye {
		delete(b.peers, id)
	} else {
		p := b.peers[id]
		if p == nil {
			p = &peer{}
			b.peers[id] = p
		}
		p.last = now
		p.transit.sample(now, clock)
	}
	changed := b.updateReachable(now)
	b.mu.Unlock()
	if changed {
		b.poke()
	}
}

// updateReachable recomputes reachable (b.mu held) and reports whether it
// changed.
func (b *Bridge) updateReachable(now time.Time) bool {
	r := true
	for id, p := range b.peers {
		switch silent := now.Sub(p.last); {
		case silent >= b.cfg.Forget:
			delete(b.peers, id)
			b.log.Warn("bridge: far bridge forgotten", "peer", fmt.Sprintf("%016x", id), "silent", silent)
		case silent >= b.cfg.Silence:
			r = false
		}
	}
	if r == b.reachable {
		return false
	}
	b.reachable = r
	if r {
		b.log.Info("bridge: far sites reachable again", "holding", len(b.held))
	} else {
		b.log.Warn("bridge: a far site is unreachable; holding what would cross", "peers", len(b.peers))
	}
	return true
}

// pump sends heartbeats, watches the far bridges' and releases what was
// held when they are reachable again.
func (b *Bridge) pump() {
	t := time.NewTicker(b.cfg.Heartbeat)
	defer t.Stop()
	b.sendHeartbeat(false)
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			b.sendHeartbeat(false)
		case <-b.wake:
		}
		now := time.Now()
		b.mu.Lock()
		b.updateReachable(now)
		b.mu.Unlock()
		b.release(now)
	}
}

func (b *Bridge) sendHeartbeat(bye bool) {
	b.wmu.Lock()
	b.wbuf = appendHeartbeat(b.wbuf[:0], b.id, bye, time.Now())
	b.wan.Send(b.wbuf, 0, transport.Addr{}) // a lost heartbeat is what silence means
	b.wmu.Unlock()
}

// release drops what has expired in the hold queue and, when every far
// site is reachable, sends the rest in order.
func (b *Bridge) release(now time.Time) {
	b.mu.Lock()
	// Expired datagrams go whatever the state: they would be late.
	kept := b.held[:0]
	for _, h := range b.held {
		if h.info.Expired(now.Sub(h.at)) {
			b.drops[DropExpired]++
			b.heldBytes -= holdCost(h.b)
			continue
		}
		kept = append(kept, h)
	}
	clear(b.held[len(kept):])
	b.held = kept
	b.mu.Unlock()
	for n := 0; ; n++ {
		if n == releaseBatch {
			b.poke() // more after a heartbeat's turn
			return
		}
		b.mu.Lock()
		if !b.reachable || len(b.held) == 0 {
			b.releasing = false
			if len(b.held) == 0 {
				b.held = nil
			}
			b.mu.Unlock()
			return
		}
		b.releasing = true
		h := b.held[0]
		b.held[0] = heldDgram{}
		b.held = b.held[1:]
		b.heldBytes -= holdCost(h.b)
		b.mu.Unlock()
		res := time.Since(h.at)
		if h.info.Expired(res) {
			b.drop(DropExpired)
			continue
		}
		b.sendWAN(h.b, res)
	}
}

// releaseBatch is how many held datagrams the pump sends before it looks
// at its heartbeat timer again.
const releaseBatch = 1024

// Stats returns the bridge's counters.
func (b *Bridge) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := Stats{ToWAN: b.toWAN.Load(), ToLAN: b.toLAN.Load(), Held: b.heldN.Load(), Holding: len(b.held),
		Reachable: b.reachable, Peers: len(b.peers), Drops: make(map[string]uint64, len(b.drops))}
	for k, v := range b.drops {
		s.Drops[k] = v
	}
	return s
}

// Close says goodbye to the far bridges, stops relaying, closes both
// transports and drops what is held. It is idempotent.
func (b *Bridge) Close() error {
	var err error
	b.closing.Do(func() {
		close(b.stop)
		b.sendHeartbeat(true)
		err = errors.Join(b.lan.Close(), b.wan.Close())
		b.wg.Wait()
		b.mu.Lock()
		b.held, b.heldBytes = nil, 0
		b.mu.Unlock()
	})
	return err
}

// WANURL is the WAN side's URL for the channel lanURL names, on subject at
// the NATS server serverURL (nats://host:port):
// scheme+nats://host:port/subject?channel=ID, with lanURL's application
// scheme and channel id, so that members joining the subject directly name
// the same channel ("rwanda" for the reserved schemes mem and file).
func WANURL(lanURL, serverURL, subject string) (string, error) {
	a, err := channel.ParseURL(lanURL)
	if err != nil {
		return "", err
	}
	s, err := url.Parse(serverURL)
	if err != nil || s.Host == "" {
		return "", fmt.Errorf("bridge: server URL %q: want nats://host:port", serverURL)
	}
	if _, err := natsx.Subject("/" + subject); err != nil {
		return "", err
	}
	scheme, _, _ := strings.Cut(a.Scheme, "+")
	if scheme == "mem" || scheme == "file" {
		scheme = "rwanda" // reserved schemes; the bridge does not decode, so any will do
	}
	u := scheme + "+nats://" + s.Host + "/" + subject
	if a.Channel != "" {
		u += "?channel=" + url.QueryEscape(a.Channel)
	}
	return u, nil
}

// WANQoS is the reliable profile of streams that cross bridges: the
// channel's default stack with a window receiver timeout of 30 s instead
// of 2 s, so that a sender keeps far receivers (and what they have not
// acknowledged) through a WAN outage of up to that long, less the time
// TCP takes to retransmit on the leaf node link once it is back.
const WANQoS = "frag/order/window(rcvtimeout=30s)"

// WANAnnounce is the announce interval of the WAN profile: members silent
// for five intervals are forgotten, with what they sent, so it must
// outlast the outages too (15 s).
const WANAnnounce = 3 * time.Second

// WANProfile is the channel options of the WAN profile, for members of a
// bridged channel at every site: [WANQoS] and [WANAnnounce].
func WANProfile() []channel.Option {
	return []channel.Option{channel.WithQoS(WANQoS), channel.WithAnnounceInterval(WANAnnounce)}
}
