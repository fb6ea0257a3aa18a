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
// writer goroutine (a pusher in a loop), unless it is a push and a read
// batch delivered a posting since: then the push may answer it, and goes
// at once (a round trip's reply; before, 1.3 % of in-process round trips
// waited for the writer goroutine this way). Only a batch's first
// delivery counts (replies to a batch of requests coalesce after the
// first), and what the stacks queue while reading keeps the rule.
func TestOutboxCoalesce(t *testing.T) {
	o, _ := newTapOutbox(t, 7)
	end := time.Unix(1_000_000, 0)
	soon := end.Add(coalesceWindow / 2)
	o.mu.Lock()
	defer o.mu.Unlock()
	wrote := func() { o.lastEnd = end; o.heard.Store(false) } // as finish does
	wrote()
	for _, pushed := range []bool{false, true} {
		if !o.coalesce(soon, pushed) {
			t.Fatalf("pushed %v: a flush right after a write was not left to the writer", pushed)
		}
		if o.coalesce(end.Add(coalesceWindow), pushed) {
			t.Fatalf("pushed %v: a flush after an idle coalescing window was left to the writer", pushed)
		}
	}
	o.readBatch()
	if !o.coalesce(soon, true) {
		t.Fatal("a read batch that delivered nothing (acknowledgements) made a push direct")
	}
	o.deliver()
	if o.coalesce(soon, true) {
		t.Fatal("a push after a delivery was left to the writer")
	}
	if !o.coalesce(soon, false) {
		t.Fatal("the reader's own flush after its batch was not left to the writer")
	}
	wrote()
	o.deliver() // the batch's second posting
	if !o.coalesce(soon, true) {
		t.Fatal("a reply to a batch's second posting was not coalesced")
	}
	o.readBatch()
	o.deliver()
	if o.coalesce(soon, true) {
		t.Fatal("a push after the next batch's delivery was left to the writer")
	}
}
