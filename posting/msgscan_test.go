package posting

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// Types for the cost model tests.
type (
	scanInner struct {
		S string
		N int64
		B []byte
	}
	ScanEmbedded struct {
		E1 string
		E2 []int
	}
	ScanPtrEmbedded struct {
		P1 string
		P2 map[string]int
	}
	hiddenEmbedded struct{ H1 string }
	scanHidden     struct {
		hiddenEmbedded
		*ScanEmbedded
		V int
	}
	scanStruct struct {
		Name    string            `msgpack:"name"`
		Old     int               `msgpack:"new,alias:old"`
		Skip    string            `msgpack:"-"`
		Ints    []int             `msgpack:",omitempty"`
		Map     map[string]string // string→string fast path
		Any     map[string]any
		Typed   map[int]scanInner
		Big     map[string][200]byte // values stored out of line
		Ptr     *scanInner
		Inner   scanInner
		Arr     [3]scanInner
		Bytes   [4]byte
		When    time.Time
		WhenP   *time.Time
		Iface   any
		Err     error
		Str     fmt.Stringer
		F32     float32
		F64     float64
		Structs []scanInner
		Nested  [][]string
		ScanEmbedded
		*ScanPtrEmbedded
		unexported int
	}
	scanArray struct {
		_msgpack struct{} `msgpack:",as_array"`
		A, B     int
		C        string
	}
	bigElem    struct{ A [64]int64 }
	hugeElem   struct{ A [200]int64 } // over reflect.Zero's 1 KiB shared zero value
	scanCustom struct{ V []byte }
	scanBinary struct{ b []byte }
	selfInline struct{ *selfInline }
	ptrCycle   *ptrCycle
	withCycle  struct{ P ptrCycle }
	badIntern  struct {
		N int `msgpack:",intern"`
	}
	internField struct {
		S string `msgpack:",intern"`
	}
)

func (c *scanCustom) DecodeMsgpack(d *msgpack.Decoder) error {
	var err error
	c.V, err = d.DecodeBytes()
	return err
}

func (c scanCustom) EncodeMsgpack(e *msgpack.Encoder) error { return e.EncodeBytes(c.V) }

func (b *scanBinary) UnmarshalBinary(p []byte) error {
	b.b = append([]byte(nil), p...)
	return nil
}

func (b scanBinary) MarshalBinary() ([]byte, error) { return b.b, nil }

// measure returns the bytes allocated by decoding data into a new T the way
// posting does for a pointer body, less the T itself, and the error. The
// decode runs once first, to fill msgpack's and the package's type caches.
func measure[T any](t testing.TB, data []byte, bound uint64) (uint64, error) {
	t.Helper()
	ti := newTypeInfo[T]("scan")
	return measureDecode(data, ti.decodePtr, allocSize(uint64(reflect.TypeFor[T]().Size())), bound)
}

// measureDecode returns the bytes allocated by decoding data with fn, less
// top, and the decode's error. It decodes once to fill the type caches;
// then, as other goroutines (the garbage collector's and the race
// runtime's among them) allocate too, and the race detector drops pooled
// decoders at random, it measures up to measureTries times until a run is
// within bound and returns the least. Three tries were not enough on a
// loaded CI machine (stop 32: 1776 bytes seen where the decode needs 32).
func measureDecode(data []byte, fn func(*msgpack.Decoder) (any, error), top, bound uint64) (uint64, error) {
	decodeMsgpack(data, nil, math.MaxUint64, fn)
	least := uint64(math.MaxUint64)
	var err error
	for range measureTries {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err = decodeMsgpack(data, nil, math.MaxUint64, fn)
		runtime.ReadMemStats(&after)
		used := after.TotalAlloc - before.TotalAlloc
		least = min(least, used-min(used, top))
		if least <= bound {
			break
		}
	}
	return least, err
}

// measureTries bounds the measurements of one decode; a decode within its
// bound stops at the first.
const measureTries = 12

// scanSlack is what a decode may allocate beyond the model in a test: a
// decoder when the pool is empty (often, under the race detector, which
// drops pooled items at random) and an error message.
const scanSlack = 1024

