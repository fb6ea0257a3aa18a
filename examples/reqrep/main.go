package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/posting"
)

// Query and Answer are the service's types, registered on every member.
type Query struct{ Word string }
type Answer struct {
	Word, Upper string
	By          string
}

func init() {
	posting.Register[Query]("rwanda.examples/reqrep.Query")
	posting.Register[Answer]("rwanda.examples/reqrep.Answer")
}

func main() {
	if err := run("mem://reqrep-example"); err != nil {
		log.Fatal(err)
	}
}

func run(url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	open := func() (*channel.Channel, error) {
		// A short announce interval: members learn who serves sooner.
		return channel.Open(ctx, url, channel.WithAnnounceInterval(100*time.Millisecond))
	}
	client, err := open()
	if err != nil {
		return err
	}
	defer client.Close()

	// Two servers of "upper": a queue group, as in NATS. Each request
	// goes to one of them, round robin.
	for _, name := range []string{"s1", "s2"} {
		srv, err := open()
		if err != nil {
			return err
		}
		defer srv.Close()
		srv.ServeName("upper", func(ctx context.Context, req *posting.Posting) (*posting.Posting, error) {
			q, ok := channel.BodyAs[Query](req)
			if !ok {
				return nil, fmt.Errorf("want a Query, got %T", req.Body)
			}
			if q.Word == "" {
				return nil, errors.New("empty word")
			}
			return posting.New(Answer{Word: q.Word, Upper: strings.ToUpper(q.Word), By: name}), nil
		})
		// And a slow service, to show deadlines: its handler's context
		// carries the client's.
		srv.ServeName("slow", func(ctx context.Context, req *posting.Posting) (*posting.Posting, error) {
			select {
			case <-time.After(time.Second):
				return posting.New("done"), nil
			case <-ctx.Done():
				return nil, context.Cause(ctx)
			}
		})
	}

	ask := func(word string, opts ...channel.PullOption) (Answer, error) {
		rep, err := client.PullName(ctx, "upper", posting.New(Query{Word: word}), opts...)
		if err != nil {
			return Answer{}, err
		}
		a, ok := channel.BodyAs[Answer](rep)
		if !ok {
			return Answer{}, fmt.Errorf("reply of type %T", rep.Body)
		}
		return a, nil
	}
	var firstServer uint64
	for _, w := range []string{"alpha", "beta", "gamma", "delta"} {
		a, err := ask(w)
		if err != nil {
			return err
		}
		fmt.Printf("upper(%s) = %s, answered by %s\n", a.Word, a.Upper, a.By)
	}
	for _, p := range client.Stats().Peers {
		if p.Serves && firstServer == 0 {
			firstServer = p.ID
		}
	}

	// To asks one member, whoever is next in the round.
	a, err := ask("epsilon", channel.To(firstServer))
	if err != nil {
		return err
	}
	fmt.Printf("asked member %016x only: upper(%s) = %s, answered by %s\n", firstServer, a.Word, a.Upper, a.By)

	// The handler's error comes back as a *channel.RemoteError.
	_, err = ask("")
	var re *channel.RemoteError
	if errors.As(err, &re) {
		fmt.Printf("an empty word: the server said %q\n", re.Message)
	}

	// A deadline shorter than the work: the client gives up, the handler's
	// context ends (the server is told).
	short, stop := context.WithTimeout(ctx, 200*time.Millisecond)
	defer stop()
	_, err = client.PullName(short, "slow", posting.New("take your time"))
	fmt.Println("slow service with a 200ms deadline:", errors.Is(err, context.DeadlineExceeded) || errors.Is(err, channel.ErrTimeout))

	// Nobody serves "nosuch": ErrNoServer, after twice the announce interval.
	_, err = client.PullName(ctx, "nosuch", posting.New("hello?"))
	fmt.Println("a service nobody serves:", errors.Is(err, channel.ErrNoServer))
	return nil
}
