package floor

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/channel"
)

// The adapter over channels: mem:// hubs in one process, the system clock.
// These tests wait for events (with generous limits, for a loaded machine);
// they assert no time bounds.

var hubSeq atomic.Int64

func memURL(t *testing.T) string {
	return fmt.Sprintf("mem://%s-%d", strings.ReplaceAll(t.Name(), "/", "_"), hubSeq.Add(1))
}

// checkGoroutines fails the test if goroutines started during it are still
// running once its cleanups have run.
func checkGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond) // waiting for goroutines to exit
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<16)
			t.Errorf("%d goroutines leaked:\n%s", n-before, buf[:runtime.Stack(buf, true)])
		}
	})
}

type member struct {
	ch *channel.Channel
	f  *Floor
}

func openMembers(t *testing.T, cfg Config, names []string, opts ...Option) map[string]*member {
	t.Helper()
	url := memURL(t)
	ms := map[string]*member{}
	for _, n := range names {
		ch, err := channel.Open(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		c := cfg
		c.Name = n
		f, err := Open(ch, "board", c, opts...)
		if err != nil {
			t.Fatal(err)
		}
		ms[n] = &member{ch, f}
		t.Cleanup(func() { f.Close(); ch.Close() })
	}
	return ms
}

// waitFor polls cond (the members' goroutines do the work) for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after 10s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling other goroutines
	}
}

func ctx10(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func names(q []Entry) []string {
	var s []string
	for _, e := range q {
		s = append(s, e.Member.Name)
	}
	return s
}

func TestFloorRequestQueueRelease(t *testing.T) {
	checkGoroutines(t)
	ms := openMembers(t, Config{Voters: abc}, abc)
	g, err := ms["b"].f.Request(ctx10(t), 0)
	if err != nil {
		t.Fatal(err)
	}
	if !g.Valid() || g.Token == 0 {
		t.Fatalf("grant %+v not valid", g)
	}
	waitFor(t, "b as holder everywhere", func() bool {
		for _, m := range ms {
			if m.f.Holder() != ms["b"].f.Self() {
				return false
			}
		}
		return true
	})
	got := make(chan *Grant, 1)
	go func() {
		g, err := ms["c"].f.Request(ctx10(t), 0)
		if err != nil {
			t.Error(err)
		}
		got <- g
	}()
	waitFor(t, "c queued", func() bool { return slices.Equal(names(ms["a"].f.Queue()), []string{"c"}) })
	if err := g.Release(); err != nil {
		t.Fatal(err)
	}
	<-g.Done()
	if !errors.Is(g.Err(), ErrReleased) {
		t.Fatalf("b's grant ended with %v", g.Err())
	}
	gc := <-got
	if gc == nil || gc.Token <= g.Token {
		t.Fatalf("c's grant %+v after b's token %x", gc, g.Token)
	}
	var fence Fence
	if fence.Admit(gc.Token) != nil || fence.Admit(g.Token) == nil {
		t.Fatal("fence admits b's token after c's")
	}
}

func TestFloorRequestContext(t *testing.T) {
	checkGoroutines(t)
	ms := openMembers(t, Config{Voters: abc}, abc)
	if _, err := ms["a"].f.Request(ctx10(t), 0); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := ms["b"].f.Request(ctx, 0)
		done <- err
	}()
	waitFor(t, "b queued", func() bool { return slices.Equal(names(ms["a"].f.Queue()), []string{"b"}) })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Request returned %v", err)
	}
	waitFor(t, "b's request withdrawn", func() bool { return len(ms["a"].f.Queue()) == 0 })

	// Release withdraws a pending request too.
	go func() {
		_, err := ms["b"].f.Request(ctx10(t), 0)
		done <- err
	}()
	waitFor(t, "b queued", func() bool { return slices.Equal(names(ms["a"].f.Queue()), []string{"b"}) })
	ms["b"].f.Release()
	if err := <-done; !errors.Is(err, ErrWithdrawn) {
		t.Fatalf("Request returned %v", err)
	}
	waitFor(t, "b's request withdrawn", func() bool { return len(ms["a"].f.Queue()) == 0 })
}

