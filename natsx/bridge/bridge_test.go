package bridge

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/internal/testnet"
	"github.com/rwanda-go/rwanda/posting"
	"github.com/rwanda-go/rwanda/transport"
)

// Two sites in one process: each an in-process hub (mem://) for its LAN,
// an embedded nats-server, and a bridge; site B's server is a leaf node of
// site A's.

// waitTimeout bounds waits for what takes milliseconds on an idle machine.
const waitTimeout = 20 * time.Second

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond (state of other goroutines and servers) until it holds.
func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(time.Millisecond) // polling other goroutines' state
	}
}

// freeTCPPort is a port no other test process can be given meanwhile.
func freeTCPPort(t testing.TB) int { return testnet.FreePort(t) }

type site struct {
	name   string
	lan    string // the site's channel URL
	srv    *Server
	bridge *Bridge
}

// twoSites starts sites A and B, linked by a leaf node connection from B's
// server to A's, with a bridge each; cfg's LAN and WAN are filled in.
func twoSites(t *testing.T, cfg Config) (a, b *site) {
	t.Helper()
	leaf := freeTCPPort(t)
	tag := strconv.FormatInt(time.Now().UnixNano(), 36)
	a = &site{name: "A", lan: "mem://siteA-" + tag + "?channel=lesson"}
	b = &site{name: "B", lan: "mem://siteB-" + tag + "?channel=lesson"}
	var err error
	a.srv, err = StartServer(ServerConfig{LeafListen: "127.0.0.1:" + strconv.Itoa(leaf)})
	must(t, err)
	t.Cleanup(a.srv.Close)
	b.srv, err = StartServer(ServerConfig{LeafRemotes: []string{"nats-leaf://127.0.0.1:" + strconv.Itoa(leaf)}, LeafReconnect: 100 * time.Millisecond})
	must(t, err)
	t.Cleanup(b.srv.Close)
	waitFor(t, "leaf node link up", waitTimeout, func() bool { return a.srv.Leafs() == 1 && b.srv.Leafs() == 1 })
	for _, s := range []*site{a, b} {
		c := cfg
		c.LAN = s.lan
		c.WAN, err = WANURL(s.lan, s.srv.ClientURL(), "lesson")
		must(t, err)
		s.bridge, err = New(context.Background(), c)
		must(t, err)
		t.Cleanup(func() { s.bridge.Close() })
	}
	waitFor(t, "bridges hear each other", waitTimeout, func() bool {
		return a.bridge.Stats().Peers == 1 && b.bridge.Stats().Peers == 1
	})
	return a, b
}

func openCh(t testing.TB, url string, opts ...channel.Option) *channel.Channel {
	t.Helper()
	c, err := channel.Open(context.Background(), url, opts...)
	must(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// collector keeps the int bodies of one sender's postings, in arrival order.
type collector struct {
	mu   sync.Mutex
	from map[uint64][]int
}

func collect(t testing.TB, c *channel.Channel) *collector {
	t.Helper()
	col := &collector{from: map[uint64][]int{}}
	_, err := c.SubscribeFunc(func(p *posting.Posting) {
		if v, ok := p.Body.(int); ok {
			col.mu.Lock()
			col.from[p.Sender] = append(col.from[p.Sender], v)
			col.mu.Unlock()
		}
	})
	must(t, err)
	return col
}

func (c *collector) count(sender uint64) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.from[sender])
}

// exactlyInOrder checks that sender's postings 0..n-1 each arrived once, in order.
func (c *collector) exactlyInOrder(t testing.TB, who string, sender uint64, n int) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	got := c.from[sender]
	if len(got) != n {
		t.Fatalf("%s: %d postings from %x, want %d", who, len(got), sender, n)
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("%s: posting %d from %x is %d", who, i, sender, v)
		}
	}
}

