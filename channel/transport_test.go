package channel

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/rwanda-go/rwanda/posting"
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
			if name != "multicast" { // a group member's own address is not one it receives on
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
		"plugmem":   func() (string, string) { u := "ct+plugmem://hub/" + memURL(t)[len("mem://"):]; return u, u },
		"zzpipe": func() (string, string) { // pipe_test.go
			u := "ct+zzpipe://" + memURL(t)[len("mem://"):] + "?reach=all&end="
			return u + "a", u + "b"
		},
		"pmtufake": func() (string, string) { u := "ct+pmtufake://hub/" + memURL(t)[len("mem://"):]; return u, u }, // pmtu_test.go
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

// A transport registered from outside the channel package, as a NATS
// transport in another module would be: a URL names it with +plugmem.
func init() {
	transport.MustRegister(transport.Entry{Name: "plugmem", Forms: []string{"app+plugmem://hub/NAME"},
		Open: func(_ context.Context, e *transport.Endpoint) (transport.Opened, error) {
			return transport.Opened{Conn: openMem("plug-" + e.URL.Host + e.URL.Path)}, nil
		}})
}

// TestPluggedTransport: a channel over a transport that only the registry
// knows, named by a +suffix: parameters the channel does not know go to the
// transport, the identity keeps the application scheme, and postings flow.
func TestPluggedTransport(t *testing.T) {
	url := "class+plugmem://hub/" + t.Name() + "?channel=lesson&token=abc"
	a, err := ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	if a.Form != Other || a.Transport != "plugmem" || a.Scheme != "class" || a.Identity() != "class?channel=lesson" {
		t.Fatalf("parsed %+v, identity %q", a, a.Identity())
	}
	// The same channel id over another transport is the same channel.
	if b, _ := ParseURL("class://239.1.2.3:7400?channel=lesson"); b.Identity() != a.Identity() {
		t.Fatalf("identities differ across transports: %q, %q", a.Identity(), b.Identity())
	}
	rx, tx := open(t, url), open(t, url, WithBlockingPush())
	sub, _ := rx.Subscribe()
	must(t, tx.Push(context.Background(), posting.New("over a plug-in")))
	if p := next(t, sub); p.Body != "over a plug-in" {
		t.Fatalf("got %v", p.Body)
	}
	if tx.Endpoint().IsZero() {
		t.Fatal("no endpoint")
	}
	// A transport nobody registered is a clear error.
	_, err = Open(context.Background(), "class+nosuch://hub/x")
	if !errors.Is(err, ErrBadURL) || !strings.Contains(err.Error(), "plugmem") {
		t.Fatalf("unknown transport: %v", err)
	}
	for _, bad := range []string{"class+multicast://10.0.0.1:7400", "class+udp://239.1.2.3:7400", "mem+x://a", "class+://x"} {
		if _, err := ParseURL(bad); err == nil {
			t.Errorf("%s parsed", bad)
		}
	}
}
