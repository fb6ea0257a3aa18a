package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/natsx/bridge"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(s string) error { *l = append(*l, s); return nil }

// run bridges until ctx is done.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rwbridge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	lan := fs.String("lan", "", "the site's channel URL (required), e.g. lesson://239.1.2.3:7400?channel=lesson")
	server := fs.String("nats", "", "a NATS server, nats://host:4222 (default: start an embedded one)")
	subject := fs.String("subject", "", "the NATS subject the sites' bridges share (default: the channel id, else \"rwanda\")")
	listen := fs.String("listen", "127.0.0.1:0", "embedded server: its client address")
	leafListen := fs.String("leaf-listen", "", "embedded server: accept leaf node links from other sites here (host:port)")
	var remotes list
	fs.Var(&remotes, "leaf-remote", "embedded server: connect as a leaf node to this site's server, nats-leaf://host:7422 (repeatable)")
	heartbeat := fs.Duration("heartbeat", bridge.DefaultHeartbeat, "heartbeat interval on the WAN subject")
	silence := fs.Duration("silence", bridge.DefaultSilence, "a far site is unreachable after this without its heartbeats")
	hold := fs.Int("hold", bridge.DefaultHoldBytes, "bytes held while a far site is unreachable")
	verbose := fs.Bool("v", false, "log state changes")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *lan == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: rwbridge -lan URL [-nats nats://host:4222 | -leaf-listen host:port | -leaf-remote nats-leaf://host:port] [flags]")
		fs.PrintDefaults()
		return 2
	}
	a, err := channel.ParseURL(*lan)
	if err != nil {
		fmt.Fprintln(stderr, "rwbridge:", err)
		return 2
	}
	if *subject == "" {
		*subject = "rwanda"
		if a.Channel != "" && !strings.ContainsAny(a.Channel, "~:/") {
			*subject = strings.Trim(a.Channel, ".")
		}
	}
	if *server == "" {
		srv, err := bridge.StartServer(bridge.ServerConfig{Listen: *listen, LeafListen: *leafListen, LeafRemotes: remotes})
		if err != nil {
			fmt.Fprintln(stderr, "rwbridge:", err)
			return 1
		}
		defer srv.Close()
		*server = srv.ClientURL()
		fmt.Fprintf(stderr, "rwbridge: embedded nats-server at %s\n", *server)
	} else if *leafListen != "" || len(remotes) > 0 {
		fmt.Fprintln(stderr, "rwbridge: -leaf-listen and -leaf-remote are for the embedded server, not with -nats")
		return 2
	}
	wan, err := bridge.WANURL(*lan, *server, *subject)
	if err != nil {
		fmt.Fprintln(stderr, "rwbridge:", err)
		return 2
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	octx, cancel := context.WithTimeout(ctx, 10*time.Second)
	b, err := bridge.New(octx, bridge.Config{LAN: *lan, WAN: wan, Heartbeat: *heartbeat, Silence: *silence, HoldBytes: *hold, Logger: log})
	cancel()
	if err != nil {
		fmt.Fprintln(stderr, "rwbridge:", err)
		return 1
	}
	fmt.Fprintf(stderr, "rwbridge: %s <-> %s (bridge %016x)\n", *lan, wan, b.ID())
	<-ctx.Done()
	st := b.Stats()
	b.Close()
	fmt.Fprintf(stdout, "to WAN %d, to LAN %d, held %d, drops %v\n", st.ToWAN, st.ToLAN, st.Held, st.Drops)
	return 0
}