// checkBound checks that the pre-scan's bound for decoding data into a T
// covers what the decode allocates, and that the scan's prediction of
// failure agrees with the decode.
func checkBound[T any](t *testing.T, name string, data []byte) (cost, used uint64) {
	t.Helper()
	depth, err := checkMsgpackDepth(data)
	if err != nil {
		t.Fatalf("%s: checkMsgpack: %v", name, err)
	}
	cost, mismatch, opaque, err := scanMsgpack(data, topPlanFor(reflect.TypeFor[T]()), math.MaxUint64, checkStackCost(depth))
	if err != nil {
		t.Fatalf("%s: scan: %v", name, err)
	}
	used, derr := measure[T](t, data, cost+scanSlack)
	t.Logf("%-40s %8d bytes: bound %10d, used %10d", name, len(data), cost, used)
	if used > cost+scanSlack {
		t.Errorf("%s (%d bytes as %v): decode allocated %d bytes, the bound is %d", name, len(data), reflect.TypeFor[T](), used, cost)
	}
	if !opaque && mismatch != (derr != nil) {
		t.Errorf("%s: scan predicts failure %v, decode error %v", name, mismatch, derr)
	}
	return cost, used
}

func enc(t testing.TB, v any) []byte {
	t.Helper()
	b, err := msgpack.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func repeatBody(header []byte, item []byte, n int) []byte {
	b := append([]byte(nil), header...)
	for range n {
		b = append(b, item...)
	}
	return b
}

// array32 and map32 return the headers of an array and map of n items.
func array32(n int) []byte { return []byte{0xdd, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)} }
func map32(n int) []byte   { return []byte{0xdf, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)} }

// distinctKeys returns a msgpack map of n entries with distinct string keys
// of the given length and the value val.
func distinctKeys(n, keyLen int, val []byte) []byte {
	b := map32(n)
	for i := range n {
		k := fmt.Sprintf("%0*d", keyLen, i)
		b = append(b, 0xd9, byte(len(k)))
		b = append(b, k...)
		b = append(b, val...)
	}
	return b
}

