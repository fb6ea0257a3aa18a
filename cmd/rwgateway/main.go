// Command rwgateway relays a multicast channel to unicast UDP clients
// (package gateway):
//
//	rwgateway -url 'classroom://239.7.7.7:7400?iface=eth0&channel=lesson' -listen :7500
//
// Clients open classroom://HOST:7500?channel=lesson. It prints the
// gateway's counters every -stats period (0: never) and at exit
// (SIGINT, SIGTERM).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rwanda-go/rwanda/gateway"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rwgateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "", "the multicast channel to relay (scheme://group:port?iface=...)")
	listen := fs.String("listen", ":7500", "the unicast address clients send to")
	maxClients := fs.Int("clients", 1024, "clients served at most")
	maxRate := fs.Float64("max-rate", 0, "cap on each client's rate, bytes per second (0: none)")
	every := fs.Duration("stats", 10*time.Second, "how often to print the counters (0: never)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *url == "" {
		fmt.Fprintln(stderr, "rwgateway: -url is required")
		fs.Usage()
		return 2
	}
	g, err := gateway.New(gateway.Config{URL: *url, Listen: *listen, MaxClients: *maxClients, Adapt: gateway.AdaptConfig{Max: *maxRate}})
	if err != nil {
		fmt.Fprintln(stderr, "rwgateway:", err)
		return 1
	}
	fmt.Fprintf(stdout, "rwgateway: relaying %s to clients at %s\n", *url, g.Addr())
	var tick <-chan time.Time
	if *every > 0 {
		t := time.NewTicker(*every)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			g.Close()
			fmt.Fprintf(stdout, "%+v\n", g.Stats())
			return 0
		case <-tick:
			fmt.Fprintf(stdout, "%+v\n", g.Stats())
		}
	}
}
