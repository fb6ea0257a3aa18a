package stack

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/posting"
)

func relayMetas() []Meta {
	return []Meta{
		{},
		{Media: posting.Audio, Flags: FlagDroppable | FlagLeft, Left: 40},
		{Media: posting.Video, Flags: FlagDroppable | FlagLeft | FlagFrameEnd, Left: 1 << 31, Tag: &Tag{Frame: 1 << 40}},
		{Media: posting.Control, Tag: &Tag{Key: "cursor/ana"}},
		{Media: posting.Text, Tag: &Tag{Key: strings.Repeat("k", posting.MaxKeyLen), Frame: 7}, Flags: FlagLeft},
	}
}

func TestRelayRoundTrip(t *testing.T) {
	for _, m := range relayMetas() {
		b := AppendRelay(nil, &m)
		if len(b) > RelayBase+RelayExtra(&m) || len(b) > MaxRelayLen {
			t.Errorf("%+v: %d bytes, more than RelayBase+RelayExtra = %d", m, len(b), RelayBase+RelayExtra(&m))
		}
		var got Meta
		got.Flags = FlagControl // flags that are not relay metadata survive
		n, err := ParseRelay(append(b, 0xee), &got)
		if err != nil || n != len(b) {
			t.Fatalf("%+v: ParseRelay = %d, %v; want %d", m, n, err, len(b))
		}
		want := m
		want.Flags |= FlagControl
		if !reflect.DeepEqual(got, want) {
			t.Errorf("round trip: got %+v, want %+v", got, want)
		}
		if again := AppendRelay(nil, &got); !bytes.Equal(again, b) {
			t.Errorf("re-encoding %x, first %x", again, b)
		}
	}
}

func TestRelayRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"media 6", []byte{6}},
		{"end without frame", []byte{relayFrameEnd}},
		{"left cut", []byte{relayLeft, 0x80}},
		{"left non-minimal", []byte{relayLeft, 0x81, 0x00}},
		{"left over 32 bits", []byte{relayLeft, 0x80, 0x80, 0x80, 0x80, 0x10}},
		{"frame zero", []byte{relayFrame, 0}},
		{"key length missing", []byte{relayKey}},
		{"key empty", []byte{relayKey, 0}},
		{"key cut", []byte{relayKey, 3, 'a'}},
		{"key too long", append([]byte{relayKey, posting.MaxKeyLen + 1}, make([]byte, posting.MaxKeyLen+1)...)},
	} {
		m := Meta{Seq: 9}
		if _, err := ParseRelay(tc.b, &m); !errors.Is(err, ErrRelay) {
			t.Errorf("%s: err %v, want ErrRelay", tc.name, err)
		}
		if !reflect.DeepEqual(m, Meta{Seq: 9}) {
			t.Errorf("%s: meta changed on error: %+v", tc.name, m)
		}
	}
}

func TestStampLeft(t *testing.T) {
	now := time.Unix(1000, 0)
	var m Meta
	m.StampLeft(now)
	if m.Flags&FlagLeft != 0 {
		t.Fatal("no deadline, but time left stamped")
	}
	for _, tc := range []struct {
		in   time.Duration
		want uint32
	}{
		{-time.Second, 0}, {0, 0}, {time.Microsecond, 1}, {time.Millisecond, 1},
		{time.Millisecond + 1, 2}, {250 * time.Millisecond, 250}, {100 * time.Hour * 24 * 365, 1<<32 - 1},
	} {
		m.Deadline = now.Add(tc.in)
		m.StampLeft(now)
		if m.Flags&FlagLeft == 0 || m.Left != tc.want {
			t.Errorf("deadline in %v: left %d (flag %v), want %d", tc.in, m.Left, m.Flags&FlagLeft != 0, tc.want)
		}
	}
	m.Deadline = time.Time{}
	m.StampLeft(now)
	if m.Flags&FlagLeft != 0 || m.Left != 0 {
		t.Fatal("clearing the deadline kept the stamp")
	}
}

// FuzzRelay checks that ParseRelay never panics and accepts only canonical
// encodings: what it parses re-encodes to the bytes it consumed.
func FuzzRelay(f *testing.F) {
	for _, m := range relayMetas() {
		f.Add(AppendRelay(nil, &m))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Meta
		n, err := ParseRelay(b, &m)
		if err != nil {
			return
		}
		if again := AppendRelay(nil, &m); !bytes.Equal(again, b[:n]) {
			t.Fatalf("parsed %x (%+v), re-encodes as %x", b[:n], m, again)
		}
	})
}

func TestRelayLen(t *testing.T) {
	for _, m := range relayMetas() {
		if n, want := RelayLen(&m), len(AppendRelay(nil, &m)); n != want {
			t.Errorf("%+v: RelayLen %d, encoding %d bytes", m, n, want)
		}
	}
}

// BenchmarkParseRelay: parsing relay metadata costs nothing without a key
// or frame id, and a Tag (plus the key's string) with them.
func BenchmarkParseRelay(b *testing.B) {
	for _, c := range []struct {
		name string
		m    Meta
	}{
		{"plain", Meta{Media: posting.Audio, Flags: FlagLeft, Left: 40}},
		{"key+frame", Meta{Media: posting.Video, Flags: FlagDroppable, Tag: &Tag{Key: "cam/1", Frame: 9}}},
	} {
		enc := AppendRelay(nil, &c.m)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			var m Meta
			for b.Loop() {
				if _, err := ParseRelay(enc, &m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
