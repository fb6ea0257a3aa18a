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
// out, waits for "stop N" on in, then until c has counted N deliveries,
// nothing arrived for Quiet, or Bound passed, and prints c's Report as a
// JSON line.
func Serve(ready string, c *Counter, in io.Reader, out io.Writer) error {
	if _, err := fmt.Fprintf(out, "ready %s\n", ready); err != nil {
		return err
	}
	sc := bufio.NewScanner(in)
	if sc.Scan() {
		want, ok := ParseStop(sc.Text())
		if !ok {
			return fmt.Errorf("want \"stop N\", got %q", sc.Text())
		}
		start := time.Now()
		prev, since := c.Count(), time.Now()
		tick := time.NewTicker(2 * time.Millisecond) // polls the counter
		for c.Count() < want && time.Since(since) < Quiet && time.Since(start) < Bound {
			<-tick.C
			if n := c.Count(); n != prev {
				prev, since = n, time.Now()
			}
		}
		tick.Stop()
		b, _ := json.Marshal(c.Report())
		_, err := fmt.Fprintf(out, "%s\n", b)
		return err
	}
	return ErrParentGone
}
