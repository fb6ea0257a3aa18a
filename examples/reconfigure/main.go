package main

import (
	"context"
	"fmt"
	"log"
	"slices"
	"time"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/posting"
)

func main() {
	if err := run("mem://reconfigure-example"); err != nil {
		log.Fatal(err)
	}
}

func run(url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var events []string
	tx, err := channel.Open(ctx, url, channel.WithStreamQoS("frames", "realtime"))
	if err != nil {
		return err
	}
	defer tx.Close()
	rx, err := channel.Open(ctx, url)
	if err != nil {
		return err
	}
	defer rx.Close()
	frames, err := channel.SubscribeTyped[int](rx, channel.Streams("frames"), channel.Queue(4096, channel.FailSlow))
	if err != nil {
		return err
	}

	// Three phases of 100 postings, a different stack for each.
	stacks := []string{"", "reliable", "frag(mtu=600)/order/window(size=64)"}
	n := 0
	for phase, qos := range stacks {
		if qos != "" {
			if err := tx.Reconfigure("frames", qos); err != nil {
				return err
			}
		}
		for range 100 {
			n++
			if err := tx.Push(ctx, posting.New(n, posting.WithStream("frames"))); err != nil {
				return err
			}
		}
		events = append(events, fmt.Sprintf("phase %d: pushed up to %d on %s", phase+1, n, tx.QoS("frames")))
	}

	var got []int
	for len(got) < n {
		v, _, err := frames.Next(ctx)
		if err != nil {
			return fmt.Errorf("after %d postings: %w", len(got), err)
		}
		got = append(got, v)
	}
	for _, e := range events {
		fmt.Println(e)
	}
	want := make([]int, n)
	for i := range want {
		want[i] = i + 1
	}
	if !slices.Equal(got, want) {
		return fmt.Errorf("the receiver got %v", got)
	}
	fmt.Printf("the receiver got all %d postings, in order, none twice\n", len(got))
	var seen []string
	for _, f := range rx.Stats().Flows {
		seen = append(seen, f.QoS)
	}
	slices.Sort(seen)
	fmt.Printf("the receiver's flows of the stream, one per stack (each forgotten a few announce intervals after it drained): %q\n", seen)
	return nil
}
