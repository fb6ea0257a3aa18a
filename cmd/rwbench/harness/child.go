package harness

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Report is what a child prints when told to stop: what it received.
type Report struct {
	Delivered int64 `json:"delivered"`
	Bytes     int64 `json:"bytes"`
	FirstNs   int64 `json:"first_ns"` // wall clock of the first delivery (Unix ns), 0 if none
	LastNs    int64 `json:"last_ns"`  // wall clock of the last delivery
}

// Child is a measurement process started with [Start]: a receiver or an
// echo server of one run.
type Child struct {
	// Ready is what the child printed after "ready" (for example the port
	// it listens on).
	Ready string

	cmd    *exec.Cmd
	in     io.WriteCloser
	lines  chan string
	stderr *tailBuffer
	once   sync.Once
	err    error
}

// Start runs name with args (and env added to the environment) and waits,
// at most timeout, for its "ready" line. The child's process group is
// killed when ctx ends; call Stop or Kill when done with it.
func Start(ctx context.Context, name string, args, env []string, timeout time.Duration) (*Child, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(cmd.Environ(), env...)
	setProcAttr(cmd)
	cmd.Cancel = func() error { return killGroup(cmd) }
	cmd.WaitDelay = 2 * time.Second
	c := &Child{cmd: cmd, lines: make(chan string, 16), stderr: &tailBuffer{max: 4 << 10}}
	cmd.Stderr = c.stderr
	var err error
	if c.in, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	line, err := c.line(ctx, timeout)
	if err == nil && !strings.HasPrefix(line, "ready") {
		err = fmt.Errorf("want a ready line, got %q", line)
	}
	if err != nil {
		c.Kill()
		return nil, fmt.Errorf("%s %s: %w%s", name, strings.Join(args, " "), err, c.stderrTail())
	}
	c.Ready = strings.TrimSpace(strings.TrimPrefix(line, "ready"))
	return c, nil
}

// Send writes one line to the child's stdin.
func (c *Child) Send(line string) error {
	_, err := io.WriteString(c.in, line+"\n")
	if err != nil {
		return fmt.Errorf("%w%s", err, c.stderrTail())
	}
	return nil
}

// Line returns the child's next stdout line, waiting at most timeout.
func (c *Child) Line(ctx context.Context, timeout time.Duration) (string, error) {
	l, err := c.line(ctx, timeout)
	if err != nil {
		return "", fmt.Errorf("%w%s", err, c.stderrTail())
	}
	return l, nil
}

// line returns the child's next stdout line.
func (c *Child) line(ctx context.Context, timeout time.Duration) (string, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case l, ok := <-c.lines:
		if !ok {
			return "", errors.New("the process ended early")
		}
		return l, nil
	case <-t.C:
		return "", fmt.Errorf("no answer within %v", timeout)
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (c *Child) stderrTail() string {
	s := strings.TrimSpace(c.stderr.String())
	if s == "" {
		return ""
	}
	return "; its stderr: " + s
}

// Stop tells the child the sender sent it sent postings, waits (at most
// timeout) for its report, and ends it.
func (c *Child) Stop(ctx context.Context, sent int64, timeout time.Duration) (Report, error) {
	rs, errs := StopAll(ctx, []*Child{c}, sent, timeout)
	return rs[0], errs[0]
}

// StopAll tells every child the sender sent it sent postings, then
// collects their reports (waiting at most timeout for each) and ends them.
func StopAll(ctx context.Context, cs []*Child, sent int64, timeout time.Duration) ([]Report, []error) {
	return stopAll(ctx, cs, sent, 0, timeout)
}

// stopAll is StopAll with the children's quiet period (0: Quiet).
func stopAll(ctx context.Context, cs []*Child, sent int64, quiet, timeout time.Duration) ([]Report, []error) {
	rs, errs := askAll(ctx, cs, "stop", sent, quiet, timeout)
	for _, c := range cs {
		c.Kill()
	}
	return rs, errs
}

// WarmAll tells every child that a warm-up of sent postings ended, and
// collects what each received of it (waiting at most timeout for each);
// the children then count afresh.
func WarmAll(ctx context.Context, cs []*Child, sent int64, timeout time.Duration) ([]Report, []error) {
	return askAll(ctx, cs, "warm", sent, 0, timeout)
}

// askAll sends "VERB N" (and the quiet period in ms, when not 0) to every
// child and collects their reports.
func askAll(ctx context.Context, cs []*Child, verb string, sent int64, quiet, timeout time.Duration) ([]Report, []error) {
	rs, errs := make([]Report, len(cs)), make([]error, len(cs))
	cmd := fmt.Sprintf("%s %d", verb, sent)
	if quiet > 0 {
		cmd += fmt.Sprintf(" %d", quiet.Milliseconds())
	}
	for i, c := range cs {
		if _, err := fmt.Fprintf(c.in, "%s\n", cmd); err != nil {
			errs[i] = fmt.Errorf("child: %w%s", err, c.stderrTail())
		}
	}
	for i, c := range cs {
		if errs[i] == nil {
			line, err := c.line(ctx, timeout)
			if err == nil {
				err = json.Unmarshal([]byte(line), &rs[i])
			}
			if err != nil {
				errs[i] = fmt.Errorf("child report: %w%s", err, c.stderrTail())
			}
		}
	}
	return rs, errs
}

// Kill ends the child: its stdin closes (a child exits on that), and its
// process group is killed if it has not exited within a moment. It waits
// for the process; calling it again does nothing.
func (c *Child) Kill() {
	c.once.Do(func() {
		c.in.Close()
		done := make(chan struct{})
		go func() {
			c.err = c.cmd.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(500 * time.Millisecond):
			killGroup(c.cmd)
			<-done
		}
		for range c.lines {
		}
	})
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if over := t.buf.Len() - t.max; over > 0 {
		t.buf.Next(over)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}

// ParseStop reads the N of a "stop N" line.
func ParseStop(line string) (int64, bool) {
	verb, n, _, ok := ParseCommand(line)
	return n, ok && verb == "stop"
}

// ParseCommand reads a "warm N" or "stop N" line, optionally followed by
// the quiet period in milliseconds (0 when not given: the child uses
// Quiet).
func ParseCommand(line string) (verb string, n int64, quiet time.Duration, ok bool) {
	f := strings.Fields(line)
	if len(f) < 2 || len(f) > 3 || (f[0] != "stop" && f[0] != "warm") {
		return "", 0, 0, false
	}
	n, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil || n < 0 {
		return "", 0, 0, false
	}
	if len(f) == 3 {
		ms, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil || ms <= 0 {
			return "", 0, 0, false
		}
		quiet = time.Duration(ms) * time.Millisecond
	}
	return f[0], n, quiet, true
}
