package channel_test

import (
	"context"
	"fmt"
	"time"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/posting"
)

// A latest-wins key: a subscriber that reads late gets the newest cursor
// position, not the backlog of every move.
func Example_latestWins() {
	ctx := context.Background()
	a, _ := channel.Open(ctx, "mem://example-latest")
	defer a.Close()
	b, _ := channel.Open(ctx, "mem://example-latest")
	defer b.Close()
	sub, _ := b.Subscribe()
	for x := range 100 {
		a.Push(ctx, posting.New(fmt.Sprintf("cursor at %d", x), posting.WithKey("cursor")))
	}
	a.Push(ctx, posting.New("hello")) // no key: delivered as always
	for st := sub.Stats(); st.Delivered < 101; st = sub.Stats() {
		time.Sleep(time.Millisecond) // the subscriber is busy elsewhere
	}
	for sub.Stats().Queued > 0 {
		p, _ := sub.Next(ctx)
		fmt.Println(p.Body)
	}
	fmt.Println("superseded:", sub.Stats().Superseded)
	// Output:
	// cursor at 99
	// hello
	// superseded: 99
}
