package channel

import (
	"context"
	"fmt"
	"testing"

	"github.com/rwanda-go/rwanda/transport"
	"github.com/rwanda-go/rwanda/transport/transporttest"
)

// TestTransportConformance runs package transporttest's suite against
// every transport registered by this package, opened the way Open opens
// them (from a parsed URL), on loopback. With RWANDA_IO=portable the udp
// and multicast rows run on the portable (x/net) socket path.
func TestTransportConformance(t *testing.T) {
	ctx := context.Background()
	opener := func(name string, url func() (a, b string)) func(t *testing.T) transporttest.Pair {
		return func(t *testing.T) transporttest.Pair {
			ua, ub := url()
			open := func(raw string) transport.Opened {
				addr, err := ParseURL(raw)
				if err != nil {
					t.Fatal(err)
				}
				if addr.Transport != name {
					t.Fatalf("%s: transport %q, want %q", raw, addr.Transport, name)
				}
				e, err := transport.Lookup(name)
				if err != nil {
					t.Fatal(err)
				}
				o, err := e.Open(ctx, addr.endpoint())
				if err != nil {
					t.Fatal(err)
				}
				return o
			}
			a, b := open(ua), open(ub)
			p := transporttest.Pair{A: a.Conn, B: b.Conn}
			if !a.Conn.ReachAll() || name == "mem" {
				p.AtoB = b.Conn.LocalAddr()
			}
			return p
		}
	}
	cases := map[string]func() (string, string){
		"mem": func() (string, string) { u := memURL(t); return u, u },
		"udp": func() (string, string) {
			pa, pb := freePort(t), freePort(t)
			return fmt.Sprintf("ct://127.0.0.1:%d?listen=127.0.0.1:%d", pb, pa), fmt.Sprintf("ct://127.0.0.1:%d?listen=127.0.0.1:%d", pa, pb)
		},
		"multicast": func() (string, string) { u := groupURL("ct"); return u, u },
	}
	for _, e := range transport.List() {
		url, ok := cases[e.Name]
		if !ok {
			t.Errorf("transport %q is registered but has no conformance case here", e.Name)
			continue
		}
		t.Run(e.Name, func(t *testing.T) { transporttest.Run(t, opener(e.Name, url)) })
	}
}
