package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/posting"
)

// traceparent is a W3C traceparent, version 00.
type traceparent struct {
	TraceID [16]byte
	SpanID  [8]byte // the parent-id field: the span of whoever sent it
	Flags   byte
}

func (t traceparent) String() string {
	return fmt.Sprintf("00-%x-%x-%02x", t.TraceID, t.SpanID, t.Flags)
}

// parseTraceparent reads a traceparent header value: version 00 exactly,
// and, as the specification asks, the first four fields of a later
// version. All-zero ids and version ff are invalid.
func parseTraceparent(s string) (traceparent, error) {
	var t traceparent
	if len(s) < 55 || s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return t, errors.New("traceparent: malformed")
	}
	ver, err := hex.DecodeString(s[0:2])
	if err != nil || ver[0] == 0xff || (ver[0] == 0 && len(s) != 55) || (len(s) > 55 && s[55] != '-') {
		return t, errors.New("traceparent: bad version")
	}
	if strings.ToLower(s[:55]) != s[:55] {
		return t, errors.New("traceparent: upper-case hex")
	}
	if _, err := hex.Decode(t.TraceID[:], []byte(s[3:35])); err != nil {
		return t, errors.New("traceparent: bad trace-id")
	}
	if _, err := hex.Decode(t.SpanID[:], []byte(s[36:52])); err != nil {
		return t, errors.New("traceparent: bad parent-id")
	}
	f, err := hex.DecodeString(s[53:55])
	if err != nil {
		return t, errors.New("traceparent: bad flags")
	}
	t.Flags = f[0]
	if t.TraceID == ([16]byte{}) || t.SpanID == ([8]byte{}) {
		return t, errors.New("traceparent: all-zero id")
	}
	return t, nil
}

// newTrace starts a trace: a random trace id and span id, sampled.
func newTrace() traceparent {
	var t traceparent
	rand.Read(t.TraceID[:])
	rand.Read(t.SpanID[:])
	t.Flags = 0x01
	return t
}

// child is a new span in the same trace.
func (t traceparent) child() traceparent {
	c := t
	rand.Read(c.SpanID[:])
	return c
}

func main() {
	serve := flag.Bool("serve", false, "be the server")
	url := flag.String("url", "", "channel URL (default: a multicast group on lo, on a port of its own)")
	flag.Parse()
	if *url == "" {
		*url = fmt.Sprintf("trace://239.255.7.7:%d?iface=lo", 20000+mrand.IntN(30000))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var err error
	switch {
	case *serve:
		err = runServer(ctx, *url, os.Stdout)
	case flag.NArg() == 0 && !isSet("url"):
		err = demo(ctx, *url)
	default:
		var r result
		r, err = runClient(ctx, *url)
		if err == nil {
			r.print(os.Stdout)
		}
	}
	if err != nil {
		log.Fatal(err)
	}
}

func isSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// demo starts this program again as the server, asks it, and stops it.
func demo(ctx context.Context, url string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	srv := exec.CommandContext(ctx, self, "-serve", "-url", url)
	srv.Stderr = os.Stderr
	out, err := srv.StdoutPipe()
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() {
		srv.Process.Signal(os.Interrupt)
		srv.Wait()
	}()
	lines := bufio.NewScanner(out)
	if !lines.Scan() || !strings.HasPrefix(lines.Text(), "ready") {
		return fmt.Errorf("the server did not start: %q", lines.Text())
	}
	fmt.Printf("server process %d: %s\n", srv.Process.Pid, lines.Text())
	go func() {
		for lines.Scan() {
			fmt.Printf("server process %d: %s\n", srv.Process.Pid, lines.Text())
		}
	}()
	r, err := runClient(ctx, url)
	if err != nil {
		return err
	}
	time.Sleep(50 * time.Millisecond) // let the server's line come out first
	r.print(os.Stdout)
	return nil
}

// runServer answers requests until ctx ends, printing a line per
// request: the traceparent it got and the child span it opened.
func runServer(ctx context.Context, url string, out io.Writer) error {
	ch, err := channel.Open(ctx, url)
	if err != nil {
		return err
	}
	defer ch.Close()
	err = ch.ServeName("work", func(ctx context.Context, req *posting.Posting) (*posting.Posting, error) {
		got, _ := req.Header("traceparent")
		parent, err := parseTraceparent(got)
		if err != nil {
			// No usable context: the server starts a trace of its own, as
			// the specification says a receiver should.
			parent = newTrace()
		}
		span := parent.child()
		fmt.Fprintf(out, "request traceparent=%s -> span %x\n", got, span.SpanID)
		rep := posting.New(fmt.Sprintf("did %v in span %x", req.Body, span.SpanID),
			posting.WithHeader("traceparent", span.String()))
		if ts, ok := req.Header("tracestate"); ok {
			rep.Headers = append(rep.Headers, posting.Header{Name: "tracestate", Value: ts})
		}
		return rep, nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "ready: serving \"work\" on %s as member %016x\n", url, ch.ID())
	<-ctx.Done()
	return nil
}

// result is what the client saw.
type result struct {
	Sent, Got  traceparent // on the request; on the reply
	State      string      // the reply's tracestate
	ServerSays string
}

func (r result) print(w io.Writer) {
	fmt.Fprintf(w, "client sent  traceparent %s\n", r.Sent)
	fmt.Fprintf(w, "client got   traceparent %s (tracestate %q)\n", r.Got, r.State)
	fmt.Fprintf(w, "same trace: %v; the reply's parent is the server's span, a child of ours: %v\n",
		r.Got.TraceID == r.Sent.TraceID, r.Got.SpanID != r.Sent.SpanID)
	fmt.Fprintf(w, "server says: %s\n", r.ServerSays)
}

// runClient starts a trace, asks the server with it, and checks the
// reply's trace context.
func runClient(ctx context.Context, url string) (result, error) {
	var r result
	ch, err := channel.Open(ctx, url)
	if err != nil {
		return r, err
	}
	defer ch.Close()
	r.Sent = newTrace()
	req := posting.New("the job",
		posting.WithHeader("traceparent", r.Sent.String()),
		posting.WithHeader("tracestate", "rwanda=demo"))
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rep, err := ch.PullName(ctx, "work", req)
	if err != nil {
		return r, err
	}
	tp, ok := rep.Header("traceparent")
	if !ok {
		return r, errors.New("the reply has no traceparent")
	}
	if r.Got, err = parseTraceparent(tp); err != nil {
		return r, fmt.Errorf("the reply's %w", err)
	}
	r.State, _ = rep.Header("tracestate")
	r.ServerSays, _ = rep.Body.(string)
	if r.Got.TraceID != r.Sent.TraceID {
		return r, fmt.Errorf("the reply is in trace %x, the request was in %x", r.Got.TraceID, r.Sent.TraceID)
	}
	if r.Got.SpanID == r.Sent.SpanID {
		return r, errors.New("the reply's parent is the client's own span, not a child")
	}
	return r, nil
}
