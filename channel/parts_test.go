package channel

import (
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/transport"
)

// Helpers for testing a channel's parts without a Channel: a real outbox
// whose datagrams land in a wireTap instead of a transport.

// wireTap records the datagrams an outbox writes, by address.
type wireTap struct {
	o     *outbox
	mu    sync.Mutex
	dgram []tapped
}

type tapped struct {
	to transport.Addr
	b  []byte
}

// send is an outbox's send: it splits the run into datagrams.
func (w *wireTap) send(run []byte, seg int, dst transport.Addr, n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	transport.SplitRun(run, seg, func(d []byte) { w.dgram = append(w.dgram, tapped{dst, slices.Clone(d)}) })
}

// frames writes what the outbox holds and takes the frames written so
// far, checking each datagram's header names sender.
func (w *wireTap) frames(t *testing.T, sender uint64) []frame {
	t.Helper()
	var out []frame
	for _, d := range w.datagrams(t, sender) {
		out = append(out, d...)
	}
	return out
}

// datagrams is frames, datagram by datagram.
func (w *wireTap) datagrams(t *testing.T, sender uint64) [][]frame {
	t.Helper()
	for o := w.o; ; {
		// The writer goroutine may hold a batch: wait for it to finish.
		o.mu.Lock()
		if o.queued == 0 && !o.busy {
			o.mu.Unlock()
			break
		}
		if !o.busy {
			o.writeLocked()
			continue
		}
		o.mu.Unlock()
		runtime.Gosched()
	}
	w.mu.Lock()
	list := w.dgram
	w.dgram = nil
	w.mu.Unlock()
	var out [][]frame
	for _, d := range list {
		from, body, err := parseDgramHeader(d.b)
		if err != nil || from != sender {
			t.Fatalf("datagram from %x: %v", from, err)
		}
		fs, err := readFrames(body)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fs)
	}
	return out
}

// readFrames decodes the frames of a datagram's body.
func readFrames(body []byte) ([]frame, error) {
	r := frameReader{b: body}
	var fs []frame
	for {
		var f frame
		ok, err := r.next(&f)
		if err != nil || !ok {
			return fs, err
		}
		fs = append(fs, f)
	}
}

// ofType keeps the frames of one type.
func ofType(fs []frame, typ byte) []frame {
	return slices.DeleteFunc(slices.Clone(fs), func(f frame) bool { return f.typ != typ })
}

// newTapOutbox returns an outbox of member self that writes into a tap,
// every destination resolving to the zero address; it is closed when the
// test ends.
func newTapOutbox(t *testing.T, self uint64) (*outbox, *wireTap) {
	tap := &wireTap{}
	var scratch []transport.Addr
	o := newOutbox(self, 1472, 4<<20, nil, func(uint64) []transport.Addr {
		return append(scratch[:0], transport.Addr{})
	}, tap.send)
	tap.o = o
	t.Cleanup(o.close)
	return o, tap
}

func testCounters() *counters { return newCounters(slog.New(slog.DiscardHandler), nil) }

func drops(k *counters, reason string) uint64 {
	d, _ := k.snapshot()
	return d[reason]
}

// TestLoop: the maintenance loop runs every interval on the clock given,
// and never again once stopped.
func TestLoop(t *testing.T) {
	clk := stack.NewManualClock(stack.ManualEpoch)
	var runs []int64
	l := startLoop(clk, time.Second, func(now time.Time) { runs = append(runs, now.Sub(stack.ManualEpoch).Milliseconds()) })
	clk.Advance(3500 * time.Millisecond)
	if want := []int64{1000, 2000, 3000}; !slices.Equal(runs, want) {
		t.Fatalf("ran at %v ms, want %v", runs, want)
	}
	l.stop()
	if n := clk.Pending(); n != 0 {
		t.Fatalf("%d timers pending after stop", n)
	}
	clk.Advance(time.Hour)
	if len(runs) != 3 {
		t.Fatalf("ran after stop: %v", runs)
	}
	l.stop() // idempotent
	var nilLoop *loop
	nilLoop.stop()
}

// TestOutboxCoalesce: a flush soon after a write ended is left to the
// writer goroutine (a pusher in a loop), unless a posting was delivered
// to the application since: then what is pushed answers it, and goes at
// once (a round trip's reply; before, 1.3 % of in-process round trips
// waited for the writer goroutine this way).
func TestOutboxCoalesce(t *testing.T) {
	o, _ := newTapOutbox(t, 7)
	end := time.Unix(1_000_000, 0)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.lastEnd, o.deliveredAtEnd = end, o.delivered.Load()
	if !o.coalesce(end.Add(coalesceWindow / 2)) {
		t.Fatal("a flush right after a write was not left to the writer")
	}
	if o.coalesce(end.Add(coalesceWindow)) {
		t.Fatal("a flush after an idle coalescing window was left to the writer")
	}
	o.deliver()
	if o.coalesce(end.Add(coalesceWindow / 2)) {
		t.Fatal("a reply to a delivered posting was left to the writer")
	}
}
