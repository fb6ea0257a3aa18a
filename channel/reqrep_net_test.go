package channel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/internal/testnet"
	"github.com/rwanda-go/rwanda/posting"
)

// Request/reply over real sockets on loopback, as an application uses it.
// Timing bounds are made of what the test measures, never a constant
// (DECISIONS §4): a round trip that starts after the event and must see
// its effect, or the slowest round trips of the same kind measured before
// and during the wait (pathDelay) with the scheduling delay a probe saw
// meanwhile.

// unicastPair opens a server listening on a free port and a client of it.
func unicastPair(t *testing.T) (srv, cli *Channel) {
	t.Helper()
	port := freePort(t)
	return open(t, fmt.Sprintf("rr://:%d", port)), open(t, fmt.Sprintf("rr://127.0.0.1:%d", port))
}

// slowestRoundTrip pulls "ping" n times from cli and returns the longest
// round trip.
func slowestRoundTrip(t *testing.T, cli *Channel, name string, n int) time.Duration {
	t.Helper()
	var slowest time.Duration
	for range n {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		start := time.Now()
		_, err := cli.PullName(ctx, name, posting.New("ping"))
		cancel()
		if err != nil {
			t.Fatalf("round trip: %v", err)
		}
		slowest = max(slowest, time.Since(start))
	}
	return slowest
}

// pathDelay measures, while a test waits for something to cross from one
// channel to another, what such a trip costs at the same time: a pair of
// its own does round trips over and over (paced, so as not to load the
// machine itself), and a probe measures scheduling delay. A timing test
// bounds what it waits for by what pathDelay measured around it.
type pathDelay struct {
	probe      *testnet.SchedProbe
	stop, done chan struct{}
	rtt        time.Duration // the slowest round trip, before and while measuring
	err        error
}

// pacing is the pause between pathDelay's round trips.
const pacing = time.Millisecond

// startPathDelay starts measuring; rtt is a slowest round trip measured
// before, to count too.
func startPathDelay(t *testing.T, rtt time.Duration) *pathDelay {
	t.Helper()
	srv, cli := unicastPair(t)
	must(t, srv.Serve(func(context.Context, *posting.Posting) (*posting.Posting, error) { return posting.New("pong"), nil }))
	d := &pathDelay{probe: testnet.StartSchedProbe(), stop: make(chan struct{}), done: make(chan struct{})}
	d.rtt = max(rtt, slowestRoundTrip(t, cli, "", 10))
	go func() {
		defer close(d.done)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			start := time.Now()
			_, err := cli.Pull(ctx, posting.New("ping"))
			cancel()
			if err != nil {
				d.err = err
				return
			}
			d.rtt = max(d.rtt, time.Since(start))
			select {
			case <-d.stop:
				return
			case <-time.After(pacing):
			}
		}
	}()
	t.Cleanup(func() { d.bound(t) }) // before the pair closes
	return d
}

// bound stops measuring and returns the longest a one-way trip may take:
// twice the slowest round trip and twice the largest scheduling delay.
func (d *pathDelay) bound(t *testing.T) time.Duration {
	t.Helper()
	select {
	case <-d.stop:
	default:
		close(d.stop)
	}
	<-d.done
	if d.err != nil {
		t.Fatalf("measuring round trips: %v", d.err)
	}
	return 2*d.rtt + 2*d.probe.Stop()
}

// recv receives from ch, failing t after 20 s: what it waits for failed to
// happen.
func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(20 * time.Second):
		t.Fatal("timed out waiting")
		panic("unreachable")
	}
}

