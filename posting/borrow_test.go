package posting_test

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rwanda-go/rwanda/posting"
)

// TestBorrowerAllocatesNothing: decoding postings with []byte bodies (and
// with none) through a Borrower allocates nothing, once its stream name
// is interned; the body aliases the input.
func TestBorrowerAllocatesNothing(t *testing.T) {
	encs := make([][]byte, 0, 3)
	for _, body := range []any{[]byte("one body"), []byte("another, longer body"), nil} {
		b, err := posting.New(body, posting.WithStream("busy"), posting.WithKey("k")).MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		encs = append(encs, b)
	}
	var d posting.Borrower
	i := 0
	n := testing.AllocsPerRun(1000, func() {
		p, err := d.Decode(encs[i%len(encs)])
		if err != nil || p.Stream != "busy" {
			t.Fatalf("decode: %v %v", p, err)
		}
		i++
	})
	if n != 0 {
		t.Fatalf("Borrower.Decode allocates %v times per posting, want 0", n)
	}
	p, err := d.Decode(encs[0])
	if err != nil {
		t.Fatal(err)
	}
	body := p.Body.([]byte)
	if !bytes.Equal(body, []byte("one body")) || &body[0] != &encs[0][len(encs[0])-len(body)] {
		t.Fatalf("body %q does not alias the input", body)
	}
}

// TestBorrowerReuse: each Decode replaces the posting the last one
// returned, body included; a Clone taken before stays as it was.
func TestBorrowerReuse(t *testing.T) {
	var d posting.Borrower
	enc := func(body any) []byte {
		b, err := posting.New(body, posting.WithStream("s"), posting.WithHeader("h", "v")).MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	first := enc([]byte("first"))
	p, err := d.Decode(first)
	if err != nil {
		t.Fatal(err)
	}
	kept := p.Clone()
	if !d.Borrowed(p) || d.Borrowed(kept) {
		t.Fatal("Borrowed does not tell the Borrower's posting from its Clone")
	}
	q, err := d.Decode(enc("a string"))
	if err != nil {
		t.Fatal(err)
	}
	if q != p || q.Body != "a string" {
		t.Fatalf("second Decode: %p %v, want the same posting %p with the new body", q, q, p)
	}
	want, err := posting.Decode(first)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, kept, cmpOpts); diff != "" {
		t.Fatalf("the Clone changed (-want +got):\n%s", diff)
	}
	// The clone's body is its own: changing the input does not reach it.
	first[len(first)-1] = 'X'
	if got := kept.Body.([]byte); string(got) != "first" {
		t.Fatalf("Clone's body %q aliases the input", got)
	}
	// An error leaves no posting behind.
	if _, err := d.Decode([]byte{0xff}); err == nil {
		t.Fatal("Decode of garbage succeeded")
	}
	if p.Body != nil || p.Stream != "" {
		t.Fatalf("after a failed Decode the posting still holds %v", p)
	}
}
