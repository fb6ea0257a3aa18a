package posting_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rwanda-go/rwanda/posting"
)

// bigStruct is a user type whose Go form (512 bytes) is far larger than
// the smallest msgpack encoding of it (an empty map, one byte).
type bigStruct struct{ A [64]int64 }

// event has a time.Time, which msgpack decodes from an extension.
type event struct {
	At   time.Time
	Tags []string
}

func init() {
	posting.Register[[]bigStruct]("test.bigStructs")
	posting.Register[[]event]("test.events")
}

// hostileSize is the body size of the worst-case bodies.
const hostileSize = 1 << 20

// arrayOf returns a msgpack array32 of n copies of item.
func arrayOf(n int, item ...byte) []byte {
	b := []byte{0xdd, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
	for range n {
		b = append(b, item...)
	}
	return b
}

// mapOf returns a msgpack map32 of n copies of the entry.
func mapOf(n int, entry ...byte) []byte {
	b := []byte{0xdf, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
	for range n {
		b = append(b, entry...)
	}
	return b
}

// str32 returns a msgpack str32 of n bytes in all.
func str32(n int) []byte {
	m := n - 5
	return append([]byte{0xdb, byte(m >> 24), byte(m >> 16), byte(m >> 8), byte(m)}, bytes.Repeat([]byte{'s'}, m)...)
}

// msgpackPosting returns the encoding of a posting whose body is data
// under the type name.
func msgpackPosting(t testing.TB, name string, data []byte) []byte {
	t.Helper()
	b, err := (&posting.Posting{Stream: "s", Body: posting.Raw{Type: name, Data: data}}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodeAlloc decodes b with decode and returns the posting and the bytes
// allocated (runtime.MemStats.TotalAlloc), measured on a second run after
// a first one has warmed the type caches.
func decodeAlloc(t testing.TB, decode func([]byte) (*posting.Posting, error), b []byte) (*posting.Posting, uint64) {
	t.Helper()
	if _, err := decode(bytes.Clone(b)); err != nil {
		t.Fatal(err)
	}
	in := bytes.Clone(b)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	p, err := decode(in)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	return p, after.TotalAlloc - before.TotalAlloc
}

// TestDecodeMemoryBudget decodes the worst-case 1 MiB bodies of every type
// registered by default, of the opt-in dynamic types and of a user struct
// slice, and checks that decoding takes at most 8 bytes per body byte: the
// bodies that would amplify arrive as a Raw with ErrOverBudget holding
// their bytes. Legitimate values of the same types still decode exactly,
// within the same bound.
func TestDecodeMemoryBudget(t *testing.T) {
	words := make([]string, 20000)
	for i := range words {
		words[i] = fmt.Sprintf("word-%d", i)
	}
	doc := map[string]any{}
	for i := range 2000 {
		doc[fmt.Sprintf("sensor/%04d", i)] = map[string]any{
			"name": fmt.Sprintf("sensor number %d, in the north-east wing", i), "value": float64(i) * 1.5,
			"tags": []any{"outdoor", "calibrated"}, "ok": i%2 == 0,
		}
	}
	list := make([]any, 5000)
	for i := range list {
		list[i] = map[string]any{
			"id": fmt.Sprintf("catalogue/item-%06d", i), "title": fmt.Sprintf("A thing worth buying, number %d", i),
			"price": 9.99, "qty": int64(i) << 20, "tags": []any{"new", int64(i)},
		}
	}
	events := make([]event, 10000)
	for i := range events {
		events[i] = event{At: time.Unix(int64(i)*1000, int64(i)).Local(), Tags: []string{"door", fmt.Sprint(i)}}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	structs := make([]bigStruct, 1000)
	for i := range structs {
		for j := range structs[i].A {
			structs[i].A[j] = rng.Int64()
		}
	}

	tests := []struct {
		name    string // registered type name
		hostile []byte // the worst-case body
		over    bool   // whether the pre-scan refuses it (otherwise msgpack rejects it)
		legit   any
	}{
		// A scalar body is one value: no container, nothing to
		// amplify; the worst is a huge value of the wrong kind.
		{"bool", str32(hostileSize), false, true},
		{"int", str32(hostileSize), false, -12345},
		{"int64", str32(hostileSize), false, int64(-1) << 60},
		{"uint64", str32(hostileSize), false, uint64(1) << 63},
		{"float64", str32(hostileSize), false, 2.5},
		// 16-byte string headers for one-byte empty strings: 16x.
		{"[]string", arrayOf(hostileSize-5, 0xa0), true, words},
		// A new empty map for every two bytes ("" and {}).
		{"map[string]interface {}", mapOf((hostileSize-5)/2, 0xa0, 0x80), true, doc},
		// An interface value and a new empty map per byte: 80x.
		{"[]interface {}", arrayOf(hostileSize-5, 0x80), true, list},
		// 512-byte structs from one-byte empty maps, allocated twice
		// by msgpack's slice decoder: 1024x.
		{"test.bigStructs", arrayOf(hostileSize-5, 0x80), true, structs},
		// A user struct with a time.Time: 48 bytes, allocated twice.
		{"test.events", arrayOf(hostileSize-5, 0x80), true, events},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc := msgpackPosting(t, tt.name, tt.hostile)
			for _, decode := range []func([]byte) (*posting.Posting, error){posting.Decode, posting.DecodeShared} {
				p, used := decodeAlloc(t, decode, enc)
				ratio := float64(used) / float64(len(tt.hostile))
				t.Logf("hostile %d-byte body: %d bytes allocated (%.2fx)", len(tt.hostile), used, ratio)
				if used > 8*uint64(len(tt.hostile)) {
					t.Errorf("decoding a %d-byte body allocated %d bytes (%.1fx), more than 8x", len(tt.hostile), used, ratio)
				}
				raw, ok := p.Body.(posting.Raw)
				if !ok {
					t.Fatalf("hostile body decoded as %T", p.Body)
				}
				if raw.Type != tt.name || !bytes.Equal(raw.Data, tt.hostile) || raw.Pointer {
					t.Errorf("Raw = {Type %q, %d bytes, Pointer %v}, want the body as sent", raw.Type, len(raw.Data), raw.Pointer)
				}
				if got := raw.Err == posting.ErrOverBudget; got != tt.over {
					t.Errorf("Raw.Err = %v; want ErrOverBudget: %v", raw.Err, tt.over)
				}
			}

			b, err := posting.New(tt.legit).MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			n, err := posting.HeaderLen(b)
			if err != nil {
				t.Fatal(err)
			}
			body := len(b) - n
			p, used := decodeAlloc(t, posting.Decode, b)
			t.Logf("legitimate %d-byte body: %d bytes allocated (%.2fx)", body, used, float64(used)/float64(body))
			if diff := cmp.Diff(tt.legit, p.Body); diff != "" {
				t.Fatalf("legitimate value does not round-trip (-want +got):\n%s", diff)
			}
			// 8 bytes per body byte and 4 KiB for the decode, and a
			// little for the Posting and the value's box.
			if limit := 8*uint64(body) + 4096 + 1024; used > limit {
				t.Errorf("decoding the legitimate %d-byte body allocated %d bytes, more than %d", body, used, limit)
			}
		})
	}
}

// TestDecodeBudgetBoundary checks where the budget falls: 8 bytes per body
// byte plus 4 KiB. A []string of n empty strings costs 16n bytes for n+5
// body bytes.
func TestDecodeBudgetBoundary(t *testing.T) {
	for _, tt := range []struct {
		n    int
		over bool
	}{{0, false}, {100, false}, {400, false}, {700, true}, {5000, true}} {
		p, err := posting.Decode(msgpackPosting(t, "[]string", arrayOf(tt.n, 0xa0)))
		if err != nil {
			t.Fatal(err)
		}
		raw, isRaw := p.Body.(posting.Raw)
		switch {
		case tt.over && (!isRaw || raw.Err != posting.ErrOverBudget):
			t.Errorf("%d empty strings: body %T, want a Raw with ErrOverBudget", tt.n, p.Body)
		case !tt.over && (isRaw || len(p.Body.([]string)) != tt.n):
			t.Errorf("%d empty strings: body %#v, want them decoded", tt.n, p.Body)
		}
	}
}

// TestRawDecodeHasNoBudget checks that an application can still decode a
// body refused for its cost, by calling Raw.Decode.
func TestRawDecodeHasNoBudget(t *testing.T) {
	for _, pointer := range []bool{false, true} {
		want := make([]string, 5000)
		b, err := (&posting.Posting{Body: posting.Raw{Type: "[]string", Data: arrayOf(len(want), 0xa0), Pointer: pointer}}).MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		p, err := posting.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		raw, ok := p.Body.(posting.Raw)
		if !ok || !errors.Is(raw.Err, posting.ErrOverBudget) || raw.Pointer != pointer {
			t.Fatalf("body %#v, want a Raw with ErrOverBudget", p.Body)
		}
		var got []string
		if err := raw.Decode(&got); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Raw.Decode (-want +got):\n%s", diff)
		}
		// A Raw refused for its cost is forwarded verbatim.
		if b2, err := (&posting.Posting{Body: raw}).MarshalBinary(); err != nil || !bytes.Equal(b, b2) {
			t.Errorf("forwarding the Raw: %v", err)
		}
		if s := p.String(); !strings.Contains(s, "undecoded") {
			t.Errorf("String() = %s", s)
		}
	}
}

// TestDecodeBudgetStructOverlap checks that a struct body setting one field
// twice, which msgpack would decode into the first value's storage, is not
// decoded, while Raw.Decode still merges the two as msgpack does.
func TestDecodeBudgetStructOverlap(t *testing.T) {
	type twice struct{ M map[string]int }
	posting.Register[twice]("test.twice")
	data := []byte{0x82, 0xa1, 'M', 0x81, 0xa1, 'a', 0x01, 0xa1, 'M', 0x81, 0xa1, 'b', 0x02}
	p, err := posting.Decode(msgpackPosting(t, "test.twice", data))
	if err != nil {
		t.Fatal(err)
	}
	raw, ok := p.Body.(posting.Raw)
	if !ok || raw.Err != posting.ErrOverBudget {
		t.Fatalf("body %#v, want a Raw with ErrOverBudget", p.Body)
	}
	var v twice
	if err := raw.Decode(&v); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(twice{M: map[string]int{"a": 1, "b": 2}}, v); diff != "" {
		t.Errorf("Raw.Decode (-want +got):\n%s", diff)
	}
}

// TestExtensionWrappedMapBody checks an 8-byte map[string]any body that made
// msgpack allocate a map for 2^20 entries (84 MB; a larger count crashes
// the process): an extension whose payload starts with a map header, which
// msgpack's Decoder.DecodeMapLen unwraps without the length check.
func TestExtensionWrappedMapBody(t *testing.T) {
	data := []byte{0xc7, 0x05, 0x00, 0xdf, 0x00, 0x10, 0x00, 0x00}
	p, used := decodeAlloc(t, posting.Decode, msgpackPosting(t, "map[string]interface {}", data))
	raw, ok := p.Body.(posting.Raw)
	if !ok || raw.Err == nil || !strings.Contains(raw.Err.Error(), "extension") {
		t.Errorf("body %#v, want a Raw with an error about the extension", p.Body)
	}
	if used > 4096 {
		t.Errorf("decoding the 8-byte body allocated %d bytes", used)
	}
	var m map[string]any
	if err := raw.Decode(&m); err == nil {
		t.Error("Raw.Decode accepted the extension-wrapped map")
	}
}
