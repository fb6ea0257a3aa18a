package channel

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/filter"
	"github.com/rwanda-go/rwanda/posting"
	"github.com/rwanda-go/rwanda/registry"
	"github.com/rwanda-go/rwanda/stack"
)

// Bodies whose first bytes a sniffer takes for an image and for audio.
var (
	pngMagic = []byte("\x89PNG\r\n\x1a\n")
	oggMagic = []byte("OggS\x00\x02")
)

// magicBody is a body that starts with magic and says which it is (i) and
// how long it is (n bytes in all).
func magicBody(magic []byte, i, n int) []byte {
	b := make([]byte, n)
	copy(b, magic)
	binary.BigEndian.PutUint32(b[len(magic):], uint32(i))
	return b
}

// refreshPeriod is the longest time between a refresh layer's rounds in
// the image profile of the default table: its period and 25 % jitter.
func refreshPeriod(t *testing.T) time.Duration {
	t.Helper()
	reg := registry.Default()
	spec, err := reg.Resolve(filter.DefaultTable()[posting.Image].QoS)
	must(t, err)
	for _, l := range spec.Layers {
		if l.Name == "refresh" {
			v, _ := reg.Value(l, "every")
			d, _ := v.Duration()
			return d + d/4
		}
	}
	t.Fatal("the image profile has no refresh layer")
	return 0
}

// settle waits until the channels, on a clock the test drives, have
// nothing left to write and have received all the datagrams they are
// going to: outboxes idle and the datagram counts unchanged for a while.
func settle(t *testing.T, chans ...*Channel) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second) // the goroutines' progress, not protocol time
	var last []uint64
	quiet := 0
	for quiet < 3 {
		if time.Now().After(deadline) {
			t.Fatal("the channels did not settle")
		}
		idle := true
		var now []uint64
		for _, c := range chans {
			c.out.mu.Lock()
			idle = idle && c.out.queued == 0 && !c.out.busy
			c.out.mu.Unlock()
			st := c.Stats()
			now = append(now, st.Sent.Datagrams, st.Received.Datagrams)
		}
		if idle && slices.Equal(now, last) {
			quiet++
		} else {
			quiet = 0
		}
		last = now
		time.Sleep(200 * time.Microsecond) // waiting on the channels' goroutines
	}
}

// advance moves clock on by d in steps, letting the channels settle after
// each.
func advance(t *testing.T, clock *stack.ManualClock, d time.Duration, chans ...*Channel) {
	t.Helper()
	const step = 50 * time.Millisecond
	for end := clock.Now().Add(d); clock.Now().Before(end); {
		clock.Advance(step)
		settle(t, chans...)
	}
}

// layerStats returns the stats of the layer named name in s.
func layerStats(s stack.Stats, name string) stack.LayerStats {
	for _, l := range s.Layers {
		if l.Name == name {
			return l
		}
	}
	return stack.LayerStats{}
}

// TestSniffedBodiesKeepDefaultStack: []byte bodies that start with PNG
// and Ogg magic, pushed on a default channel, are classified as image and
// audio (their Media says so) but travel on the channel's default stack:
// reliable, no TTL, no refresh. Each is delivered once, also after the
// clock has run through three of the image profile's refresh periods.
func TestSniffedBodiesKeepDefaultStack(t *testing.T) {
	clock := stack.NewManualClock(stack.ManualEpoch)
	url := memURL(t)
	a, b := open(t, url, WithClock(clock)), open(t, url, WithClock(clock))
	sub, _ := b.Subscribe()
	ctx := context.Background()
	must(t, a.Push(ctx, posting.New(magicBody(pngMagic, 1, 5000))))
	must(t, a.Push(ctx, posting.New(magicBody(oggMagic, 2, 300))))
	must(t, a.Push(ctx, posting.New("good morning, class"))) // text, by content
	for _, want := range []posting.Media{posting.Image, posting.Audio, posting.Text} {
		p := next(t, sub)
		if p.Media != want || p.TTL != 0 {
			t.Fatalf("got %v with TTL %v, want %v and no TTL", p.Media, p.TTL, want)
		}
	}
	def := a.QoSFor("", posting.Data)
	if def != "frag/order/window" {
		t.Fatalf("the default stack is %q", def)
	}
	streams := a.Stats().Streams
	if len(streams) != 1 || streams[0].QoS != def || streams[0].Postings != 3 {
		t.Fatalf("sender streams %+v; want one on %q", streams, def)
	}
	advance(t, clock, 3*refreshPeriod(t), a, b)
	expectNone(t, sub)
	st := b.Stats()
	if st.Received.Postings != 3 || len(st.Flows) != 1 || st.Flows[0].QoS != def {
		t.Fatalf("receiver: %d postings, flows %+v", st.Received.Postings, st.Flows)
	}
}

