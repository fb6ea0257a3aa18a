package fec

import (
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/layers/frag"
	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/stack/stacktest"
)

// TestDefaultWindowLongPath: semi-reliable postings of 16 fragments, one
// every 20 ms with a 150 ms deadline, over an 80 ms round trip without
// loss, through the window's defaults (iw=10). The window must open to
// the path: postings that expire in its queue at first are abandoned in
// flight, and their acks must still count as deliveries, or no ack counts,
// the window stays shut and the RTO backs off (before the fix: 10 of 200
// in time, 4 RTOs).
func TestDefaultWindowLongPath(t *testing.T) {
	const q = "frag/order/window/impair(delay=40ms,seed=1)"
	p, err := stacktest.NewPair(t, layersOf(t, q), layersOf(t, q), stacktest.PairConfig{MTU: 1200, Flow: stack.Flow{PointToPoint: true}})
	if err != nil {
		t.Fatal(err)
	}
	size := 16 * find[*frag.Layer](p.A).FragmentSize()
	const n, every, ttl = 200, 20 * time.Millisecond, 150 * time.Millisecond
	sentAt := map[uint32]time.Time{}
	ok := 0
	next := p.Clock.Now()
	for id := uint32(0); id < n || p.Clock.Now().Before(next.Add(time.Second)); {
		if id < n && !p.Clock.Now().Before(next) {
			sentAt[id] = p.Clock.Now()
			if err := p.A.Down(posting(p.A, id, size, p.Clock.Now().Add(ttl))); err != nil {
				t.Fatal(err)
			}
			id++
			next = next.Add(every)
		}
		p.Link.Flush()
		for _, d := range p.GotB.Take() {
			if id, good := intact(d.Bytes, size); good && !p.Clock.Now().After(sentAt[id].Add(ttl)) {
				ok++
			}
		}
		p.Clock.Advance(time.Millisecond)
	}
	t.Logf("%d of %d postings whole by their deadline; window: sent %d, RTOs %d, abandoned %d",
		ok, n, counter(p.A, "window", "sent"), counter(p.A, "window", "rto"), counter(p.A, "window", "abandoned"))
	if ok < n*95/100 {
		t.Fatalf("%d of %d postings whole by their deadline, want at least 95 %%", ok, n)
	}
}
