package channel

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/internal/testnet"
	"github.com/rwanda-go/rwanda/keys"
	"github.com/rwanda-go/rwanda/posting"
	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/transport"
)

var (
	testKey  = bytes.Repeat([]byte{0x42}, 32)
	otherKey = bytes.Repeat([]byte{0x43}, 32)
)

func TestKeyedMemRoundTrip(t *testing.T) {
	checkGoroutines(t)
	url := memURL(t)
	rx := open(t, url, WithKey(testKey))
	tx := open(t, url, WithKey(testKey), WithBlockingPush())
	col := newCollect(2000)
	rx.SubscribeFunc(col.add)
	for i := range 2000 {
		must(t, tx.Push(context.Background(), posting.New(i)))
	}
	col.wait(t, 20*time.Second)
	if q := tx.QoS(""); !strings.HasSuffix(q, "/encrypt") {
		t.Fatalf("a keyed channel's stack is %q: no encrypt at the wire side", q)
	}
	for _, s := range rx.Stats().Streams {
		if !strings.Contains(s.QoS, "encrypt") {
			t.Fatalf("received stream %q runs %q", s.Name, s.QoS)
		}
	}
}

// TestKeyedIgnoresStrangers: an unkeyed sender, and one with another key,
// reach nothing on a keyed channel; a keyed sender reaches nothing on an
// unkeyed one. Each datagram is counted.
func TestKeyedIgnoresStrangers(t *testing.T) {
	url := memURL(t)
	rx := open(t, url, WithKey(testKey))
	sub, _ := rx.Subscribe()
	plain := open(t, url)
	plainSub, _ := plain.Subscribe()
	wrong := open(t, url, WithKey(otherKey))
	for i := range 5 {
		must(t, plain.Push(context.Background(), posting.New(i)))
		must(t, wrong.Push(context.Background(), posting.New(i)))
	}
	waitDrops(t, rx, "unauthenticated", 10)
	expectNone(t, sub)
	waitDrops(t, plain, "keyed", 5) // wrong's datagrams, at the unkeyed member
	expectNone(t, plainSub)
}

// TestKeyedRefusesDowngrade: a member holding the key announces a stream
// without encrypt (hand-made: a keyed channel never sends one); the keyed
// receiver refuses the stream and counts its data.
func TestKeyedRefusesDowngrade(t *testing.T) {
	url := memURL(t)
	rx := open(t, url, WithKey(testKey))
	sub, _ := rx.Subscribe()
	ring, _ := keys.NewRing(1, testKey)
	const liar = 0x77
	auth := newDgramAuth(ring, rx.Address().Identity(), liar, 16)
	from := transport.IPAddr(netip.MustParseAddrPort("127.0.0.1:9"))
	seal := func(d []byte) []byte { return auth.seal(d, 0) }
	rx.receive(seal(appendSeen(appendHello(appendKeyedHeader(nil, liar), 0, time.Now()), rx.ID(), rx.auth.nonce)), from)
	rx.receive(seal(appendAnnounce(appendKeyedHeader(nil, liar), announcement{stream: 1, name: "s", qos: "frag"})), from)
	p := posting.New("downgraded")
	body, _ := p.AppendBinary(nil)
	frag := append([]byte{0}, body...) // frag's whole-parcel header
	rx.receive(seal(append(appendDataHeader(appendKeyedHeader(nil, liar), 0, 1, &stack.Meta{}, len(frag)), frag...)), from)
	waitDrops(t, rx, "policy", 1)
	expectNone(t, sub)
}

// proxy relays UDP between a client channel and a server channel, so a
// test can capture, replay, reorder and tamper with datagrams on the way
// from the client to the server.
type proxy struct {
	t       *testing.T
	front   *net.UDPConn // the client sends here
	back    *net.UDPConn // talks to the server
	server  *net.UDPAddr
	mu      sync.Mutex
	client  *net.UDPAddr
	hold    func(d []byte) bool // true: keep d instead of forwarding it
	held    [][]byte
	forward int
	record  bool     // keep a copy of what is forwarded
	tape    [][]byte // what was forwarded while recording
	done    chan struct{}
}

