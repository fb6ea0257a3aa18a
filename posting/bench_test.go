package posting_test

import (
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/posting"
)

func bytesPosting() *posting.Posting {
	return &posting.Posting{
		Stream: "telemetry",
		Seq:    123456,
		Sender: 0x1234567890abcdef,
		Sent:   time.Unix(1700000000, 123456789),
		Body:   make([]byte, 64),
	}
}

func structPosting() *posting.Posting {
	return &posting.Posting{
		Stream: "chat",
		Seq:    123456,
		Sender: 0x1234567890abcdef,
		Sent:   time.Unix(1700000000, 123456789),
		Body:   chat{From: "ann", Text: "hello, world", N: 42},
	}
}

func benchEncode(b *testing.B, p *posting.Posting) {
	buf, err := p.AppendBinary(nil)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf, err = p.AppendBinary(buf[:0])
		if err != nil {
			b.Fatal(err)
		}
	}
}

// sink keeps decoded postings alive, so that benchmarks count their
// allocation as real callers would.
var sink *posting.Posting

func benchDecode(b *testing.B, p *posting.Posting) {
	buf, err := p.MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		q, err := posting.Decode(buf)
		if err != nil {
			b.Fatal(err)
		}
		sink = q
	}
}

func benchUnmarshal(b *testing.B, p *posting.Posting) {
	buf, err := p.MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	var q posting.Posting
	for b.Loop() {
		if err := q.UnmarshalBinary(buf); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeBytes(b *testing.B)     { benchEncode(b, bytesPosting()) }
func BenchmarkDecodeBytes(b *testing.B)     { benchDecode(b, bytesPosting()) }
func BenchmarkUnmarshalBytes(b *testing.B)  { benchUnmarshal(b, bytesPosting()) }
func BenchmarkEncodeStruct(b *testing.B)    { benchEncode(b, structPosting()) }
func BenchmarkDecodeStruct(b *testing.B)    { benchDecode(b, structPosting()) }
func BenchmarkUnmarshalStruct(b *testing.B) { benchUnmarshal(b, structPosting()) }

func BenchmarkEncodeStructPtr(b *testing.B) {
	p := structPosting()
	c := p.Body.(chat)
	p.Body = &c
	benchEncode(b, p)
}

func BenchmarkDecodeStructPtr(b *testing.B) {
	p := structPosting()
	c := p.Body.(chat)
	p.Body = &c
	benchDecode(b, p)
}
