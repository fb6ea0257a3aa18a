package posting_test

import (
	"bytes"
	"encoding"
	"encoding/hex"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rwanda-go/rwanda/posting"
	"github.com/vmihailenco/msgpack/v5"
)

var (
	_ encoding.BinaryAppender    = (*posting.Posting)(nil)
	_ encoding.BinaryMarshaler   = (*posting.Posting)(nil)
	_ encoding.BinaryUnmarshaler = (*posting.Posting)(nil)
	_ encoding.TextMarshaler     = posting.Media(0)
	_ encoding.TextUnmarshaler   = (*posting.Media)(nil)
)

// roundTrip encodes p, decodes it, checks the result against want, and
// checks that re-encoding the result reproduces the bytes.
func roundTrip(t *testing.T, p, want *posting.Posting) []byte {
	t.Helper()
	b, err := p.MarshalBinary()
	if err != nil {
		t.Fatalf("MarshalBinary(%v): %v", p, err)
	}
	got, err := posting.Decode(b)
	if err != nil {
		t.Fatalf("Decode(%x): %v", b, err)
	}
	if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
		t.Fatalf("round trip mismatch (-want +got):\n%s", diff)
	}
	var q posting.Posting
	if err := q.UnmarshalBinary(b); err != nil {
		t.Fatalf("UnmarshalBinary: %v", err)
	}
	if diff := cmp.Diff(want, &q, cmpOpts); diff != "" {
		t.Fatalf("UnmarshalBinary mismatch (-want +got):\n%s", diff)
	}
	b2, err := got.AppendBinary([]byte("prefix"))
	if err != nil {
		t.Fatalf("re-encode: %v", err)
	}
	if !bytes.Equal(b2[len("prefix"):], b) || string(b2[:len("prefix")]) != "prefix" {
		t.Fatalf("re-encoding differs:\n first %x\nsecond %x", b, b2)
	}
	return b
}