func newProxy(t *testing.T, serverPort int) *proxy {
	front, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	back, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, front: front, back: back, server: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: serverPort}, done: make(chan struct{})}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // client → server
		defer wg.Done()
		buf := make([]byte, 65536)
		for {
			n, from, err := front.ReadFromUDP(buf)
			if err != nil {
				return
			}
			d := bytes.Clone(buf[:n])
			p.mu.Lock()
			p.client = from
			keep := p.hold != nil && p.hold(d)
			if keep {
				p.held = append(p.held, d)
			} else {
				p.forward++
				if p.record {
					p.tape = append(p.tape, d)
				}
			}
			p.mu.Unlock()
			if !keep {
				back.WriteToUDP(d, p.server)
			}
		}
	}()
	go func() { // server → client
		defer wg.Done()
		buf := make([]byte, 65536)
		for {
			n, _, err := back.ReadFromUDP(buf)
			if err != nil {
				return
			}
			p.mu.Lock()
			c := p.client
			p.mu.Unlock()
			if c != nil {
				front.WriteToUDP(buf[:n], c)
			}
		}
	}()
	t.Cleanup(func() { front.Close(); back.Close(); wg.Wait() })
	return p
}

func (p *proxy) port() int { return p.front.LocalAddr().(*net.UDPAddr).Port }

// inject sends d to the server as if from the client.
func (p *proxy) inject(d []byte) {
	if _, err := p.back.WriteToUDP(d, p.server); err != nil {
		p.t.Fatal(err)
	}
}

// recording starts or stops keeping a copy of what the proxy forwards.
func (p *proxy) recording(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.record = on
}

// recorded returns what the proxy forwarded while recording.
func (p *proxy) recorded() [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.tape)
}

func (p *proxy) setHold(f func([]byte) bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hold = f
}

func (p *proxy) takeHeld() [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	h := p.held
	p.held = nil
	return h
}

// keyedPair opens a keyed server and a keyed client that reaches it through
// a proxy, with an unreliable stream "raw" (QoS: encrypt only) so that
// every delivered posting maps to one datagram the test controls.
func keyedPair(t *testing.T) (rx, tx *Channel, px *proxy, got chan *posting.Posting) {
	port := freePort(t)
	rx = open(t, "ktest://:"+strconv.Itoa(port)+"?channel=k", WithKey(testKey))
	px = newProxy(t, port)
	tx = open(t, "ktest://127.0.0.1:"+strconv.Itoa(px.port())+"?channel=k", WithKey(testKey), WithStreamQoS("raw", "encrypt"))
	got = make(chan *posting.Posting, 1000)
	rx.SubscribeFunc(func(p *posting.Posting) { got <- p })
	waitPeer(t, rx, tx.ID())
	waitPeer(t, tx, rx.ID())
	return
}

// waitPeer waits until c lists member id among its peers: on a keyed
// channel, until id has echoed c's nonce and c accepts its datagrams
// (fresh.go).
func waitPeer(t *testing.T, c *Channel, id uint64) {
	t.Helper()
	waitFor(t, fmt.Sprintf("member %x to be listed by %x", id, c.ID()), func() bool {
		return slices.ContainsFunc(c.Stats().Peers, func(p PeerInfo) bool { return p.ID == id })
	})
}

func pushRaw(t *testing.T, tx *Channel, v string) {
	t.Helper()
	must(t, tx.Push(context.Background(), posting.New(v, posting.WithStream("raw"))))
}

