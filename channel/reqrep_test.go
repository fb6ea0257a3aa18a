package channel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
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
			case posting.Cancel:
				peer().cancel(&q)
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
	must(t, rp.srv.serve("", func(_ context.Context, req *posting.Posting) (*posting.Posting, error) {
		if req.Body == "fail" {
			return nil, errors.New("no such thing")
		}
		return posting.New("re: " + req.Body.(string)), nil
	}))
	rp.serves = true
	rep, err := rp.cli.pull(ctx, "", 0, posting.New("hi"))
	if err != nil || rep.Body != "re: hi" || rep.Sender != 2 {
		t.Fatalf("reply %v from %x, %v", rep, rep.Sender, err)
	}
	_, err = rp.cli.pull(ctx, "", 0, posting.New("fail"))
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
		_, err := rp.cli.pull(context.Background(), "", 0, posting.New("anyone?"))
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
	must(t, rp.srv.serve("", func(ctx context.Context, req *posting.Posting) (*posting.Posting, error) {
		started <- struct{}{}
		select {
		case <-block:
		case <-ctx.Done():
		}
		return nil, nil
	}))
	rp.serves = true
	go rp.cli.pull(context.Background(), "", 0, posting.New("slow"))
	<-started
	_, err := rp.cli.pull(context.Background(), "", 0, posting.New("second"))
	var re *RemoteError
	if !errors.As(err, &re) || re.Message != "server busy" || drops(rp.k, "server-busy") != 1 {
		t.Fatalf("second request while busy: %v", err)
	}
	close(block)
	rp.srv.close()
	if err := rp.srv.serve("", func(context.Context, *posting.Posting) (*posting.Posting, error) { return nil, nil }); err != ErrClosed {
		t.Fatalf("serve after close: %v", err)
	}
}

// TestRequestsPanicAnswered: a handler's panic is recovered, logged at
// Error level with its stack, and answered as a RemoteError that says the
// handler panicked without the panic's value; the next request is served.
func TestRequestsPanicAnswered(t *testing.T) {
	rp := testRequests(t, 4)
	var logged syncBuffer
	rp.srv.log = slog.New(slog.NewTextHandler(&logged, nil))
	must(t, rp.srv.serve("", func(_ context.Context, req *posting.Posting) (*posting.Posting, error) {
		if req.Body == "boom" {
			panic("secret internal state")
		}
		return posting.New("ok"), nil
	}))
	rp.serves = true
	req := posting.New("boom")
	_, err := rp.cli.pull(context.Background(), "", 0, req)
	var re *RemoteError
	if !errors.As(err, &re) || !re.Panicked || re.Server != 2 || !strings.Contains(re.Message, "panicked") ||
		!strings.Contains(re.Message, strconv.FormatUint(req.Correlation, 10)) || strings.Contains(re.Message, "secret") {
		t.Fatalf("panic answered with %v", err)
	}
	log := logged.String()
	if !strings.Contains(log, "level=ERROR") || !strings.Contains(log, "secret internal state") || !strings.Contains(log, "reqrep_test.go") {
		t.Fatalf("panic not logged with its stack at Error level:\n%s", log)
	}
	if rep, err := rp.cli.pull(context.Background(), "", 0, posting.New("next")); err != nil || rep.Body != "ok" {
		t.Fatalf("after the panic: %v %v", rep, err)
	}
	if drops(rp.k, "handler-panic") != 1 {
		t.Fatal("panic not counted")
	}
}

// TestRequestsCancelAndDeadline: the handler's context carries the
// request's deadline (ReplyWithin), is cancelled by the client's Cancel,
// and a request that arrives past its deadline is not handled.
func TestRequestsCancelAndDeadline(t *testing.T) {
	rp := testRequests(t, 4)
	type seen struct {
		deadline time.Time
		ok       bool
		cause    error
	}
	started, ended := make(chan struct{}, 1), make(chan seen, 1)
	must(t, rp.srv.serve("", func(ctx context.Context, req *posting.Posting) (*posting.Posting, error) {
		started <- struct{}{}
		dl, ok := ctx.Deadline()
		<-ctx.Done()
		ended <- seen{dl, ok, context.Cause(ctx)}
		return nil, nil
	}))
	rp.serves = true
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	before := time.Now()
	errc := make(chan error, 1)
	go func() {
		_, err := rp.cli.pull(ctx, "", 0, posting.New("wait"))
		errc <- err
	}()
	<-started
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Pull: %v", err)
	}
	s := <-ended
	// No skew estimate here: the deadline is arrival + ReplyWithin, which
	// lies between the Pull's deadline and that plus the time the test took.
	if want := before.Add(time.Hour); !s.ok || s.deadline.Before(want.Add(-time.Since(before))) || s.deadline.After(want.Add(time.Since(before))) {
		t.Fatalf("handler deadline %v (set %v), want about %v", s.deadline, s.ok, want)
	}
	if s.cause != errClientCanceled {
		t.Fatalf("handler context ended by %v, want the client's cancel", s.cause)
	}
	// A cancel for a request not running is counted.
	rp.srv.cancel(&posting.Posting{Kind: posting.Cancel, Correlation: 99, Sender: 1})
	if drops(rp.k, "cancel") != 1 {
		t.Fatal("stray cancel not counted")
	}
	// Past its deadline on arrival (sent an hour ago, by a member whose
	// clock agrees with ours): dropped, not handled.
	old := posting.New("late", posting.WithKind(posting.Request), posting.WithReplyWithin(time.Minute))
	old.Sender, old.Correlation, old.Sent = 1, 7, rp.clk.Now().Add(-time.Hour)
	var est skewEstimate
	est.age(rp.clk.Now(), rp.clk.Now())
	rp.srv.skew = func(uint64) *skewEstimate { return &est }
	rp.srv.request(old)
	if drops(rp.k, "request-expired") != 1 || len(started) != 0 {
		t.Fatal("an expired request was handled")
	}
}

