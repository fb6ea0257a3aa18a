package channel

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/rwanda-go/rwanda/posting"
	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/transport"
)

var frameCmp = []cmp.Option{cmp.AllowUnexported(frame{}), cmpopts.EquateEmpty()}

// TestFramesRoundTrip: every frame type decodes to what was encoded.
func TestFramesRoundTrip(t *testing.T) {
	relay := stack.Meta{Media: posting.Video, Flags: stack.FlagDroppable | stack.FlagLeft | stack.FlagFrameEnd, Left: 33, Tag: &stack.Tag{Frame: 1 << 33, Key: "cam/1"}}
	b := appendDgramHeader(nil, 0xfeed)
	b = append(appendDataHeader(b, 0, 7, &relay, 3), "abc"...)
	b = appendDataHeader(b, 0xbeef, 1<<32-1, &stack.Meta{}, 0)
	b = append(appendFeedbackHeader(b, 0xbeef, 2, 2, false), 9, 8)
	b = append(appendFeedbackHeader(b, 0xbeef, 3, 1, true), 7)
	b = appendAnnounce(b, announcement{stream: 9, epoch: 2, target: 0xbeef, name: "video", qos: "frag/order", prev: 4, count: 1 << 40})
	b = appendAnnounce(b, announcement{stream: 10, name: "", qos: ""})
	b = appendQuery(b, 0xbeef, 0)
	b = appendHello(b, helloServes|helloAsk, time.Unix(0, 1234567))
	b = appendNonce(b, 0, 1<<63, nonceAsk)
	b = appendSeen(b, 0xbeef, 42)
	b = appendRefuse(b, 0xbeef, 5, "policy")
	want := []frame{
		{typ: frameData, stream: 7, relay: relay, payload: []byte("abc")},
		{typ: frameDataTo, target: 0xbeef, stream: 1<<32 - 1},
		{typ: frameFeedback, target: 0xbeef, stream: 2, payload: []byte{9, 8}},
		{typ: frameFeedbackTo, target: 0xbeef, stream: 3, payload: []byte{7}},
		{typ: frameAnnounce, stream: 9, epoch: 2, target: 0xbeef, flags: announceAddressed | announceFollows, name: []byte("video"), qos: []byte("frag/order"), prev: 4, count: 1 << 40},
		{typ: frameAnnounce, stream: 10},
		{typ: frameQuery, target: 0xbeef},
		{typ: frameHello, flags: helloServes | helloAsk, clock: 1234567},
		{typ: frameNonce, nonce: 1 << 63, flags: nonceAsk},
		{typ: frameSeen, target: 0xbeef, nonce: 42},
		{typ: frameRefuse, target: 0xbeef, stream: 5, payload: []byte("policy")},
	}
	sender, body, err := parseDgramHeader(b)
	if err != nil || sender != 0xfeed {
		t.Fatalf("header: sender %x, %v", sender, err)
	}
	got, err := readFrames(body)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got, frameCmp...); d != "" {
		t.Fatalf("frames (-want +got):\n%s", d)
	}
}