// TestReliableSniffedBodiesThroughLoss: the same bodies on real sockets
// through 20 % loss, reordering and duplication (the impair layer at the
// bottom of the Data profile, the stack unclassified bodies take; the
// image and audio profiles stay the table's): every one delivered exactly
// once and in order.
func TestReliableSniffedBodiesThroughLoss(t *testing.T) {
	checkGoroutines(t)
	port := freePort(t)
	rx := open(t, fmt.Sprintf("rtest://:%d", port))
	qos := "reliable/" + damage
	tx := open(t, fmt.Sprintf("rtest://127.0.0.1:%d", port), WithMediaProfile(posting.Data, filter.Profile{QoS: qos}), WithBlockingPush())
	const n = 400
	var mu sync.Mutex
	var got []int
	var bad []string
	done, marker := make(chan struct{}), make(chan struct{})
	rx.SubscribeFunc(func(p *posting.Posting) {
		mu.Lock()
		defer mu.Unlock()
		b, _ := p.Body.([]byte)
		i := len(got) + len(bad)
		magic, media := pngMagic, posting.Image
		if i%2 == 1 {
			magic, media = oggMagic, posting.Audio
		}
		if len(b) < len(magic)+4 || string(b[:len(magic)]) != string(magic) || p.Media != media || p.TTL != 0 {
			bad = append(bad, fmt.Sprintf("posting %d: %v, %d bytes", i, p, len(b)))
		} else {
			got = append(got, int(binary.BigEndian.Uint32(b[len(magic):])))
		}
		switch len(got) + len(bad) {
		case n:
			close(done)
		case n + 1:
			close(marker)
		}
	})
	ctx := context.Background()
	for i := range n {
		magic, size := pngMagic, 3000 // fragmented: three datagrams
		if i%2 == 1 {
			magic, size = oggMagic, 200
		}
		must(t, tx.Push(ctx, posting.New(magicBody(magic, i, size))))
	}
	select {
	case <-done:
	case <-time.After(60 * time.Second):
	}
	mu.Lock()
	if len(bad) != 0 {
		defer mu.Unlock()
		t.Fatal(strings.Join(bad, "\n"))
	}
	if len(got) != n {
		defer mu.Unlock()
		t.Fatalf("%d of %d postings arrived", len(got), n)
	}
	mu.Unlock()
	// Nothing more, even if a duplicate was on its way: a marker pushed
	// now is delivered after everything before it on the ordered stream.
	must(t, tx.Push(ctx, posting.New(magicBody(pngMagic, n, 3000))))
	select {
	case <-marker:
	case <-time.After(60 * time.Second):
		t.Fatal("the marker posting did not arrive")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != n+1 || got[n] != n {
		t.Fatalf("%d postings (and %d bad) after all %d and a marker", len(got), len(bad), n)
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("posting %d is body %d", i, v)
		}
	}
	st := tx.Stats()
	if len(st.Streams) != 1 || st.Streams[0].QoS != tx.QoSFor("", posting.Data) || !strings.Contains(st.Streams[0].QoS, "impair") {
		t.Fatalf("sender streams %+v", st.Streams)
	}
	if windowCounter(st, "", "retransmits") == 0 {
		t.Fatal("no retransmissions through 20% loss")
	}
}

// TestSniffStacksOptIn: WithSniffStacks restores per-medium stacks for
// sniffed bodies — PNG on the image profile's refresh stack, Ogg on the
// audio profile's best-effort stack with its 100 ms TTL — and the refresh
// still delivers the image once: the receiver drops the refreshed copies
// ("refreshed-dup"), and a member that joins late gets it once (from a
// refresh, or from the window's recovery for late joiners).
func TestSniffStacksOptIn(t *testing.T) {
	clock := stack.NewManualClock(stack.ManualEpoch)
	url := memURL(t)
	a, b := open(t, url, WithClock(clock), WithSniffStacks()), open(t, url, WithClock(clock))
	sub, _ := b.Subscribe()
	ctx := context.Background()
	must(t, a.Push(ctx, posting.New(magicBody(pngMagic, 1, 5000))))
	must(t, a.Push(ctx, posting.New(magicBody(oggMagic, 2, 300))))
	got := map[posting.Media]*posting.Posting{}
	for range 2 {
		p := next(t, sub)
		got[p.Media] = p
	}
	if got[posting.Image] == nil || got[posting.Audio] == nil || got[posting.Audio].TTL != 100*time.Millisecond || got[posting.Image].TTL != 0 {
		t.Fatalf("received %v", got)
	}
	qos := map[posting.Media]string{}
	for _, s := range a.Stats().Streams {
		qos[s.Media] = s.QoS
	}
	if qos[posting.Image] != a.QoSFor("", posting.Image) || !strings.HasPrefix(qos[posting.Image], "refresh/") ||
		qos[posting.Audio] != a.QoSFor("", posting.Audio) || !strings.Contains(qos[posting.Audio], "besteffort") {
		t.Fatalf("sender stacks %v", qos)
	}
	// A member joins late; the clock runs through three refresh periods.
	late := open(t, url, WithClock(clock))
	lateSub, _ := late.Subscribe()
	advance(t, clock, 3*refreshPeriod(t), a, b, late)
	expectNone(t, sub)
	if p := next(t, lateSub); p.Media != posting.Image {
		t.Fatalf("the late member got %v", p)
	}
	expectNone(t, lateSub)
	var refreshed uint64
	for _, s := range a.Stats().Streams {
		refreshed += layerStats(s.Stack, "refresh").Counters["refreshed"]
	}
	var dups uint64
	for _, f := range b.Stats().Flows {
		dups += layerStats(f.Stack, "refresh").Drops["refreshed-dup"]
	}
	var healed uint64
	for _, f := range late.Stats().Flows {
		healed += layerStats(f.Stack, "refresh").Counters["refresh-delivered"]
	}
	t.Logf("sender refreshed %d; receiver dropped %d refreshed copies; the late member delivered %d", refreshed, dups, healed)
	// The late member got the image once (checked above): from a refresh,
	// or from the window below it, which recovers the start of a stream
	// its sender still holds for a late joiner; whichever comes first.
	if refreshed < 2 || dups != refreshed || healed > 1 {
		t.Fatalf("refreshed %d, refreshed-dup %d, late member's refresh-delivered %d", refreshed, dups, healed)
	}
}