func TestRoundTripBodies(t *testing.T) {
	big := make([]byte, 64<<10)
	for i := range big {
		big[i] = byte(i * 7)
	}
	c := chat{From: "ann", Text: "hello", N: -3}
	tests := []struct {
		name string
		body any
		want any // defaults to body
	}{
		{"nil", nil, nil},
		{"empty bytes", []byte{}, nil},
		{"nil bytes", []byte(nil), []byte{}},
		{"bytes", []byte("hello"), nil},
		{"64KiB bytes", big, nil},
		{"empty string", "", nil},
		{"string", "héllo\x00\xff", nil},
		{"registered T", c, nil},
		{"registered *T", &c, nil},
		{"registered zero T", chat{}, nil},
		{"registered nil *T", (*chat)(nil), nil},
		{"bool", true, nil},
		{"int", math.MinInt, nil},
		{"int64", int64(math.MaxInt64), nil},
		{"uint64", uint64(math.MaxUint64), nil},
		{"float64", math.Pi, nil},
		{"NaN", math.NaN(), nil},
		{"*int", ptr(7), nil},
		{"[]string", []string{"a", "", "c"}, nil},
		{"nil []string", []string(nil), nil},
		{"map[string]any", map[string]any{"a": "x", "b": true, "c": []any{"y", nil}}, nil},
		{"[]any", []any{"x", false, map[string]any{"k": "v"}, []byte("z"), nil}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.want
			if want == nil {
				want = tt.body
			}
			p := &posting.Posting{Stream: "s", Seq: 1, Body: tt.body}
			roundTrip(t, p, &posting.Posting{Stream: "s", Seq: 1, Body: want})
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestDecodedBytesAreCopied(t *testing.T) {
	p := &posting.Posting{Stream: "stream", Body: []byte("body")}
	b, _ := p.MarshalBinary()
	q, err := posting.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 0xAA
	}
	if q.Stream != "stream" || string(q.Body.([]byte)) != "body" {
		t.Errorf("decoded posting aliases its input: %v", q)
	}

	// Same for Raw data and registered values.
	p = &posting.Posting{Body: unreg{A: 1, B: "b", C: []byte("c")}}
	b, _ = p.MarshalBinary()
	q, _ = posting.Decode(b)
	raw := q.Body.(posting.Raw)
	want := append([]byte(nil), raw.Data...)
	for i := range b {
		b[i] = 0xAA
	}
	if !bytes.Equal(raw.Data, want) {
		t.Error("Raw.Data aliases the input")
	}
}

func TestUnregisteredBecomesRaw(t *testing.T) {
	for _, pointer := range []bool{false, true} {
		u := unreg{A: 5, B: "bee", C: []byte{1, 2}}
		var body any = u
		if pointer {
			body = &u
		}
		b, err := (&posting.Posting{Body: body}).MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		p, err := posting.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		raw, ok := p.Body.(posting.Raw)
		if !ok {
			t.Fatalf("body is %T, want posting.Raw", p.Body)
		}
		if raw.Type != "posting_test.unreg" || raw.Pointer != pointer || !errors.Is(raw.Err, posting.ErrNotRegistered) {
			t.Errorf("Raw = {Type %q, Pointer %v, Err %v}", raw.Type, raw.Pointer, raw.Err)
		}
		var back unreg
		if err := raw.Decode(&back); err != nil {
			t.Fatalf("Raw.Decode: %v", err)
		}
		if diff := cmp.Diff(u, back); diff != "" {
			t.Errorf("Raw.Decode mismatch (-want +got):\n%s", diff)
		}
		// A Raw body is forwarded verbatim, as a value or a pointer.
		for _, fwd := range []any{raw, &raw} {
			b2, err := (&posting.Posting{Body: fwd}).MarshalBinary()
			if err != nil || !bytes.Equal(b, b2) {
				t.Errorf("forwarding %T: %x, %v; want %x", fwd, b2, err, b)
			}
		}
	}
}

func TestRawDecodeErrors(t *testing.T) {
	var c chat
	if err := (posting.Raw{}).Decode(&c); err == nil {
		t.Error("Decode of empty data succeeded")
	}
	if err := (posting.Raw{Data: []byte{0x01, 0x02}}).Decode(new(int)); err == nil {
		t.Error("Decode with trailing bytes succeeded")
	}
	if err := (posting.Raw{Data: []byte{0x01}}).Decode(c); err == nil {
		t.Error("Decode into a non-pointer succeeded")
	}
	var n int
	if err := (posting.Raw{Data: []byte{0x05}}).Decode(&n); err != nil || n != 5 {
		t.Errorf("Decode = %d, %v", n, err)
	}
}

func TestRegisteredMismatchBecomesRaw(t *testing.T) {
	tests := []struct {
		name    string
		body    posting.Raw
		wantErr string
	}{
		// A chat-shaped map with a string N does not decode as counter.
		{"wrong field type", rawOf(t, "test.counter", map[string]any{"N": "not a number"}), "test.counter"},
		{"not a map", rawOf(t, "test.chat", 42), "test.chat"},
		{"trailing bytes", posting.Raw{Type: "int", Data: []byte{0x01, 0x02}}, "trailing"},
		{"empty", posting.Raw{Type: "test.chat", Data: []byte{}}, "cut short"},
		{"truncated", posting.Raw{Type: "[]string", Data: []byte{0x92, 0xa1, 'a'}}, "cut short"},
		{"huge array", posting.Raw{Type: "[]interface {}", Data: []byte{0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0}}, "declares 4294967295 items"},
		{"huge map", posting.Raw{Type: "map[string]interface {}", Data: []byte{0xdf, 0xff, 0xff, 0xff, 0xff, 0xc0}}, "declares 8589934590 items"},
		{"huge string slice", posting.Raw{Type: "[]string", Data: []byte{0xdc, 0xff, 0xff, 0xc0}}, "declares 65535 items"},
		{"too deep", posting.Raw{Type: "[]interface {}", Data: append(bytes.Repeat([]byte{0x91}, 10001), 0xc0)}, "deeper than 10000"},
		{"reserved byte", posting.Raw{Type: "int", Data: []byte{0xc1}}, "0xc1"},
		{"decodes but wrong type", posting.Raw{Type: "int", Data: []byte{0xa1, 'x'}}, "int"},
		{"pointer", posting.Raw{Type: "test.chat", Data: []byte{0x01}, Pointer: true}, "test.chat"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := (&posting.Posting{Body: tt.body}).MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			p, err := posting.Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			raw, ok := p.Body.(posting.Raw)
			if !ok {
				t.Fatalf("body is %T (%v), want posting.Raw", p.Body, p.Body)
			}
			if raw.Err == nil || errors.Is(raw.Err, posting.ErrNotRegistered) || !strings.Contains(raw.Err.Error(), tt.wantErr) {
				t.Errorf("Raw.Err = %v, want a decode error mentioning %q", raw.Err, tt.wantErr)
			}
			if raw.Type != tt.body.Type || !bytes.Equal(raw.Data, tt.body.Data) || raw.Pointer != tt.body.Pointer {
				t.Errorf("Raw = %+v, want %+v", raw, tt.body)
			}
		})
	}
}

// rawOf returns a Raw holding the msgpack encoding of v under name.
func rawOf(t *testing.T, name string, v any) posting.Raw {
	t.Helper()
	b, err := (&posting.Posting{Body: v}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	n, err := posting.HeaderLen(b)
	if err != nil {
		t.Fatal(err)
	}
	return posting.Raw{Type: name, Data: b[n:]}
}

func TestHeaderEdges(t *testing.T) {
	epoch := time.Unix(0, 0)
	tests := []struct {
		name string
		p    posting.Posting
	}{
		{"zero", posting.Posting{}},
		{"seq 1", posting.Posting{Seq: 1}},
		{"seq 127", posting.Posting{Seq: 127}},
		{"seq 128", posting.Posting{Seq: 128}},
		{"seq max", posting.Posting{Seq: math.MaxUint64}},
		{"sender 1", posting.Posting{Sender: 1}},
		{"sender max", posting.Posting{Sender: math.MaxUint64}},
		{"sent epoch", posting.Posting{Sent: epoch}},
		{"sent -1ns", posting.Posting{Sent: time.Unix(0, -1)}},
		{"sent +1ns", posting.Posting{Sent: time.Unix(0, 1)}},
		{"sent min", posting.Posting{Sent: time.Unix(0, math.MinInt64)}},
		{"sent max", posting.Posting{Sent: time.Unix(0, math.MaxInt64)}},
		{"sent now", posting.Posting{Sent: time.Now()}},
		{"sent utc", posting.Posting{Sent: time.Date(2024, 2, 29, 23, 59, 59, 999999999, time.UTC)}},
		{"ttl 1ns", posting.Posting{TTL: 1}},
		{"ttl max", posting.Posting{TTL: math.MaxInt64}},
		{"correlation 1", posting.Posting{Correlation: 1}},
		{"correlation max", posting.Posting{Correlation: math.MaxUint64}},
		{"replyto 1", posting.Posting{ReplyTo: 1}},
		{"replyto max", posting.Posting{ReplyTo: math.MaxUint64}},
		{"stream 1", posting.Posting{Stream: "x"}},
		{"stream 255", posting.Posting{Stream: strings.Repeat("\xff", 255)}},
		{"everything max", posting.Posting{
			Stream: strings.Repeat("s", 255), Media: posting.Control, Kind: posting.Fault,
			Seq: math.MaxUint64, Sent: time.Unix(0, math.MaxInt64), TTL: math.MaxInt64,
			Sender: math.MaxUint64, Correlation: math.MaxUint64, ReplyTo: math.MaxUint64,
			Key: strings.Repeat("k", posting.MaxKeyLen), Frame: math.MaxUint64, FrameEnd: true,
			Headers: maxHeaders(), Body: &chat{From: "f"},
		}},
		{"request everything max", posting.Posting{
			Stream: strings.Repeat("s", 255), Media: posting.Control, Kind: posting.Request,
			Seq: math.MaxUint64, Sent: time.Unix(0, math.MaxInt64), TTL: math.MaxInt64,
			Sender: math.MaxUint64, Correlation: math.MaxUint64, ReplyTo: math.MaxUint64,
			ReplyWithin: math.MaxInt64, Key: strings.Repeat("\xff", posting.MaxKeyLen),
			Frame: math.MaxUint64, Headers: maxHeaders(), Body: []byte("b"),
		}},
		{"reply within 1ns", posting.Posting{Kind: posting.Request, ReplyWithin: 1}},
		{"reply within max", posting.Posting{Kind: posting.Request, ReplyWithin: math.MaxInt64}},
		{"reply within with ttl", posting.Posting{Kind: posting.Request, TTL: time.Second, ReplyWithin: time.Second, Sent: time.Unix(5, 0)}},
		{"frame 1", posting.Posting{Frame: 1}},
		{"frame 128", posting.Posting{Frame: 128}},
		{"frame max", posting.Posting{Frame: math.MaxUint64}},
		{"frame end", posting.Posting{Frame: 3, FrameEnd: true}},
		{"key 1", posting.Posting{Key: "k"}},
		{"key 64", posting.Posting{Key: strings.Repeat("\x00", posting.MaxKeyLen)}},
		{"key and stream", posting.Posting{Key: "same", Stream: "same"}},
		{"header 1", posting.Posting{Headers: []posting.Header{{Name: "n", Value: "v"}}}},
		{"header empty value", posting.Posting{Headers: []posting.Header{{Name: "n"}}}},
		{"header name 255", posting.Posting{Headers: []posting.Header{{Name: strings.Repeat("n", 255), Value: "v"}}}},
		{"header value 127", posting.Posting{Headers: []posting.Header{{Name: "n", Value: strings.Repeat("v", 127)}}}},
		{"header value 128", posting.Posting{Headers: []posting.Header{{Name: "n", Value: strings.Repeat("v", 128)}}}},
		{"header bytes 4096", posting.Posting{Headers: []posting.Header{{Name: "n", Value: strings.Repeat("v", posting.MaxHeaderBytes-1)}}}},
		{"headers duplicate", posting.Posting{Headers: []posting.Header{{Name: "a", Value: "1"}, {Name: "a", Value: "1"}, {Name: "a"}}}},
		{"headers 32", posting.Posting{Headers: make32Headers("h", "")}},
		{"headers max", posting.Posting{Headers: maxHeaders()}},
		{"cancel", posting.Posting{Kind: posting.Cancel, Correlation: 1}},
		{"all new fields", posting.Posting{
			Kind: posting.Request, Correlation: 9, ReplyWithin: time.Minute, Key: "key",
			Frame: 77, FrameEnd: true, Stream: "s", Seq: 1, Body: chat{Text: "t"},
			Headers: []posting.Header{{Name: "traceparent", Value: "00-abc-def-01"}, {Name: "x"}},
		}},
	}
	for m := posting.Data; m <= posting.Control; m++ {
		for k := posting.Message; k <= posting.Cancel; k++ {
			p := posting.Posting{Media: m, Kind: k, Body: "x"}
			if k == posting.Cancel {
				p.Correlation = 1
			}
			tests = append(tests, struct {
				name string
				p    posting.Posting
			}{m.String() + "/" + k.String(), p})
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			roundTrip(t, &tt.p, &tt.p)
		})
	}
}

// maxHeaders returns MaxHeaders headers whose names and values total
// exactly MaxHeaderBytes bytes, using names of 255 bytes.
func maxHeaders() []posting.Header {
	hs := make([]posting.Header, posting.MaxHeaders)
	left := posting.MaxHeaderBytes
	for i := range hs {
		n := min(255, left-(len(hs)-i-1)) // leave 1 byte per later name
		hs[i].Name = strings.Repeat(string(rune('a'+i%26)), n)
		left -= n
	}
	hs[len(hs)-1].Value = strings.Repeat("v", left)
	return hs
}

func TestMaxHeadersHelper(t *testing.T) {
	total := 0
	for _, h := range maxHeaders() {
		total += len(h.Name) + len(h.Value)
	}
	if total != posting.MaxHeaderBytes {
		t.Fatalf("maxHeaders totals %d bytes", total)
	}
}

func TestEmptyHeadersSliceIsNone(t *testing.T) {
	roundTrip(t, &posting.Posting{Headers: []posting.Header{}, Body: "x"}, &posting.Posting{Body: "x"})
}

func TestSentDecodesAsInstant(t *testing.T) {
	now := time.Now() // carries a monotonic reading and the local zone
	b, _ := (&posting.Posting{Sent: now.In(time.FixedZone("X", 3600))}).MarshalBinary()
	p, err := posting.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Sent.Equal(now) || p.Sent.UnixNano() != now.UnixNano() {
		t.Errorf("Sent = %v, want %v", p.Sent, now)
	}
}

func TestExactBytes(t *testing.T) {
	tests := []struct {
		name string
		p    posting.Posting
		hex  string
	}{
		{"minimal", posting.Posting{}, "02000000"},
		{"doc example", posting.Posting{Stream: "s", Seq: 1, Body: []byte("hi")}, "022100010101736869"},
		{"string", posting.Posting{Media: posting.Text, Kind: posting.Reply, Body: "ok"}, "0200" + "32" + "02" + "6f6b"},
		{"cancel", posting.Posting{Kind: posting.Cancel, Correlation: 1}, "02" + "04" + "04" + "00" + "01"},
		{"all fields", posting.Posting{
			Stream: "ab", Media: posting.Audio, Kind: posting.Request,
			Seq: 300, Sender: 0x0102030405060708, Sent: time.Unix(0, 0x1112131415161718),
			TTL: 1, Correlation: 2, ReplyTo: 0xff,
		}, "02" + "7f" + "11" + "00" +
			"ac02" + // Seq 300
			"0807060504030201" + // Sender
			"1817161514131211" + // Sent
			"01" + // TTL
			"02" + // Correlation
			"ff00000000000000" + // ReplyTo
			"026162"}, // Stream
		{"new fields", posting.Posting{
			Kind: posting.Request, Correlation: 5, ReplyWithin: 300, Frame: 2, FrameEnd: true, Key: "k",
			Headers: []posting.Header{{Name: "a", Value: "xy"}, {Name: "b"}}, Body: "z",
		}, "02" + "04" + "01" + "7e" +
			"05" + // Correlation
			"ac02" + // ReplyWithin 300ns
			"02" + // Frame
			"016b" + // Key
			"02" + "0161" + "027879" + "0162" + "00" + // Headers
			"7a"}, // body
		{"frame without end", posting.Posting{Frame: 1}, "020000" + "10" + "01"},
		{"registered int", posting.Posting{Body: 5}, "020000" + "03" + "03696e74" + "05"},
		{"pointer", posting.Posting{Body: ptr(true)}, "028000" + "03" + "04626f6f6c" + "c3"},
		{"nil pointer", posting.Posting{Body: (*chat)(nil)}, "028000" + "03" + "09746573742e63686174" + "c0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.p.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(b); got != tt.hex {
				t.Errorf("encoding = %s, want %s", got, tt.hex)
			}
			n, err := posting.HeaderLen(b)
			if err != nil || n > len(b) {
				t.Errorf("HeaderLen = %d, %v", n, err)
			}
		})
	}
}