// TestFramesMalformed: a frame whose length or fields do not add up makes
// the datagram malformed; nothing reads past its frame.
func TestFramesMalformed(t *testing.T) {
	hello := appendHello(nil, 0, time.Unix(1, 0))
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"length past the end", []byte{frameHello, 20, 0}},
		{"length not minimal", append([]byte{frameHello, 0x89, 0x00}, hello[2:]...)},
		{"length cut off", []byte{frameHello, 0x80}},
		{"hello too long", append(append([]byte{frameHello, 10}, hello[2:]...), 0)},
		{"hello too short", append([]byte{frameHello, 8}, hello[2:10]...)},
		{"query with a tail", append(appendFrameHeader(nil, frameQuery, []byte{0, 0, 0, 0, 0, 0, 0, 1, 0}, 1), 7)},
		{"data stream 0", appendFrameHeader(nil, frameData, []byte{0, 0}, 0)},
		{"data without relay metadata", appendFrameHeader(nil, frameData, []byte{1}, 0)},
		{"data relay media 7", appendFrameHeader(nil, frameData, []byte{1, 7}, 0)},
		{"data_to target 0", appendFrameHeader(nil, frameDataTo, []byte{0, 0, 0, 0, 0, 0, 0, 0, 1, 0}, 0)},
		{"stream varint not minimal", appendFrameHeader(nil, frameData, []byte{0x81, 0x00, 0}, 0)},
		{"announce flags", appendFrameHeader(nil, frameAnnounce, []byte{1, 0, 0x80, 0}, 0)},
		{"announce name past the end", appendFrameHeader(nil, frameAnnounce, []byte{1, 0, 0, 5, 'a'}, 0)},
		{"announce follows itself", appendFrameHeader(nil, frameAnnounce, []byte{1, 0, announceFollows, 1, 0, 0}, 0)},
		{"hello flags", appendFrameHeader(nil, frameHello, append([]byte{0x80}, make([]byte, 8)...), 0)},
		{"nonce 0", appendNonce(nil, 0, 0, 0)},
		{"nonce flags", appendNonce(nil, 0, 1, 0x80)},
		{"nonce too short", appendFrameHeader(nil, frameNonce, make([]byte, 16), 0)},
		{"seen member 0", appendSeen(nil, 0, 1)},
		{"refuse stream 0", appendFrameHeader(nil, frameRefuse, []byte{0, 0, 0, 0, 0, 0, 0, 1, 0}, 0)},
		{"refuse reason too long", appendFrameHeader(nil, frameRefuse, append([]byte{0, 0, 0, 0, 0, 0, 0, 1, 1}, make([]byte, 256)...), 0)},
		{"seen with a tail", appendFrameHeader(nil, frameSeen, append(appendSeen(nil, 1, 1)[2:], 0), 0)},
	} {
		r := frameReader{b: tc.b}
		if _, err := r.next(new(frame)); !errors.Is(err, errMalformed) {
			t.Errorf("%s: %v, want malformed", tc.name, err)
		}
	}
}

// v1Hello is a version 1 datagram (the format before wire v2) from sender
// holding one HELLO frame: type, flags, clock, with no length.
func v1Hello(sender uint64) []byte {
	b := binary.BigEndian.AppendUint64([]byte{wireMagic, 1 << 4}, sender)
	b = append(b, frameHello, helloServes)
	return binary.BigEndian.AppendUint64(b, 1)
}

