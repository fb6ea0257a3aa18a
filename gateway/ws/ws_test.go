package ws

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/go-cmp/cmp"
	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/posting"
	"github.com/rwanda-go/rwanda/stack"
)

func TestQueueRules(t *testing.T) {
	now := stack.ManualEpoch
	p := func(stream, key string, ttl time.Duration) *posting.Posting {
		return &posting.Posting{Sender: 1, Stream: stream, Key: key, TTL: ttl}
	}
	o := outq{max: 3}
	a, b := p("s", "cursor", 0), p("s", "cursor", 0)
	if !o.offer(a, time.Time{}, now) || !o.offer(b, time.Time{}, now) {
		t.Fatal("refused with room")
	}
	if len(o.q) != 1 || o.q[0].p != b || o.superseded != 1 {
		t.Fatalf("a newer posting with the same key: queue %v, superseded %d", o.q, o.superseded)
	}
	other := p("t", "cursor", 0) // another stream: not superseded
	o.offer(other, time.Time{}, now)
	soon := p("s", "", time.Second)
	o.offer(soon, now.Add(time.Second), now) // full now: b, other, soon
	// Full: an expired posting goes first.
	late := now.Add(2 * time.Second)
	fresh := p("s", "", time.Second)
	if !o.offer(fresh, late.Add(time.Second), late) || o.expired != 1 || len(o.q) != 3 {
		t.Fatalf("full with an expired posting: expired %d, queue %d", o.expired, len(o.q))
	}
	// Full, nothing expired: the oldest with a TTL goes.
	fresh2 := p("s", "", time.Second)
	if !o.offer(fresh2, late.Add(time.Second), late) || o.dropped != 1 {
		t.Fatalf("full: dropped %d", o.dropped)
	}
	got := o.take(nil)
	want := []*posting.Posting{b, other, fresh2}
	if len(got) != len(want) {
		t.Fatalf("queue %d postings, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].p != want[i] {
			t.Fatalf("queue[%d] is not the posting expected", i)
		}
	}
	// Full of postings without a TTL: refused (the client is too slow).
	for range 3 {
		o.offer(p("s", "", 0), time.Time{}, now)
	}
	if o.offer(p("s", "", 0), time.Time{}, now) {
		t.Fatal("a full queue without TTLs took another posting")
	}
	if len(o.q) != 3 {
		t.Fatalf("queue %d postings after a refusal", len(o.q))
	}
}

