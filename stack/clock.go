package stack

import (
	"container/heap"
	"sync"
	"time"
)

// Clock is where a stack reads the time and schedules its timers. Protocol
// logic takes time only from its Clock, so tests drive time by hand with a
// [ManualClock] and are deterministic.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc calls f, on a goroutine of the clock's choosing, once d has
	// passed. f must not assume which goroutine runs it.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending call scheduled by [Clock.AfterFunc]. *time.Timer
// implements it.
type Timer interface {
	// Stop cancels the call; it reports whether the call was still pending.
	Stop() bool
	// Reset schedules the call d from now; it reports whether the call was
	// still pending.
	Reset(d time.Duration) bool
}

// SystemClock is the real clock, backed by package time.
var SystemClock Clock = systemClock{}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// ManualClock is a [Clock] whose time moves only when told to. Timers fire
// during [ManualClock.Advance] on the caller's goroutine, one by one in
// deadline order (ties in the order they were scheduled), and while a timer's
// function runs, Now returns that timer's deadline. Functions run outside the
// clock's lock, so they may read the clock and schedule or reset timers; a
// timer scheduled for a time inside the advanced span fires in the same call.
//
// A ManualClock is safe for concurrent use, but a test is only deterministic
// when one goroutine advances it.
type ManualClock struct {
	mu     sync.Mutex
	now    time.Time
	timers timerHeap
	seq    uint64
}

// ManualEpoch is the time a [ManualClock] starts at when given the zero time.
var ManualEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// NewManualClock returns a manual clock reading start (or [ManualEpoch] when
// start is the zero time).
func NewManualClock(start time.Time) *ManualClock {
	if start.IsZero() {
		start = ManualEpoch
	}
	return &ManualClock{now: start}
}

// Now returns the clock's current time.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc schedules f to run when the clock has advanced by d. A d of zero
// or less fires at the next Advance, even Advance(0).
func (c *ManualClock) AfterFunc(d time.Duration, f func()) Timer {
	if f == nil {
		panic("stack: ManualClock.AfterFunc with a nil func")
	}
	t := &manualTimer{c: c, f: f, index: -1}
	c.mu.Lock()
	c.schedule(t, d)
	c.mu.Unlock()
	return t
}

// Advance moves the clock forward by d, firing every timer that falls due.
func (c *ManualClock) Advance(d time.Duration) {
	if d < 0 {
		panic("stack: ManualClock.Advance with a negative duration")
	}
	c.mu.Lock()
	target := c.now.Add(d)
	c.mu.Unlock()
	c.AdvanceTo(target)
}

// AdvanceTo moves the clock forward to t (never backward), firing every timer
// that falls due on the way.
func (c *ManualClock) AdvanceTo(t time.Time) {
	for {
		c.mu.Lock()
		if len(c.timers) == 0 || c.timers[0].when.After(t) {
			if t.After(c.now) {
				c.now = t
			}
			c.mu.Unlock()
			return
		}
		mt := heap.Pop(&c.timers).(*manualTimer)
		if mt.when.After(c.now) {
			c.now = mt.when
		}
		f := mt.f
		c.mu.Unlock()
		f()
	}
}

// Next returns the deadline of the earliest pending timer, and false when
// none is pending.
func (c *ManualClock) Next() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.timers) == 0 {
		return time.Time{}, false
	}
	return c.timers[0].when, true
}

// RunNext advances the clock to the earliest pending timer and fires
// everything due then. It reports false, without moving the clock, when no
// timer is pending.
func (c *ManualClock) RunNext() bool {
	t, ok := c.Next()
	if !ok {
		return false
	}
	c.AdvanceTo(t)
	return true
}

// Pending is the number of timers scheduled and not yet fired or stopped.
func (c *ManualClock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

func (c *ManualClock) schedule(t *manualTimer, d time.Duration) {
	if d < 0 {
		d = 0
	}
	t.when = c.now.Add(d)
	c.seq++
	t.seq = c.seq
	heap.Push(&c.timers, t)
}

type manualTimer struct {
	c     *ManualClock
	f     func()
	when  time.Time
	seq   uint64
	index int // in the heap; -1 when not pending
}

func (t *manualTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.index < 0 {
		return false
	}
	heap.Remove(&t.c.timers, t.index)
	return true
}

func (t *manualTimer) Reset(d time.Duration) bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.index >= 0
	if was {
		heap.Remove(&t.c.timers, t.index)
	}
	t.c.schedule(t, d)
	return was
}

type timerHeap []*manualTimer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if h[i].when.Equal(h[j].when) {
		return h[i].seq < h[j].seq
	}
	return h[i].when.Before(h[j].when)
}
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *timerHeap) Push(x any) {
	t := x.(*manualTimer)
	t.index = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	n := len(old)
	t := old[n-1]
	old[n-1] = nil
	t.index = -1
	*h = old[:n-1]
	return t
}
