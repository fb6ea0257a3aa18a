package main

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/internal/testnet"
	"github.com/rwanda-go/rwanda/posting"
)

// safeBuffer is a goroutine-safe buffer.
type safeBuffer = testnet.Buffer

// TestTwoSiteDemo: the embedded default. One rwbridge per site, nothing
// else started (each starts its own nats-server; B's connects to A's as a
// leaf node), and a posting pushed at site A reaches site B's member. The
// sites' LANs are in-process hubs; the namespace tests in package bridge
// run the same over multicast.
func TestTwoSiteDemo(t *testing.T) {
	testnet.CheckGoroutines(t)
	leaf := strconv.Itoa(testnet.FreePort(t))
	tag := strconv.FormatInt(time.Now().UnixNano(), 36)
	lanA, lanB := "mem://demo-a-"+tag+"?channel=lesson", "mem://demo-b-"+tag+"?channel=lesson"
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var outs [2]safeBuffer
	var errs [2]safeBuffer
	codes := make([]int, 2)
	for i, args := range [][]string{
		{"-lan", lanA, "-leaf-listen", "127.0.0.1:" + leaf},
		{"-lan", lanB, "-leaf-remote", "nats-leaf://127.0.0.1:" + leaf},
	} {
		wg.Go(func() { codes[i] = run(ctx, args, &outs[i], &errs[i]) })
	}
	defer func() {
		cancel()
		wg.Wait()
		for i, c := range codes {
			if c != 0 {
				t.Errorf("rwbridge %d exited %d: %s", i, c, errs[i].String())
			}
			if !strings.Contains(outs[i].String(), "to WAN") {
				t.Errorf("rwbridge %d printed %q", i, outs[i].String())
			}
		}
	}()
	a, err := channel.Open(context.Background(), lanA, channel.WithBlockingPush())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := channel.Open(context.Background(), lanB)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	sub, err := b.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	// Push until the bridges are up and one posting arrives.
	got := make(chan *posting.Posting, 1)
	go func() {
		p, err := sub.Next(ctx)
		if err == nil {
			got <- p
		}
	}()
	tick := time.NewTicker(50 * time.Millisecond) // a posting every 50 ms until the path is up
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	for {
		if err := a.Push(ctx, posting.New("hello from site A")); err != nil {
			t.Fatal(err)
		}
		select {
		case p := <-got:
			if p.Body != "hello from site A" || p.Sender != a.ID() {
				t.Fatalf("got %v", p)
			}
			return
		case <-tick.C:
		case <-deadline:
			t.Fatalf("nothing crossed within 30 s; A said %q, B said %q", errs[0].String(), errs[1].String())
		}
	}
}