func expectPosting(t *testing.T, got chan *posting.Posting, want string) {
	t.Helper()
	select {
	case p := <-got:
		if p.Body != want {
			t.Fatalf("got %v, want %q", p.Body, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%q did not arrive", want)
	}
}

func expectNothing(t *testing.T, got chan *posting.Posting) {
	t.Helper()
	select {
	case p := <-got:
		t.Fatalf("unexpected posting %v", p.Body)
	case <-time.After(50 * time.Millisecond):
	}
}

// isData says whether a keyed datagram carries a DATA frame of stream "raw"
// (its first frame after the header is DATA).
func isData(d []byte) bool { return len(d) > dgramHeaderLen && d[dgramHeaderLen] == frameData }

// TestKeyedTamperReplayReorder works on real UDP through a proxy:
//   - every byte of a captured datagram flipped in turn: all dropped;
//   - the captured datagram replayed from a raw socket: dropped;
//   - a datagram held back and released after later ones (reordered but
//     new, inside the window): accepted.
func TestKeyedTamperReplayReorder(t *testing.T) {
	checkGoroutines(t)
	rx, tx, px, got := keyedPair(t)
	pushRaw(t, tx, "hello")
	expectPosting(t, got, "hello")

	// Capture one data datagram.
	px.setHold(isData)
	pushRaw(t, tx, "captured")
	var captured []byte
	deadline := time.Now().Add(10 * time.Second)
	for captured == nil {
		if h := px.takeHeld(); len(h) > 0 {
			captured = h[0]
		} else if time.Now().After(deadline) {
			t.Fatal("nothing captured")
		} else {
			time.Sleep(time.Millisecond) // polling the proxy goroutine
		}
	}
	px.setHold(nil)

	before := rx.Stats().Drops
	for i := range captured {
		d := bytes.Clone(captured)
		d[i] ^= 0x20
		px.inject(d)
	}
	total := func(m map[string]uint64) uint64 {
		var n uint64
		for _, r := range []string{"malformed", "unauthenticated", "unknown-key", "keyed", "replayed"} {
			n += m[r]
		}
		for r, k := range m {
			if strings.HasPrefix(r, "version-") { // the version bits flipped
				n += k
			}
		}
		return n
	}
	want := total(before) + uint64(len(captured))
	deadline = time.Now().Add(10 * time.Second)
	for total(rx.Stats().Drops) < want && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // waiting on the receiving goroutine
	}
	if n := total(rx.Stats().Drops); n != want {
		t.Fatalf("%d tampered datagrams, %d dropped", len(captured), n-total(before))
	}
	expectNothing(t, got)

	// The genuine datagram, late but new: accepted, once.
	px.inject(captured)
	expectPosting(t, got, "captured")
	// And replayed: refused.
	r0 := rx.Stats().Drops["replayed"]
	px.inject(captured)
	px.inject(captured)
	waitDrops(t, rx, "replayed", r0+2)
	expectNothing(t, got)

	// Reordered: hold one back, send three more, then release it.
	px.setHold(isData)
	pushRaw(t, tx, "early")
	var early [][]byte
	for len(early) == 0 {
		early = px.takeHeld()
	}
	px.setHold(nil)
	for _, v := range []string{"a", "b", "c"} {
		pushRaw(t, tx, v)
		expectPosting(t, got, v)
	}
	px.inject(early[0])
	expectPosting(t, got, "early")
	if rx.Stats().Drops["replayed"] != r0+2 {
		t.Fatalf("reordered datagram counted as replayed")
	}
}

// TestKeyRotationWithoutLoss rotates the key in the middle of 5000 reliable
// postings over UDP: every one arrives, once, in order.
func TestKeyRotationWithoutLoss(t *testing.T) {
	checkGoroutines(t)
	ringRx, _ := keys.NewRing(1, testKey)
	ringTx, _ := keys.NewRing(1, testKey)
	port := freePort(t)
	rx := open(t, "ktest://:"+strconv.Itoa(port)+"?channel=k", WithKeyRing(ringRx))
	tx := open(t, "ktest://127.0.0.1:"+strconv.Itoa(port)+"?channel=k", WithKeyRing(ringTx), WithBlockingPush())
	const n = 5000
	col := newCollect(n)
	rx.SubscribeFunc(col.add)
	for i := range n {
		switch i {
		case 1000: // every member learns the new key
			must(t, ringRx.Add(2, otherKey))
			must(t, ringTx.Add(2, otherKey))
		case 2000: // then they switch to it
			must(t, ringTx.Use(2))
			must(t, ringRx.Use(2))
		}
		must(t, tx.Push(context.Background(), posting.New(i)))
	}
	col.wait(t, 60*time.Second)
	// Now the old key can go; traffic continues under the new one.
	must(t, ringTx.Remove(1))
	must(t, ringRx.Remove(1))
	sub, _ := rx.Subscribe()
	must(t, tx.Push(context.Background(), posting.New("after")))
	if p := next(t, sub); p.Body != "after" {
		t.Fatalf("got %v", p.Body)
	}
	if d := rx.Stats().Drops; d["unauthenticated"]+d["unknown-key"]+d["replayed"] != 0 {
		t.Fatalf("drops during rotation: %v", d)
	}
}

// TestKeyNeverLogged runs keyed channels with debug logging, a stranger and
// a downgrade attempt, and checks the log for the key in every encoding.
func TestKeyNeverLogged(t *testing.T) {
	var buf syncBuffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	url := memURL(t)
	rx := open(t, url, WithKey(testKey), WithLogger(log))
	tx := open(t, url, WithKey(testKey), WithLogger(log))
	stranger := open(t, url, WithKey(otherKey), WithLogger(log))
	sub, _ := rx.Subscribe()
	must(t, tx.Push(context.Background(), posting.New("x")))
	must(t, stranger.Push(context.Background(), posting.New("y")))
	next(t, sub)
	waitDrops(t, rx, "unauthenticated", 1)
	log.Info("ring", "keys", rx.cfg.keys, "opts", fmt.Sprintf("%+v %#v", rx.cfg.keys, rx.cfg.keys))
	out := buf.String()
	for _, k := range [][]byte{testKey, otherKey} {
		for _, enc := range []string{string(k), hex.EncodeToString(k), base64.StdEncoding.EncodeToString(k), fmt.Sprint(k), fmt.Sprintf("%v", k[:8])} {
			if strings.Contains(out, enc) {
				t.Fatalf("the log shows key material %q:\n%s", enc, out)
			}
		}
	}
	if !strings.Contains(out, "keys.Ring{ids: [1], current: 1}") {
		t.Fatalf("the ring was not logged as a summary:\n%s", out)
	}
}

// syncBuffer is a goroutine-safe buffer.
type syncBuffer = testnet.Buffer

// TestKeyedChannelIDBinds: two unicast channels that share a key but name
// different channel ids cannot take each other's datagrams (DECISIONS §3);
// the same ids can.
func TestKeyedChannelIDBinds(t *testing.T) {
	checkGoroutines(t)
	port := freePort(t)
	rx := open(t, "ktest://:"+strconv.Itoa(port)+"?channel=lesson-1", WithKey(testKey))
	got := make(chan *posting.Posting, 4)
	rx.SubscribeFunc(func(p *posting.Posting) { got <- p })
	// WithLinger(0): what it pushes is never acknowledged.
	other := open(t, "ktest://127.0.0.1:"+strconv.Itoa(port)+"?channel=lesson-2", WithKey(testKey), WithLinger(0))
	must(t, other.Push(context.Background(), posting.New("wrong channel")))
	deadline := time.Now().Add(10 * time.Second)
	for rx.Stats().Drops["unauthenticated"] == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("datagrams of another channel id not refused: drops %v", rx.Stats().Drops)
		}
		time.Sleep(time.Millisecond) // waiting on the receiving goroutine
	}
	same := open(t, "ktest://127.0.0.1:"+strconv.Itoa(port)+"?channel=lesson-1", WithKey(testKey))
	must(t, same.Push(context.Background(), posting.New("right channel")))
	expectPosting(t, got, "right channel")
}