func TestEncodeDecode(t *testing.T) {
	sent := time.UnixMicro(1733363725123456)
	p := &posting.Posting{Sender: 0xabc, Seq: 7, Stream: "chat", Media: posting.Text, Sent: sent, TTL: 1500 * time.Millisecond,
		Key: "k", Frame: 1 << 60, FrameEnd: true, Headers: []posting.Header{{Name: "a", Value: "b"}}, Body: "hi"}
	b, err := encodePosting(p)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"sender": "abc", "seq": 7.0, "stream": "chat", "media": "text", "kind": "message",
		"sent": 1733363725123.456, "ttl": 1500.0, "key": "k", "frame": "1152921504606846976", "frameEnd": true,
		"headers": []any{map[string]any{"Name": "a", "Value": "b"}}, "text": "hi"}
	if d := cmp.Diff(want, m); d != "" {
		t.Fatalf("encoded (-want +got):\n%s", d)
	}
	// []byte bodies travel as base64; typed ones as JSON values.
	b, _ = encodePosting(&posting.Posting{Body: []byte{1, 2, 3}})
	if !strings.Contains(string(b), `"base64":"AQID"`) {
		t.Fatalf("bytes body: %s", b)
	}
	b, _ = encodePosting(&posting.Posting{Body: struct{ X int }{5}})
	if !strings.Contains(string(b), `"value":{"X":5}`) {
		t.Fatalf("typed body: %s", b)
	}
	// A client's message.
	q, ref, err := decodeMessage([]byte(`{"ref":3,"stream":"s","media":"audio","ttl":20,"key":"k","frame":"9","frameEnd":true,"base64":"AQID"}`))
	if err != nil {
		t.Fatal(err)
	}
	wantP := &posting.Posting{Stream: "s", Media: posting.Audio, TTL: 20 * time.Millisecond, Key: "k", Frame: 9, FrameEnd: true, Body: []byte{1, 2, 3}}
	if d := cmp.Diff(wantP, q); d != "" || ref == nil || *ref != 3 {
		t.Fatalf("decoded (-want +got):\n%s (ref %v)", d, ref)
	}
	for _, bad := range []string{`{`, `{"media":"smell"}`, `{"ttl":-1}`, `{"frame":"x"}`, `{"text":"a","base64":"AQID"}`,
		`{"base64":"!"}`, `{"frameEnd":true}`, `{"stream":"` + strings.Repeat("s", 300) + `"}`} {
		if _, _, err := decodeMessage([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}

func FuzzDecodeMessage(f *testing.F) {
	f.Add([]byte(`{"ref":3,"stream":"s","media":"audio","ttl":20,"key":"k","frame":"9","frameEnd":true,"base64":"AQID"}`))
	f.Add([]byte(`{"text":"hi","headers":[{"Name":"a","Value":"b"}]}`))
	f.Add([]byte(`{"ttl":1e300}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, _, err := decodeMessage(data)
		if err != nil {
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("decoded an invalid posting: %v", err)
		}
		if _, err := encodePosting(p); err != nil {
			t.Fatalf("a decoded posting does not encode: %v", err)
		}
	})
}

// serve starts a handler for ch on a test HTTP server and returns its
// WebSocket URL.
func serve(t *testing.T, ch *channel.Channel, opts ...Option) (*Handler, string) {
	h, err := New(ch, opts...)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		h.Close()
		srv.Close()
	})
	return h, "ws" + strings.TrimPrefix(srv.URL, "http")
}

func open(t *testing.T, url string, opts ...channel.Option) *channel.Channel {
	t.Helper()
	c, err := channel.Open(context.Background(), url, append([]channel.Option{channel.WithLinger(0)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip: postings pushed by a member reach a WebSocket client, and
// one the client sends reaches the member.
func roundTrip(t *testing.T, urlA, urlB string) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a := open(t, urlA, channel.WithQoS("reliable"))
	b := open(t, urlB, channel.WithQoS("reliable"))
	h, wsURL := serve(t, b)
	back, err := a.Subscribe(channel.Streams("reply"))
	if err != nil {
		t.Fatal(err)
	}
	conn, _, err := websocket.Dial(ctx, wsURL+"?stream=chat", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	for h.Stats().Clients == 0 {
		if ctx.Err() != nil {
			t.Fatal("the handler never counted the client")
		}
		time.Sleep(time.Millisecond) // polling the handler's state, not a clock
	}
	const n = 50
	go func() {
		for i := range n {
			a.Push(ctx, posting.New(fmt.Sprintf("m%d", i), posting.WithStream("chat"), posting.WithMedia(posting.Text)))
			a.Push(ctx, posting.New("not for it", posting.WithStream("other")))
		}
	}()
	for i := range n {
		_, data, err := conn.Read(ctx)
		if err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		var m outMsg
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		if m.Stream != "chat" || m.Text == nil || *m.Text != fmt.Sprintf("m%d", i) || m.Sender != fmt.Sprintf("%x", a.ID()) {
			t.Fatalf("message %d: %s", i, data)
		}
	}
	body := base64.StdEncoding.EncodeToString([]byte("from the browser"))
	if err := conn.Write(ctx, websocket.MessageText, []byte(`{"ref":1,"stream":"reply","media":"text","base64":"`+body+`"}`)); err != nil {
		t.Fatal(err)
	}
	_, data, err := conn.Read(ctx)
	if err != nil || string(data) != `{"ack":1}` {
		t.Fatalf("answer %s, %v; want the ack", data, err)
	}
	p, err := back.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := p.Body.([]byte); string(s) != "from the browser" || p.Sender != b.ID() {
		t.Fatalf("member got %q from %x", p.Body, p.Sender)
	}
	// A bad message is answered, counted, and does not end the client.
	conn.Write(ctx, websocket.MessageText, []byte(`{"ref":2,"media":"smell"}`))
	_, data, _ = conn.Read(ctx)
	if !strings.Contains(string(data), `"ref":2`) || !strings.Contains(string(data), "smell") {
		t.Fatalf("answer to a bad message: %s", data)
	}
	if st := h.Stats(); st.Rejected != 1 || st.Pushed != 1 || st.Sent < n {
		t.Fatalf("stats %+v", st)
	}
	// Closing the handler ends the client with "going away" (Close waits
	// for the close handshake, which the client's read answers).
	closed := make(chan error)
	go func() { closed <- h.Close() }()
	if _, _, err := conn.Read(ctx); websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Fatalf("after Close: %v", err)
	}
	<-closed
	if st := h.Stats(); st.Clients != 0 {
		t.Fatalf("%d clients after Close", st.Clients)
	}
}

func TestRoundTripMem(t *testing.T) {
	u := fmt.Sprintf("mem://ws-%d", rand.Uint64())
	roundTrip(t, u, u)
}

// TestRoundTripMulticast is the same over real multicast sockets on
// loopback: the handler is a member like any other.
func TestRoundTripMulticast(t *testing.T) {
	u := fmt.Sprintf("test://239.255.%d.%d:%d?iface=lo", rand.IntN(256), 1+rand.IntN(254), 20000+rand.IntN(30000))
	roundTrip(t, u, u)
}

func TestBadFilter(t *testing.T) {
	b := open(t, fmt.Sprintf("mem://ws-%d", rand.Uint64()))
	_, wsURL := serve(t, b)
	for _, q := range []string{"?media=smell", "?sender=xyz"} {
		_, resp, err := websocket.Dial(context.Background(), wsURL+q, nil)
		if err == nil || resp == nil || resp.StatusCode != 400 {
			t.Errorf("%s: %v, %v; want 400", q, resp, err)
		}
	}
}

// TestSlowClient: a client that does not read, offered postings without a
// TTL faster than its connection drains, is disconnected and counted, not
// silently thinned.
func TestSlowClient(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u := fmt.Sprintf("mem://ws-%d", rand.Uint64())
	a := open(t, u, channel.WithQoS("reliable"), channel.WithBlockingPush())
	b := open(t, u, channel.WithQoS("reliable"))
	h, wsURL := serve(t, b, WithQueue(4))
	conn, _, err := websocket.Dial(ctx, wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	for h.Stats().Clients == 0 && ctx.Err() == nil {
		time.Sleep(time.Millisecond) // polling the handler's state
	}
	body := make([]byte, 16<<10)
	for h.Stats().Slow == 0 {
		if ctx.Err() != nil {
			t.Fatalf("never disconnected: %+v", h.Stats())
		}
		if err := a.Push(ctx, posting.New(body)); err != nil {
			t.Fatal(err)
		}
	}
	if st := h.Stats(); st.Dropped != 0 || st.Expired != 0 {
		t.Fatalf("postings without a TTL were thinned: %+v", st)
	}
}
