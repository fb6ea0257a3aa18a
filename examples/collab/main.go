package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rwanda-go/rwanda/posting"
)

// Streams of the session.
const (
	streamBoard    = "board"    // strokes: reliable, in order (text JSON, see web/app.js)
	streamPointer  = "pointer"  // pointers: latest-wins (key "p"), TTL pointerTTL
	streamChat     = "chat"     // chat lines: reliable
	streamPresence = "presence" // Hello heartbeats
	streamAudio    = "audio"    // 20 ms of 16 kHz 16-bit mono PCM, audio profile
)

// pointerTTL is a pointer posting's time to live: a pointer not moved for
// longer is no longer shown.
const pointerTTL = time.Second

// pointerQoS is the pointer stream's stack: best effort, so that a lost
// pointer posting (soon superseded) never holds up the next one.
const pointerQoS = "frag/order/window(mode=besteffort)"

func init() { posting.Register[Hello]("rwanda.examples/collab.Hello") }

// Config is a participant's configuration (the flags).
type Config struct {
	URL       string
	Name      string
	HTTP      string   // the page's address
	Voters    []string // the floor voters (floor.Config.Voters): every participant must give the same
	Bots      int      // synthetic participants in this process
	BotHz     float64  // their pointer updates a second
	BotStroke float64  // their stroke postings a second
	BotChat   time.Duration
	Heartbeat time.Duration // presence heartbeat interval
	Departure time.Duration // a participant silent this long has left
}

func main() {
	var cfg Config
	var voters string
	flag.StringVar(&cfg.URL, "url", "collab://239.7.7.9:7403?iface=lo", "the session's channel URL (name your LAN interface in iface= to meet across machines)")
	flag.StringVar(&cfg.Name, "name", os.Getenv("USER"), "your name (unique in the session)")
	flag.StringVar(&cfg.HTTP, "http", "127.0.0.1:8080", "address of the page (host:port; port 0 picks one)")
	flag.StringVar(&voters, "voters", "ana,ben,cy", "the floor voters, comma-separated, the same for every participant: a majority of them must be present for the floors to work")
	flag.IntVar(&cfg.Bots, "bots", 0, "synthetic participants to add: they draw, move pointers and chat")
	flag.Float64Var(&cfg.BotHz, "bot-hz", 10, "pointer updates a second per bot")
	flag.Float64Var(&cfg.BotStroke, "bot-strokes", 2, "stroke postings a second per bot")
	flag.DurationVar(&cfg.BotChat, "bot-chat", 10*time.Second, "how often each bot chats (0: never)")
	flag.DurationVar(&cfg.Heartbeat, "heartbeat", 500*time.Millisecond, "presence heartbeat interval")
	flag.DurationVar(&cfg.Departure, "departure", 2500*time.Millisecond, "a participant silent this long has left")
	flag.Parse()
	for v := range strings.SplitSeq(voters, ",") {
		if v = strings.TrimSpace(v); v != "" {
			cfg.Voters = append(cfg.Voters, v)
		}
	}
	if cfg.Name == "" {
		log.Fatal("collab: -name is empty")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	p, err := Start(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("collab: %s (member %x) in %s: open http://%s/\n", cfg.Name, p.ch.ID(), cfg.URL, p.Addr())
	<-ctx.Done()
	if err := p.Close(); err != nil {
		log.Printf("collab: leaving: %v", err)
	}
	if bots := p.BotStrokes(); len(bots) > 0 {
		b, _ := json.Marshal(bots)
		fmt.Printf("collab: left; bot strokes %s\n", b) // what the bots pushed, by member id
	}
}