// long and x make a type whose reflect name exceeds MaxTypeNameLen.
type long[A, B, C, D, E, F, G, H any] struct{}

type aVeryLongTypeNameThatTakesUpLotsOfRoomInTheWireTypeNameField struct{}

type x = aVeryLongTypeNameThatTakesUpLotsOfRoomInTheWireTypeNameField

func TestAppendBinaryErrors(t *testing.T) {
	tests := []struct {
		name string
		p    posting.Posting
		want string
	}{
		{"stream", posting.Posting{Stream: strings.Repeat("s", 256)}, "stream"},
		{"media", posting.Posting{Media: 6}, "media"},
		{"kind", posting.Posting{Kind: 5}, "kind"},
		{"cancel", posting.Posting{Kind: posting.Cancel}, "Correlation"},
		{"key", posting.Posting{Key: strings.Repeat("k", 65)}, "Key"},
		{"headers", posting.Posting{Headers: []posting.Header{{Value: "v"}}}, "Headers[0]"},
		{"frame end", posting.Posting{FrameEnd: true}, "FrameEnd"},
		{"reply within", posting.Posting{ReplyWithin: 1}, "ReplyWithin"},
		{"ttl", posting.Posting{TTL: -time.Second}, "TTL"},
		{"chan body", posting.Posting{Body: make(chan int)}, "chan int"},
		{"func body", posting.Posting{Body: func() {}}, "func()"},
		{"long type name", posting.Posting{Body: long[x, x, x, x, x, x, x, x]{}}, "shorter name"},
		{"raw empty type", posting.Posting{Body: posting.Raw{Data: []byte{1}}}, "empty Type"},
		{"raw long type", posting.Posting{Body: posting.Raw{Type: strings.Repeat("t", 256)}}, "256 bytes"},
		{"nil *Raw", posting.Posting{Body: (*posting.Raw)(nil)}, "nil *posting.Raw"},
		{"map with chan", posting.Posting{Body: map[string]any{"c": make(chan int)}}, "chan"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := make([]byte, 3, 1024)
			copy(dst, "abc")
			out, err := tt.p.AppendBinary(dst)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("AppendBinary error = %v, want one mentioning %q", err, tt.want)
			}
			if string(out) != "abc" {
				t.Errorf("AppendBinary returned %q on error, want the unchanged dst", out)
			}
		})
	}
}