func TestScanBoundsAllocations(t *testing.T) {
	now := time.Unix(1700000000, 123456789)
	full := scanStruct{
		Name: "n", Old: 5, Ints: []int{1, 2, 300},
		Map:     map[string]string{"a": "b", "cc": "dd"},
		Any:     map[string]any{"x": []any{1, "two", 3.5, nil, map[string]any{"y": true}}, "t": now},
		Typed:   map[int]scanInner{1: {S: "s", N: 1 << 40}, 2: {B: []byte("bb")}},
		Big:     map[string][200]byte{"k": {1}},
		Ptr:     &scanInner{S: "p"},
		Inner:   scanInner{S: strings.Repeat("i", 100)},
		Arr:     [3]scanInner{{S: "a0"}, {N: -1}},
		Bytes:   [4]byte{1, 2},
		When:    now,
		WhenP:   &now,
		Iface:   []any{"x", int64(1) << 50, float32(1.5)},
		F32:     1.25,
		F64:     -2.5,
		Structs: []scanInner{{S: "x"}, {N: 7}},
		Nested:  [][]string{{"a", "bb"}, nil, {}},
		ScanEmbedded: ScanEmbedded{
			E1: "e", E2: []int{9},
		},
		ScanPtrEmbedded: &ScanPtrEmbedded{P1: "p1", P2: map[string]int{"z": 26}},
	}
	checkBound[scanStruct](t, "full struct", enc(t, full))
	checkBound[scanStruct](t, "zero struct", enc(t, scanStruct{}))
	checkBound[scanStruct](t, "nil", []byte{0xc0})
	checkBound[scanStruct](t, "alias", enc(t, map[string]any{"old": 3, "unknown": []any{"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"}}))
	checkBound[scanStruct](t, "embedded names", enc(t, map[string]any{"E1": "x", "P1": "y", "P2": map[string]int{"a": 1}}))
	checkBound[scanHidden](t, "unexported embedded", enc(t, map[string]any{"H1": "x", "V": 1}))
	checkBound[scanHidden](t, "unexported embedded, empty", enc(t, map[string]any{"hiddenEmbedded": map[string]any{}}))
	checkBound[scanStruct](t, "error field", enc(t, map[string]any{"Err": "boom"}))
	checkBound[scanStruct](t, "stringer from time", enc(t, map[string]any{"Str": now}))
	checkBound[scanStruct](t, "stringer from int", enc(t, map[string]any{"Str": 1}))
	checkBound[scanStruct](t, "wrong type", enc(t, map[string]any{"Ints": "x"}))
	checkBound[scanStruct](t, "nil time", enc(t, map[string]any{"When": nil}))
	checkBound[scanArray](t, "as array", enc(t, scanArray{A: 1, B: 2, C: "c"}))
	checkBound[scanArray](t, "as array, wrong length", enc(t, []any{1, 2}))
	checkBound[scanArray](t, "as map", enc(t, map[string]any{"A": 1, "C": "c"}))
	checkBound[time.Time](t, "top time", enc(t, now))
	checkBound[time.Time](t, "top time legacy", enc(t, []any{1, 2}))
	checkBound[time.Time](t, "top time string", enc(t, "2024-01-02T03:04:05+07:00"))
	checkBound[time.Time](t, "top time nil", []byte{0xc0})
	checkBound[scanCustom](t, "custom", enc(t, scanCustom{V: bytes.Repeat([]byte("c"), 1000)}))
	checkBound[[]scanCustom](t, "custom slice", enc(t, []scanCustom{{V: []byte("a")}, {}, {V: bytes.Repeat([]byte("c"), 100)}}))
	checkBound[scanBinary](t, "binary unmarshaler", enc(t, scanBinary{b: bytes.Repeat([]byte("b"), 300)}))
	checkBound[internField](t, "intern", enc(t, map[string]any{"S": "interned"}))
	checkBound[map[int8]string](t, "int keys", enc(t, map[int8]string{1: "a", 2: "b"}))
	checkBound[map[any]int](t, "dynamic keys", enc(t, map[any]int{"a": 1, int8(2): 2}))
	checkBound[map[any]int](t, "unhashable key", repeatBody([]byte{0x81}, []byte{0x90, 0x01}, 1))

	// Default and dynamic types, ordinary values.
	checkBound[bool](t, "bool", enc(t, true))
	checkBound[int](t, "int", enc(t, math.MinInt64))
	checkBound[uint64](t, "uint64", enc(t, uint64(math.MaxUint64)))
	checkBound[float64](t, "float64", enc(t, math.Pi))
	checkBound[float64](t, "float64 from int", enc(t, 3))
	checkBound[[]string](t, "[]string", enc(t, []string{"a", "", "ccc", strings.Repeat("d", 70000)}))
	checkBound[[]any](t, "[]any", enc(t, []any{"a", 1, 1.5, []byte("b"), []any{}, map[string]any{}, nil, true, now}))
	checkBound[map[string]any](t, "map[string]any", enc(t, map[string]any{"a": 1, "b": []any{"c"}, "d": map[string]any{"e": "f"}}))
	checkBound[map[string]any](t, "map[string]any non-string key", enc(t, map[int]int{1: 2}))

	// Hostile shapes.
	const n = 64 << 10
	checkBound[[]string](t, "empty strings", repeatBody(array32(n), []byte{0xa0}, n))
	checkBound[[]any](t, "nils", repeatBody(array32(n), []byte{0xc0}, n))
	checkBound[[]any](t, "empty maps", repeatBody(array32(n), []byte{0x80}, n))
	checkBound[[]any](t, "empty arrays", repeatBody(array32(n), []byte{0x90}, n))
	checkBound[[]any](t, "empty bins", repeatBody(array32(n), []byte{0xc4, 0x00}, n))
	checkBound[[]any](t, "float64s", repeatBody(array32(n), []byte{0xcb, 1, 2, 3, 4, 5, 6, 7, 8}, n))
	checkBound[[]any](t, "times", repeatBody(array32(n), []byte{0xd6, 0xff, 1, 2, 3, 4}, n))
	checkBound[[]any](t, "growing strings", growingStrings(2000))
	checkBound[map[string]any](t, "duplicate keys", repeatBody(map32(n), []byte{0xa0, 0x80}, n))
	checkBound[[]bigElem](t, "struct slice", repeatBody(array32(n/64), []byte{0x80}, n/64))
	checkBound[[]hugeElem](t, "huge struct nils", repeatBody(array32(64), []byte{0xc0}, 64))
	checkBound[[]*bigElem](t, "pointers", repeatBody(array32(n/64), []byte{0x80}, n/64))
	checkBound[[][]int](t, "nested slices", repeatBody(array32(n), []byte{0x91, 0x01}, n))
	checkBound[scanStruct](t, "unknown fields", repeatBody(map32(1000), []byte{0xa1, 'u', 0xa0}, 1000))
	for _, d := range []int{31, 32, 33, 64, 65, 300, maxMsgpackDepth - 1} {
		nested := append(bytes.Repeat([]byte{0x91}, d), 0xc0)
		checkBound[[]any](t, fmt.Sprintf("nested %d deep", d), nested)
		checkBound[scanStruct](t, fmt.Sprintf("unknown field nested %d deep", d), append([]byte{0x81, 0xa1, 'u'}, nested...))
	}
	for _, m := range []int{0, 1, 8, 9, 14, 15, 100, 448, 449, 895, 896, 897, 1000, 1792, 3584, 7000, 7168, 7169, 14336, 30000} {
		checkBound[map[string]any](t, fmt.Sprintf("map of %d", m), distinctKeys(m, 6, []byte{0x01}))
		checkBound[map[string]string](t, fmt.Sprintf("string map of %d", m), distinctKeys(m, 6, []byte{0xa1, 'v'}))
		checkBound[map[string]int16](t, fmt.Sprintf("typed map of %d", m), distinctKeys(m, 6, []byte{0x01}))
	}
}

