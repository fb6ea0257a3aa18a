package channel

import (
	"container/heap"
	"sync"
	"time"

	"github.com/rwanda-go/rwanda/stack"
)

// timerBatch is the clock of a channel's receiving stacks: their timers
// that are due together run together, one after the other on one
// goroutine, between before and after (the outbox: the frames they queue
// leave in one write, bundled, instead of one datagram each).
//
// It matters on a group where many members send: each receiver reports
// its status on every flow every status interval (layers/window, aligned
// to the clock so that a receiver's flows report at the same instants),
// and a member receiving thirty flows would otherwise send thirty
// datagrams where one holds them all — for every member of the group to
// read.
type timerBatch struct {
	clock         stack.Clock
	before, after func()

	mu    sync.Mutex
	h     timerHeap
	inner stack.Timer // armed for h[0].when, if armed
	armed time.Time
	seq   uint64 // orders timers due at the same time by when they were set
}

func newTimerBatch(clock stack.Clock, before, after func()) *timerBatch {
	return &timerBatch{clock: clock, before: before, after: after}
}

// flowTimers is the timer service of the receiving stacks whose frames go
// to out: while a batch runs, out's flush hook leaves the write to its
// end (direct), which writes what the batch queued.
func flowTimers(clock stack.Clock, out *outbox) *timerBatch {
	return newTimerBatch(clock,
		func() { out.direct.Add(1) },
		func() { out.direct.Add(-1); out.flushNow(true) })
}

// Now is the clock's.
func (b *timerBatch) Now() time.Time { return b.clock.Now() }

// AfterFunc schedules f to run d from now, with the other timers due
// then.
func (b *timerBatch) AfterFunc(d time.Duration, f func()) stack.Timer {
	t := &batchTimer{b: b, f: f, i: -1}
	t.Reset(d)
	return t
}

// batchTimer is one stack's timer in a timerBatch.
type batchTimer struct {
	b    *timerBatch
	f    func()
	when time.Time
	seq  uint64
	i    int // index in the heap, -1 when not pending
}

// Reset schedules t d from now; it reports whether t was pending.
func (t *batchTimer) Reset(d time.Duration) bool {
	b := t.b
	now := b.clock.Now()
	when := now.Add(d)
	b.mu.Lock()
	defer b.mu.Unlock()
	t.when = when
	b.seq++
	t.seq = b.seq
	pending := t.i >= 0
	if pending {
		heap.Fix(&b.h, t.i)
	} else {
		heap.Push(&b.h, t)
	}
	b.armLocked(now)
	return pending
}

// Stop cancels t; it reports whether t was pending.
func (t *batchTimer) Stop() bool {
	b := t.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if t.i < 0 {
		return false
	}
	heap.Remove(&b.h, t.i)
	return true // the inner timer may fire for nothing: fire finds nothing due
}

// armLocked arms the inner timer for the earliest pending timer, unless it
// is armed for that time or earlier already; now is the clock's reading.
func (b *timerBatch) armLocked(now time.Time) {
	if len(b.h) == 0 {
		return
	}
	when := b.h[0].when
	if !b.armed.IsZero() && !when.Before(b.armed) {
		return
	}
	b.armed = when
	d := when.Sub(now)
	if b.inner == nil {
		b.inner = b.clock.AfterFunc(d, b.fire)
	} else {
		b.inner.Reset(d)
	}
}

// fire runs every timer due now, in the order they fell due (those due
// at the same time in the order they were set), then re-arms for the
// next.
func (b *timerBatch) fire() {
	now := b.clock.Now()
	b.mu.Lock()
	b.armed = time.Time{}
	var due []*batchTimer
	for len(b.h) > 0 && !b.h[0].when.After(now) {
		due = append(due, heap.Pop(&b.h).(*batchTimer))
	}
	b.armLocked(now)
	b.mu.Unlock()
	if len(due) == 0 {
		return
	}
	b.before()
	for _, t := range due {
		t.f()
	}
	b.after()
}

// timerHeap orders pending timers by when they are due.
type timerHeap []*batchTimer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if !h[i].when.Equal(h[j].when) {
		return h[i].when.Before(h[j].when)
	}
	return h[i].seq < h[j].seq
}
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].i, h[j].i = i, j
}
func (h *timerHeap) Push(x any) {
	t := x.(*batchTimer)
	t.i = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.i = -1
	return t
}
