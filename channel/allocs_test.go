package channel

import (
	"context"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/posting"
)

// pushAllocs measures the allocations of one Push of a 64-byte posting on
// a reliable stream of a mem channel with no other member.
func pushAllocs(t *testing.T, opts ...posting.Option) float64 {
	c := open(t, memURL(t), WithQoS("reliable"), WithBlockingPush())
	ctx := context.Background()
	p := posting.New(make([]byte, 64), append([]posting.Option{posting.WithStream("s")}, opts...)...)
	push := func() {
		q := *p
		if err := c.Push(ctx, &q); err != nil {
			t.Fatal(err)
		}
	}
	for range 100 { // the stream, its stack and the pools warm up
		push()
	}
	return testing.AllocsPerRun(1000, push)
}

// pushAllocsV1 is what pushAllocs measured on the wire v1 code (commit
// b28bc72, the same test): the posting copy Push keeps and one in the
// path. Wire v2 must not add any when the new fields are absent.
const pushAllocsV1 = 2

// TestPushAllocsUnchanged: the 64-byte push path allocates no more than it
// did before wire v2.
func TestPushAllocsUnchanged(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own account")
	}
	if n := pushAllocs(t); n > pushAllocsV1 {
		t.Fatalf("%v allocations per 64-byte push, %d before wire v2", n, pushAllocsV1)
	}
}

// TestPushReceiveAllocs: in the steady state a 64-byte []byte posting
// pushed with a reused Posting, carried, received through a NoRetain
// SubscribeFunc and (on reliable stacks) acknowledged allocates nothing,
// sender and receiver together (issue 18's allocation targets). The two
// members meet over the zzpipe transport, which copies nothing, so every
// allocation counted is the channel's; AllocsPerRun counts the whole
// process, so zero here is zero on both sides.
func TestPushReceiveAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own account")
	}
	for _, c := range []struct{ name, qos, reach string }{
		{"best-effort", "none", ""},
		{"reliable-unicast", "reliable", ""},
		{"reliable-reach-all", "reliable", "&reach=all"},
	} {
		t.Run(c.name, func(t *testing.T) {
			url := "allocs+zzpipe://" + strings.ReplaceAll(t.Name(), "/", ".") + "?channel=allocs" + c.reach + "&end="
			var got, bytes atomic.Int64
			rx := open(t, url+"b", WithQoS(c.qos))
			if _, err := rx.SubscribeFunc(func(p *posting.Posting) {
				got.Add(1)
				bytes.Add(int64(len(p.Body.([]byte))))
			}, NoRetain()); err != nil {
				t.Fatal(err)
			}
			tx := open(t, url+"a", WithQoS(c.qos), WithBlockingPush())
			waitFor(t, "the members to meet", func() bool { return len(rx.Stats().Peers) > 0 && len(tx.Stats().Peers) > 0 })
			ctx := context.Background()
			p := posting.New(make([]byte, 64), posting.WithStream("s"))
			pushes := 0
			// Each run pushes one posting and waits until it is delivered,
			// so that the receiver's allocations fall inside the run that
			// caused them (Push returns once a posting is queued).
			push := func() {
				q := *p
				if err := tx.Push(ctx, &q); err != nil {
					t.Fatal(err)
				}
				pushes++
				for deadline := time.Now().Add(10 * time.Second); got.Load() < int64(pushes); {
					if time.Now().After(deadline) {
						t.Fatalf("posting %d not delivered in 10 s", pushes)
					}
					runtime.Gosched() // the receiving goroutines deliver it
				}
			}
			for range 3000 { // streams, stacks, pools and windows warm up
				push()
			}
			n := testing.AllocsPerRun(5000, push)
			if bytes.Load() != 64*int64(pushes) {
				t.Fatalf("%d body bytes delivered for %d postings of 64", bytes.Load(), pushes)
			}
			if n != 0 {
				t.Fatalf("%v allocations per posting pushed and received (%s); want none", n, c.qos)
			}
		})
	}
}