type decodeErrorTest struct {
	name   string
	hex    string
	want   error
	offset int
}

// TestDecodeErrors checks rejections common to both versions and, in the
// rows whose input starts with 01, those of the version 1 branch.
func TestDecodeErrors(t *testing.T) {
	tests := []decodeErrorTest{
		{"empty", "", posting.ErrTruncated, 0},
		{"version 0", "000000", posting.ErrVersion, 0},
		{"version 3", "03000000", posting.ErrVersion, 0},
		{"version 255 short", "ff", posting.ErrVersion, 0},
		{"only version", "01", posting.ErrTruncated, 1},
		{"no class", "0100", posting.ErrTruncated, 2},
		{"media 6", "010060", posting.ErrMalformed, 2},
		{"media 15", "0100f0", posting.ErrMalformed, 2},
		{"pointer flag on nil body", "018000", posting.ErrMalformed, 1},
		{"pointer flag on bytes body", "018001", posting.ErrMalformed, 1},
		{"pointer flag on string body", "018002", posting.ErrMalformed, 1},
		{"nil body with trailing bytes", "01000000", posting.ErrMalformed, 3},
		{"seq zero", "01200000", posting.ErrMalformed, 3},
		{"seq overlong", "0120008000", posting.ErrMalformed, 3},
		{"seq overflow", "012000ffffffffffffffffffff01", posting.ErrMalformed, 3},
		{"seq overflow 10th byte", "012000ffffffffffffffffff02", posting.ErrMalformed, 3},
		{"seq truncated", "01200080", posting.ErrTruncated, 3},
		{"sender zero", "0140000000000000000000", posting.ErrMalformed, 3},
		{"sender short", "01400001020304050607", posting.ErrTruncated, 3},
		{"sent short", "0110000102", posting.ErrTruncated, 3},
		{"ttl zero", "01020000", posting.ErrMalformed, 3},
		{"ttl overflows duration", "010200ffffffffffffffff8001", posting.ErrMalformed, 3},
		{"correlation zero", "01040000", posting.ErrMalformed, 3},
		{"replyto zero", "0108000000000000000000", posting.ErrMalformed, 3},
		{"stream length zero", "01010000", posting.ErrMalformed, 3},
		{"stream length missing", "010100", posting.ErrTruncated, 3},
		{"stream past end", "010100ff616263", posting.ErrTruncated, 3},
		{"stream 2 of 1", "0101000261", posting.ErrTruncated, 3},
		{"type name missing", "010003", posting.ErrTruncated, 3},
		{"type name length zero", "01000300c0", posting.ErrMalformed, 3},
		{"type name past end", "010003ff61", posting.ErrTruncated, 3},
		{"type name after stream past end", "0101030173ff61", posting.ErrTruncated, 5},
	}
	runDecodeErrors(t, tests)
}

