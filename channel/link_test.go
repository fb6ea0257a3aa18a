package channel

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/posting"
	"github.com/rwanda-go/rwanda/stack"
)

// TestLinkRateEDF pushes more than the link can carry before the
// postings' deadlines, on a clock the test drives: with the edf layer the
// postings that cannot make it are dropped before they are sent and none
// arrives late; without a scheduler they all go, most of them late.
func TestLinkRateEDF(t *testing.T) {
	run := func(qos string) (sent, late, delivered uint64, lateAtReceiver int) {
		clock := stack.NewManualClock(stack.ManualEpoch)
		url := memURL(t)
		rx := open(t, url, WithClock(clock))
		// 100 KB/s: a 1000-byte posting takes about 10 ms of link time.
		tx := open(t, url, WithClock(clock), WithQoS(qos), WithLinkRate(100_000))
		var mu sync.Mutex
		var n, lateN int
		rx.SubscribeFunc(func(p *posting.Posting) {
			mu.Lock()
			defer mu.Unlock()
			n++
			if clock.Now().After(p.Sent.Add(p.TTL)) {
				lateN++
			}
		})
		ctx := context.Background()
		body := make([]byte, 1000)
		for i := range 40 {
			must(t, tx.Push(ctx, posting.New(append(body[:0:0], body...), posting.WithTTL(100*time.Millisecond))))
			_ = i
		}
		// After each step of the clock, let the goroutines catch up: the
		// writer sends what the link queue released, the receiver takes it.
		settle := func() {
			deadline := time.Now().Add(10 * time.Second)
			for time.Now().Before(deadline) {
				tx.out.mu.Lock()
				idle := tx.out.queued == 0 && !tx.out.busy
				tx.out.mu.Unlock()
				if idle && rx.Stats().Received.Datagrams >= tx.Stats().Sent.Datagrams {
					return
				}
				time.Sleep(50 * time.Microsecond) // waiting on goroutines, not for time to pass
			}
			t.Fatal("the channel did not settle")
		}
		settle()
		for range 600 {
			clock.Advance(time.Millisecond)
			settle()
		}
		tx.Close() // writes what is queued
		st := tx.Stats()
		deadline := time.Now().Add(10 * time.Second)
		for rx.Stats().Received.Datagrams < st.Sent.Datagrams && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond) // waiting for the receiving goroutine, not for time to pass
		}
		t.Logf("receiver drops %v", rx.Stats().Drops)
		mu.Lock()
		defer mu.Unlock()
		return st.Sent.Datagrams, st.Drops["late"], uint64(n), lateN
	}
	sentE, lateE, gotE, lateRxE := run("frag/edf")
	sentN, lateN, gotN, lateRxN := run("frag")
	t.Logf("edf: %d datagrams, %d dropped late, %d delivered, %d delivered late", sentE, lateE, gotE, lateRxE)
	t.Logf("none: %d datagrams, %d dropped late, %d delivered, %d delivered late", sentN, lateN, gotN, lateRxN)
	// In 100 ms the link carries about ten 1 KB postings.
	if lateE < 20 || gotE < 5 || gotE > 15 || lateRxE != 0 {
		t.Fatalf("edf: %d dropped, %d delivered, %d late", lateE, gotE, lateRxE)
	}
	if lateN != 0 || sentN <= sentE {
		t.Fatalf("no scheduler: %d dropped, %d datagrams (edf %d)", lateN, sentN, sentE)
	}
}
