package channel

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/posting"
	"github.com/rwanda-go/rwanda/stack"
)

// reqPair is a client and a server request/reply part wired back to back:
// what one pushes to the other is dispatched there as a channel would,
// with the sender filled in.
type reqPair struct {
	cli, srv *requests
	clk      *stack.ManualClock
	k        *counters
	wg       sync.WaitGroup
	serves   bool // the server says it serves (its hello)
	mu       sync.Mutex
}

func testRequests(t *testing.T, limit int) *reqPair {
	t.Helper()
	rp := &reqPair{clk: stack.NewManualClock(stack.ManualEpoch), k: testCounters()}
	ctx, cancel := context.WithCancel(context.Background())
	mk := func(self uint64, peer func() *requests) *requests {
		r := (&requests{self: self, clock: rp.clk, cnt: rp.k, log: rp.k.log, ctx: ctx, wg: &rp.wg,
			wait: 2 * time.Second, timeout: 5 * time.Second}).init(limit)
		r.push = func(_ context.Context, p *posting.Posting, target uint64) error {
			q := *p
			q.Sender = self
			switch p.Kind {
			case posting.Request:
				peer().request(&q)
			default:
				peer().answer(&q)
			}
			return nil
		}
		r.hello = func(uint64, byte) {}
		return r
	}
	rp.cli = mk(1, func() *requests { return rp.srv })
	rp.srv = mk(2, func() *requests { return rp.cli })
	rp.cli.servers = func() ([]uint64, <-chan struct{}) {
		rp.mu.Lock()
		defer rp.mu.Unlock()
		if rp.serves {
			return []uint64{2}, nil
		}
		return nil, nil
	}
	t.Cleanup(func() {
		rp.cli.close()
		rp.srv.close()
		cancel()
		rp.wg.Wait()
	})
	return rp
}

func TestRequestsPullServe(t *testing.T) {
	rp := testRequests(t, 4)
	ctx := context.Background()
	must(t, rp.srv.serve(func(_ context.Context, req *posting.Posting) (*posting.Posting, error) {
		if req.Body == "fail" {
			return nil, errors.New("no such thing")
		}
		return posting.New("re: " + req.Body.(string)), nil
	}))
	rp.serves = true
	rep, err := rp.cli.pull(ctx, posting.New("hi"))
	if err != nil || rep.Body != "re: hi" || rep.Sender != 2 {
		t.Fatalf("reply %v from %x, %v", rep, rep.Sender, err)
	}
	_, err = rp.cli.pull(ctx, posting.New("fail"))
	var re *RemoteError
	if !errors.As(err, &re) || re.Message != "no such thing" || re.Server != 2 {
		t.Fatalf("fault: %v", err)
	}
	// A reply nobody waits for, or from a member not asked, is a stray.
	rp.cli.answer(&posting.Posting{Kind: posting.Reply, Correlation: 12345, Sender: 2})
	if drops(rp.k, "stray-reply") != 1 {
		t.Fatal("stray reply not counted")
	}
}

// TestRequestsNoServer: with no member serving, a Pull asks for hellos and
// gives up with ErrNoServer after its wait, on the clock.
func TestRequestsNoServer(t *testing.T) {
	rp := testRequests(t, 4)
	errc := make(chan error, 1)
	go func() {
		_, err := rp.cli.pull(context.Background(), posting.New("anyone?"))
		errc <- err
	}()
	for rp.clk.Pending() == 0 { // until the Pull's wait is armed
		select {
		case err := <-errc:
			t.Fatalf("Pull returned before waiting for a server: %v", err)
		default:
			runtime.Gosched()
		}
	}
	rp.clk.Advance(2 * time.Second)
	if err := <-errc; !errors.Is(err, ErrNoServer) {
		t.Fatalf("Pull with no server: %v", err)
	}
}

// TestRequestsBusy: beyond the limit of handlers running, a request is
// answered with a Fault at once, counted.
func TestRequestsBusy(t *testing.T) {
	rp := testRequests(t, 1)
	block, started := make(chan struct{}), make(chan struct{}, 1)
	must(t, rp.srv.serve(func(ctx context.Context, req *posting.Posting) (*posting.Posting, error) {
		started <- struct{}{}
		select {
		case <-block:
		case <-ctx.Done():
		}
		return nil, nil
	}))
	rp.serves = true
	go rp.cli.pull(context.Background(), posting.New("slow"))
	<-started
	_, err := rp.cli.pull(context.Background(), posting.New("second"))
	var re *RemoteError
	if !errors.As(err, &re) || re.Message != "server busy" || drops(rp.k, "server-busy") != 1 {
		t.Fatalf("second request while busy: %v", err)
	}
	close(block)
	rp.srv.close()
	if err := rp.srv.serve(func(context.Context, *posting.Posting) (*posting.Posting, error) { return nil, nil }); err != ErrClosed {
		t.Fatalf("serve after close: %v", err)
	}
}
