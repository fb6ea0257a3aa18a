package channel

import (
	"context"
	"maps"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/posting"
	"github.com/rwanda-go/rwanda/stack"
)

// TestCloseClosesRetiredStreams: a stream retired by Reconfigure whose
// stack still has postings to repair (no member ever acknowledges them) is
// closed by Close, so its timers stop and it sends nothing more. On a
// manual clock, no timer is left pending after Close, and advancing the
// clock sends nothing.
func TestCloseClosesRetiredStreams(t *testing.T) {
	checkGoroutines(t)
	clk := stack.NewManualClock(stack.ManualEpoch)
	ch, err := Open(context.Background(), memURL(t), WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 3 {
		must(t, ch.Push(ctx, posting.New(i, posting.WithStream("s"))))
	}
	if err := ch.Reconfigure("s", "frag/order/window(size=64)"); err != nil {
		t.Fatal(err)
	}
	must(t, ch.Push(ctx, posting.New(3, posting.WithStream("s"))))
	if err := ch.Close(); err != nil {
		t.Fatal(err)
	}
	if n := clk.Pending(); n != 0 {
		t.Fatalf("%d timers still pending after Close: a stack was left open", n)
	}
	before := ch.Stats()
	clk.Advance(time.Minute)
	after := ch.Stats()
	if !maps.Equal(before.Drops, after.Drops) || before.Sent != after.Sent {
		t.Fatalf("the channel kept sending after Close: sent %+v, drops %v; before: %+v, %v", after.Sent, after.Drops, before.Sent, before.Drops)
	}
}

// TestOpenSaysHello: a member's hello leaves when it opens the channel,
// not at its first maintenance, so the others know it at once. The clock
// never moves: nothing here waits for a timer.
func TestOpenSaysHello(t *testing.T) {
	checkGoroutines(t)
	clk := stack.NewManualClock(stack.ManualEpoch)
	url := memURL(t)
	a := open(t, url, WithClock(clk))
	b := open(t, url, WithClock(clk))
	// Both learn of each other: b's hello asks a for its own.
	for _, c := range []struct{ who, of *Channel }{{a, b}, {b, a}} {
		deadline := time.Now().Add(10 * time.Second) // the reader goroutines' progress, not protocol time
		for !slices.ContainsFunc(c.who.Stats().Peers, func(p PeerInfo) bool { return p.ID == c.of.ID() }) {
			if time.Now().After(deadline) {
				t.Fatalf("member %x never heard of %x", c.who.ID(), c.of.ID())
			}
			runtime.Gosched()
		}
	}
}