func TestDecodeErrorsV2(t *testing.T) {
	x := func(n int, b string) string { return strings.Repeat(b, n) }
	// 17 headers with 255-byte names and empty values exceed
	// MaxHeaderBytes at the 17th name, which starts at 5 + 16*257.
	longNames := "0200000811" + x(17, "ff"+x(255, "61")+"00")
	tests := []decodeErrorTest{
		{"only version", "02", posting.ErrTruncated, 1},
		{"no class", "0200", posting.ErrTruncated, 2},
		{"no flags2", "020000", posting.ErrTruncated, 3},
		{"reserved bit", "02000080", posting.ErrMalformed, 3},
		{"reserved bit with others", "020001ff", posting.ErrMalformed, 3},
		{"frame end without frame", "02000020", posting.ErrMalformed, 3},
		{"frame zero", "0200001000", posting.ErrMalformed, 4},
		{"frame end frame zero", "0200003000", posting.ErrMalformed, 4},
		{"frame overlong", "020000108000", posting.ErrMalformed, 4},
		{"frame overlong 1", "020000108100", posting.ErrMalformed, 4},
		{"frame overflow", "02000010ffffffffffffffffff02", posting.ErrMalformed, 4},
		{"frame truncated", "0200001080", posting.ErrTruncated, 4},
		{"frame missing", "02000030", posting.ErrTruncated, 4},
		{"cancel without correlation", "02000400", posting.ErrMalformed, 1},
		{"cancel without correlation, other fields", "02210402017301", posting.ErrMalformed, 1},
		{"cancel correlation zero", "0204040000", posting.ErrMalformed, 4},
		{"reply within on message", "0200004001", posting.ErrMalformed, 3},
		{"reply within on reply", "0200024001", posting.ErrMalformed, 3},
		{"reply within on fault", "0200034001", posting.ErrMalformed, 3},
		{"reply within on cancel", "020404400101", posting.ErrMalformed, 3},
		{"reply within zero", "0200014000", posting.ErrMalformed, 4},
		{"reply within overlong", "020001408000", posting.ErrMalformed, 4},
		{"reply within overflows duration", "02000140ffffffffffffffff8001", posting.ErrMalformed, 4},
		{"reply within truncated", "02000140", posting.ErrTruncated, 4},
		{"reply within after ttl truncated", "0202014001", posting.ErrTruncated, 5},
		{"key empty", "0200000400", posting.ErrMalformed, 4},
		{"key too long", "0200000441" + x(65, "6b"), posting.ErrMalformed, 4},
		{"key too long, truncated", "02000004ff6b", posting.ErrMalformed, 4},
		{"key length missing", "02000004", posting.ErrTruncated, 4},
		{"key past end", "020000040361", posting.ErrTruncated, 4},
		{"key after frame past end", "02000014010361", posting.ErrTruncated, 5},
		{"headers count zero", "0200000800", posting.ErrMalformed, 4},
		{"headers count 33", "0200000821" + x(33, "016100"), posting.ErrMalformed, 4},
		{"headers count 255", "020000087f", posting.ErrMalformed, 4},
		{"headers count overlong", "020000088100", posting.ErrMalformed, 4},
		{"headers count overflow", "02000008ffffffffffffffffff02", posting.ErrMalformed, 4},
		{"headers count huge", "02000008ffffffffffffffffff01", posting.ErrMalformed, 4},
		{"headers count missing", "02000008", posting.ErrTruncated, 4},
		{"headers count larger than input", "0200000802016100", posting.ErrTruncated, 4},
		{"headers count 32 on short input", "0200000820016100", posting.ErrTruncated, 4},
		{"header name empty", "02000008010000", posting.ErrMalformed, 5},
		{"header name past end", "0200000801056162", posting.ErrTruncated, 5},
		{"second header name empty", "020000080201610000" + "00", posting.ErrMalformed, 8},
		{"header value length overlong", "02000008010161" + "8000", posting.ErrMalformed, 7},
		{"header value length missing", "02000009010161", posting.ErrTruncated, 7},
		{"header value truncated", "02000008010161" + "056162", posting.ErrTruncated, 7},
		{"header value length truncated", "0200000901016180", posting.ErrTruncated, 7},
		{"header value over limit", "02000008010161" + "8020" + x(4096, "76"), posting.ErrMalformed, 7},
		{"header value length overflows", "02000008010161" + "ffffffffffffffffff01", posting.ErrMalformed, 7},
		{"header total over limit", "02000008020161" + "a01f" + x(4000, "76") + "0162" + "5f" + x(95, "76"), posting.ErrMalformed, 4011},
		{"header names over limit", longNames, posting.ErrMalformed, 5 + 16*257},
		{"headers before truncated type name", "0200000b01016100ff61", posting.ErrTruncated, 8},
		{"nil body with trailing bytes", "0200000000", posting.ErrMalformed, 4},
		{"nil body after headers with trailing bytes", "020000080101610000", posting.ErrMalformed, 8},
		{"pointer flag on bytes body", "02800001", posting.ErrMalformed, 1},
		{"pointer flag on nil body", "02800000", posting.ErrMalformed, 1},
		{"seq zero", "0220000000", posting.ErrMalformed, 4},
		{"seq overlong", "022000008000", posting.ErrMalformed, 4},
		{"ttl zero", "0202000000", posting.ErrMalformed, 4},
		{"stream length zero", "0201000000", posting.ErrMalformed, 4},
		{"stream past end", "0201000002", posting.ErrTruncated, 4},
		{"sender short", "024000000102", posting.ErrTruncated, 4},
		{"type name missing", "02000003", posting.ErrTruncated, 4},
		{"type name length zero", "0200000300c0", posting.ErrMalformed, 4},
	}
	for k := 5; k <= 15; k++ {
		tests = append(tests, decodeErrorTest{"kind " + strconv.Itoa(k), "0200" + hex.EncodeToString([]byte{byte(k)}) + "00", posting.ErrMalformed, 2})
		// Cancel-style correlation does not make them valid.
		tests = append(tests, decodeErrorTest{"kind " + strconv.Itoa(k) + " with correlation", "0204" + hex.EncodeToString([]byte{byte(k)}) + "0001", posting.ErrMalformed, 2})
	}
	for m := 6; m <= 15; m++ {
		tests = append(tests, decodeErrorTest{"media " + strconv.Itoa(m), "0200" + hex.EncodeToString([]byte{byte(m << 4)}) + "00", posting.ErrMalformed, 2})
	}
	runDecodeErrors(t, tests)
}

