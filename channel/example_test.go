package channel_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/posting"
)

// Chat is an application body type. Registering it under the same name on
// every member lets receivers get a Chat back, with no marshalling code.
type Chat struct {
	From string
	Text string
}

func init() { posting.Register[Chat]("example.com/channel.Chat") }

// Two members of one channel: one pushes, the other subscribes. mem://
// channels live in the process (tests, embedding); the same code runs on
// a multicast group (app://239.7.7.7:7400?iface=eth0) or to a UDP peer.
func Example() {
	ctx := context.Background()
	ana, err := channel.Open(ctx, "mem://example-lobby")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ana.Close()
	ben, _ := channel.Open(ctx, "mem://example-lobby")
	defer ben.Close()

	sub, _ := ben.Subscribe(channel.Streams("chat"))
	ana.Push(ctx, posting.New(Chat{From: "ana", Text: "hi ben"}, posting.WithStream("chat"), posting.WithMedia(posting.Text)))

	p, _ := sub.Next(ctx)
	msg := p.Body.(Chat)
	fmt.Printf("%s on %q (%v, seq %d): %s\n", msg.From, p.Stream, p.Media, p.Seq, msg.Text)
	// Output: ana on "chat" (text, seq 1): hi ben
}

func ExampleOpen() {
	ctx := context.Background()
	// The URL names the channel: here an in-process hub, with the QoS
	// string of its streams (the "realtime" profile: never repaired).
	ch, err := channel.Open(ctx, "mem://example-open?qos=realtime")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ch.Close()
	fmt.Println(ch.Address().Form, ch.QoS("video"))

	// Bad URLs and parameters are errors that name what is wrong.
	_, err = channel.Open(ctx, "app://239.7.7.7:7400?ifac=eth0")
	var ue *channel.URLError
	if errors.As(err, &ue) {
		reason, _, _ := strings.Cut(ue.Reason, " (")
		fmt.Printf("bad URL: parameter %q: %s\n", ue.Param, reason)
	}
	// Output:
	// mem frag/order/window(mode=besteffort)
	// bad URL: parameter "ifac": unknown parameter
}

func ExampleChannel_Push() {
	ctx := context.Background()
	tx, _ := channel.Open(ctx, "mem://example-push")
	defer tx.Close()
	rx, _ := channel.Open(ctx, "mem://example-push")
	defer rx.Close()
	sub, _ := rx.Subscribe()

	// Push fills in the sender, the sequence number and the send time.
	// Headers (wire v2) travel with the posting; a TTL makes it
	// semi-reliable: never delivered after its time is up.
	p := posting.New([]byte("frame 1"),
		posting.WithStream("video"), posting.WithMedia(posting.Video),
		posting.WithTTL(2*time.Second), posting.WithHeader("codec", "vp8"))
	if err := tx.Push(ctx, p); err != nil {
		fmt.Println(err)
		return
	}
	q, _ := sub.Next(ctx)
	codec, _ := q.Header("codec")
	fmt.Printf("%s %v seq=%d ttl=%v codec=%s from the pusher: %v\n", q.Body, q.Media, q.Seq, q.TTL, codec, q.Sender == tx.ID())
	// Output: frame 1 video seq=1 ttl=2s codec=vp8 from the pusher: true
}

func ExampleChannel_Subscribe() {
	ctx := context.Background()
	tx, _ := channel.Open(ctx, "mem://example-subscribe")
	defer tx.Close()
	rx, _ := channel.Open(ctx, "mem://example-subscribe")
	defer rx.Close()

	// A bounded queue of 16 postings of text media on two streams; when
	// it is full the oldest is dropped (and counted).
	sub, _ := rx.Subscribe(channel.Media(posting.Text), channel.Streams("chat", "notes"), channel.Queue(16, channel.DropOldest))
	tx.Push(ctx, posting.New(Chat{"ana", "one"}, posting.WithStream("chat"), posting.WithMedia(posting.Text)))
	tx.Push(ctx, posting.New(Chat{"ana", "ignored"}, posting.WithStream("other"), posting.WithMedia(posting.Text)))
	tx.Push(ctx, posting.New(Chat{"ana", "two"}, posting.WithStream("notes"), posting.WithMedia(posting.Text)))

	for range 2 {
		p, _ := sub.Next(ctx)
		fmt.Println(p.Stream, p.Body.(Chat).Text)
	}
	fmt.Println(sub.Stats().Delivered, "delivered")
	// Output:
	// chat one
	// notes two
	// 2 delivered
}

