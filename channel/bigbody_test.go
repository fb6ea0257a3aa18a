package channel

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/layers/frag"
	"github.com/rwanda-go/rwanda/posting"
)

// TestPushSixteenMiBBody: a body of exactly the default WithMaxPosting
// (16 MiB) is pushed on a default channel, and on compress's stack, and
// received whole, with the largest header a posting can have: the header
// does not eat into the limit, neither Push's nor frag's nor compress's. What the test allocates stays within
// 16 times the body: the body and its encoding, the fragments' buffers,
// the send queue growing to take them (about 80 MiB on mem://), the
// reassembled parcel.
func TestPushSixteenMiBBody(t *testing.T) {
	for _, qos := range []string{DefaultQoS, "compress/reliable"} { // the default, and the text profile's stack
		t.Run(qos, func(t *testing.T) { pushSixteenMiB(t, qos) })
	}
}

func pushSixteenMiB(t *testing.T, qos string) {
	url := memURL(t)
	a, b := open(t, url, WithQoS(qos)), open(t, url)
	sub, _ := b.Subscribe()
	body := make([]byte, defaultMaxPosting)
	for i := range body {
		body[i] = byte(i * 7)
	}
	p := largestHeader(body)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	must(t, a.Push(context.Background(), p))
	got := next(t, sub)
	runtime.ReadMemStats(&after)
	if b, _ := got.Body.([]byte); !bytes.Equal(b, body) || len(got.Headers) != len(p.Headers) || got.Key != p.Key {
		t.Fatalf("received a body of %d bytes, %d headers", len(b), len(got.Headers))
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("a %d-byte body pushed and received: %.1f MiB allocated", len(body), float64(alloc)/(1<<20))
	if alloc > 16*defaultMaxPosting {
		t.Fatalf("allocated %.1f MiB for a 16 MiB body", float64(alloc)/(1<<20))
	}
}

// largestHeader returns a posting with body and the largest header a
// posting can have: the longest stream name and key, 32 application headers
// of 4096 bytes in all, every number at its widest.
func largestHeader(body any) *posting.Posting {
	p := posting.New(body, posting.WithStream(strings.Repeat("s", posting.MaxStreamLen)), posting.WithKey(strings.Repeat("k", posting.MaxKeyLen)))
	for i := range posting.MaxHeaders {
		name := fmt.Sprintf("h%02d", i)
		p.Headers = append(p.Headers, posting.Header{Name: name, Value: strings.Repeat("v", posting.MaxHeaderBytes/posting.MaxHeaders-len(name))})
	}
	p.Correlation, p.ReplyTo, p.Frame = 1<<64-1, 1<<64-1, 1<<64-1
	return p
}

// TestPostingHeaderWithinAllowance: frag's header allowance covers the
// largest posting header (every field at its longest, a 255-byte type
// name) with room for the layers above frag.
func TestPostingHeaderWithinAllowance(t *testing.T) {
	p := largestHeader(posting.Raw{Type: strings.Repeat("t", posting.MaxTypeNameLen), Data: []byte{0xc0}})
	p.Kind, p.TTL, p.ReplyWithin, p.Seq, p.Sender = posting.Request, 1<<62, 1<<62, 1<<64-1, 1<<64-1
	p.Sent = time.Unix(0, 1<<62)
	enc, err := p.AppendBinary(nil)
	must(t, err)
	hdr := len(enc) - 1 // all but the msgpack nil
	t.Logf("largest posting header: %d bytes; frag allows %d", hdr, frag.HeaderAllowance)
	if hdr > frag.HeaderAllowance-1024 {
		t.Fatalf("a posting header of %d bytes leaves less than 1 KiB of frag's %d for the layers above", hdr, frag.HeaderAllowance)
	}
}

// TestTooLargeNamesTheLimit: a body over the limit is refused with an
// error wrapping ErrTooLarge that names the limit and how to raise it —
// WithMaxPosting, or frag(max=...) when the stream's frag has the lower
// limit. A body of exactly the limit, with the largest header, goes
// through; typed bodies count their encoding.
func TestTooLargeNamesTheLimit(t *testing.T) {
	ctx := context.Background()
	url := memURL(t)
	def := open(t, url)
	err := def.Push(ctx, posting.New(make([]byte, defaultMaxPosting+1)))
	for _, want := range []string{"16777217", "16777216", "WithMaxPosting", "frag(max=...)"} {
		if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), want) {
			t.Fatalf("a body one byte over 16 MiB: %v; want ErrTooLarge naming %q", err, want)
		}
	}
	t.Logf("default channel: %v", err)

	small := open(t, url, WithMaxPosting(64<<10))
	sub, _ := open(t, url).Subscribe()
	must(t, small.Push(ctx, largestHeader(make([]byte, 64<<10))))
	if p := next(t, sub); len(p.Body.([]byte)) != 64<<10 {
		t.Fatalf("received %d bytes", len(p.Body.([]byte)))
	}
	err = small.Push(ctx, posting.New(make([]byte, 64<<10+1)))
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "65536") || !strings.Contains(err.Error(), "WithMaxPosting") {
		t.Fatalf("a body one byte over WithMaxPosting(64KiB): %v", err)
	}
	err = small.Push(ctx, posting.New(chat{Text: strings.Repeat("x", 64<<10)}))
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "WithMaxPosting") {
		t.Fatalf("a typed body over WithMaxPosting(64KiB): %v", err)
	}

	fragged := open(t, url, WithQoS("frag(max=1MiB)/order/window"))
	err = fragged.Push(ctx, posting.New(make([]byte, 1<<20+1)))
	for _, want := range []string{"1048577", "1048576", "frag(max=...)", "frag(max=1MiB)/order/window", "16777216"} {
		if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), want) {
			t.Fatalf("a body one byte over frag's max: %v; want ErrTooLarge naming %q", err, want)
		}
	}
	t.Logf("frag(max=1MiB): %v", err)
	must(t, fragged.Push(ctx, posting.New(make([]byte, 1<<20))))
	if n := len(fragged.Stats().Streams); n != 1 {
		t.Fatalf("%d streams", n)
	}
}
