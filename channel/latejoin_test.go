package channel

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/internal/testnet"
	"github.com/rwanda-go/rwanda/posting"
)

// TestTimingLateJoinersLearnAllStreams, over multicast on loopback: ten
// receivers join a group where a sender already pushes on three streams.
// The announce interval is 10 s, so nothing but their QUERYs can teach
// them the streams in the run, and a member asks a sender at most once a
// quarter interval (2.5 s). One QUERY must teach all three: its answer
// leaves within a sixteenth of the interval at most (queryRecent: an
// announcement to everyone answers the QUERYs of that span), so every
// receiver delivers postings of each stream within twice that, 1.25 s,
// of joining, plus the scheduling delay measured meanwhile. When a QUERY
// named only the stream whose data had come, the others waited for the
// next ask: 2.5 s.
func TestTimingLateJoinersLearnAllStreams(t *testing.T) {
	checkGoroutines(t)
	const announce = 10 * time.Second
	url := groupURL("late")
	tx := open(t, url, WithAnnounceInterval(announce))
	streams := []string{"a", "b", "c"}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(5 * time.Millisecond) // a steady stream of postings on each
		defer tick.Stop()
		for i := 0; ; i++ {
			for _, s := range streams {
				if err := tx.Push(ctx, posting.New(i, posting.WithStream(s))); err != nil {
					return
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	// The three streams open (and are announced, with their first
	// postings) before anyone joins.
	for len(tx.Stats().Streams) < len(streams) {
		time.Sleep(time.Millisecond) // polling the sender
	}

	probe := testnet.StartSchedProbe()
	const n = 10
	type seen struct {
		mu    sync.Mutex
		first map[string]time.Time
	}
	all := make([]*seen, n)
	joined := make([]time.Time, n)
	for i := range n {
		s := &seen{first: map[string]time.Time{}}
		all[i] = s
		joined[i] = time.Now()
		rx := open(t, url, WithAnnounceInterval(announce))
		if _, err := rx.SubscribeFunc(func(p *posting.Posting) {
			s.mu.Lock()
			if _, ok := s.first[p.Stream]; !ok {
				s.first[p.Stream] = time.Now()
			}
			s.mu.Unlock()
		}); err != nil {
			t.Fatal(err)
		}
	}
	done := func() bool {
		for _, s := range all {
			s.mu.Lock()
			k := len(s.first)
			s.mu.Unlock()
			if k < len(streams) {
				return false
			}
		}
		return true
	}
	// Wait past the bound (bounded by the announce interval) to see how
	// long the slowest took, then judge against the bound.
	for !done() && time.Since(joined[n-1]) < announce*3/4 {
		time.Sleep(10 * time.Millisecond) // polling the subscribers
	}
	slack := probe.Stop()
	bound := announce/8 + slack
	var worst time.Duration
	for i, s := range all {
		s.mu.Lock()
		for _, name := range streams {
			at, ok := s.first[name]
			if !ok {
				t.Errorf("receiver %d: no posting of stream %q in %v", i, name, announce*3/4)
				continue
			}
			worst = max(worst, at.Sub(joined[i]))
		}
		s.mu.Unlock()
	}
	t.Logf("the last stream's first posting at the slowest receiver: %v after joining (bound %v: an eighth of the announce interval plus %v of scheduling delay); sender's drops %v",
		worst, bound, slack, tx.Stats().Drops)
	if worst > bound {
		t.Errorf("%v until every receiver had all %d streams; want at most %v", worst, len(streams), bound)
	}
}