// TestRequestsServerGone: a Pull waiting for a member that is forgotten
// (its goodbye) returns ErrNoServer at once; the handlers a forgotten
// client started have their contexts cancelled.
func TestRequestsServerGone(t *testing.T) {
	rp := testRequests(t, 4)
	started, cause := make(chan struct{}, 1), make(chan error, 1)
	must(t, rp.srv.serve("", func(ctx context.Context, req *posting.Posting) (*posting.Posting, error) {
		started <- struct{}{}
		<-ctx.Done()
		cause <- context.Cause(ctx)
		return nil, nil
	}))
	rp.serves = true
	errc := make(chan error, 1)
	go func() {
		_, err := rp.cli.pull(context.Background(), "", 0, posting.New("wait"))
		errc <- err
	}()
	<-started
	rp.cli.forgot(2) // the server said goodbye
	if err := <-errc; !errors.Is(err, ErrNoServer) {
		t.Fatalf("Pull to a server that left: %v", err)
	}
	rp.srv.forgot(1) // the client said goodbye
	if err := <-cause; err != errClientGone {
		t.Fatalf("handler context ended by %v, want the client's departure", err)
	}
}

// TestRequestsNames: one handler per name; a member asked for a name it
// does not serve says so, and the client passes it over and asks the
// next; To asks one member only.
func TestRequestsNames(t *testing.T) {
	rp := testRequests(t, 4)
	must(t, rp.srv.serve("upper", func(_ context.Context, req *posting.Posting) (*posting.Posting, error) {
		if v, _ := req.Header(ServiceHeader); v != "upper" {
			return nil, fmt.Errorf("service header %q", v)
		}
		return posting.New(strings.ToUpper(req.Body.(string))), nil
	}))
	must(t, rp.srv.serve("lower", func(_ context.Context, req *posting.Posting) (*posting.Posting, error) {
		return posting.New(strings.ToLower(req.Body.(string))), nil
	}))
	rp.serves = true
	ctx := context.Background()
	req := posting.New("MiXed", posting.WithHeader("keep", "me"))
	if rep, err := rp.cli.pull(ctx, "upper", 0, req); err != nil || rep.Body != "MIXED" {
		t.Fatalf("upper: %v %v", rep, err)
	}
	// The same posting, reused for another service, names only that one.
	if rep, err := rp.cli.pull(ctx, "lower", 2, req); err != nil || rep.Body != "mixed" {
		t.Fatalf("lower: %v %v", rep, err)
	}
	if len(req.Headers) != 2 || req.Headers[0].Name != "keep" {
		t.Fatalf("request headers %v", req.Headers)
	}
	// Nobody serves the default service: the server says so, the client
	// remembers (no second request to it within the wait) and waits for
	// another server, in vain.
	errc := make(chan error, 1)
	go func() {
		_, err := rp.cli.pull(ctx, "", 0, posting.New("x"))
		errc <- err
	}()
	for rp.clk.Pending() == 0 {
		runtime.Gosched()
	}
	rp.clk.Advance(2 * time.Second)
	if err := <-errc; !errors.Is(err, ErrNoServer) {
		t.Fatalf("default service: %v", err)
	}
	if _, err := rp.cli.pull(ctx, "", 2, posting.New("x")); !errors.Is(err, ErrNoServer) || !strings.Contains(err.Error(), "does not serve the default service") {
		t.Fatalf("To a member that does not serve: %v", err)
	}
	if _, err := rp.cli.pull(ctx, strings.Repeat("n", MaxServiceName+1), 0, posting.New("x")); err == nil {
		t.Fatal("service name too long accepted")
	}
}