// TestBridgeBothWays: postings pushed at site A reach B's members and B's
// reach A's, each exactly once and in order, and a member's postings
// reach the other members of its own site once (the bridge sends nothing
// back).
func TestBridgeBothWays(t *testing.T) {
	testnet.CheckGoroutines(t)
	a, b := twoSites(t, Config{})
	a1, a2 := openCh(t, a.lan, channel.WithBlockingPush()), openCh(t, a.lan)
	b1 := openCh(t, b.lan, channel.WithBlockingPush())
	ca2, cb1, ca1 := collect(t, a2), collect(t, b1), collect(t, a1)
	const n = 300
	ctx := context.Background()
	for i := range n {
		must(t, a1.Push(ctx, posting.New(i)))
		must(t, b1.Push(ctx, posting.New(i)))
	}
	waitFor(t, "every posting arrives", waitTimeout, func() bool {
		return cb1.count(a1.ID()) >= n && ca1.count(b1.ID()) >= n && ca2.count(a1.ID()) >= n && ca2.count(b1.ID()) >= n
	})
	// A duplicate would be on its way by now: let more datagrams cross
	// both ways (the members' hellos, the windows' status) and look.
	toA, toB := a.bridge.Stats().ToLAN, b.bridge.Stats().ToLAN
	waitFor(t, "more datagrams cross both ways", waitTimeout, func() bool {
		return a.bridge.Stats().ToLAN > toA+2 && b.bridge.Stats().ToLAN > toB+2
	})
	cb1.exactlyInOrder(t, "B1", a1.ID(), n)
	ca1.exactlyInOrder(t, "A1", b1.ID(), n)
	ca2.exactlyInOrder(t, "A2 (far)", b1.ID(), n)
	ca2.exactlyInOrder(t, "A2 (local)", a1.ID(), n)
	for _, s := range []*site{a, b} {
		st := s.bridge.Stats()
		t.Logf("bridge %s: %+v", s.name, st)
		if st.Drops[DropMalformed] != 0 || st.Drops[DropSendError] != 0 || st.Drops[DropHoldFull] != 0 {
			t.Errorf("bridge %s: %+v", s.name, st)
		}
	}
	// Garbage on either side is dropped and counted, not forwarded: on A's
	// LAN (two malformed datagrams for A), and on the WAN subject (each
	// bridge: one malformed datagram, one malformed heartbeat).
	junk := []byte("not a datagram at all")
	for _, side := range []struct {
		url string
		wan bool
	}{{a.lan, false}, {mustWAN(t, b), true}} {
		c, err := openSide(context.Background(), side.url, side.wan)
		must(t, err)
		must(t, c.Send(junk, 0, transport.Addr{}))
		must(t, c.Send(append([]byte("rwhb"), 1, 2), 0, transport.Addr{})) // a truncated heartbeat
		c.Close()
	}
	waitFor(t, "garbage counted", waitTimeout, func() bool {
		sa, sb := a.bridge.Stats(), b.bridge.Stats()
		return sa.Drops[DropMalformed] == 3 && sa.Drops[DropHeartbeat] == 1 && sb.Drops[DropMalformed] == 1 && sb.Drops[DropHeartbeat] == 1
	})
}

// mustWAN is s's WAN URL.
func mustWAN(t testing.TB, s *site) string {
	t.Helper()
	u, err := WANURL(s.lan, s.srv.ClientURL(), "lesson")
	must(t, err)
	return u
}

// tap records every byte a transport reads and writes.
type tap struct {
	transport.Conn
	mu  *sync.Mutex
	buf *bytes.Buffer
	n   *int
}

func (c tap) Send(run []byte, seg int, dst transport.Addr) error {
	c.mu.Lock()
	c.buf.Write(run)
	*c.n += len(run)
	c.mu.Unlock()
	return c.Conn.Send(run, seg, dst)
}

func (c tap) Serve(recv func([]byte, transport.Addr), done func()) {
	c.Conn.Serve(func(d []byte, from transport.Addr) {
		c.mu.Lock()
		c.buf.Write(d)
		*c.n += len(d)
		c.mu.Unlock()
		recv(d, from)
	}, done)
}

// TestBridgeKeyed: a keyed channel across the bridges. The bridges have no
// key; a hook on both their transports sees every byte they read and
// write, and the marker carried in every posting appears nowhere in it;
// the far site's member decrypts every posting.
func TestBridgeKeyed(t *testing.T) {
	testnet.CheckGoroutines(t)
	var mu sync.Mutex
	var seen bytes.Buffer
	var total int
	wrap := func(_ Side, c transport.Conn) transport.Conn { return tap{Conn: c, mu: &mu, buf: &seen, n: &total} }
	a, b := twoSites(t, Config{Wrap: wrap})
	key := bytes.Repeat([]byte{0x5a}, 32)
	a1 := openCh(t, a.lan, channel.WithKey(key), channel.WithBlockingPush())
	b1 := openCh(t, b.lan, channel.WithKey(key), channel.WithBlockingPush())
	const marker = "PLAINTEXT-MARKER-7f3a"
	const n = 100
	var got [2]map[string]bool
	var gmu sync.Mutex
	for i, c := range []*channel.Channel{a1, b1} {
		got[i] = map[string]bool{}
		_, err := c.SubscribeFunc(func(p *posting.Posting) {
			if s, ok := p.Body.(string); ok {
				gmu.Lock()
				got[i][s] = true
				gmu.Unlock()
			}
		})
		must(t, err)
	}
	ctx := context.Background()
	for i := range n {
		must(t, a1.Push(ctx, posting.New(fmt.Sprintf("%s from A %d", marker, i))))
		must(t, b1.Push(ctx, posting.New(fmt.Sprintf("%s from B %d", marker, i))))
	}
	waitFor(t, "far members decrypt", waitTimeout, func() bool {
		gmu.Lock()
		defer gmu.Unlock()
		return len(got[0]) == n && len(got[1]) == n
	})
	a.bridge.Close()
	b.bridge.Close()
	mu.Lock()
	defer mu.Unlock()
	if total < 2*n*len(marker) {
		t.Fatalf("the hook saw %d bytes: less than the markers alone", total)
	}
	if bytes.Contains(seen.Bytes(), []byte(marker)) || bytes.Contains(seen.Bytes(), []byte("PLAINTEXT")) {
		t.Fatal("the plaintext marker appears in what the bridges read or wrote")
	}
	t.Logf("the bridges read and wrote %d bytes; no marker among them", total)
}
