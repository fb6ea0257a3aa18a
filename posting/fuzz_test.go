package posting_test

import (
	"bytes"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rwanda-go/rwanda/posting"
)

func FuzzDecode(f *testing.F) {
	header := posting.Posting{
		Stream: "s", Media: posting.Audio, Kind: posting.Request,
		Seq: 300, Sent: time.Unix(1700000000, 5), TTL: time.Second,
		Sender: 0xfeedface, Correlation: 7, ReplyTo: 9,
	}
	bodies := []any{
		nil, []byte{}, []byte("bytes"), "", "string",
		chat{From: "a", Text: "b", N: 3}, &chat{Text: "p"}, (*chat)(nil),
		unreg{A: 1, B: "b", C: []byte("c")}, &unreg{},
		true, 42, int64(-1), uint64(math.MaxUint64), 2.5, []string{"x", "y"},
		map[string]any{"k": []any{1, "v", 2.5, nil, map[string]any{"t": time.Unix(1, 2)}}},
		[]any{"a", []byte("b"), false},
		posting.Raw{Type: "test.counter", Data: []byte{0x81, 0xa1, 'N', 0xa1, 'x'}},
	}
	for _, body := range bodies {
		for _, p := range []posting.Posting{{Body: body}, header} {
			p.Body = body
			b, err := p.MarshalBinary()
			if err != nil {
				f.Fatalf("seed %T: %v", body, err)
			}
			f.Add(b)
		}
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := posting.Decode(data)
		if err != nil {
			var de *posting.DecodeError
			if !errors.As(err, &de) || de.Offset < 0 || de.Offset > len(data) {
				t.Fatalf("Decode error %v (%T) is not a DecodeError with a valid offset", err, err)
			}
			if !errors.Is(err, posting.ErrVersion) && !errors.Is(err, posting.ErrTruncated) && !errors.Is(err, posting.ErrMalformed) {
				t.Fatalf("Decode error %v wraps no sentinel", err)
			}
			return
		}
		enc, err := p.AppendBinary(nil)
		if err != nil {
			t.Fatalf("re-encoding %v: %v", p, err)
		}

		// The header is canonical, and so are bodies that are not
		// decoded msgpack values.
		hl, err := posting.HeaderLen(data)
		if err != nil {
			t.Fatalf("HeaderLen after successful Decode: %v", err)
		}
		if len(enc) < hl || !bytes.Equal(enc[:hl], data[:hl]) {
			t.Fatalf("header re-encodes differently:\n  in %x\n out %x", data, enc)
		}
		switch p.Body.(type) {
		case nil, []byte, string, posting.Raw:
			if !bytes.Equal(enc, data) {
				t.Fatalf("posting re-encodes differently:\n  in %x\n out %x", data, enc)
			}
		}

		q, err := posting.Decode(enc)
		if err != nil {
			t.Fatalf("decoding re-encoded %x: %v", enc, err)
		}
		if diff := cmp.Diff(p, q, cmpOpts); diff != "" {
			t.Fatalf("re-decoded posting differs (-first +second):\n%s", diff)
		}
	})
}