// TestServePanicAnsweredServerAlive: a request whose handler panics is
// answered with a RemoteError saying so (Panicked), the panic and its
// stack are in the server's log at Error level, and the server goes on
// serving.
func TestServePanicAnsweredServerAlive(t *testing.T) {
	checkGoroutines(t)
	var logged syncBuffer
	port := freePort(t)
	srv := open(t, fmt.Sprintf("rr://:%d", port), WithLogger(slog.New(slog.NewTextHandler(&logged, nil))))
	cli := open(t, fmt.Sprintf("rr://127.0.0.1:%d", port))
	must(t, srv.Serve(func(_ context.Context, req *posting.Posting) (*posting.Posting, error) {
		if req.Body == "boom" {
			var m map[string]int
			m["nil map"]++ // a bug in the handler: a runtime panic
		}
		return posting.New("pong"), nil
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range 3 {
		_, err := cli.Pull(ctx, posting.New("boom"))
		var re *RemoteError
		if !errors.As(err, &re) || !re.Panicked || re.Server != srv.ID() || !strings.Contains(re.Message, "panicked") {
			t.Fatalf("panic %d answered with %v", i, err)
		}
		if rep, err := cli.Pull(ctx, posting.New("ping")); err != nil || rep.Body != "pong" {
			t.Fatalf("server after panic %d: %v %v", i, rep, err)
		}
	}
	if log := logged.String(); strings.Count(log, "level=ERROR") != 3 || !strings.Contains(log, "assignment to entry in nil map") ||
		!strings.Contains(log, "reqrep_net_test.go") {
		t.Fatalf("panics not logged with their stacks:\n%s", log)
	}
	if st := srv.Stats(); st.Drops["handler-panic"] != 3 {
		t.Fatalf("handler panics counted %d times", st.Drops["handler-panic"])
	}
}

// TestTimingPullCancelEndsHandler: a client that gives up (its context
// cancelled) has its server's handler context done within one round trip
// of giving up, measured in the test: a request the client sends right
// after giving up finds the handler's context done (the Cancel goes before
// it, on the same stream, and ends the context as the server reads it),
// so the context was done before that request's reply arrived. And the
// client's deadline is the handler's (to within the request's own way
// there, measured), its expiry ends the handler the same way.
func TestTimingPullCancelEndsHandler(t *testing.T) {
	checkGoroutines(t)
	srv, cli := unicastPair(t)
	type start struct {
		at       time.Time
		deadline time.Time
	}
	var (
		mu      sync.Mutex
		waiting context.Context // the context of the last "wait" handler
	)
	started, ended := make(chan start, 1), make(chan error, 1)
	must(t, srv.Serve(func(ctx context.Context, req *posting.Posting) (*posting.Posting, error) {
		switch req.Body {
		case "ping":
			return posting.New("pong"), nil
		case "check": // how the last "wait" handler's context stands
			mu.Lock()
			w := waiting
			mu.Unlock()
			if w.Err() == nil {
				return posting.New("running"), nil
			}
			return posting.New(context.Cause(w).Error()), nil
		}
		mu.Lock()
		waiting = ctx
		mu.Unlock()
		dl, _ := ctx.Deadline()
		started <- start{time.Now(), dl}
		<-ctx.Done()
		ended <- context.Cause(ctx)
		return nil, nil
	}))
	rtt := slowestRoundTrip(t, cli, "", 10)
	check := func() (string, time.Time) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		rep, err := cli.Pull(ctx, posting.New("check"))
		if err != nil {
			t.Fatalf("check: %v", err)
		}
		return rep.Body.(string), time.Now()
	}

	// The client gives up: a Cancel follows.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := cli.Pull(ctx, posting.New("wait"))
		errc <- err
	}()
	recv(t, started)
	gaveUp := time.Now()
	cancel()
	if err := recv(t, errc); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Pull: %v", err)
	}
	state, answered := check()
	if state != errClientCanceled.Error() {
		t.Fatalf("handler context %q one round trip (%v) after the client gave up", state, answered.Sub(gaveUp))
	}
	if cause := recv(t, ended); cause != errClientCanceled {
		t.Fatalf("handler context ended by %v, want the client's cancel", cause)
	}
	t.Logf("handler context done within %v of the client giving up (slowest round trip before: %v)", answered.Sub(gaveUp), rtt)

	// The client's deadline.
	dctx, dcancel := context.WithTimeout(context.Background(), 300*time.Millisecond) // the client's timeout, as configured
	defer dcancel()
	pulled := time.Now()
	clientDeadline, _ := dctx.Deadline()
	_, err := cli.Pull(dctx, posting.New("wait"))
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("Pull past its deadline: %v", err)
	}
	st := recv(t, started)
	// The handler's deadline is the client's, moved by no more than the
	// request took to reach the handler (its age is estimated from the
	// shortest way seen, so it can only err young).
	if way, off := st.at.Sub(pulled), st.deadline.Sub(clientDeadline); off > way || -off > way {
		t.Fatalf("handler deadline %v off the client's; the request took %v to reach the handler", off, way)
	}
	if state, _ := check(); state != errClientCanceled.Error() && state != errClientDeadline.Error() {
		t.Fatalf("handler context %q after the client's deadline passed", state)
	}
	if cause := recv(t, ended); cause != errClientCanceled && cause != errClientDeadline {
		t.Fatalf("handler context ended by %v", cause)
	}
}

