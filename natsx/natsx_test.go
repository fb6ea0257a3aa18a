package natsx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/internal/testnet"
	"github.com/rwanda-go/rwanda/transport"
	"github.com/rwanda-go/rwanda/transport/transporttest"
)

var subjectSeq atomic.Int64

// subject returns a fresh subject for a test.
func subject(t testing.TB) string {
	r := strings.NewReplacer("/", "_", ".", "_", " ", "_")
	return fmt.Sprintf("%s-%d", r.Replace(t.Name()), subjectSeq.Add(1))
}

// embeddedURL names a fresh subject on this process's in-process embedded
// server.
func embeddedURL(t testing.TB) string { return "t+nats:///" + subject(t) }

// startServer starts a nats-server of the test's own on 127.0.0.1 (port 0:
// a random one) and shuts it down after the test.
func startServer(t testing.TB, port int, maxPayload int32) *server.Server {
	t.Helper()
	if port == 0 {
		port = server.RANDOM_PORT
	}
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true, MaxPayload: maxPayload})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready within 10s")
	}
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	return srv
}

func serverPort(srv *server.Server) int { return srv.Addr().(*net.TCPAddr).Port }

// openConn opens the transport the way a channel does, from a URL.
func openConn(t testing.TB, raw string) transport.Conn {
	t.Helper()
	a, err := channel.ParseURL(raw)
	if err != nil {
		t.Fatal(err)
	}
	if a.Transport != Name {
		t.Fatalf("%s: transport %q", raw, a.Transport)
	}
	e, err := transport.Lookup(Name)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(raw)
	o, err := e.Open(context.Background(), &transport.Endpoint{URL: u, Scheme: a.Scheme, MTU: a.MTU, MTUGiven: a.MTUGiven})
	if err != nil {
		t.Fatal(err)
	}
	return o.Conn
}

// TestConformance runs package transporttest's suite on two members of a
// subject of the embedded server; A sends to B's inbox.
func TestConformance(t *testing.T) {
	transporttest.Run(t, func(t *testing.T) transporttest.Pair {
		u := embeddedURL(t)
		a, b := openConn(t, u), openConn(t, u)
		return transporttest.Pair{A: a, B: b, AtoB: b.LocalAddr()}
	})
}

// TestConformanceServer: the same against a server reached over TCP.
func TestConformanceServer(t *testing.T) {
	srv := startServer(t, 0, 0)
	transporttest.Run(t, func(t *testing.T) transporttest.Pair {
		u := srv.ClientURL()
		raw := "t+nats://" + strings.TrimPrefix(u, "nats://") + "/" + subject(t)
		a, b := openConn(t, raw), openConn(t, raw)
		return transporttest.Pair{A: a, B: b, AtoB: b.LocalAddr()}
	})
}

func TestParseURL(t *testing.T) {
	good := []struct {
		raw, server, subject string
		embed                int
	}{
		{"c+nats://hub:4222/lesson", "nats://hub:4222", "lesson", 0},
		{"c+nats://hub/a.b-c_d", "nats://hub:4222", "a.b-c_d", 0},
		{"c+nats://10.0.0.1:5222/x?tls=true&reconnect=1s", "tls://10.0.0.1:5222", "x", 0},
		{"c+nats://[::1]:4222/x?qos=reliable&mtu=4000&channel=lesson", "nats://[::1]:4222", "x", 0},
		{"c+nats:///lesson", "", "lesson", 0},
		{"c+nats://:4333/lesson", "", "lesson", 4333},
	}
	for _, g := range good {
		u, err := url.Parse(g.raw)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := parse(u)
		if err != nil {
			t.Errorf("%s: %v", g.raw, err)
			continue
		}
		if cfg.server != g.server || cfg.subject != g.subject || cfg.embedPort != g.embed {
			t.Errorf("%s: %+v", g.raw, cfg)
		}
	}
	bad := map[string]string{
		"c+nats://hub:4222":                                 "want a subject",
		"c+nats://hub:4222/":                                "want a subject",
		"c+nats://hub:4222/a.*":                             "wildcards",
		"c+nats://hub:4222/a.>":                             "wildcards",
		"c+nats://hub:4222/a..b":                            "empty token",
		"c+nats://hub:4222/a/b":                             "dot-separated",
		"c+nats://hub:4222/x?colour=red":                    "unknown parameter colour",
		"c+nats://hub:4222/x?tls=maybe":                     "tls",
		"c+nats://hub:4222/x?reconnect=2h":                  "reconnect",
		"c+nats://hub:99999/x":                              "port",
		"c+nats://hub:/x":                                   "missing port",
		"c+nats:///x?creds=/etc/user.creds":                 "not an embedded one",
		"c+nats://hub/" + strings.Repeat("a", MaxSubject+1): "at most",
	}
	for raw, want := range bad {
		u, err := url.Parse(raw)
		if err != nil {
			continue // not even a URL: the channel refuses it first
		}
		_, err = parse(u)
		if err == nil || !errors.Is(err, ErrBadURL) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one saying %q", raw, err, want)
		}
	}
	// Through channel.Open: a clear error, nothing left open.
	testnet.CheckGoroutines(t)
	if _, err := channel.Open(context.Background(), "c+nats:///a.*"); !errors.Is(err, ErrBadURL) {
		t.Fatalf("Open of a wildcard subject: %v", err)
	}
	// A server nobody runs: Open fails within the context's deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	port := testnet.FreePort(t) // a UDP port that was free; nothing listens on its TCP twin in this test
	if _, err := channel.Open(ctx, fmt.Sprintf("c+nats://127.0.0.1:%d/x", port)); err == nil || !strings.Contains(err.Error(), "connecting") {
		t.Fatalf("Open with no server: %v", err)
	}
}

// FuzzURL: whatever the URL, parse neither panics nor accepts a subject a
// member could not publish on, and a member's sender check accepts only
// this channel's inboxes.
func FuzzURL(f *testing.F) {
	for _, s := range []string{"c+nats://hub:4222/lesson", "c+nats:///a.b", "c+nats://:1/x?reconnect=5ms", "c+nats://h/a.*?tls=1", "c+nats://h/%2e"} {
		f.Add(s, "lesson.m.0123456789abcdef")
	}
	f.Fuzz(func(t *testing.T, raw, reply string) {
		u, err := url.Parse(raw)
		if err != nil {
			return
		}
		cfg, err := parse(u)
		if err != nil {
			if !errors.Is(err, ErrBadURL) {
				t.Fatalf("error %v does not wrap ErrBadURL", err)
			}
			return
		}
		if cfg.subject == "" || len(cfg.subject) > MaxSubject || strings.ContainsAny(cfg.subject, "*> \t\r\n") {
			t.Fatalf("accepted subject %q", cfg.subject)
		}
		if cfg.server != "" && (cfg.embedPort != 0 || !strings.HasPrefix(cfg.server, "nats://") && !strings.HasPrefix(cfg.server, "tls://")) {
			t.Fatalf("config %+v", cfg)
		}
		c := &conn{subject: cfg.subject, prefix: cfg.subject + ".m."}
		if a, ok := c.from(reply); ok {
			id, _ := strings.CutPrefix(reply, c.prefix)
			if a.Name != reply || len(id) != 16 || strings.Trim(id, "0123456789abcdef") != "" {
				t.Fatalf("accepted sender %q", reply)
			}
		}
	})
}