func ExampleSubscription_All() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tx, _ := channel.Open(ctx, "mem://example-all")
	defer tx.Close()
	rx, _ := channel.Open(ctx, "mem://example-all")
	defer rx.Close()
	sub, _ := rx.Subscribe()
	for _, w := range strings.Fields("one two three") {
		tx.Push(ctx, posting.New(w))
	}
	n := 0
	for p := range sub.All(ctx) {
		fmt.Println(p.Seq, p.Body)
		if n++; n == 3 {
			break
		}
	}
	// Output:
	// 1 one
	// 2 two
	// 3 three
}

func ExampleSubscribeTyped() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tx, _ := channel.Open(ctx, "mem://example-typed")
	defer tx.Close()
	rx, _ := channel.Open(ctx, "mem://example-typed")
	defer rx.Close()

	// Bodies come out as Chat (whether pushed as Chat or *Chat); other
	// bodies are skipped and counted.
	chats, _ := channel.SubscribeTyped[Chat](rx, channel.Streams("chat"))
	tx.Push(ctx, posting.New(Chat{"ana", "hello"}, posting.WithStream("chat")))
	tx.Push(ctx, posting.New("not a Chat", posting.WithStream("chat")))
	tx.Push(ctx, posting.New(&Chat{"ben", "hi ana"}, posting.WithStream("chat")))

	for msg, p := range chats.All(ctx) {
		fmt.Printf("%d %s: %s\n", p.Seq, msg.From, msg.Text)
		if msg.From == "ben" {
			break
		}
	}
	fmt.Println("skipped", chats.Skipped())
	// Output:
	// 1 ana: hello
	// 3 ben: hi ana
	// skipped 1
}

func ExampleChannel_Pull() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	server, _ := channel.Open(ctx, "mem://example-pull")
	defer server.Close()
	client, _ := channel.Open(ctx, "mem://example-pull")
	defer client.Close()

	// Serve answers Pull requests; the handler's context carries the
	// client's deadline.
	server.Serve(func(ctx context.Context, req *posting.Posting) (*posting.Posting, error) {
		return posting.New("echo: " + req.Body.(string)), nil
	})
	rep, err := client.Pull(ctx, posting.New("ping"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(rep.Body, rep.Kind, rep.Sender == server.ID())

	// A handler's error comes back as a *RemoteError.
	server.ServeName("fail", func(context.Context, *posting.Posting) (*posting.Posting, error) {
		return nil, fmt.Errorf("no such record")
	})
	_, err = client.PullName(ctx, "fail", posting.New("record 7"))
	var re *channel.RemoteError
	if errors.As(err, &re) {
		fmt.Println("the server said:", re.Message)
	}
	// Output:
	// echo: ping reply true
	// the server said: no such record
}

func ExampleWithKey() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	key := make([]byte, 32)
	rand.Read(key)

	// Members holding the key authenticate every datagram and encrypt
	// every stream; anyone else's datagrams are dropped unread.
	a, _ := channel.Open(ctx, "mem://example-keyed", channel.WithKey(key))
	defer a.Close()
	b, _ := channel.Open(ctx, "mem://example-keyed", channel.WithKey(key))
	defer b.Close()
	outsider, _ := channel.Open(ctx, "mem://example-keyed")
	defer outsider.Close()
	heard, _ := outsider.Subscribe()

	sub, _ := b.Subscribe()
	a.Push(ctx, posting.New(Chat{"ana", "for members only"}, posting.WithStream("chat")))
	p, err := sub.Next(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.Body.(Chat).Text, "on", a.QoS("chat"))
	fmt.Println("the outsider got", heard.Stats().Delivered, "postings")
	// Output:
	// for members only on frag/order/window/encrypt
	// the outsider got 0 postings
}