// An everywhere resource: the coordination follows the floor.
func TestFloorEverywhere(t *testing.T) {
	checkGoroutines(t)
	var events atomic.Int64
	ms := openMembers(t, Config{Voters: abc, Mode: Everywhere}, abc, WithEvents(func(Event) { events.Add(1) }))
	for _, n := range []string{"c", "a", "b"} {
		g, err := ms[n].f.Request(ctx10(t), 0)
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, n+" coordinating", ms[n].f.Coordinating)
		if err := g.Release(); err != nil {
			t.Fatal(err)
		}
	}
	if events.Load() == 0 {
		t.Fatal("no events")
	}
}

// Closing the coordinator hands it over; the holder keeps the floor and
// the queue its order.
func TestFloorCloseHandsOver(t *testing.T) {
	checkGoroutines(t)
	ms := openMembers(t, Config{Voters: abc}, abc)
	waitFor(t, "a coordinating", ms["a"].f.Coordinating)
	g, err := ms["b"].f.Request(ctx10(t), 0)
	if err != nil {
		t.Fatal(err)
	}
	go ms["c"].f.Request(ctx10(t), 0)
	waitFor(t, "c queued", func() bool { return slices.Equal(names(ms["a"].f.Queue()), []string{"c"}) })
	ms["a"].f.Close()
	waitFor(t, "a new coordinator", func() bool { return ms["b"].f.Coordinating() || ms["c"].f.Coordinating() })
	waitFor(t, "b holding again", func() bool { return ms["b"].f.Grant() != nil })
	if q := names(ms["b"].f.Queue()); !slices.Equal(q, []string{"c"}) {
		t.Fatalf("queue %v", q)
	}
	if ng := ms["b"].f.Grant(); ng.Token < g.Token {
		t.Fatalf("token %x after %x", ng.Token, g.Token)
	}
	if _, err := ms["a"].f.Request(ctx10(t), 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("Request after Close: %v", err)
	}
}

// A coordinator's own request is granted within the call.
func TestFloorCoordinatorRequests(t *testing.T) {
	checkGoroutines(t)
	ms := openMembers(t, Config{Voters: abc}, abc)
	waitFor(t, "a coordinating", ms["a"].f.Coordinating)
	for range 3 {
		g, err := ms["a"].f.Request(ctx10(t), 0)
		if err != nil {
			t.Fatal(err)
		}
		if ms["a"].f.Grant() != g {
			t.Fatal("Grant is not the grant Request returned")
		}
		g.Release()
		if g.Valid() || g.Release() != ErrNotHeld {
			t.Fatal("released grant still valid")
		}
	}
}

func TestFloorOpenErrors(t *testing.T) {
	ch, err := channel.Open(context.Background(), memURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	if _, err := Open(ch, "", Config{Name: "a", Voters: abc}); !errors.Is(err, ErrConfig) {
		t.Errorf("empty resource: %v", err)
	}
	if _, err := Open(ch, "x", Config{Name: "a"}); !errors.Is(err, ErrConfig) {
		t.Errorf("no voters: %v", err)
	}
}

// Many goroutines request and release on each member while an events
// callback re-enters the Floor: the race detector and the goroutine check
// watch; grants are counted.
func TestFloorConcurrentUse(t *testing.T) {
	checkGoroutines(t)
	var grants atomic.Int64
	var ms map[string]*member
	ready := make(chan struct{})
	ms = openMembers(t, Config{Voters: abc, Mode: Everywhere}, abc, WithEvents(func(e Event) {
		<-ready
		if e.Kind == Granted {
			grants.Add(1)
		}
		for _, m := range ms {
			m.f.State() // re-entering from the floor's goroutine
		}
	}))
	close(ready)
	deadline := time.Now().Add(2 * time.Second)
	done := make(chan struct{})
	for _, n := range abc {
		for range 3 {
			go func() {
				defer func() { done <- struct{}{} }()
				for time.Now().Before(deadline) {
					ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
					g, err := ms[n].f.Request(ctx, 0)
					cancel()
					if err == nil {
						g.Valid()
						g.Err()
						time.Sleep(time.Millisecond) // holding the floor a little
						g.Release()
					}
				}
			}()
		}
	}
	for range 3 * len(abc) {
		<-done
	}
	t.Logf("%d grants", grants.Load())
	if grants.Load() == 0 {
		t.Fatal("no grants")
	}
}