// TestTimingPullServerByeWakesClient: a server that leaves (Close says
// goodbye) while a client waits for its reply wakes the client with
// ErrNoServer at once, not at the end of its 30-second timeout.
func TestTimingPullServerByeWakesClient(t *testing.T) {
	checkGoroutines(t)
	port := freePort(t)
	srv, err := Open(context.Background(), fmt.Sprintf("rr://:%d", port))
	must(t, err)
	defer srv.Close()
	cli := open(t, fmt.Sprintf("rr://127.0.0.1:%d", port))
	started := make(chan struct{}, 1)
	must(t, srv.Serve(func(ctx context.Context, req *posting.Posting) (*posting.Posting, error) {
		if req.Body == "ping" {
			return posting.New("pong"), nil
		}
		started <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	}))
	delay := startPathDelay(t, slowestRoundTrip(t, cli, "", 10))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	type result struct {
		err error
		at  time.Time
	}
	res := make(chan result, 1)
	go func() {
		_, err := cli.Pull(ctx, posting.New("wait"))
		res <- result{err, time.Now()}
	}()
	recv(t, started)
	closing := time.Now()
	must(t, srv.Close())
	closed := time.Now()
	r := recv(t, res)
	if !errors.Is(r.err, ErrNoServer) {
		t.Fatalf("Pull to a server that left: %v", r.err)
	}
	// The goodbye is written by the time Close returns.
	if allowed := delay.bound(t); r.at.Sub(closed) > allowed {
		t.Fatalf("client woke %v after the server closed (Close took %v); allowed %v", r.at.Sub(closed), closed.Sub(closing), allowed)
	}
}

// TestTimingPullClientGoneEndsHandler: a client that leaves while its request is
// being handled (Close says goodbye) has the handler's context done.
func TestTimingPullClientGoneEndsHandler(t *testing.T) {
	checkGoroutines(t)
	port := freePort(t)
	srv := open(t, fmt.Sprintf("rr://:%d", port))
	cli, err := Open(context.Background(), fmt.Sprintf("rr://127.0.0.1:%d", port))
	must(t, err)
	defer cli.Close()
	type end struct {
		at    time.Time
		cause error
	}
	started, ended := make(chan struct{}, 1), make(chan end, 1)
	must(t, srv.Serve(func(ctx context.Context, req *posting.Posting) (*posting.Posting, error) {
		if req.Body == "ping" {
			return posting.New("pong"), nil
		}
		started <- struct{}{}
		<-ctx.Done()
		ended <- end{time.Now(), context.Cause(ctx)}
		return nil, nil
	}))
	delay := startPathDelay(t, slowestRoundTrip(t, cli, "", 10))
	errc := make(chan error, 1)
	go func() {
		_, err := cli.Pull(context.Background(), posting.New("wait"))
		errc <- err
	}()
	recv(t, started)
	must(t, cli.Close())
	closed := time.Now()
	if err := recv(t, errc); !errors.Is(err, ErrClosed) {
		t.Fatalf("Pull on a closed channel: %v", err)
	}
	e := recv(t, ended)
	if e.cause != errClientGone {
		t.Fatalf("handler context ended by %v, want the client's departure; server stats %+v", e.cause, srv.Stats())
	}
	if allowed := delay.bound(t); e.at.Sub(closed) > allowed {
		t.Fatalf("handler context done %v after the client closed; allowed %v", e.at.Sub(closed), allowed)
	}
}

// waitServers waits until c knows n members that serve.
func waitServers(t *testing.T, c *Channel, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d servers", n), func() bool {
		k := 0
		for _, p := range c.Stats().Peers {
			if p.Serves {
				k++
			}
		}
		return k == n
	})
}