func runDecodeErrors(t *testing.T, tests []decodeErrorTest) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := hex.DecodeString(tt.hex)
			if err != nil {
				t.Fatal(err)
			}
			p, err := posting.Decode(b)
			if err == nil {
				t.Fatalf("Decode(%s) = %v, want error", tt.hex, p)
			}
			if p != nil {
				t.Errorf("Decode returned a posting with an error")
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("error %v is not %v", err, tt.want)
			}
			var de *posting.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %T is not a *DecodeError", err)
			}
			if de.Offset != tt.offset {
				t.Errorf("offset = %d, want %d (%v)", de.Offset, tt.offset, err)
			}
			if !strings.Contains(err.Error(), "byte ") || !strings.HasPrefix(err.Error(), "posting: ") {
				t.Errorf("error message %q lacks prefix or offset", err)
			}
			if _, herr := posting.HeaderLen(b); herr == nil {
				t.Errorf("HeaderLen accepted %s", tt.hex)
			}
			// UnmarshalBinary leaves the posting unchanged on error.
			q := posting.Posting{Stream: "keep", Body: "me"}
			if err := q.UnmarshalBinary(b); err == nil || q.Stream != "keep" || q.Body != "me" {
				t.Errorf("UnmarshalBinary modified the posting on error: %v, %v", q, err)
			}
		})
	}
}

