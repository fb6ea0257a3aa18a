package channel

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/posting"
	"github.com/rwanda-go/rwanda/stack"
)

// TestTimerBatch: timers due at the same time run together, in the order
// they fell due, between one before and one after; Stop and Reset behave
// as time.Timer's do; a timer reset from its own function runs again.
func TestTimerBatch(t *testing.T) {
	clock := stack.NewManualClock(stack.ManualEpoch)
	var log []string
	b := newTimerBatch(clock, func() { log = append(log, "[") }, func() { log = append(log, "]") })
	at := func(name string) func() { return func() { log = append(log, name) } }

	b.AfterFunc(50*time.Millisecond, at("b"))
	b.AfterFunc(20*time.Millisecond, at("a"))
	c := b.AfterFunc(50*time.Millisecond, at("c"))
	d := b.AfterFunc(50*time.Millisecond, at("d"))
	if !d.Stop() || d.Stop() {
		t.Fatal("Stop: want true for a pending timer, then false")
	}
	var again stack.Timer
	resets := 0
	again = b.AfterFunc(50*time.Millisecond, func() {
		log = append(log, "e")
		if resets++; resets == 1 && again.Reset(10*time.Millisecond) {
			t.Error("Reset from the timer's own function: reported pending")
		}
	})
	clock.Advance(50 * time.Millisecond)
	if want := []string{"[", "a", "]", "[", "b", "c", "e", "]"}; !slices.Equal(log, want) {
		t.Fatalf("ran %v, want %v", log, want)
	}
	if c.Stop() {
		t.Fatal("Stop after it ran: reported pending")
	}
	log = nil
	if !again.Reset(30 * time.Millisecond) { // pending since it reset itself: moved later
		t.Fatal("Reset of a pending timer: reported not pending")
	}
	clock.Advance(20 * time.Millisecond)
	if len(log) != 0 {
		t.Fatalf("ran %v before its new time", log)
	}
	clock.Advance(10 * time.Millisecond)
	if want := []string{"[", "e", "]"}; !slices.Equal(log, want) {
		t.Fatalf("ran %v, want %v", log, want)
	}
	log = nil
	clock.Advance(time.Second)
	if len(log) != 0 {
		t.Fatalf("ran %v with nothing pending", log)
	}
}

// TestFeedbackBundledAndPrivate: on a multicast group (loopback) where
// many members send, a receiver's statuses on all its flows, whenever
// their data came, fall due together (on the clock's grid), leave in one
// datagram a status interval, and the other members skip them unread
// (FEEDBACK_TO): none of the senders' stacks sees another receiver's
// status.
func TestFeedbackBundledAndPrivate(t *testing.T) {
	checkGoroutines(t)
	clock := stack.NewManualClock(stack.ManualEpoch)
	url := groupURL("bundle")
	rx := open(t, url, WithClock(clock))
	const senders, steps = 8, 10
	var txs []*Channel
	for range senders {
		txs = append(txs, open(t, url, WithClock(clock), WithLinger(0)))
	}
	all := append([]*Channel{rx}, txs...)
	ctx := context.Background()
	step := func(i int) { // one status interval (the window's, 50 ms)
		t.Helper()
		for _, tx := range txs { // at different times within it
			must(t, tx.Push(ctx, posting.New(i, posting.WithStream("pointer"))))
			settle(t, all...)
			clock.Advance(time.Millisecond)
		}
		clock.Advance(50*time.Millisecond - senders*time.Millisecond)
		settle(t, all...)
	}
	step(0) // the streams are announced, the flows built, first statuses sent
	before := rx.Stats().Sent.Datagrams
	for i := 1; i <= steps; i++ {
		step(i)
	}
	sent := rx.Stats().Sent.Datagrams - before
	if sent > steps+steps/2 { // one a status interval, and a few others (HELLOs)
		t.Errorf("the receiver sent %d datagrams in %d status intervals with %d flows: its statuses were not bundled", sent, steps, senders)
	}
	stray := uint64(0)
	for _, tx := range txs {
		for _, fl := range tx.Stats().Flows {
			for _, l := range fl.Stack.Layers {
				stray += l.Counters["stray-feedback"]
			}
		}
	}
	if stray != 0 {
		t.Errorf("the senders' receiving stacks read %d statuses meant for other senders", stray)
	}
	t.Logf("the receiver sent %d datagrams in %d status intervals with %d flows; others' statuses read: %d", sent, steps, senders, stray)
}
