package gateway

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/internal/testnet"
	"github.com/rwanda-go/rwanda/posting"
)

var testKey = bytes.Repeat([]byte{0x42}, 32)

func groupURL(id string) string {
	return fmt.Sprintf("gwtest://239.255.%d.%d:%d?iface=lo&channel=%s", rand.IntN(256), 1+rand.IntN(254), 20000+rand.IntN(30000), id)
}

func startGateway(t *testing.T, url string) *Gateway {
	t.Helper()
	g, err := New(Config{URL: url, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

func open(t *testing.T, url string, opts ...channel.Option) *channel.Channel {
	t.Helper()
	ch, err := channel.Open(context.Background(), url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ch.Close() })
	return ch
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func knows(ch *channel.Channel, others ...*channel.Channel) bool {
	peers := map[uint64]bool{}
	for _, p := range ch.Stats().Peers {
		peers[p.ID] = true
	}
	for _, o := range others {
		if !peers[o.ID()] {
			return false
		}
	}
	return true
}

// counter collects the int bodies of postings, per stream.
type counter struct {
	mu sync.Mutex
	m  map[string]map[[2]uint64]bool
}

func newCounter(ch *channel.Channel, t *testing.T) *counter {
	c := &counter{m: map[string]map[[2]uint64]bool{}}
	if _, err := ch.SubscribeFunc(func(p *posting.Posting) {
		v, ok := p.Body.(int)
		if !ok {
			return
		}
		c.mu.Lock()
		if c.m[p.Stream] == nil {
			c.m[p.Stream] = map[[2]uint64]bool{}
		}
		c.m[p.Stream][[2]uint64{p.Sender, uint64(v)}] = true
		c.mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *counter) n(stream string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m[stream])
}

// TestRelay: a multicast member and two unicast clients of one gateway.
// Reliable and best-effort postings go both ways and between the
// clients (n−1), through real sockets on loopback; on a keyed channel the
// gateway, which holds no key, relays them all the same, and the stacks'
// protection stays end to end.
func TestRelay(t *testing.T) {
	for _, keyed := range []bool{false, true} {
		t.Run(fmt.Sprintf("keyed=%v", keyed), func(t *testing.T) {
			testnet.CheckGoroutines(t)
			var opts []channel.Option
			if keyed {
				opts = append(opts, channel.WithKey(testKey))
			}
			opts = append(opts, channel.WithBlockingPush(), channel.WithAnnounceInterval(200*time.Millisecond))
			url := groupURL("relay")
			g := startGateway(t, url)
			m := open(t, url, opts...)
			cURL := fmt.Sprintf("gwtest://%s?channel=relay", g.Addr())
			a := open(t, cURL, opts...)
			b := open(t, cURL, opts...)
			mc, ac, bc := newCounter(m, t), newCounter(a, t), newCounter(b, t)
			// Say hello through the gateway until everyone knows everyone.
			ctx := context.Background()
			waitFor(t, 10*time.Second, "members meet through the gateway", func() bool {
				for _, ch := range []*channel.Channel{m, a, b} {
					if err := ch.Push(ctx, posting.New("hi", posting.WithStream("hello"))); err != nil {
						t.Fatal(err)
					}
				}
				return knows(m, a, b) && knows(a, m, b) && knows(b, m, a)
			})
			// Members may meet within an address's 3× budget, before its
			// echo has reached the gateway: wait for the echoes.
			waitFor(t, 10*time.Second, "the gateway validates both clients", func() bool { return g.Stats().Validated == 2 })
			const n = 300
			for i := range n {
				for _, ch := range []*channel.Channel{m, a} {
					if err := ch.Push(ctx, posting.New(i, posting.WithStream("rel"))); err != nil {
						t.Fatal(err)
					}
					if err := ch.Push(ctx, posting.New(i, posting.WithStream("be"), posting.WithMedia(posting.Audio))); err != nil {
						t.Fatal(err)
					}
				}
				if i%20 == 0 {
					time.Sleep(2 * time.Millisecond) // pace the best-effort postings a little
				}
			}
			// Reliable: every posting, everywhere (m's reach a and b through
			// the gateway; a's reach m through it and b through it, n−1).
			deadline := time.Now().Add(20 * time.Second)
			for ac.n("rel") != n || bc.n("rel") != 2*n || mc.n("rel") != n {
				if time.Now().After(deadline) {
					t.Fatalf("after 20 s: reliable postings relayed to a %d of %d, b %d of %d, m %d of %d; gateway %+v; a %v; b %v; m %v",
						ac.n("rel"), n, bc.n("rel"), 2*n, mc.n("rel"), n, g.Stats(), a.Stats().Drops, b.Stats().Drops, m.Stats().Drops)
				}
				time.Sleep(5 * time.Millisecond) // polling the subscribers' counts
			}
			// Best effort is relayed both ways too; how many arrive is no
			// reliability claim (a loaded machine's loopback sockets
			// overflow), so only most of them are asked for.
			for name, got := range map[string]int{"m": mc.n("be"), "a": ac.n("be"), "b": bc.n("be") / 2} {
				if got < n/2 {
					t.Errorf("%s: %d of %d best-effort postings", name, got, n)
				}
			}
			// The clients' RECEIPTs reach the gateway (it sends them
			// HEARTBEATs, so they know it for a gateway).
			waitFor(t, 10*time.Second, "RECEIPTs from the clients", func() bool { return g.Stats().Receipts >= 2 })
			st := g.Stats()
			t.Logf("gateway: %+v", st)
			if st.ToGroup == 0 || st.ToClients == 0 {
				t.Fatalf("nothing relayed: %+v", st)
			}
			if keyed {
				// The gateway saw the keyed datagrams whole: the clients'
				// channels accepted them, so nothing was changed in transit.
				for _, ch := range []*channel.Channel{m, a, b} {
					if d := ch.Stats().Drops["unauthenticated"]; d != 0 {
						t.Fatalf("%d datagrams failed authentication", d)
					}
				}
			}
		})
	}
}