func TestTruncations(t *testing.T) {
	headers := []posting.Posting{{
		Stream: "stream", Media: posting.Video, Kind: posting.Reply,
		Seq: 1 << 40, Sent: time.Unix(1700000000, 1), TTL: time.Hour,
		Sender: 0xabcdef, Correlation: 99, ReplyTo: 12345,
	}, {
		Stream: "stream", Media: posting.Video, Kind: posting.Request,
		Seq: 1 << 40, Sent: time.Unix(1700000000, 1), TTL: time.Hour,
		Sender: 0xabcdef, Correlation: 99, ReplyTo: 12345,
		ReplyWithin: time.Minute, Frame: 1 << 20, FrameEnd: true, Key: "key",
		Headers: []posting.Header{{Name: "a", Value: "1"}, {Name: "empty"}, {Name: "long", Value: strings.Repeat("v", 300)}},
	}, {
		Kind: posting.Cancel, Correlation: 1, Frame: 5,
		Headers: []posting.Header{{Name: "n"}},
	}}
	bodies := []any{nil, []byte("bytes body"), "string body", chat{From: "a", Text: "b", N: 1}, &chat{Text: "p"}, unreg{A: 1}, []string{"x"}}
	for _, header := range headers {
		for _, body := range bodies {
			truncations(t, header, body)
		}
	}
}

