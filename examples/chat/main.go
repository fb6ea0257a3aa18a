package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/posting"
)

// Chat is one line of the conversation. Registering it lets receivers get
// a Chat back, with no marshalling code.
type Chat struct {
	From string
	Text string
}

func init() { posting.Register[Chat]("rwanda.examples/chat.Chat") }

func main() {
	url := flag.String("url", "chat://239.7.7.7:7400?iface=lo", "channel URL (name your LAN interface in iface= to chat across machines)")
	name := flag.String("name", os.Getenv("USER"), "your name")
	demo := flag.Bool("demo", false, "play a short conversation between two members and exit")
	flag.Parse()
	if *demo {
		if err := runDemo(*url); err != nil {
			log.Fatal(err)
		}
		return
	}
	if err := run(*url, *name); err != nil {
		log.Fatal(err)
	}
}

func run(url, name string) error {
	ctx := context.Background()
	ch, err := channel.Open(ctx, url)
	if err != nil {
		return err
	}
	defer ch.Close()
	sub, err := ch.SubscribeFunc(func(p *posting.Posting) {
		if c, ok := p.Body.(Chat); ok {
			fmt.Printf("%s %s: %s\n", p.Sent.Format("15:04:05"), c.From, c.Text)
		}
	}, channel.Streams("chat"))
	if err != nil {
		return err
	}
	defer sub.Close()
	say := func(text string) error {
		return ch.Push(ctx, posting.New(Chat{From: name, Text: text}, posting.WithStream("chat"), posting.WithMedia(posting.Text)))
	}
	fmt.Printf("joined %s as %s (member %016x); type, or /who, /stats, /quit\n", url, name, ch.ID())
	if err := say("(joined)"); err != nil {
		return err
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		line := strings.TrimSpace(in.Text())
		switch line {
		case "":
		case "/quit":
			return say("(left)")
		case "/who":
			for _, p := range ch.Stats().Peers {
				fmt.Printf("  member %016x at %v, last heard %v ago\n", p.ID, p.Addr, time.Since(p.LastSeen).Round(time.Millisecond))
			}
		case "/stats":
			st := ch.Stats()
			fmt.Printf("  sent %d postings in %d datagrams; received %d postings in %d datagrams; drops %v\n",
				st.Sent.Postings, st.Sent.Datagrams, st.Received.Postings, st.Received.Datagrams, st.Drops)
		default:
			if err := say(line); err != nil {
				fmt.Println("  not sent:", err)
			}
		}
	}
	return say("(left)")
}

// runDemo plays a conversation between two members on the group.
func runDemo(url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ana, err := channel.Open(ctx, url)
	if err != nil {
		return err
	}
	defer ana.Close()
	ben, err := channel.Open(ctx, url)
	if err != nil {
		return err
	}
	defer ben.Close()
	fmt.Printf("ana is member %016x, ben is member %016x, both on %s\n", ana.ID(), ben.ID(), url)

	// Ben answers questions: Serve makes him a server for Pull.
	ben.Serve(func(ctx context.Context, req *posting.Posting) (*posting.Posting, error) {
		return posting.New(Chat{From: "ben", Text: "it is " + time.Now().Format("15:04")}), nil
	})
	benHears, _ := ben.Subscribe(channel.Streams("chat"))
	anaHears, _ := ana.Subscribe(channel.Streams("chat", "files"))

	say := func(from *channel.Channel, who, text string) error {
		return from.Push(ctx, posting.New(Chat{From: who, Text: text}, posting.WithStream("chat"), posting.WithMedia(posting.Text)))
	}
	if err := say(ana, "ana", "hi ben, are you there?"); err != nil {
		return err
	}
	p, err := benHears.Next(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("ben hears   %s: %s\n", p.Body.(Chat).From, p.Body.(Chat).Text)

	if err := say(ben, "ben", "hi ana! sending you the slides"); err != nil {
		return err
	}
	// A 1 MiB posting: the frag layer splits it into datagrams and ana's
	// stack puts it back together, whole or not at all.
	if err := ben.Push(ctx, posting.New(make([]byte, 1<<20), posting.WithStream("files"), posting.WithMedia(posting.Image))); err != nil {
		return err
	}
	for range 2 {
		p, err := anaHears.Next(ctx)
		if err != nil {
			return err
		}
		switch body := p.Body.(type) {
		case Chat:
			fmt.Printf("ana hears   %s: %s\n", body.From, body.Text)
		case []byte:
			fmt.Printf("ana gets    %d bytes of %v on stream %q from %016x, in one posting\n", len(body), p.Media, p.Stream, p.Sender)
		}
	}

	// Pull is two-way and blocking, like RPC: ana asks, ben's handler answers.
	rep, err := ana.Pull(ctx, posting.New(Chat{From: "ana", Text: "what time is it?"}, posting.WithStream("chat")))
	if err != nil {
		return err
	}
	fmt.Printf("ana pulls   %s: %s\n", rep.Body.(Chat).From, rep.Body.(Chat).Text)

	st := ben.Stats()
	fmt.Printf("ben sent %d postings in %d datagrams (%d bytes); his streams:\n", st.Sent.Postings, st.Sent.Datagrams, st.Sent.Bytes)
	for _, s := range st.Streams {
		to := "everyone"
		if s.Target != 0 {
			to = fmt.Sprintf("member %016x", s.Target)
		}
		fmt.Printf("  %-7q to %-23s stack %-17s %d postings\n", s.Name, to, s.QoS, s.Postings)
	}
	return nil
}
