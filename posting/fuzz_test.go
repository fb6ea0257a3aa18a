package posting_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"strings"
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
	// Headers that use the fields version 2 added, alone and together.
	v2 := header
	v2.ReplyWithin = 2 * time.Second
	v2.Key = "key"
	v2.Frame = 1 << 33
	v2.FrameEnd = true
	v2.Headers = []posting.Header{{Name: "traceparent", Value: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}, {Name: "e"}, {Name: "e", Value: "2"}}
	headers := []posting.Posting{
		{}, header, v2,
		{Key: "k"},
		{Key: strings.Repeat("k", posting.MaxKeyLen)},
		{Headers: []posting.Header{{Name: "n", Value: "v"}}},
		{Headers: []posting.Header{{Name: "n", Value: strings.Repeat("v", posting.MaxHeaderBytes-1)}}},
		{Headers: maxHeaders()},
		{Frame: 1},
		{Frame: 200, FrameEnd: true},
		{Kind: posting.Request, ReplyWithin: 1},
		{Kind: posting.Request, ReplyWithin: math.MaxInt64, Correlation: 3},
		{Kind: posting.Cancel, Correlation: 7},
		{Kind: posting.Cancel, Correlation: 7, Key: "k", Frame: 1, Headers: []posting.Header{{Name: "why", Value: "timeout"}}},
	}
	for _, body := range bodies {
		for _, p := range headers {
			p.Body = body
			b, err := p.MarshalBinary()
			if err != nil {
				f.Fatalf("seed %v: %v", &p, err)
			}
			f.Add(b)
		}
	}
	// Version 1 encodings, which decoders still accept.
	for _, h := range []string{
		"010000", "0121010101736869", "01003a6f6b", "01045e016f6b",
		"01000303696e7405", "01800309746573742e63686174c0",
		"017f14ac02080706050403020118171615141312110102ff00000000000000026162",
	} {
		b, err := hex.DecodeString(h)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}

	emptyEncoding, err := new(posting.Posting).MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	var borrower posting.Borrower // reused across inputs, as a channel flow reuses it
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := posting.Decode(data)
		bp, berr := borrower.Decode(data)
		if (err == nil) != (berr == nil) || (err != nil && err.Error() != berr.Error()) {
			t.Fatalf("Borrower.Decode error %v, Decode error %v", berr, err)
		}
		if err == nil {
			// The borrowed posting equals Decode's, and so does its Clone,
			// which outlives the next Decode.
			if diff := cmp.Diff(p, bp, cmpOpts); diff != "" {
				t.Fatalf("Borrower.Decode differs from Decode (-Decode +Borrower):\n%s", diff)
			}
			kept := bp.Clone()
			if _, err := borrower.Decode(emptyEncoding); err != nil {
				t.Fatalf("decoding an empty posting: %v", err)
			}
			if diff := cmp.Diff(p, kept, cmpOpts); diff != "" {
				t.Fatalf("a Clone changed with the Borrower's next Decode (-Decode +Clone):\n%s", diff)
			}
		}
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

		if enc[0] != posting.Version {
			t.Fatalf("re-encoded as version %d", enc[0])
		}

		// The header is canonical, and so are bodies that are not
		// decoded msgpack values. A version 1 input re-encodes as
		// version 2, so only its body can be compared.
		hl, err := posting.HeaderLen(data)
		if err != nil {
			t.Fatalf("HeaderLen after successful Decode: %v", err)
		}
		ehl, err := posting.HeaderLen(enc)
		if err != nil {
			t.Fatalf("HeaderLen of re-encoding %x: %v", enc, err)
		}
		if data[0] == posting.Version && (hl != ehl || !bytes.Equal(enc[:hl], data[:hl])) {
			t.Fatalf("header re-encodes differently:\n  in %x\n out %x", data, enc)
		}
		if data[0] != posting.Version && ehl != hl+1 {
			t.Fatalf("version 1 header of %d bytes re-encodes to %d bytes:\n  in %x\n out %x", hl, ehl, data, enc)
		}
		switch p.Body.(type) {
		case nil, []byte, string, posting.Raw:
			if !bytes.Equal(enc[ehl:], data[hl:]) {
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
		if err := p.Validate(); err != nil {
			t.Fatalf("decoded posting does not validate: %v", err)
		}

		// DecodeShared agrees with Decode.
		s, err := posting.DecodeShared(bytes.Clone(data))
		if err != nil {
			t.Fatalf("DecodeShared failed where Decode succeeded: %v", err)
		}
		if diff := cmp.Diff(p, s, cmpOpts); diff != "" {
			t.Fatalf("DecodeShared differs from Decode (-Decode +DecodeShared):\n%s", diff)
		}
	})
}
