package channel

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/posting"
	"github.com/rwanda-go/rwanda/stack"
)

func TestFileRecordReplay(t *testing.T) {
	checkGoroutines(t)
	path := filepath.Join(t.TempDir(), "lesson.rw")
	rec := open(t, "file://"+path)
	ctx := context.Background()
	for i := range 5 {
		must(t, rec.Push(ctx, posting.New(chat{From: "ana", N: i}, posting.WithStream("chat"), posting.WithMedia(posting.Text))))
	}
	must(t, rec.Push(ctx, posting.New([]byte("frame"), posting.WithStream("video"), posting.WithMedia(posting.Video))))
	must(t, rec.Close())

	// A new channel on the same file replays the recording to each subscriber.
	play := open(t, "file://"+path+"?replay=fast")
	all, _ := play.Subscribe(Queue(1, DropNewest)) // replay waits for a slow reader, never drops
	text, _ := play.Subscribe(Media(posting.Text))
	for i := range 5 {
		p := next(t, all)
		if c := p.Body.(chat); c.N != i || p.Stream != "chat" || p.Seq != uint64(i+1) || p.Sender != rec.ID() {
			t.Fatalf("replayed %v", p)
		}
		if next(t, text).Body.(chat).N != i {
			t.Fatal("filtered replay")
		}
	}
	if p := next(t, all); string(p.Body.([]byte)) != "frame" || p.Media != posting.Video {
		t.Fatalf("last %v", p)
	}
	// It follows what is pushed afterwards.
	must(t, play.Push(ctx, posting.New("live")))
	if p := next(t, all); p.Body.(string) != "live" {
		t.Fatalf("live %v", p)
	}
	if all.Stats().Dropped != 0 {
		t.Fatal("replay dropped postings")
	}
	if _, err := play.Pull(ctx, posting.New("q")); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("Pull on file: %v", err)
	}
}

func TestFileReplayRealtime(t *testing.T) {
	path := filepath.Join(t.TempDir(), "paced.rw")
	clock := stack.NewManualClock(time.Time{})
	rec := open(t, "file://"+path, WithClock(clock))
	ctx := context.Background()
	for i, gap := range []time.Duration{0, 100 * time.Millisecond, 400 * time.Millisecond} {
		clock.Advance(gap)
		must(t, rec.Push(ctx, posting.New(i)))
	}
	rec.Close()

	play := open(t, "file://"+path+"?replay=realtime", WithClock(clock))
	sub, _ := play.Subscribe()
	start := clock.Now()
	if p := next(t, sub); p.Body.(int) != 0 {
		t.Fatal("first")
	}
	due(t, clock, start.Add(100*time.Millisecond))
	clock.Advance(99 * time.Millisecond)
	expectNone(t, sub)
	clock.Advance(time.Millisecond)
	if p := next(t, sub); p.Body.(int) != 1 {
		t.Fatal("second")
	}
	due(t, clock, start.Add(500*time.Millisecond))
	clock.Advance(399 * time.Millisecond)
	expectNone(t, sub)
	clock.Advance(time.Millisecond)
	if p := next(t, sub); p.Body.(int) != 2 {
		t.Fatal("third")
	}
}

// TestFileReplayRealtimeFromRecordingClock: each posting is due at the
// replay's start plus its offset in the recording, on the injected clock.
// When the replay falls behind (here the clock jumps past three due
// times at once) the overdue postings go out at once and the next one is
// still due at its own recorded offset: delays never accumulate, as they
// would if replay slept each recorded gap after each posting.
func TestFileReplayRealtimeFromRecordingClock(t *testing.T) {
	checkGoroutines(t)
	path := filepath.Join(t.TempDir(), "paced.rw")
	clock := stack.NewManualClock(time.Time{})
	rec := open(t, "file://"+path, WithClock(clock))
	ctx := context.Background()
	offsets := []time.Duration{0, 100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond, 400 * time.Millisecond, 430 * time.Millisecond}
	start := clock.Now()
	for i, off := range offsets {
		clock.AdvanceTo(start.Add(off))
		must(t, rec.Push(ctx, posting.New(i, posting.WithStream([]string{"a", "b"}[i%2]))))
	}
	rec.Close()

	clock.Advance(time.Hour) // replayed an hour later
	play := open(t, "file://"+path+"?replay=realtime", WithClock(clock))
	w0 := clock.Now()
	sub, _ := play.Subscribe()
	if p := next(t, sub); p.Body.(int) != 0 {
		t.Fatalf("first %v", p.Body)
	}
	// The pending timer is for posting 1, due 100 ms after the start.
	due(t, clock, w0.Add(offsets[1]))
	clock.AdvanceTo(w0.Add(350 * time.Millisecond)) // late: 1, 2 and 3 are overdue
	for i := 1; i <= 3; i++ {
		if p := next(t, sub); p.Body.(int) != i {
			t.Fatalf("overdue posting %d: %v", i, p.Body)
		}
	}
	due(t, clock, w0.Add(offsets[4])) // not 350 ms + 100 ms
	clock.AdvanceTo(w0.Add(offsets[4]))
	if p := next(t, sub); p.Body.(int) != 4 {
		t.Fatalf("posting 4: %v", p.Body)
	}
	due(t, clock, w0.Add(offsets[5]))
	clock.AdvanceTo(w0.Add(offsets[5]))
	if p := next(t, sub); p.Body.(int) != 5 {
		t.Fatalf("posting 5: %v", p.Body)
	}

	// A subscription to stream "b" alone waits only for its own postings
	// (1, 3 and 5), each at its recorded offset from this replay's start.
	w1 := clock.Now()
	only, _ := play.Subscribe(Streams("b"))
	for _, i := range []int{1, 3, 5} {
		due(t, clock, w1.Add(offsets[i]))
		clock.AdvanceTo(w1.Add(offsets[i]))
		if p := next(t, only); p.Body.(int) != i {
			t.Fatalf("stream b: want %d, got %v", i, p.Body)
		}
	}
}

