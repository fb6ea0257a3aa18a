package main

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary be the server process: the test starts
// it again with TRACEPARENT_SERVE set to the channel's URL.
func TestMain(m *testing.M) {
	if url := os.Getenv("TRACEPARENT_SERVE"); url != "" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := runServer(ctx, url, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestTraceparentAcrossProcesses: a traceparent set by the client in
// this process reaches the server in another process unchanged, and the
// server's child span comes back in the reply.
func TestTraceparentAcrossProcesses(t *testing.T) {
	url := fmt.Sprintf("trace://239.255.%d.%d:%d?iface=lo", rand.IntN(256), 1+rand.IntN(254), 20000+rand.IntN(30000))
	srv := exec.Command(os.Args[0])
	srv.Env = append(os.Environ(), "TRACEPARENT_SERVE="+url)
	srv.Stderr = os.Stderr
	out, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		srv.Process.Signal(os.Interrupt)
		srv.Wait()
	}()
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func() string {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the server process ended")
			}
			return l
		case <-time.After(30 * time.Second):
			t.Fatal("the server process said nothing")
		}
		return ""
	}
	if l := next(); !strings.HasPrefix(l, "ready") {
		t.Fatalf("server: %q", l)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := runClient(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	// What the server process saw: exactly the client's traceparent, and
	// the span it opened, which is the reply's parent.
	want := fmt.Sprintf("request traceparent=%s -> span %x", r.Sent, r.Got.SpanID)
	if l := next(); l != want {
		t.Fatalf("server printed %q\nwant %q", l, want)
	}
	if r.Got.TraceID != r.Sent.TraceID || r.Got.Flags != r.Sent.Flags || r.State != "rwanda=demo" {
		t.Fatalf("reply context %+v", r)
	}
	if !strings.Contains(r.ServerSays, fmt.Sprintf("%x", r.Got.SpanID)) {
		t.Fatalf("server says %q", r.ServerSays)
	}
}

func TestParseTraceparent(t *testing.T) {
	const ok = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	tp, err := parseTraceparent(ok)
	if err != nil || tp.String() != ok || tp.Flags != 1 {
		t.Fatalf("%v %v", tp, err)
	}
	if c := tp.child(); c.TraceID != tp.TraceID || c.SpanID == tp.SpanID {
		t.Fatalf("child %v of %v", c, tp)
	}
	for _, bad := range []string{
		"", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", // short
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01",   // zero trace id
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",   // zero span id
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   // version ff
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",   // upper case
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", // 00 with more
		"00-4bf92f3577b34da6a3ce929d0e0e473z-00f067aa0ba902b7-01",   // not hex
	} {
		if _, err := parseTraceparent(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	// A later version with more fields: its first four are read.
	if _, err := parseTraceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-whatever"); err != nil {
		t.Errorf("version 01: %v", err)
	}
}