// growingStrings returns an array of n strings, each longer than the one
// before, so that msgpack's scratch buffer grows at every one.
func growingStrings(n int) []byte {
	b := array32(n)
	for i := range n {
		l := 2 + i + i/4
		b = append(b, 0xdb, byte(l>>24), byte(l>>16), byte(l>>8), byte(l))
		b = append(b, bytes.Repeat([]byte{'s'}, l)...)
	}
	return b
}

// TestAllocSize checks allocSize and noscanSize against the runtime's
// accounting, for single objects and for runs of small pointer-free
// objects of sizes that waste the most of their shared 16-byte blocks.
func TestAllocSize(t *testing.T) {
	var sink [][]byte
	var ptrSink []*[]byte
	// least returns the fewest bytes f allocated in a few runs (other
	// goroutines, the garbage collector's among them, allocate too).
	least := func(f func()) uint64 {
		best := uint64(math.MaxUint64)
		for range 5 {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			f()
			runtime.ReadMemStats(&after)
			best = min(best, after.TotalAlloc-before.TotalAlloc)
		}
		return best
	}
	for _, n := range []uint64{1, 8, 15, 16, 17, 24, 25, 100, 1000, 1025, 4097, 6913, 8193, 32767, 32768, 32769, 40000, 1 << 20, 1<<20 + 1} {
		if got := least(func() { sink = [][]byte{make([]byte, n)} }) - allocSize(24); got > allocSize(n) {
			t.Errorf("make([]byte, %d) allocated %d bytes, allocSize says %d", n, got, allocSize(n))
		}
		if got := least(func() { p := new([]byte); ptrSink = append(ptrSink[:0], p) }); got > allocSize(24) {
			t.Errorf("new([]byte) allocated %d bytes, allocSize says %d", got, allocSize(24))
		}
	}
	for _, sizes := range [][]uint64{{8, 9}, {9, 8}, {1, 15}, {15, 1}, {2, 15, 3}, {7, 9, 8}, {4, 13}, {8}, {1}, {15}, {12, 5}} {
		const runs = 1000
		var want uint64
		for _, n := range sizes {
			want += runs * noscanSize(n)
		}
		got := least(func() {
			sink = make([][]byte, 0, runs*len(sizes))
			for range runs {
				for _, n := range sizes {
					sink = append(sink, make([]byte, n))
				}
			}
		}) - allocSize(24*runs*uint64(len(sizes)))
		if got > want+16 {
			t.Errorf("%d runs of objects of %v bytes allocated %d bytes, noscanSize says %d", runs, sizes, got, want)
		}
	}
	_, _ = sink, ptrSink
}

