package browsertest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/gateway/ws"
	"github.com/rwanda-go/rwanda/posting"
)

// browser returns the path of an installed Chromium, or skips (fails when
// CI=true: CI must have it).
func browser(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no chromium installed; .ci/run installs Debian's chromium package")
	}
	t.Skip("no chromium installed (apt-get install chromium)")
	return ""
}

// pair opens two members of a fresh multicast group on loopback: one to
// push and read, one to serve the browsers (the gateway's channel).
func pair(t *testing.T, ctx context.Context) (member, gw *channel.Channel) {
	t.Helper()
	u := fmt.Sprintf("test://239.255.%d.%d:%d?iface=lo", rand.IntN(256), 1+rand.IntN(254), 20000+rand.IntN(30000))
	open := func() *channel.Channel {
		c, err := channel.Open(ctx, u, channel.WithQoS("reliable"), channel.WithLinger(0))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	return open(), open()
}

// showPage opens url in headless Chromium (exe) and waits for the page to
// set window.ready; it returns the page's context.
func showPage(t *testing.T, ctx context.Context, exe, url string) context.Context {
	t.Helper()
	actx, acancel := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU)...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(bcancel)
	if _, err := chromedp.Run(bctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("page: %v", err)
	}
	if _, err := chromedp.Run(bctx, chromedp.Poll[bool]("window.ready === true")); err != nil {
		t.Fatalf("page not ready: %v", err)
	}
	return bctx
}

// waitClients waits until h serves a client.
func waitClients(t *testing.T, ctx context.Context, h *ws.Handler) {
	t.Helper()
	for h.Stats().Clients == 0 {
		if ctx.Err() != nil {
			t.Fatalf("the page never connected (handler %+v)", h.Stats())
		}
		time.Sleep(time.Millisecond) // polling the handler's state
	}
}

const page = `<!doctype html>
<title>rwanda browser test</title>
<script type="module">
import { Channel } from "/rwanda.js";
window.got = [];
const ch = await Channel.open("ws://" + location.host + "/ws?stream=live");
ch.onposting = async (p) => {
  window.got.push(p.text);
  if (window.got.length === %d) {
    await ch.push({ stream: "back", media: "text", text: "page saw " + window.got.join(",") });
    window.pushed = true;
  }
};
window.ready = true;
</script>`

// TestBrowserWebSocket: a page in headless Chromium receives a stream
// through the gateway's WebSocket side, using the JS client module, and
// sends a posting back, which a member on real multicast (loopback) gets.
func TestBrowserWebSocket(t *testing.T) {
	exe := browser(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	member, gw := pair(t, ctx)
	h, err := ws.New(gw)
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	mux := http.NewServeMux()
	mux.Handle("/ws", h)
	mux.Handle("/rwanda.js", h.ScriptHandler())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, page, n)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer h.Close()
	back, err := member.Subscribe(channel.Streams("back"))
	if err != nil {
		t.Fatal(err)
	}

	bctx := showPage(t, ctx, exe, srv.URL+"/")
	waitClients(t, ctx, h)
	var want []string
	for i := range n {
		want = append(want, fmt.Sprintf("m%d", i))
		if err := member.Push(ctx, posting.New(want[i], posting.WithStream("live"), posting.WithMedia(posting.Text))); err != nil {
			t.Fatal(err)
		}
	}
	p, err := back.Next(ctx)
	if err != nil {
		t.Fatalf("no posting back from the page: %v (handler %+v)", err, h.Stats())
	}
	if got, _ := p.Body.(string); got != "page saw "+strings.Join(want, ",") {
		t.Fatalf("the page sent %q", p.Body)
	}
	if p.Sender != gw.ID() || p.Stream != "back" || p.Media != posting.Text {
		t.Fatalf("posting back: sender %x stream %q media %v", p.Sender, p.Stream, p.Media)
	}
	if pushed, err := chromedp.Run(bctx, chromedp.Poll[bool]("window.pushed === true")); err != nil || !pushed {
		t.Fatalf("the page's push was not acknowledged: %v", err)
	}
}

const reconnectPage = `<!doctype html>
<title>rwanda reconnect test</title>
<script type="module">
import { Channel } from "/rwanda.js";
window.got = [];
window.closes = 0;
window.reconnects = 0;
const ch = await Channel.open("ws://" + location.host + "/ws?stream=live", { reconnect: true });
ch.onposting = (p) => { window.got.push(p.text); };
ch.onclose = () => { window.closes++; };
ch.onreconnect = async () => {
  window.reconnects++;
  await ch.push({ stream: "back", media: "text", text: "back after " + window.got.join(",") });
  window.pushed = true;
};
window.ready = true;
</script>`

// TestBrowserReconnect: a page that opened its channel with { reconnect:
// true } is disconnected when the gateway's WebSocket side closes (as when
// it restarts), connects again by itself to the handler that replaces it,
// pushes on the new connection, and receives what is sent after.
func TestBrowserReconnect(t *testing.T) {
	exe := browser(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	member, gw := pair(t, ctx)
	newHandler := func() *ws.Handler {
		h, err := ws.New(gw)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		return h
	}
	var cur atomic.Pointer[ws.Handler]
	first := newHandler()
	cur.Store(first)
	mux := http.NewServeMux()
	mux.Handle("/ws", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { cur.Load().ServeHTTP(w, r) }))
	mux.Handle("/rwanda.js", first.ScriptHandler())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, reconnectPage)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	back, err := member.Subscribe(channel.Streams("back"))
	if err != nil {
		t.Fatal(err)
	}

	bctx := showPage(t, ctx, exe, srv.URL+"/")
	waitClients(t, ctx, first)
	push := func(text string) {
		t.Helper()
		if err := member.Push(ctx, posting.New(text, posting.WithStream("live"), posting.WithMedia(posting.Text))); err != nil {
			t.Fatal(err)
		}
	}
	push("before")
	if _, err := chromedp.Run(bctx, chromedp.Poll[bool](`window.got.length === 1`)); err != nil {
		t.Fatalf("the page got nothing before the restart: %v", err)
	}

	// The gateway's WebSocket side "restarts": the old handler closes its
	// clients, a new one serves /ws.
	second := newHandler()
	cur.Store(second)
	first.Close()
	waitClients(t, ctx, second)
	p, err := back.Next(ctx)
	if err != nil {
		t.Fatalf("no posting back from the page after it reconnected: %v (handler %+v)", err, second.Stats())
	}
	if got, _ := p.Body.(string); got != "back after before" {
		t.Fatalf("the page sent %q", p.Body)
	}
	push("after")
	if _, err := chromedp.Run(bctx, chromedp.Poll[bool](`window.got.length === 2 && window.got[1] === "after"`)); err != nil {
		t.Fatalf("the page got nothing after it reconnected: %v", err)
	}
	closes, err := chromedp.Run(bctx, chromedp.Evaluate[int](`window.closes`))
	if err != nil {
		t.Fatal(err)
	}
	reconnects, err := chromedp.Run(bctx, chromedp.Evaluate[int](`window.reconnects`))
	if err != nil {
		t.Fatal(err)
	}
	if closes != 1 || reconnects != 1 {
		t.Fatalf("the page saw %d closes and %d reconnections, want 1 and 1", closes, reconnects)
	}
}