// TestWireV1Refused: a datagram of wire version 1 is refused, counted under
// "version-1" (not "malformed"), logged once naming the version, and
// nothing in it is acted on.
func TestWireV1Refused(t *testing.T) {
	var logs bytes.Buffer
	c := open(t, memURL(t), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	from := transport.IPAddr(netip.MustParseAddrPort("192.0.2.1:1"))
	c.receive(v1Hello(0x77), from)
	c.receive(v1Hello(0x77), from)
	st := c.Stats()
	if st.Drops["version-1"] != 2 || st.Drops["malformed"] != 0 {
		t.Fatalf("drops %v, want version-1: 2", st.Drops)
	}
	if len(st.Peers) != 0 {
		t.Fatalf("a v1 datagram made a member: %+v", st.Peers)
	}
	if n := strings.Count(logs.String(), "wire version 1; this build speaks version 2"); n != 1 {
		t.Fatalf("logged %d times, want once:\n%s", n, logs.String())
	}
	// The same HELLO in version 2 is taken.
	c.receive(appendHello(appendDgramHeader(nil, 0x77), helloServes, time.Unix(0, 1)), from)
	if st := c.Stats(); len(st.Peers) != 1 || !st.Peers[0].Serves {
		t.Fatalf("v2 hello: peers %+v", st.Peers)
	}
}

// TestUnknownFrameSkipped: a frame of a type this build does not know is
// skipped by its length and counted; the frames after it are read.
func TestUnknownFrameSkipped(t *testing.T) {
	c := open(t, memURL(t))
	from := transport.IPAddr(netip.MustParseAddrPort("192.0.2.1:1"))
	d := appendDgramHeader(nil, 0x78)
	d = appendFrameHeader(d, 0xc1, []byte("a future frame"), 0)
	d = appendFrameHeader(d, 0x7f, nil, 0) // empty, also unknown
	d = appendHello(d, helloServes, time.Unix(0, 1))
	c.receive(d, from)
	st := c.Stats()
	if st.Drops["unknown-frame"] != 2 || st.Drops["malformed"] != 0 {
		t.Fatalf("drops %v, want unknown-frame: 2", st.Drops)
	}
	if len(st.Peers) != 1 || !st.Peers[0].Serves {
		t.Fatalf("the HELLO after the unknown frames was not read: peers %+v", st.Peers)
	}
}

// TestBundlesHomogeneous: droppable packets share a datagram only with
// droppable packets of the same stream, frame and key; everything else
// shares freely, but never with droppable packets.
func TestBundlesHomogeneous(t *testing.T) {
	o, tap := newTapOutbox(t, 0xa)
	drop := func(frame uint64, key string) stack.Meta {
		return stack.Meta{Flags: stack.FlagDroppable, Tag: &stack.Tag{Frame: frame, Key: key}}
	}
	add := func(stream uint32, m stack.Meta) {
		o.add(everyone, bundleOf(stream, &m), appendDataHeader(nil, 0, stream, &m, 1), []byte{byte(stream)})
	}
	add(1, stack.Meta{})                                   // reliable, stream 1
	add(2, stack.Meta{})                                   // reliable, stream 2: same datagram
	add(1, drop(5, ""))                                    // droppable: a new datagram
	add(1, drop(5, ""))                                    // same stream and frame: shares it
	add(1, drop(6, ""))                                    // the next frame: a new one
	add(2, drop(6, ""))                                    // another stream: a new one
	add(2, drop(6, "k"))                                   // another key: a new one
	add(2, drop(6, "k"))                                   // shares
	add(3, stack.Meta{})                                   // not droppable: a new one
	o.add(everyone, bundle{}, appendQuery(nil, 9, 0), nil) // control shares with it
	o.flushNow(true)
	var shape [][]uint32
	for _, d := range tap.datagrams(t, 0xa) {
		var ids []uint32
		for _, f := range d {
			ids = append(ids, f.stream)
		}
		shape = append(shape, ids)
	}
	want := [][]uint32{{1, 2}, {1, 1}, {1}, {2}, {2, 2}, {3, 0}}
	if d := cmp.Diff(want, shape); d != "" {
		t.Fatalf("datagrams by stream (-want +got):\n%s", d)
	}
}

// TestRelayMetadataOnTheWire: a pushed posting's relay metadata (media,
// droppable, time left) is on its DATA frame, on every fragment.
func TestRelayMetadataOnTheWire(t *testing.T) {
	og, tap, _, _ := testOutgoing(t, 0xa, "frag")
	ctx := context.Background()
	// Best effort (no window): droppable; a TTL: time left.
	must(t, og.push(ctx, posting.New(make([]byte, 3000), posting.WithStream("v"), posting.WithMedia(posting.Video), posting.WithTTL(150*time.Millisecond)), 0))
	data := ofType(tap.frames(t, 0xa), frameData)
	if len(data) < 3 {
		t.Fatalf("%d data frames, want the posting in fragments", len(data))
	}
	for _, f := range data {
		m := f.relay
		if m.Media != posting.Video || m.Flags&stack.FlagDroppable == 0 || m.Flags&stack.FlagLeft == 0 || m.Left != 150 {
			t.Fatalf("relay metadata %+v: want video, droppable, 150 ms left", m)
		}
	}
}

// TestRelayMetadataReliable: a posting on a reliable stack, without a TTL,
// is not droppable and has no time left; with a TTL it is droppable.
func TestRelayMetadataReliable(t *testing.T) {
	og, tap, _, _ := testOutgoing(t, 0xa, "frag/window")
	ctx := context.Background()
	must(t, og.push(ctx, posting.New("keep", posting.WithStream("s")), 0))
	must(t, og.push(ctx, posting.New("may go", posting.WithStream("s"), posting.WithTTL(time.Second)), 0))
	data := ofType(tap.frames(t, 0xa), frameData)
	if len(data) != 2 {
		t.Fatalf("%d data frames", len(data))
	}
	if m := data[0].relay; m.Flags&(stack.FlagDroppable|stack.FlagLeft) != 0 {
		t.Fatalf("reliable posting: relay metadata %+v", m)
	}
	if m := data[1].relay; m.Flags&stack.FlagDroppable == 0 || m.Left != 1000 {
		t.Fatalf("posting with a TTL: relay metadata %+v", m)
	}
}

// TestRelayMetadataKeyAndFrame: a posting's latest-wins key, frame id and
// end marker are in the relay metadata of every one of its fragments, and
// arrive with the posting.
func TestRelayMetadataKeyAndFrame(t *testing.T) {
	og, tap, _, _ := testOutgoing(t, 0xa, "frag")
	ctx := context.Background()
	must(t, og.push(ctx, posting.New(make([]byte, 4000), posting.WithStream("v"), posting.WithMedia(posting.Video),
		posting.WithKey("cam/1"), posting.WithFrame(1<<40, true)), 0))
	data := ofType(tap.frames(t, 0xa), frameData)
	if len(data) < 3 {
		t.Fatalf("%d data frames, want the posting in fragments", len(data))
	}
	for _, f := range data {
		if m := f.relay; m.Key() != "cam/1" || m.Frame() != 1<<40 || m.Flags&stack.FlagFrameEnd == 0 || m.Media != posting.Video {
			t.Fatalf("relay metadata %+v", m)
		}
		if len(f.payload)+stack.RelayExtra(&f.relay) > og.mtu {
			t.Fatalf("fragment of %d bytes with %d bytes of key and frame id overflows the MTU %d", len(f.payload), stack.RelayExtra(&f.relay), og.mtu)
		}
	}
}

// TestNewFieldsEndToEnd: the wire v2 posting fields arrive through a real
// channel pair; a Cancel is never delivered as a message.
func TestNewFieldsEndToEnd(t *testing.T) {
	url := memURL(t)
	rx := open(t, url)
	tx := open(t, url, WithBlockingPush())
	sub, _ := rx.Subscribe()
	p := posting.New("x", posting.WithStream("s"), posting.WithKey("k"), posting.WithFrame(9, true),
		posting.WithHeader("traceparent", "00-abc-def-01"), posting.WithHeader("lang", "rw"))
	must(t, tx.Push(context.Background(), p))
	got := next(t, sub)
	if got.Key != "k" || got.Frame != 9 || !got.FrameEnd || len(got.Headers) != 2 {
		t.Fatalf("got %+v", got)
	}
	if v, _ := got.Header("traceparent"); v != "00-abc-def-01" {
		t.Fatalf("header %q", v)
	}
	cancel := posting.New(nil, posting.WithKind(posting.Cancel), posting.WithStream("s"))
	cancel.Correlation = 5
	must(t, tx.og.push(context.Background(), cancel, 0))
	must(t, tx.Push(context.Background(), posting.New("after", posting.WithStream("s"))))
	if got := next(t, sub); got.Body != "after" {
		t.Fatalf("got %+v, want the message after the cancel", got)
	}
	if n := rx.Stats().Drops["cancel"]; n != 1 {
		t.Fatalf("cancel counted %d times", n)
	}
}