// TestPullNamedServices: two services on one server and a third on
// another, over multicast: each request reaches a handler of its name
// (the member that does not serve it says so and is passed over), and a
// name nobody serves is ErrNoServer.
func TestPullNamedServices(t *testing.T) {
	checkGoroutines(t)
	url := groupURL("rr")
	opt := WithAnnounceInterval(200 * time.Millisecond) // short waits for ErrNoServer; silence is 1 s
	a, b, cli := open(t, url, opt), open(t, url, opt), open(t, url, opt)
	must(t, a.ServeName("upper", func(_ context.Context, req *posting.Posting) (*posting.Posting, error) {
		return posting.New(strings.ToUpper(req.Body.(string))), nil
	}))
	must(t, a.ServeName("lower", func(_ context.Context, req *posting.Posting) (*posting.Posting, error) {
		return posting.New(strings.ToLower(req.Body.(string))), nil
	}))
	must(t, b.ServeName("len", func(_ context.Context, req *posting.Posting) (*posting.Posting, error) {
		if v, _ := req.Header(ServiceHeader); v != "len" {
			return nil, fmt.Errorf("service header %q", v)
		}
		return posting.New(len(req.Body.(string))), nil
	}))
	waitServers(t, cli, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range 4 {
		rep, err := cli.PullName(ctx, "upper", posting.New("MiXed"))
		if err != nil || rep.Body != "MIXED" || rep.Sender != a.ID() {
			t.Fatalf("upper %d: %v %v", i, rep, err)
		}
		rep, err = cli.PullName(ctx, "lower", posting.New("MiXed"))
		if err != nil || rep.Body != "mixed" || rep.Sender != a.ID() {
			t.Fatalf("lower %d: %v %v", i, rep, err)
		}
		rep, err = cli.PullName(ctx, "len", posting.New("MiXed"))
		if err != nil || rep.Body != 5 || rep.Sender != b.ID() {
			t.Fatalf("len %d: %v %v", i, rep, err)
		}
	}
	for _, name := range []string{"", "nobody"} {
		if _, err := cli.PullName(ctx, name, posting.New("x")); !errors.Is(err, ErrNoServer) {
			t.Fatalf("service %q that nobody serves: %v", name, err)
		}
	}
}

// TestPullQueueGroupRoundRobin: two servers of one name take its requests
// in turn; To sends them to one member only.
func TestPullQueueGroupRoundRobin(t *testing.T) {
	checkGoroutines(t)
	url := groupURL("rr")
	opt := WithAnnounceInterval(200 * time.Millisecond) // short waits for ErrNoServer; silence is 1 s
	s1, s2, cli := open(t, url, opt), open(t, url, opt), open(t, url, opt)
	for _, s := range []*Channel{s1, s2} {
		must(t, s.ServeName("work", func(_ context.Context, req *posting.Posting) (*posting.Posting, error) {
			return posting.New(req.Body), nil
		}))
	}
	waitServers(t, cli, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	served := map[uint64]int{}
	var last uint64
	for i := range 8 {
		rep, err := cli.PullName(ctx, "work", posting.New(i))
		if err != nil || rep.Body != i {
			t.Fatalf("work %d: %v %v", i, rep, err)
		}
		if rep.Sender == last {
			t.Fatalf("request %d went to %016x again: not round robin", i, last)
		}
		last = rep.Sender
		served[rep.Sender]++
	}
	if served[s1.ID()] != 4 || served[s2.ID()] != 4 {
		t.Fatalf("served %v", served)
	}
	for i := range 3 {
		rep, err := cli.PullName(ctx, "work", posting.New(i), To(s2.ID()))
		if err != nil || rep.Sender != s2.ID() {
			t.Fatalf("To(s2) %d: %v %v", i, rep, err)
		}
	}
	if _, err := cli.Pull(ctx, posting.New("x"), To(s1.ID())); !errors.Is(err, ErrNoServer) {
		t.Fatalf("To a member that does not serve the default service: %v", err)
	}
	if _, err := cli.PullName(ctx, "work", posting.New("x"), To(cli.ID()^1)); !errors.Is(err, ErrNoServer) {
		t.Fatalf("To an unknown member: %v", err)
	}
	if _, err := cli.Pull(ctx, posting.New("x"), To(0)); err == nil {
		t.Fatal("To(0) accepted")
	}
}
