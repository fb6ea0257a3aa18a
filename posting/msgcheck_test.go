package posting

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// msgpackSamples are values whose encodings exercise every msgpack format.
var msgpackSamples = []any{
	nil, true, false,
	0, 127, 128, 255, 256, 65535, 65536, math.MaxUint32, uint64(math.MaxUint64),
	-1, -32, -33, -128, -129, -32768, -32769, math.MinInt32, int64(math.MinInt64),
	int8(1), int16(1), int32(1), uint8(1), uint16(1), uint32(1),
	float32(1.5), 2.5,
	"", "a", strings.Repeat("s", 31), strings.Repeat("s", 32), strings.Repeat("s", 256), strings.Repeat("s", 65536),
	[]byte{}, []byte("b"), make([]byte, 256), make([]byte, 65536),
	[]any{}, []any{1, "a", nil}, make([]any, 16), make([]any, 65536),
	map[string]any{}, map[string]any{"a": 1}, bigMap(16), bigMap(65536),
	time.Unix(1, 0), time.Unix(1, 1), time.Unix(1<<40, 1),
	[]any{[]any{[]any{map[string]any{"x": []any{1}}}}},
	struct {
		A int
		B []string
	}{1, []string{"x"}},
}

func bigMap(n int) map[string]any {
	m := make(map[string]any, n)
	for i := range n {
		m[string(rune('a'+i%26))+strings.Repeat("k", i/26%4)+string(rune(i))] = i
	}
	return m
}

func marshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := appendMsgpack(nil, v)
	if err != nil {
		t.Fatalf("encoding %T: %v", v, err)
	}
	return b
}

func TestCheckMsgpackValid(t *testing.T) {
	for _, v := range msgpackSamples {
		b := marshal(t, v)
		if err := checkMsgpack(b); err != nil {
			t.Errorf("checkMsgpack(%T, % x...): %v", v, b[:min(len(b), 8)], err)
			continue
		}
		if err := checkMsgpack(append(b[:len(b):len(b)], 0xc0)); err == nil {
			t.Errorf("checkMsgpack accepted %T with a trailing byte", v)
		}
		if len(b) > 1024 {
			continue
		}
		for i := range len(b) {
			if err := checkMsgpack(b[:i]); err == nil {
				t.Errorf("checkMsgpack accepted prefix %d of %T (% x)", i, v, b)
			}
		}
	}
}

func TestCheckMsgpackHostile(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "cut short"},
		{"array32 huge", []byte{0xdd, 0xff, 0xff, 0xff, 0xff}, "declares"},
		{"array16 short", []byte{0xdc, 0x00, 0x03, 0xc0, 0xc0}, "declares"},
		{"map32 huge", []byte{0xdf, 0x7f, 0xff, 0xff, 0xff, 0xc0}, "declares"},
		{"fixmap short", []byte{0x81, 0xc0}, "declares"},
		{"str32 huge", []byte{0xdb, 0xff, 0xff, 0xff, 0xff, 'a'}, "cut short"},
		{"bin32 huge", []byte{0xc6, 0xff, 0xff, 0xff, 0xff, 'a'}, "cut short"},
		{"ext32 huge", []byte{0xc9, 0xff, 0xff, 0xff, 0xff, 0x01}, "cut short"},
		{"length cut", []byte{0xdd, 0xff}, "cut short"},
		{"never used", []byte{0xc1}, "0xc1"},
		{"too deep", append(bytes.Repeat([]byte{0x91}, maxMsgpackDepth+1), 0xc0), "deeper"},
		{"trailing", []byte{0xc0, 0xc0}, "trailing"},
	}
	for _, tt := range tests {
		err := checkMsgpack(tt.b)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: checkMsgpack = %v, want error containing %q", tt.name, err, tt.want)
		}
	}
	deepOK := append(bytes.Repeat([]byte{0x91}, maxMsgpackDepth), 0xc0)
	if err := checkMsgpack(deepOK); err != nil {
		t.Errorf("checkMsgpack rejected nesting of exactly %d levels: %v", maxMsgpackDepth, err)
	}
	var v any
	if err := unmarshalMsgpack(deepOK, &v); err != nil {
		t.Errorf("decoding nesting of %d levels: %v", maxMsgpackDepth, err)
	}
}

func TestCheckMsgpackNoAllocs(t *testing.T) {
	b := marshal(t, map[string]any{"a": []any{1, "x", []byte("y"), map[string]any{"z": 1.5}}})
	if n := testing.AllocsPerRun(100, func() { _ = checkMsgpack(b) }); n != 0 {
		t.Errorf("checkMsgpack allocates %v times", n)
	}
}

// FuzzCheckMsgpack cross-checks checkMsgpack against the msgpack library:
// whatever the check accepts, msgpack can skip exactly. (The converse is
// not fuzzed: feeding rejected input to msgpack is what the check exists to
// prevent, as it may allocate gigabytes.)
func FuzzCheckMsgpack(f *testing.F) {
	for _, v := range msgpackSamples {
		if b := marshal(f, v); len(b) < 4096 {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := checkMsgpack(b); err != nil {
			return
		}
		r := bytes.NewReader(b)
		d := msgpack.NewDecoder(r)
		if err := d.Skip(); err != nil {
			t.Fatalf("check accepted % x but msgpack cannot skip it: %v", b, err)
		}
		if r.Len() != 0 {
			t.Fatalf("check accepted % x but msgpack leaves %d bytes", b, r.Len())
		}
	})
}
