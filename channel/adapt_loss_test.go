package channel

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/posting"
)

// TestAdapterRepairsLossSwitchedOn: a best-effort monitored stream runs
// clean; loss is switched on mid-run (the stream's stack gains an impair
// layer); the default adapter sees the loss its receiver reports and moves
// the stream to a repairing stack, after which every posting arrives
// although the loss goes on.
func TestAdapterRepairsLossSwitchedOn(t *testing.T) {
	checkGoroutines(t)
	port := freePort(t)
	const monitor = "monitor(report=50ms)"
	rx := open(t, fmt.Sprintf("atest://:%d", port), WithAnnounceInterval(200*time.Millisecond))
	adapted := make(chan Event, 4)
	tx := open(t, fmt.Sprintf("atest://127.0.0.1:%d", port), WithStreamQoS("v", "frag/"+monitor),
		WithAnnounceInterval(200*time.Millisecond), WithBlockingPush(),
		WithAdapter(LossAdapter{Hold: time.Hour}, 50*time.Millisecond),
		WithEvents(func(e Event) {
			if e.Kind == "adapted" {
				adapted <- e
			}
		}))
	var mu sync.Mutex
	got := map[int]bool{}
	var order []int
	rx.SubscribeFunc(func(p *posting.Posting) {
		mu.Lock()
		defer mu.Unlock()
		if v, ok := p.Body.(int); ok {
			got[v] = true
			if v >= 1_000_000 {
				order = append(order, v)
			}
		}
	})
	ctx := context.Background()
	push := func(v int) { must(t, tx.Push(ctx, posting.New(v, posting.WithStream("v")))) }
	for i := range 300 {
		push(i)
	}
	// Loss switched on: 10% of the stream's packets dropped from now on.
	must(t, tx.Reconfigure("v", "frag/"+monitor+"/impair(loss=10%,seed=5)"))
	var ev Event
	deadline := time.After(20 * time.Second)
	for i := 300; ; i++ {
		push(i)
		select {
		case ev = <-adapted:
		case <-deadline:
			t.Fatalf("no adaptation; stream runs %q", tx.QoS("v"))
		default:
			continue
		}
		break
	}
	q := tx.QoS("v")
	if !strings.Contains(q, "window") || !strings.Contains(q, "impair") || !strings.Contains(q, "monitor") {
		t.Fatalf("adapted to %q (%s): want a repairing stack keeping monitor and the loss", q, ev.Detail)
	}
	t.Logf("adapted: %s", ev.Detail)
	// From now on nothing is lost, though the loss goes on.
	const n = 1000
	for i := range n {
		push(1_000_000 + i)
	}
	end := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		k := len(order)
		mu.Unlock()
		if k == n || time.Now().After(end) {
			break
		}
		time.Sleep(5 * time.Millisecond) // waiting for the receiving goroutine
	}
	mu.Lock()
	defer mu.Unlock()
	if len(order) != n {
		t.Fatalf("%d of %d postings after the adaptation arrived", len(order), n)
	}
	for i, v := range order {
		if v != 1_000_000+i {
			t.Fatalf("posting %d is %d", i, v)
		}
	}
}