func TestScanRefuses(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		plan *scanPlan
		want string
	}{
		{"extension around a map", []byte{0xc7, 0x05, 0x00, 0xdf, 0x7f, 0xff, 0xff, 0xff}, planFor(reflect.TypeFor[map[string]any]()), "extension"},
		{"extension around a map, top level", []byte{0xc7, 0x05, 0x00, 0xdf, 0x7f, 0xff, 0xff, 0xff}, topPlanFor(reflect.TypeFor[map[string]any]()), "extension"},
		{"extension around a typed map", []byte{0xd5, 0x00, 0x81, 0x01}, planFor(reflect.TypeFor[map[int]int]()), "extension"},
		{"extension around a struct field map", []byte{0x81, 0xa3, 'M', 'a', 'p', 0xd4, 0x00, 0x80}, planFor(reflect.TypeFor[scanStruct]()), "extension"},
		{"self-inlining struct", []byte{0x80}, planFor(reflect.TypeFor[selfInline]()), "cannot decode"},
		{"pointer cycle", []byte{0x81, 0xa1, 'P', 0xc0}, planFor(reflect.TypeFor[withCycle]()), "cannot decode"},
		{"intern on an int", []byte{0x80}, planFor(reflect.TypeFor[badIntern]()), "cannot decode"},
	}
	for _, tt := range tests {
		if err := checkMsgpack(tt.data); err != nil {
			t.Fatalf("%s: checkMsgpack: %v", tt.name, err)
		}
		_, _, _, err := scanMsgpack(tt.data, tt.plan, math.MaxUint64, 0)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: scan error %v, want one mentioning %q", tt.name, err, tt.want)
		}
	}
}

// TestExtensionWrappedMap checks the 8-byte body that made msgpack allocate
// a map of 2^31 entries: an extension whose payload starts with a map32
// header, which Decoder.DecodeMapLen unwraps without checking its count.
func TestExtensionWrappedMap(t *testing.T) {
	body := []byte{0xc7, 0x05, 0x00, 0xdf, 0x00, 0x10, 0x00, 0x00} // a map of 2^20 entries
	var v map[string]any
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err := unmarshalMsgpack(body, &v)
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "extension") {
		t.Errorf("Raw.Decode of an extension-wrapped map: %v", err)
	}
	// The map it guards against takes tens of megabytes; the bound leaves
	// room for what other goroutines allocate meanwhile (23 KB seen).
	if used := after.TotalAlloc - before.TotalAlloc; used > 256<<10 {
		t.Errorf("decoding the 8-byte body allocated %d bytes", used)
	}
}

func TestScanOverlap(t *testing.T) {
	p := planFor(reflect.TypeFor[scanStruct]())
	bodies := map[string][]byte{
		"duplicate key": {0x82, 0xa3, 'M', 'a', 'p', 0x80, 0xa3, 'M', 'a', 'p', 0x80},
		"alias":         {0x82, 0xa3, 'n', 'e', 'w', 0x01, 0xa3, 'o', 'l', 'd', 0x02},
		"embedded":      {0x82, 0xac, 'S', 'c', 'a', 'n', 'E', 'm', 'b', 'e', 'd', 'd', 'e', 'd', 0x80, 0xa2, 'E', '1', 0xa0},
	}
	for name, body := range bodies {
		if err := checkMsgpack(body); err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := scanMsgpack(body, p, decodeLimit(len(body)), 0); !errors.Is(err, errOverlap) {
			t.Errorf("%s: scan error %v, want errOverlap", name, err)
		}
		if _, _, _, err := scanMsgpack(body, p, math.MaxUint64, 0); err != nil {
			t.Errorf("%s: unbudgeted scan error %v", name, err)
		}
	}
}

// fuzzTargets are the types FuzzScanMsgpack decodes into.
var fuzzTargets = []struct {
	plan   *scanPlan
	decode func(*msgpack.Decoder) (any, error)
	size   uint64
}{
	fuzzTarget[bool](),
	fuzzTarget[int](),
	fuzzTarget[int64](),
	fuzzTarget[uint64](),
	fuzzTarget[float64](),
	fuzzTarget[[]string](),
	fuzzTarget[map[string]any](),
	fuzzTarget[[]any](),
	fuzzTarget[[]bigElem](),
	fuzzTarget[scanStruct](),
	fuzzTarget[scanArray](),
	fuzzTarget[time.Time](),
	fuzzTarget[map[any]int](),
	fuzzTarget[map[int16][]*string](),
	fuzzTarget[[3]float32](),
	fuzzTarget[[2]byte](),
	fuzzTarget[[]error](),
	fuzzTarget[map[string]string](),
	fuzzTarget[[]*bigElem](),
	fuzzTarget[[2][]string](),
	fuzzTarget[[]hugeElem](),
	fuzzTarget[scanHidden](),
	fuzzTarget[struct {
		C  scanCustom
		B  *scanBinary
		I  internField
		T  []time.Time
		BS []byte
	}](),
}

