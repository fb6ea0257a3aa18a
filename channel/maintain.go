package channel

import (
	"sync"
	"time"

	"github.com/rwanda-go/rwanda/stack"
)

// loop runs a function every interval on a clock (the channel's
// maintenance, and its adapter), until stopped. It holds no lock while
// the function runs and reschedules after it returns.
type loop struct {
	clock stack.Clock
	every time.Duration
	f     func(now time.Time)

	mu      sync.Mutex
	stopped bool
	t       stack.Timer
}

// startLoop runs f first one interval from now.
func startLoop(clock stack.Clock, every time.Duration, f func(now time.Time)) *loop {
	l := &loop{clock: clock, every: every, f: f}
	l.mu.Lock()
	l.t = clock.AfterFunc(every, l.run)
	l.mu.Unlock()
	return l
}

func (l *loop) run() {
	l.mu.Lock()
	stopped := l.stopped
	l.mu.Unlock()
	if stopped {
		return
	}
	l.f(l.clock.Now())
	l.mu.Lock()
	if !l.stopped {
		l.t = l.clock.AfterFunc(l.every, l.run)
	}
	l.mu.Unlock()
}

// stop ends the loop: the timer is stopped and never set again. A call of
// f whose timer had already fired may still run (f checks what it needs;
// stop does not wait for it, so f may call anything, Close included).
func (l *loop) stop() {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.stopped = true
	l.t.Stop()
	l.mu.Unlock()
}

// maintain runs every announce interval: it forgets silent members (and
// with them their flows), drops frames held too long for announcements
// that never came, ends overdue follow-on waits, forgets the streams
// (and flows) other members stopped announcing, closes drained retired
// streams and idle ones, says hello and re-announces the streams.
func (c *Channel) maintain(now time.Time) {
	if c.closed.Load() {
		return
	}
	a := c.cfg.announce
	c.members.expire(now.Add(-5 * a))
	c.in.maintain(now, 2*a, 3*a)
	c.hello(everyone, 0)
	// Retired streams go once drained, or after ten intervals for
	// receivers that never answer; streams after thirty idle ones (to
	// everyone: once drained).
	c.og.maintain(now, 10*a, 30*a)
	c.out.flushNow(true)
}
