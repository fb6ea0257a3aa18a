package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/gateway"
	"github.com/rwanda-go/rwanda/gateway/ws"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

type strs []string

func (s *strs) String() string     { return strings.Join(*s, ",") }
func (s *strs) Set(v string) error { *s = append(*s, v); return nil }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rwgateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var urls, listens strs
	fs.Var(&urls, "url", "a multicast channel to relay (scheme://group:port?iface=...); repeatable, each with its -listen")
	fs.Var(&listens, "listen", "the unicast address clients send to (default :7500); repeatable, one per -url")
	maxClients := fs.Int("clients", 1024, "clients served at most, per channel")
	maxRate := fs.Float64("max-rate", 0, "cap on each client's rate, bytes per second (0: none)")
	heartbeat := fs.Duration("heartbeat", 500*time.Millisecond, "how often each client gets a heartbeat (clients move to a standby after 1.5 s of silence by default)")
	advertise := fs.String("advertise", "", "the host name clients use for this gateway, in the directory")
	dir := fs.String("dir", "", "print the directory of the gateway at HOST:PORT and exit")
	wsAddr := fs.String("ws", "", "serve browsers over WebSocket at this address (/ws, /rwanda.js), for the first -url")
	keyFile := fs.String("key-file", "", "the channel key (hex, or 16+ raw bytes), for -ws on a keyed channel")
	every := fs.Duration("stats", 10*time.Second, "how often to print the counters (0: never)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *dir != "" {
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		entries, err := gateway.QueryDirectory(qctx, *dir)
		if err != nil {
			fmt.Fprintln(stderr, "rwgateway:", err)
			return 1
		}
		for _, e := range entries {
			fmt.Fprintf(stdout, "%s\t%s\n", e.URL, e.Addr)
		}
		return 0
	}
	if len(urls) == 0 {
		fmt.Fprintln(stderr, "rwgateway: -url is required")
		fs.Usage()
		return 2
	}
	if len(listens) == 0 && len(urls) == 1 {
		listens = strs{":7500"}
	}
	if len(listens) != len(urls) {
		fmt.Fprintf(stderr, "rwgateway: %d -url and %d -listen: give one -listen per -url\n", len(urls), len(listens))
		return 2
	}
	var directory gateway.Directory
	var gws []*gateway.Gateway
	defer func() {
		for _, g := range gws {
			g.Close()
		}
	}()
	for i, u := range urls {
		cfg := gateway.Config{URL: u, Listen: listens[i], MaxClients: *maxClients, Adapt: gateway.AdaptConfig{Max: *maxRate},
			Heartbeat: *heartbeat, Directory: &directory}
		if *heartbeat <= 0 {
			cfg.Heartbeat = -1
		}
		if *advertise != "" {
			_, port, err := net.SplitHostPort(listens[i])
			if err != nil {
				fmt.Fprintln(stderr, "rwgateway: -listen:", err)
				return 2
			}
			cfg.Advertise = net.JoinHostPort(*advertise, port)
		}
		g, err := gateway.New(cfg)
		if err != nil {
			fmt.Fprintln(stderr, "rwgateway:", err)
			return 1
		}
		gws = append(gws, g)
		fmt.Fprintf(stdout, "rwgateway: relaying %s to clients at %s\n", u, g.Addr())
	}
	if *wsAddr != "" {
		stop, addr, err := serveWS(urls[0], *wsAddr, *keyFile, stderr)
		if err != nil {
			fmt.Fprintln(stderr, "rwgateway: -ws:", err)
			return 1
		}
		defer stop()
		fmt.Fprintf(stdout, "rwgateway: browsers at ws://%s/ws (script http://%s/rwanda.js)\n", addr, addr)
	}
	var tick <-chan time.Time
	if *every > 0 {
		t := time.NewTicker(*every)
		defer t.Stop()
		tick = t.C
	}
	stats := func() {
		for _, g := range gws {
			fmt.Fprintf(stdout, "%v %+v\n", g.Addr(), g.Stats())
		}
	}
	for {
		select {
		case <-ctx.Done():
			for _, g := range gws {
				g.Close()
			}
			stats()
			return 0
		case <-tick:
			stats()
		}
	}
}

// serveWS opens a member of the channel at url and serves it to browsers
// at addr; stop closes the server, the handler and the member.
func serveWS(url, addr, keyFile string, stderr io.Writer) (stop func(), bound string, err error) {
	var opts []channel.Option
	if keyFile != "" {
		b, err := os.ReadFile(keyFile)
		if err != nil {
			return nil, "", fmt.Errorf("reading the key: %w", err)
		}
		key := b
		if h, err := hex.DecodeString(strings.TrimSpace(string(b))); err == nil {
			key = h
		}
		if len(key) < 16 {
			return nil, "", fmt.Errorf("the key in %s is %d bytes; a channel key is at least 16", keyFile, len(key))
		}
		opts = append(opts, channel.WithKey(key))
	}
	ch, err := channel.Open(context.Background(), url, opts...)
	if err != nil {
		return nil, "", err
	}
	h, err := ws.New(ch)
	if err != nil {
		ch.Close()
		return nil, "", err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		h.Close()
		ch.Close()
		return nil, "", err
	}
	mux := http.NewServeMux()
	mux.Handle("/ws", h)
	mux.Handle("/rwanda.js", h.ScriptHandler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(stderr, "rwgateway: -ws:", err)
		}
	}()
	return func() {
		h.Close() // ends the WebSocket clients, which Shutdown does not wait for
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if srv.Shutdown(sctx) != nil {
			srv.Close()
		}
		<-done
		ch.Close()
	}, ln.Addr().String(), nil
}