// TestFileReplayRealtimeThenLive: what is pushed after a realtime replay
// has begun is live, delivered at once, not paced as though it were part
// of the recording (its send time is an hour after the recording's).
func TestFileReplayRealtimeThenLive(t *testing.T) {
	checkGoroutines(t)
	path := filepath.Join(t.TempDir(), "paced.rw")
	clock := stack.NewManualClock(time.Time{})
	rec := open(t, "file://"+path, WithClock(clock))
	ctx := context.Background()
	must(t, rec.Push(ctx, posting.New(0)))
	clock.Advance(100 * time.Millisecond)
	must(t, rec.Push(ctx, posting.New(1)))
	rec.Close()

	clock.Advance(time.Hour)
	play := open(t, "file://"+path+"?replay=realtime", WithClock(clock))
	w0 := clock.Now()
	sub, _ := play.Subscribe()
	next(t, sub)
	due(t, clock, w0.Add(100*time.Millisecond))
	clock.AdvanceTo(w0.Add(100 * time.Millisecond))
	if p := next(t, sub); p.Body.(int) != 1 {
		t.Fatalf("recorded %v", p.Body)
	}
	must(t, play.Push(ctx, posting.New(2))) // the clock stands still
	if p := next(t, sub); p.Body.(int) != 2 {
		t.Fatalf("live %v", p.Body)
	}
	if n := clock.Pending(); n != 0 {
		t.Fatalf("%d timers pending for a live posting", n)
	}
}

// due waits until the replay goroutine has scheduled its next timer and
// checks it is set for want (the injected clock's time, exactly).
func due(t *testing.T, c *stack.ManualClock, want time.Time) {
	t.Helper()
	waitTimer(t, c)
	if got, _ := c.Next(); !got.Equal(want) {
		t.Fatalf("next posting due at %v, want %v (%v off)", got.Format("15:04:05.000"), want.Format("15:04:05.000"), got.Sub(want))
	}
}

// waitTimer waits until the replay goroutine has scheduled its next timer.
func waitTimer(t *testing.T, c *stack.ManualClock) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for c.Pending() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no timer scheduled")
		}
		time.Sleep(time.Millisecond) // waiting on another goroutine
	}
}

func expectNone(t *testing.T, s *Subscription) {
	t.Helper()
	select {
	case p := <-s.Postings():
		t.Fatalf("unexpected %v", p)
	case <-time.After(20 * time.Millisecond):
	}
}

func TestFileTornTailAndForeignFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "torn.rw")
	rec := open(t, "file://"+path)
	must(t, rec.Push(context.Background(), posting.New("whole")))
	rec.Close()
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.Write([]byte{50, 1, 2, 3}) // a record cut short
	f.Close()
	play := open(t, "file://"+path)
	sub, _ := play.Subscribe()
	if p := next(t, sub); p.Body.(string) != "whole" {
		t.Fatal(p)
	}
	must(t, play.Push(context.Background(), posting.New("after")))
	if p := next(t, sub); p.Body.(string) != "after" {
		t.Fatalf("push after a torn tail: %v", p)
	}

	foreign := filepath.Join(dir, "foreign.txt")
	os.WriteFile(foreign, []byte("hello world, not a recording"), 0o644)
	if _, err := Open(context.Background(), "file://"+foreign); err == nil || !strings.Contains(err.Error(), "not a rwanda recording") {
		t.Fatalf("foreign file: %v", err)
	}
}

// TestFileReplaysV1Recording: a recording written by the version 1 wire
// format (testdata/v1.rw, made before wire v2) still replays, every field
// intact.
func TestFileReplaysV1Recording(t *testing.T) {
	old, err := os.ReadFile("testdata/v1.rw")
	must(t, err)
	path := filepath.Join(t.TempDir(), "v1.rw")
	must(t, os.WriteFile(path, old, 0o644))
	play := open(t, "file://"+path+"?replay=fast")
	sub, _ := play.Subscribe()
	start := time.Unix(1_790_000_000, 0)
	for i := range 3 {
		p := next(t, sub)
		if c, ok := p.Body.(chat); !ok || c.N != i || c.From != "ana" || p.Stream != "chat" || p.Media != posting.Text ||
			p.Seq != uint64(i+1) || p.TTL != time.Minute || !p.Sent.Equal(start.Add(time.Duration(i)*10*time.Millisecond)) || p.Sender == 0 {
			t.Fatalf("replayed %d: %+v", i, p)
		}
	}
	if p := next(t, sub); string(p.Body.([]byte)) != "frame" || p.Media != posting.Video || p.Stream != "video" {
		t.Fatalf("video %+v", p)
	}
	if p := next(t, sub); p.Body != "note" {
		t.Fatalf("note %+v", p)
	}
}
