package posting_test

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/rwanda-go/rwanda/posting"
)

// chat is registered as "test.chat".
type chat struct {
	From string
	Text string
	N    int
}

// counter is registered as "test.counter"; its msgpack encoding is a map
// whose N field is an int, which chat-shaped data with a string N does not
// match.
type counter struct {
	N int
}

// unreg is never registered; it travels as "posting_test.unreg".
type unreg struct {
	A int
	B string
	C []byte
}

func init() {
	posting.Register[chat]("test.chat")
	posting.Register[counter]("test.counter")
	// The tests exchange map[string]any and []any bodies, which are
	// not registered by default (TestDynamicNotRegisteredByDefault
	// checks the default registry).
	posting.RegisterDynamic()
}

// cmpOpts compares postings: Raw bodies by Type, Data, Pointer and whether
// Err is set; NaNs equal.
var cmpOpts = cmp.Options{
	cmp.Comparer(func(a, b posting.Raw) bool {
		return a.Type == b.Type && string(a.Data) == string(b.Data) &&
			a.Pointer == b.Pointer && (a.Err == nil) == (b.Err == nil)
	}),
	cmpopts.EquateNaNs(),
}

func TestNewAndOptions(t *testing.T) {
	tests := []struct {
		name string
		opts []posting.Option
		want posting.Posting
	}{
		{"none", nil, posting.Posting{Body: "b"}},
		{"nil option", []posting.Option{nil}, posting.Posting{Body: "b"}},
		{"stream", []posting.Option{posting.WithStream("s")}, posting.Posting{Stream: "s", Body: "b"}},
		{"media", []posting.Option{posting.WithMedia(posting.Video)}, posting.Posting{Media: posting.Video, Body: "b"}},
		{"ttl", []posting.Option{posting.WithTTL(time.Second)}, posting.Posting{TTL: time.Second, Body: "b"}},
		{"kind", []posting.Option{posting.WithKind(posting.Request)}, posting.Posting{Kind: posting.Request, Body: "b"}},
		{"correlation", []posting.Option{posting.WithCorrelation(42)}, posting.Posting{Correlation: 42, Body: "b"}},
		{"replyto", []posting.Option{posting.WithReplyTo(7)}, posting.Posting{ReplyTo: 7, Body: "b"}},
		{"later wins", []posting.Option{posting.WithStream("a"), posting.WithStream("b")}, posting.Posting{Stream: "b", Body: "b"}},
		{"key", []posting.Option{posting.WithKey("k")}, posting.Posting{Key: "k", Body: "b"}},
		{"headers append", []posting.Option{posting.WithHeader("a", "1"), posting.WithHeader("b", ""), posting.WithHeader("a", "2")},
			posting.Posting{Headers: []posting.Header{{Name: "a", Value: "1"}, {Name: "b"}, {Name: "a", Value: "2"}}, Body: "b"}},
		{"frame", []posting.Option{posting.WithFrame(9, true)}, posting.Posting{Frame: 9, FrameEnd: true, Body: "b"}},
		{"frame later wins", []posting.Option{posting.WithFrame(9, true), posting.WithFrame(10, false)}, posting.Posting{Frame: 10, Body: "b"}},
		{"reply within", []posting.Option{posting.WithKind(posting.Request), posting.WithReplyWithin(time.Second)},
			posting.Posting{Kind: posting.Request, ReplyWithin: time.Second, Body: "b"}},
		{"all", []posting.Option{
			posting.WithStream("x"), posting.WithMedia(posting.Control), posting.WithTTL(time.Minute),
			posting.WithKind(posting.Fault), posting.WithCorrelation(1), posting.WithReplyTo(2),
		}, posting.Posting{
			Stream: "x", Media: posting.Control, TTL: time.Minute, Kind: posting.Fault,
			Correlation: 1, ReplyTo: 2, Body: "b",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := posting.New("b", tt.opts...)
			if diff := cmp.Diff(&tt.want, got); diff != "" {
				t.Errorf("New mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDeadlineExpired(t *testing.T) {
	sent := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		sent     time.Time
		ttl      time.Duration
		now      time.Time
		deadline time.Time
		expired  bool
	}{
		{"no sent no ttl", time.Time{}, 0, sent, time.Time{}, false},
		{"sent no ttl", sent, 0, sent.Add(time.Hour), time.Time{}, false},
		{"ttl no sent", time.Time{}, time.Second, sent, time.Time{}, false},
		{"negative ttl", sent, -time.Second, sent.Add(time.Hour), time.Time{}, false},
		{"before", sent, time.Second, sent.Add(999 * time.Millisecond), sent.Add(time.Second), false},
		{"at deadline", sent, time.Second, sent.Add(time.Second), sent.Add(time.Second), true},
		{"after", sent, time.Second, sent.Add(2 * time.Second), sent.Add(time.Second), true},
		{"now before sent", sent, time.Second, sent.Add(-time.Hour), sent.Add(time.Second), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &posting.Posting{Sent: tt.sent, TTL: tt.ttl}
			if got := p.Deadline(); !got.Equal(tt.deadline) {
				t.Errorf("Deadline() = %v, want %v", got, tt.deadline)
			}
			if got := p.Expired(tt.now); got != tt.expired {
				t.Errorf("Expired(%v) = %v, want %v", tt.now, got, tt.expired)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		p    posting.Posting
		want string // substring of the error; "" for valid
	}{
		{"zero", posting.Posting{}, ""},
		{"stream 255", posting.Posting{Stream: strings.Repeat("s", 255)}, ""},
		{"stream 256", posting.Posting{Stream: strings.Repeat("s", 256)}, "stream name is 256 bytes"},
		{"media", posting.Posting{Media: 6}, "invalid media 6"},
		{"kind", posting.Posting{Kind: 5}, "invalid kind 5"},
		{"kind 15", posting.Posting{Kind: 15}, "invalid kind 15"},
		{"cancel", posting.Posting{Kind: posting.Cancel, Correlation: 1}, ""},
		{"cancel without correlation", posting.Posting{Kind: posting.Cancel}, "Cancel posting without a Correlation"},
		{"reply within", posting.Posting{Kind: posting.Request, ReplyWithin: 1}, ""},
		{"reply within max", posting.Posting{Kind: posting.Request, ReplyWithin: math.MaxInt64}, ""},
		{"reply within negative", posting.Posting{Kind: posting.Request, ReplyWithin: -1}, "negative ReplyWithin"},
		{"reply within on message", posting.Posting{ReplyWithin: time.Second}, "ReplyWithin set on a message"},
		{"reply within on reply", posting.Posting{Kind: posting.Reply, ReplyWithin: time.Second}, "ReplyWithin set on a reply"},
		{"reply within on cancel", posting.Posting{Kind: posting.Cancel, Correlation: 1, ReplyWithin: time.Second}, "ReplyWithin set on a cancel"},
		{"key 64", posting.Posting{Key: strings.Repeat("k", 64)}, ""},
		{"key 65", posting.Posting{Key: strings.Repeat("k", 65)}, "Key is 65 bytes"},
		{"headers 32", posting.Posting{Headers: make32Headers("n", "")}, ""},
		{"headers 33", posting.Posting{Headers: append(make32Headers("n", ""), posting.Header{Name: "x"})}, "33 Headers"},
		{"header empty name", posting.Posting{Headers: []posting.Header{{Name: "a"}, {Value: "v"}}}, "Headers[1] has an empty name"},
		{"header name 255", posting.Posting{Headers: []posting.Header{{Name: strings.Repeat("n", 255)}}}, ""},
		{"header name 256", posting.Posting{Headers: []posting.Header{{Name: strings.Repeat("n", 256)}}}, "Headers[0] name is 256 bytes"},
		{"header bytes 4096", posting.Posting{Headers: []posting.Header{{Name: "n", Value: strings.Repeat("v", 4095)}}}, ""},
		{"header bytes 4097", posting.Posting{Headers: []posting.Header{{Name: "n", Value: strings.Repeat("v", 4096)}}}, "exceed 4096 bytes at Headers[0]"},
		{"header bytes 4097 over many", posting.Posting{Headers: make32Headers("n", strings.Repeat("v", 127))}, "exceed 4096 bytes at Headers[31]"},
		{"frame end", posting.Posting{Frame: 1, FrameEnd: true}, ""},
		{"frame end without frame", posting.Posting{FrameEnd: true}, "FrameEnd set without a Frame"},
		{"ttl", posting.Posting{TTL: -1}, "negative TTL"},
		{"sent too late", posting.Posting{Sent: time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)}, "send time"},
		{"sent too early", posting.Posting{Sent: time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC)}, "send time"},
		{"sent year 1 plus 1ns", posting.Posting{Sent: time.Time{}.Add(1)}, "send time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			_, encErr := tt.p.MarshalBinary()
			if tt.want == "" {
				if err != nil || encErr != nil {
					t.Fatalf("Validate() = %v, MarshalBinary error %v; want nil", err, encErr)
				}
				return
			}
			for _, e := range []error{err, encErr} {
				if e == nil || !errors.Is(e, posting.ErrInvalid) || !strings.Contains(e.Error(), tt.want) {
					t.Errorf("error = %v, want ErrInvalid containing %q", e, tt.want)
				}
			}
		})
	}
}

// make32Headers returns MaxHeaders headers named name0, name1, ... with
// value v.
func make32Headers(name, v string) []posting.Header {
	hs := make([]posting.Header, posting.MaxHeaders)
	for i := range hs {
		hs[i] = posting.Header{Name: name + strconv.Itoa(i), Value: v}
	}
	return hs
}

func TestHeader(t *testing.T) {
	p := posting.New(nil, posting.WithHeader("a", "1"), posting.WithHeader("B", ""), posting.WithHeader("a", "2"))
	tests := []struct {
		name, want string
		ok         bool
	}{
		{"a", "1", true},
		{"B", "", true},
		{"b", "", false},
		{"", "", false},
		{"c", "", false},
	}
	for _, tt := range tests {
		if got, ok := p.Header(tt.name); got != tt.want || ok != tt.ok {
			t.Errorf("Header(%q) = %q, %v; want %q, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
	if _, ok := (&posting.Posting{}).Header("a"); ok {
		t.Error("Header found a name in a posting without headers")
	}
}

func TestString(t *testing.T) {
	sent := time.Date(2024, 5, 1, 12, 0, 0, 5, time.UTC)
	p := &posting.Posting{
		Stream: "lobby", Media: posting.Text, Kind: posting.Request, Seq: 12,
		Sent: sent, TTL: time.Second, Sender: 0xdeadbeef, Correlation: 9, ReplyTo: 0xff,
		Body: "hello",
	}
	want := `posting{text request #12 stream="lobby" sender=00000000deadbeef corr=9 replyto=00000000000000ff sent=2024-05-01T12:00:00.000000005Z ttl=1s body="hello"}`
	if got := p.String(); got != want {
		t.Errorf("String() =\n%s\nwant\n%s", got, want)
	}

	tests := []struct {
		body any
		want string
	}{
		{nil, "body=nil}"},
		{make([]byte, 1<<20), "body=[]byte(1048576)}"},
		{strings.Repeat("é", 1000), `body="` + strings.Repeat("é", 16) + `"...(2000 bytes)}`},
		{chat{Text: strings.Repeat("x", 1000)}, "body=posting_test.chat}"},
		{&chat{}, "body=*posting_test.chat}"},
		{42, "body=int(42)}"},
		{posting.Raw{Type: "a.B", Data: make([]byte, 3), Pointer: true, Err: posting.ErrNotRegistered}, "body=raw(*a.B, 3 bytes, undecoded)}"},
		{&posting.Raw{Type: "a.B"}, "body=raw(a.B, 0 bytes)}"},
	}
	for _, tt := range tests {
		got := (&posting.Posting{Body: tt.body}).String()
		if !strings.HasSuffix(got, tt.want) {
			t.Errorf("String() = %q, want suffix %q", got, tt.want)
		}
		if len(got) > 200 {
			t.Errorf("String() is %d bytes long", len(got))
		}
	}
	p = &posting.Posting{
		Kind: posting.Request, ReplyWithin: 2 * time.Second, Key: "k/1", Frame: 7, FrameEnd: true,
		Headers: []posting.Header{{Name: "a", Value: strings.Repeat("v", 1000)}, {Name: "b"}},
	}
	want = `posting{data request within=2s key="k/1" frame=7(end) headers=2 body=nil}`
	if got := p.String(); got != want {
		t.Errorf("String() =\n%s\nwant\n%s", got, want)
	}
	if got := (*posting.Posting)(nil).String(); got != "posting(nil)" {
		t.Errorf("nil String() = %q", got)
	}
	long := (&posting.Posting{Stream: strings.Repeat("s", 255)}).String()
	if len(long) > 150 {
		t.Errorf("String() with a long stream is %d bytes: %s", len(long), long)
	}
	if got := (&posting.Posting{Media: 9, Kind: 7}).String(); !strings.HasPrefix(got, "posting{media(9) kind(7)") {
		t.Errorf("String() of invalid posting = %q", got)
	}
}