func truncations(t *testing.T, header posting.Posting, body any) {
	t.Helper()
	p := header
	p.Body = body
	b, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	hl, err := posting.HeaderLen(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(b); i++ {
		q, err := posting.Decode(b[:i])
		if i < hl {
			// Every cut inside the header is an error.
			if err == nil || !errors.Is(err, posting.ErrTruncated) {
				t.Errorf("%v: Decode(prefix %d of %d) = %v, %v; want ErrTruncated", &p, i, len(b), q, err)
			}
			continue
		}
		// The body runs to the end of the input, so cuts inside
		// it are not header errors; see the package docs.
		if err != nil {
			t.Errorf("%v: Decode(prefix %d of %d): %v", &p, i, len(b), err)
			continue
		}
		switch v := q.Body.(type) {
		case []byte:
			if !bytes.Equal(v, b[hl:i]) {
				t.Errorf("prefix %d: body %q", i, v)
			}
		case string:
			if v != string(b[hl:i]) {
				t.Errorf("prefix %d: body %q", i, v)
			}
		case posting.Raw:
			// A cut msgpack value never decodes.
			if v.Err == nil {
				t.Errorf("%T: prefix %d: Raw without Err", body, i)
			}
		default:
			t.Errorf("%T: prefix %d decoded as %T", body, i, q.Body)
		}
	}
}

// encPanicky panics when msgpack encodes it.
type encPanicky struct{}

func (encPanicky) EncodeMsgpack(*msgpack.Encoder) error { panic("encode boom") }

// decPanicky panics when msgpack decodes a non-nil value into it. It is
// registered, and encodes fine (as nil), so the fuzz target's re-encoding
// invariants hold for it.
type decPanicky struct{}

func (decPanicky) EncodeMsgpack(e *msgpack.Encoder) error { return e.EncodeNil() }

func (*decPanicky) DecodeMsgpack(*msgpack.Decoder) error { panic("decode boom") }

func init() { posting.Register[decPanicky]("test.panicky") }

func TestMsgpackPanicsBecomeErrors(t *testing.T) {
	_, err := (&posting.Posting{Body: encPanicky{}}).MarshalBinary()
	if err == nil || !strings.Contains(err.Error(), "encode boom") {
		t.Errorf("encoding a panicking body: %v", err)
	}
	b, err := (&posting.Posting{Body: posting.Raw{Type: "test.panicky", Data: []byte{0x01}}}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	p, err := posting.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	raw, ok := p.Body.(posting.Raw)
	if !ok || raw.Err == nil || !strings.Contains(raw.Err.Error(), "decode boom") {
		t.Errorf("decoding a panicking body gave %#v", p.Body)
	}
	// The pools still work afterwards.
	roundTrip(t, &posting.Posting{Body: chat{From: "x"}}, &posting.Posting{Body: chat{From: "x"}})
}

func TestDecodeSharedAliases(t *testing.T) {
	for _, body := range []any{[]byte("shared body bytes"), nil, "a string", 42} {
		enc, err := posting.New(body, posting.WithStream("s"), posting.WithTTL(time.Second)).MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		a, err := posting.Decode(enc)
		if err != nil {
			t.Fatal(err)
		}
		b, err := posting.DecodeShared(append([]byte(nil), enc...))
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(a, b); d != "" {
			t.Fatalf("Decode and DecodeShared differ for %T: %s", body, d)
		}
	}
	enc, _ := posting.New([]byte("abc")).MarshalBinary()
	p, _ := posting.DecodeShared(enc)
	enc[len(enc)-1] = 'X'
	if string(p.Body.([]byte)) != "abX" {
		t.Fatalf("body %q does not alias the input", p.Body)
	}
	if _, err := posting.DecodeShared(enc[:1]); err == nil {
		t.Fatal("truncated input accepted")
	}
}
