package gwire

import (
	"bytes"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	for _, typ := range []byte{Challenge, Echo} {
		b := Append(nil, typ, 0x0102030405060708)
		if len(b) != Len {
			t.Fatalf("length %d", len(b))
		}
		c, err := Parse(b)
		if err != nil || c.Type != typ || c.Cookie != 0x0102030405060708 {
			t.Fatalf("Parse: %+v %v", c, err)
		}
	}
	b := AppendThinned(nil, 9, 3)
	if c, err := Parse(b); err != nil || len(b) != ThinnedLen || c != (Control{Type: Thinned, Member: 9, Stream: 3}) {
		t.Fatalf("thinned: %+v %v", c, err)
	}
}

func TestMalformed(t *testing.T) {
	good := Append(nil, Echo, 7)
	for name, b := range map[string][]byte{
		"empty":     nil,
		"short":     good[:Len-1],
		"long":      append(bytes.Clone(good), 0),
		"magic":     append([]byte{0x52}, good[1:]...),
		"version":   append([]byte{Magic, 2<<4 | Echo}, good[2:]...),
		"type 0":    append([]byte{Magic, Version << 4}, good[2:]...),
		"type 3":    append([]byte{Magic, Version<<4 | 3}, good[2:]...),
		"cookie 0":  Append(nil, Echo, 0),
		"member 0":  AppendThinned(nil, 0, 1),
		"stream 0":  AppendThinned(nil, 1, 0),
		"thin cut":  AppendThinned(nil, 1, 1)[:ThinnedLen-1],
		"echo long": append(Append(nil, Echo, 1), 0, 0, 0, 0),
	} {
		if _, err := Parse(b); err != ErrMalformed {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// FuzzParse: whatever arrives, Parse either refuses it or returns what
// Append re-encodes to the same bytes.
func FuzzParse(f *testing.F) {
	f.Add(Append(nil, Challenge, 1))
	f.Add(Append(nil, Echo, 1<<63))
	f.Add(AppendThinned(nil, 5, 6))
	f.Add([]byte{Magic})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Parse(b)
		if err != nil {
			return
		}
		if !bytes.Equal(c.Append(nil), b) {
			t.Fatalf("%x parses as %+v, which encodes differently", b, c)
		}
	})
}
