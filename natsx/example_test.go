package natsx_test

import (
	"context"
	"fmt"

	"github.com/rwanda-go/rwanda/channel"
	_ "github.com/rwanda-go/rwanda/natsx" // registers the transport: app+nats://
	"github.com/rwanda-go/rwanda/posting"
)

// A channel over NATS: only the URL differs from one over multicast. With
// no server in the URL an embedded nats-server starts in this process;
// name one (classroom+nats://hub:4222/lesson) to cross sites.
func Example() {
	ctx := context.Background()
	teacher, err := channel.Open(ctx, "classroom+nats:///lesson?channel=lesson", channel.WithBlockingPush())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer teacher.Close()
	pupil, err := channel.Open(ctx, "classroom+nats:///lesson?channel=lesson")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pupil.Close()
	sub, _ := pupil.Subscribe()

	teacher.Push(ctx, posting.New("good morning", posting.WithStream("board")))
	p, err := sub.Next(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.Stream, p.Body, teacher.QoS("board"), teacher.Address().Identity())
	// Output: board good morning frag/order/window classroom?channel=lesson
}
