package posting_test

import (
	"fmt"
	"time"

	"github.com/rwanda-go/rwanda/posting"
)

// Greeting is an application body type.
type Greeting struct {
	From string
	Text string
}

func Example() {
	// Usually done in an init function, with the same name on every peer.
	posting.Register[Greeting]("example.Greeting")

	p := posting.New(&Greeting{From: "ann", Text: "hello"},
		posting.WithStream("lobby"),
		posting.WithMedia(posting.Text),
		posting.WithTTL(5*time.Second),
	)
	b, err := p.MarshalBinary()
	if err != nil {
		fmt.Println(err)
		return
	}

	q, err := posting.Decode(b)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("stream=%s media=%s ttl=%s\n", q.Stream, q.Media, q.TTL)
	fmt.Printf("body type: %T\n", q.Body)
	if g, ok := q.Body.(*Greeting); ok {
		fmt.Printf("%s says %q\n", g.From, g.Text)
	}
	// Output:
	// stream=lobby media=text ttl=5s
	// body type: *posting_test.Greeting
	// ann says "hello"
}

func ExampleRaw() {
	// The sender's type is not registered here, so the body arrives as a
	// Raw that can still be decoded into a compatible type.
	type point struct{ X, Y int }
	b, _ := (&posting.Posting{Body: point{X: 1, Y: 2}}).MarshalBinary()

	q, _ := posting.Decode(b)
	raw := q.Body.(posting.Raw)
	fmt.Println(raw.Type, raw.Err)

	var pt struct{ X, Y int }
	if err := raw.Decode(&pt); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(pt.X, pt.Y)
	// Output:
	// posting_test.point posting: body type not registered
	// 1 2
}
