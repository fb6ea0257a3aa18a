package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/internal/testnet"
	"github.com/rwanda-go/rwanda/posting"
)

func TestUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), nil, &out, &errb); code != 2 || !strings.Contains(errb.String(), "-url is required") {
		t.Fatalf("exit %d, %q", code, errb.String())
	}
	if code := run(context.Background(), []string{"-url", "x://10.0.0.1:5"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "not a multicast") {
		t.Fatalf("exit %d, %q", code, errb.String())
	}
}

func TestRunsUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errb bytes.Buffer
	code := run(ctx, []string{"-url", "x://239.255.9.9:23456?iface=lo", "-listen", "127.0.0.1:0", "-stats", "0"}, &out, &errb)
	if code != 0 || !strings.Contains(out.String(), "relaying") || !strings.Contains(out.String(), "FromGroup") {
		t.Fatalf("exit %d, out %q, err %q", code, out.String(), errb.String())
	}
}

// startRun runs rwgateway with args until the test ends, and returns its
// stdout once it printed want.
func startRun(t *testing.T, want string, args ...string) *syncBuffer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, &out, &errb) }()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("exit %d: %s", code, errb.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), want) {
		select {
		case code := <-done:
			t.Fatalf("exit %d: %s", code, errb.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q in %q", want, out.String())
		}
		time.Sleep(5 * time.Millisecond) // polling its output
	}
	return &out
}

// syncBuffer is a goroutine-safe buffer.
type syncBuffer = testnet.Buffer

func group(id string) string {
	return fmt.Sprintf("x://239.255.%d.%d:%d?iface=lo&channel=%s", rand.IntN(256), 1+rand.IntN(254), 20000+rand.IntN(30000), id)
}

// TestDirectoryFlag: two channels relayed by one rwgateway, each on its
// own port; -dir asking either lists both.
func TestDirectoryFlag(t *testing.T) {
	u1, u2 := group("one"), group("two")
	p1, p2 := testnet.FreePort(t), testnet.FreePort(t)
	startRun(t, "relaying "+u2, "-url", u1, "-listen", fmt.Sprintf("127.0.0.1:%d", p1), "-url", u2, "-listen", fmt.Sprintf("127.0.0.1:%d", p2),
		"-advertise", "gw.example.net", "-stats", "0")
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"-dir", fmt.Sprintf("127.0.0.1:%d", p2)}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	want := fmt.Sprintf("%s\tgw.example.net:%d\n%s\tgw.example.net:%d\n", u1, p1, u2, p2)
	if out.String() != want {
		t.Fatalf("directory:\n%s\nwant\n%s", out.String(), want)
	}
	if code := run(context.Background(), []string{"-url", u1, "-url", u2, "-listen", ":1"}, &out, &errb); code != 2 {
		t.Fatalf("unpaired -listen: exit %d", code)
	}
}

// TestWSFlag: with -ws, rwgateway serves the script and, at /ws, the
// channel's postings through the member it opened: a posting pushed on
// the group reaches a WebSocket client; on a keyed channel, given the
// key with -key-file.
func TestWSFlag(t *testing.T) {
	for _, keyed := range []bool{false, true} {
		t.Run(fmt.Sprintf("keyed=%v", keyed), func(t *testing.T) { testWS(t, keyed) })
	}
}

func testWS(t *testing.T, keyed bool) {
	u := group("ws")
	addr := fmt.Sprintf("127.0.0.1:%d", testnet.FreePort(t))
	args := []string{"-url", u, "-listen", "127.0.0.1:0", "-ws", addr, "-stats", "0"}
	var mopts []channel.Option
	if keyed {
		key := bytes.Repeat([]byte{7}, 32)
		kf := filepath.Join(t.TempDir(), "key")
		if err := os.WriteFile(kf, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "-key-file", kf)
		mopts = append(mopts, channel.WithKey(key))
	}
	startRun(t, "browsers at", args...)
	resp, err := http.Get("http://" + addr + "/rwanda.js")
	if err != nil {
		t.Fatal(err)
	}
	js, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(js), "export") {
		t.Fatalf("/rwanda.js: %d, %d bytes", resp.StatusCode, len(js))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws://"+addr+"/ws?stream=chat", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	m, err := channel.Open(ctx, u, append(mopts, channel.WithAnnounceInterval(100*time.Millisecond))...)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	got := make(chan string, 1)
	go func() {
		_, data, err := conn.Read(ctx)
		if err == nil {
			got <- string(data)
		}
		close(got)
	}()
	// Push until the WebSocket client has one (the gateway's member must
	// first hear of the stream).
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := m.Push(ctx, posting.New("hello browsers", posting.WithStream("chat"), posting.WithMedia(posting.Text))); err != nil {
			t.Fatal(err)
		}
		select {
		case s := <-got:
			if !strings.Contains(s, "hello browsers") {
				t.Fatalf("message %q", s)
			}
			return
		case <-ctx.Done():
			t.Fatal("no posting reached the WebSocket client")
		case <-tick.C:
		}
	}
}