func fuzzTarget[T any]() struct {
	plan   *scanPlan
	decode func(*msgpack.Decoder) (any, error)
	size   uint64
} {
	ti := newTypeInfo[T]("fuzz")
	return struct {
		plan   *scanPlan
		decode func(*msgpack.Decoder) (any, error)
		size   uint64
	}{ti.plan, ti.decodePtr, allocSize(uint64(reflect.TypeFor[T]().Size()))}
}

// FuzzScanMsgpack checks the pre-scan against msgpack on arbitrary input
// and a set of types: the scan never panics; whatever it accepts within
// the budget, msgpack decodes allocating no more than the bound (plus
// slack for a pooled decoder and an error); and unless the value involves
// application decoders, msgpack fails exactly when the scan predicts it.
func FuzzScanMsgpack(f *testing.F) {
	for _, v := range msgpackSamples {
		if b := marshal(f, v); len(b) < 4096 {
			f.Add(b)
		}
	}
	now := time.Unix(1700000000, 5)
	for _, v := range []any{
		scanStruct{Name: "n", Ints: []int{1}, Map: map[string]string{"a": "b"}, Typed: map[int]scanInner{1: {S: "s"}},
			Ptr: &scanInner{N: 2}, When: now, WhenP: &now, Iface: []any{1}, Structs: []scanInner{{}}, Nested: [][]string{{"x"}},
			ScanEmbedded: ScanEmbedded{E1: "e"}, ScanPtrEmbedded: &ScanPtrEmbedded{P1: "p"}},
		scanArray{A: 1, C: "c"},
		[]bigElem{{}, {A: [64]int64{1}}},
		map[string]any{"Err": "e", "Str": now},
		map[int16][]*string{1: {nil}},
		[3]float32{1, 2},
		[]any{now, []byte{1}, float32(2)},
	} {
		f.Add(marshal(f, v))
	}
	f.Add([]byte{0xc7, 0x05, 0x00, 0xdf, 0x00, 0x10, 0x00, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		depth, err := checkMsgpackDepth(data)
		if err != nil {
			return
		}
		for _, ft := range fuzzTargets {
			cost, mismatch, opaque, err := scanMsgpack(data, ft.plan, decodeLimit(len(data)), checkStackCost(depth))
			switch {
			case errors.Is(err, errBudget), errors.Is(err, errOverlap), errors.Is(err, errExtensionMap):
				continue
			case err != nil:
				t.Fatalf("%v: % x: scan error %v on input checkMsgpack accepts", ft.plan.typ, data, err)
			}
			used, derr := measureDecode(data, ft.decode, ft.size, cost+scanSlack)
			if used > cost+scanSlack {
				t.Errorf("%v: % x: decode allocated %d bytes, the bound is %d", ft.plan.typ, data, used, cost)
			}
			if !opaque && mismatch != (derr != nil) {
				t.Errorf("%v: % x: scan predicts failure %v, decode error %v", ft.plan.typ, data, mismatch, derr)
			}
		}
	})
}

// TestScanDoesNotAllocate checks that the walk allocates nothing once the
// type is planned, so that it costs no memory on hostile input.
func TestScanDoesNotAllocate(t *testing.T) {
	now := time.Unix(1, 2)
	tests := []struct {
		plan *scanPlan
		data []byte
	}{
		{planFor(reflect.TypeFor[scanStruct]()), enc(t, scanStruct{Name: "n", Any: map[string]any{"a": []any{1, "b"}}, Typed: map[int]scanInner{1: {}}, When: now, Structs: []scanInner{{}}})},
		{planFor(reflect.TypeFor[[]any]()), repeatBody(array32(1000), []byte{0x81, 0xa1, 'k', 0x90}, 1000)},
		{planFor(reflect.TypeFor[[]bigElem]()), repeatBody(array32(1000), []byte{0x80}, 1000)},
	}
	for _, tt := range tests {
		if n := testing.AllocsPerRun(10, func() { scanMsgpack(tt.data, tt.plan, math.MaxUint64, 0) }); n != 0 {
			t.Errorf("scanning %v allocates %v times", tt.plan.typ, n)
		}
	}
}
