package posting_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/rwanda-go/rwanda/posting"
)

// TestAllocsWithoutNewFields pins the allocation counts of postings that
// use none of the fields version 2 added, to the counts measured on the
// version 1 code: encoding into a buffer with capacity never allocates,
// and decoding a []byte body costs the Posting, the body copy and the
// body's interface box (the busy stream name is interned).
func TestAllocsWithoutNewFields(t *testing.T) {
	p := bytesPosting()
	buf := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(100, func() {
		buf, _ = p.AppendBinary(buf[:0])
	}); n != 0 {
		t.Errorf("AppendBinary allocates %v times, want 0", n)
	}
	enc, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var q posting.Posting
	tests := []struct {
		name string
		fn   func()
		max  float64
	}{
		{"Decode", func() { sink, _ = posting.Decode(enc) }, 3},
		{"UnmarshalBinary", func() { _ = q.UnmarshalBinary(enc) }, 2},
		{"DecodeShared", func() { sink, _ = posting.DecodeShared(enc) }, 2},
		{"HeaderLen", func() { _, _ = posting.HeaderLen(enc) }, 0},
	}
	for _, tt := range tests {
		tt.fn() // warm the stream cache
		if n := testing.AllocsPerRun(100, tt.fn); n > tt.max {
			t.Errorf("%s allocates %v times, want at most %v", tt.name, n, tt.max)
		} else {
			t.Logf("%s: %v allocs", tt.name, n)
		}
	}
}

func decodeAllocs(t *testing.T, p *posting.Posting) float64 {
	t.Helper()
	enc, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	fn := func() {
		q, err := posting.Decode(enc)
		if err != nil {
			t.Fatal(err)
		}
		sink = q
	}
	fn() // warm the stream and key caches
	return testing.AllocsPerRun(100, fn)
}

// TestAllocsPerHeader checks that decoding n Headers costs at most 2n+1
// allocations (it costs 2: the slice and one string for all names and
// values), and that an interned Key costs none.
func TestAllocsPerHeader(t *testing.T) {
	base := bytesPosting()
	without := decodeAllocs(t, base)
	for _, n := range []int{1, 4, 32} {
		p := *base
		for i := range n {
			p.Headers = append(p.Headers, posting.Header{Name: "name-" + strconv.Itoa(i), Value: strings.Repeat("v", 100)})
		}
		with := decodeAllocs(t, &p)
		t.Logf("%d headers: %v allocs, %v without", n, with, without)
		if with-without > float64(2*n+1) {
			t.Errorf("decoding %d headers costs %v more allocations, want at most %d", n, with-without, 2*n+1)
		}
	}
	p := *base
	p.Key = "sensor/42"
	if with := decodeAllocs(t, &p); with != without {
		t.Errorf("decoding a Key costs %v more allocations, want 0 (interned)", with-without)
	}
}
