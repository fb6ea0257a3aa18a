package posting_test

import (
	"errors"
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
		{"kind", posting.Posting{Kind: 4}, "invalid kind 4"},
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
