package main

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/rwanda-go/rwanda/internal/rwcli"
	"github.com/rwanda-go/rwanda/internal/testnet"
)

// safeBuffer is a goroutine-safe buffer.
type safeBuffer = testnet.Buffer

// TestPubSubOverNATS: this rw opens +nats URLs (the core module's rw
// refuses them: the transport is not registered there). A nats-server on
// loopback; rw sub waits for three postings on a subject and prints
// them, rw pub pushes them.
func TestPubSubOverNATS(t *testing.T) {
	testnet.CheckGoroutines(t)
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready within 10s")
	}
	url := fmt.Sprintf("rwt+nats://127.0.0.1:%d/lesson?channel=lesson", srv.Addr().(*net.TCPAddr).Port)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errb safeBuffer
	done := make(chan int, 1)
	go func() {
		done <- rwcli.Run(ctx, []string{"sub", url, "--count", "3"}, strings.NewReader(""), &out, &errb)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(errb.String(), "listening on") {
		select {
		case code := <-done:
			t.Fatalf("rw sub exited %d: %s", code, errb.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("rw sub did not start: %s", errb.String())
		}
		time.Sleep(5 * time.Millisecond) // polling rw sub's progress line
	}
	var pout, perr safeBuffer
	if code := rwcli.Run(ctx, []string{"pub", url, "hello {n}", "--count", "3"}, strings.NewReader(""), &pout, &perr); code != 0 {
		t.Fatalf("rw pub: exit %d: %s", code, perr.String())
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("rw sub: exit %d: %s", code, errb.String())
		}
	case <-ctx.Done():
		t.Fatalf("rw sub got: %q; %s", out.String(), errb.String())
	}
	for _, want := range []string{"hello 1", "hello 2", "hello 3"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("rw sub printed %q, want %q in it", out.String(), want)
		}
	}
}
