package channel

import (
	"context"
	"testing"

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
