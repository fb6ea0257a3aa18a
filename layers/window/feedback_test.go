package window

import (
	"slices"
	"testing"
)

// What AppendNak writes, the window's decoder and NakSpans read back;
// anything else, a NAK without ranges included, is not a NAK.
func TestNakSpansRoundTrip(t *testing.T) {
	in := []Span{{From: 5, To: 9}, {From: 1<<32 - 2, To: 3}}
	b := AppendNak(nil, in)
	got, ok := NakSpans(b, nil)
	if !ok || !slices.Equal(got, in) {
		t.Fatalf("NakSpans(AppendNak(%v)) = %v, %v", in, got, ok)
	}
	var m msg
	if n, err := decode(b, &m); err != nil || n != len(b) || m.typ != msgNak || len(m.spans) != 2 {
		t.Fatalf("decode: %d, %v, %+v", n, err, m)
	}
	for _, bad := range [][]byte{nil, AppendNak(nil, nil), appendStatus(nil, 7), b[:len(b)-1], append(b, 0), {msgNak, 1, 0, 0, 0, 9, 0, 0, 0, 9}} {
		if got, ok := NakSpans(bad, nil); ok {
			t.Errorf("NakSpans(%x) = %v, accepted", bad, got)
		}
	}
}

// TestIsNAK: what a relay takes for a NAK is what the window sends as one,
// and none of its other packets.
func TestIsNAK(t *testing.T) {
	if !IsNAK(AppendNak(nil, []Span{{1, 3}})) || !IsNAK(appendNak(nil, []span{{4, 9}})) {
		t.Fatal("a NAK not taken for one")
	}
	for _, b := range [][]byte{nil, appendStatus(nil, 7), {msgAck}, {msgData, 0}, {msgSync}, {msgSkip}} {
		if IsNAK(b) {
			t.Fatalf("%x taken for a NAK", b)
		}
	}
}
