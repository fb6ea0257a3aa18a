package harness

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"
)

// Counter counts deliveries in a child; safe for concurrent use.
type Counter struct {
	n, bytes, first, last atomic.Int64
}

// Add counts one delivery of size bytes, now.
func (c *Counter) Add(size int) {
	now := time.Now().UnixNano()
	if c.n.Add(1) == 1 {
		c.first.Store(now)
	}
	c.bytes.Add(int64(size))
	c.last.Store(now)
}

// AddN counts n deliveries of size bytes in all, now.
func (c *Counter) AddN(n int64, size int64) {
	if n == 0 {
		return
	}
	now := time.Now().UnixNano()
	if c.n.Add(n) == n {
		c.first.Store(now)
	}
	c.bytes.Add(size)
	c.last.Store(now)
}

// reset forgets what was counted (after a warm-up).
func (c *Counter) reset() {
	c.n.Store(0)
	c.bytes.Store(0)
	c.first.Store(0)
	c.last.Store(0)
}

// Count returns the deliveries counted so far.
func (c *Counter) Count() int64 { return c.n.Load() }

// Report returns what was counted.
func (c *Counter) Report() Report {
	return Report{Delivered: c.n.Load(), Bytes: c.bytes.Load(), FirstNs: c.first.Load(), LastNs: c.last.Load()}
}

// Quiet is how long a child waits, once told to stop, for one more
// delivery before it reports; Bound is the longest it waits in all.
const (
	Quiet = 200 * time.Millisecond
	Bound = 5 * time.Second
)

// ErrParentGone is what Serve returns when stdin closes before a "stop".
var ErrParentGone = errors.New("stdin closed: parent gone")

// Serve is a child's side of the protocol: it prints "ready " + ready on
// out, then answers its parent's lines on in. "warm N" ends a warm-up of N
// postings: it waits as for a stop, prints c's Report as a JSON line and
// starts counting afresh. "stop N" waits until c has counted N
// deliveries, nothing arrived for Quiet, or Bound passed, prints c's
// Report as a JSON line and returns. Either may carry a third field, a
// quiet period in milliseconds to use instead of Quiet (a reliable
// system's parent gives Bound: every posting is awaited, however long a
// repair takes).
func Serve(ready string, c *Counter, in io.Reader, out io.Writer) error {
	if _, err := fmt.Fprintf(out, "ready %s\n", ready); err != nil {
		return err
	}
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		verb, want, quiet, ok := ParseCommand(sc.Text())
		if !ok {
			return fmt.Errorf("want \"warm N\" or \"stop N\", got %q", sc.Text())
		}
		if quiet == 0 {
			quiet = Quiet
		}
		waitFor(c, want, quiet)
		b, _ := json.Marshal(c.Report())
		if verb == "warm" {
			// Before the answer: the parent starts measuring once it has it.
			c.reset()
		}
		if _, err := fmt.Fprintf(out, "%s\n", b); err != nil {
			return err
		}
		if verb == "stop" {
			return nil
		}
	}
	return ErrParentGone
}

// waitFor waits until c has counted want deliveries, nothing arrived for
// quiet, or Bound passed.
func waitFor(c *Counter, want int64, quiet time.Duration) {
	start := time.Now()
	prev, since := c.Count(), time.Now()
	tick := time.NewTicker(2 * time.Millisecond) // polls the counter
	defer tick.Stop()
	for c.Count() < want && time.Since(since) < quiet && time.Since(start) < Bound {
		<-tick.C
		if n := c.Count(); n != prev {
			prev, since = n, time.Now()
		}
	}
}
