package posting

import (
	"encoding"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/tagparser/v2"
)

// A scanPlan says how github.com/vmihailenco/msgpack/v5 decodes a msgpack
// value into one Go type, in enough detail for the pre-scan (msgscan.go) to
// bound what the decode allocates. Plans mirror msgpack's own choice of
// decoder (its getDecoder): the first matching rule wins.
//
// Plans are built once per type and cached; building one for a type builds
// the plans of every type reachable from it without going through an
// interface or a custom decoder.
type scanPlan struct {
	kind planKind
	typ  reflect.Type
	size uint64 // typ.Size()

	elem *scanPlan // pointee, slice or array element, map value
	key  *scanPlan // map key

	arrayLen int // planArray, planByteArray: the array length

	// planMap: the layout of the runtime's hash table for the map type.
	slot         uint64 // bytes of one key/value slot
	indirectKey  uint64 // bytes allocated per entry for a key stored out of line (> 128 bytes), else 0
	indirectElem uint64 // same for the value

	// planInterface: which of the dynamic types msgpack produces
	// implement the (non-empty) interface type.
	implements dynSet

	// planCustom: bytes allocated before the custom decoder runs (the
	// pointee of a nil pointer).
	customNew uint64

	fields *structPlan // planStruct
}

type planKind uint8

const (
	planCustom          planKind = iota // decoded by application code: CustomDecoder, Unmarshaler, BinaryUnmarshaler, TextUnmarshaler
	planTime                            // time.Time inside a value: msgpack's extension decoder
	planTopTime                         // time.Time as the whole body: Decoder.DecodeTime, which also takes legacy forms
	planPtr                             // pointer: allocates the pointee unless the value is nil
	planBytes                           // slice of a uint8 kind: str or bin
	planByteArray                       // array of a uint8 kind: str or bin
	planStringSlice                     // slice of string: one allocation for the slice
	planMapStringString                 // map with string keys and string values
	planMapStringAny                    // map with string keys and interface{} values: Decoder.DecodeMap
	planMap                             // other maps
	planBool                            // bool kind
	planInt                             // signed integer kinds
	planUint                            // unsigned integer kinds
	planFloat32                         // float32 kind
	planFloat64                         // float64 kind
	planString                          // string kind
	planInterface                       // interface kinds: the dynamic value msgpack creates
	planSlice                           // other slices: reflect.MakeSlice plus reflect.AppendSlice
	planArray                           // other arrays: elements decoded in place
	planStruct                          // structs: from a map keyed by field name, or an array
	planUnsupported                     // complex, chan, func, unsafe.Pointer: msgpack returns an error
	planBroken                          // types msgpack cannot build a decoder for without recursing forever
)

// structPlan is msgpack's field table for one struct type (its
// structs.Fields, with the default "msgpack" tag).
type structPlan struct {
	byName  map[string]int32 // name or alias → entry
	list    []int32          // entries in msgpack's field list order (array form)
	entries []fieldEntry
	words   int // uint64 words in a seen set: one bit per entry, then one per embedded pointer
}

// fieldEntry is one field msgpack can decode into.
type fieldEntry struct {
	plan     *scanPlan
	intern   bool     // `msgpack:",intern"`: msgpack's string interning, treated as a custom decoder
	readonly bool     // reached through an unexported embedded field: reflect refuses most sets
	conflict []uint64 // seen-set bits of the entries whose storage overlaps this one, itself included
	ptrs     []embeddedPtr
}

// embeddedPtr is a nil pointer to an embedded struct that msgpack allocates
// the first time it decodes a field promoted through it.
type embeddedPtr struct {
	bit  int32
	size uint64
}

// dynSet is a set of dynamic kinds (see dynKind).
type dynSet uint32

var (
	timeType        = reflect.TypeFor[time.Time]()
	stringType      = reflect.TypeFor[string]()
	emptyIfaceType  = reflect.TypeFor[any]()
	errorType       = reflect.TypeFor[error]()
	customDecType   = reflect.TypeFor[msgpack.CustomDecoder]()
	unmarshalerType = reflect.TypeFor[msgpack.Unmarshaler]()
	binaryUnmType   = reflect.TypeFor[encoding.BinaryUnmarshaler]()
	textUnmType     = reflect.TypeFor[encoding.TextUnmarshaler]()
	customEncType   = reflect.TypeFor[msgpack.CustomEncoder]()
	marshalerType   = reflect.TypeFor[msgpack.Marshaler]()
	binaryMarType   = reflect.TypeFor[encoding.BinaryMarshaler]()
	textMarType     = reflect.TypeFor[encoding.TextMarshaler]()
)

// Plans are cached per type. planMu serialises building, so that a type
// reachable from two plans being built at once gets one plan.
var (
	planMu    sync.Mutex
	planCache sync.Map // reflect.Type → *scanPlan
	topTime   = &scanPlan{kind: planTopTime, typ: timeType, size: uint64(timeType.Size())}
)

// planFor returns the plan for decoding into a value of type t.
func planFor(t reflect.Type) *scanPlan {
	if p, ok := planCache.Load(t); ok {
		return p.(*scanPlan)
	}
	planMu.Lock()
	defer planMu.Unlock()
	b := planBuilder{pending: map[reflect.Type]*scanPlan{}}
	p := b.plan(t)
	for t, p := range b.pending {
		planCache.Store(t, p)
	}
	return p
}

// topPlanFor returns the plan for decoding a whole body into a T: the same
// as planFor, except that msgpack's Decode takes a fast path for
// *time.Time that accepts more forms than its extension decoder.
func topPlanFor(t reflect.Type) *scanPlan {
	if t == timeType {
		return topTime
	}
	return planFor(t)
}

type planBuilder struct {
	pending map[reflect.Type]*scanPlan
}

func (b *planBuilder) plan(t reflect.Type) *scanPlan {
	if p, ok := planCache.Load(t); ok {
		return p.(*scanPlan)
	}
	if p, ok := b.pending[t]; ok {
		return p // under construction: a recursive type
	}
	p := &scanPlan{typ: t, size: uint64(t.Size())}
	b.pending[t] = p
	b.fill(p)
	return p
}

// implementsDecoder reports whether msgpack decodes t with application
// code.
func implementsDecoder(t reflect.Type) bool {
	return t.Implements(customDecType) || t.Implements(unmarshalerType) ||
		t.Implements(binaryUnmType) || t.Implements(textUnmType)
}

// implementsEncoder reports whether msgpack encodes t with application
// code.
func implementsEncoder(t reflect.Type) bool {
	return t.Implements(customEncType) || t.Implements(marshalerType) ||
		t.Implements(binaryMarType) || t.Implements(textMarType)
}

// plainStruct reports whether msgpack encodes and decodes t with its
// generic struct coder, which is when it inlines an embedded t.
func plainStruct(t reflect.Type) bool {
	if t.Kind() != reflect.Struct || t == timeType {
		return false
	}
	pt := reflect.PointerTo(t)
	return !implementsDecoder(t) && !implementsDecoder(pt) && !implementsEncoder(t) && !implementsEncoder(pt)
}

func (b *planBuilder) fill(p *scanPlan) {
	t := p.typ
	k := t.Kind()
	switch {
	case t == timeType:
		p.kind = planTime
		return
	case k == reflect.Pointer:
		// msgpack's getDecoder recurses through the pointee when
		// building a pointer decoder; a pointer type that points to
		// itself (type P *P) never ends.
		e := t
		for range 64 {
			e = e.Elem()
			if e.Kind() != reflect.Pointer {
				p.kind = planPtr
				p.elem = b.plan(t.Elem())
				return
			}
			if e == t {
				break
			}
		}
		p.kind = planBroken
		return
	case implementsDecoder(t):
		p.kind = planCustom
		switch k {
		case reflect.Map, reflect.Slice:
			p.customNew = uint64(t.Elem().Size())
		}
		return
	case implementsDecoder(reflect.PointerTo(t)):
		p.kind = planCustom
		return
	}
	switch k {
	case reflect.Bool:
		p.kind = planBool
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		p.kind = planInt
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		p.kind = planUint
	case reflect.Float32:
		p.kind = planFloat32
	case reflect.Float64:
		p.kind = planFloat64
	case reflect.String:
		p.kind = planString
	case reflect.Interface:
		p.kind = planInterface
		p.implements = implementedDyn(t)
	case reflect.Slice:
		switch {
		case t.Elem().Kind() == reflect.Uint8:
			p.kind = planBytes
		case t.Elem() == stringType:
			p.kind = planStringSlice
		default:
			p.kind = planSlice
			p.elem = b.plan(t.Elem())
		}
	case reflect.Array:
		p.arrayLen = t.Len()
		if t.Elem().Kind() == reflect.Uint8 {
			p.kind = planByteArray
		} else {
			p.kind = planArray
			p.elem = b.plan(t.Elem())
		}
	case reflect.Map:
		kt, et := t.Key(), t.Elem()
		p.slot, p.indirectKey, p.indirectElem = mapSlot(kt, et)
		switch {
		case kt == stringType && et == stringType:
			p.kind = planMapStringString
		case kt == stringType && et == emptyIfaceType:
			p.kind = planMapStringAny
		default:
			p.kind = planMap
			p.key = b.plan(kt)
			p.elem = b.plan(et)
		}
	case reflect.Struct:
		p.kind = planStruct
		fs, ok := b.structFields(t)
		if !ok {
			p.kind = planBroken
			return
		}
		p.fields = fs
	default: // uintptr (msgpack has no decoder: it panics), complex, chan, func, unsafe.Pointer
		p.kind = planUnsupported
	}
}

// mapSlot returns the size of one key/value slot of the runtime's Swiss
// tables for map[kt]et, and the bytes allocated per entry for keys and
// values too large (over 128 bytes) to be stored in the slot.
func mapSlot(kt, et reflect.Type) (slot, indirectKey, indirectElem uint64) {
	ks, ka := uint64(kt.Size()), uint64(kt.Align())
	es, ea := uint64(et.Size()), uint64(et.Align())
	if ks > 128 {
		indirectKey, ks, ka = allocSize(ks), 8, 8
	}
	if es > 128 {
		indirectElem, es, ea = allocSize(es), 8, 8
	}
	off := alignUp(ks, max(ea, 1)) + es
	slot = alignUp(off, max(ka, ea, 1))
	return slot, indirectKey, indirectElem
}

func alignUp(n, a uint64) uint64 { return (n + a - 1) / a * a }

// structFields builds msgpack's field table for struct type t, following
// its getFields, inlineFields and shouldInline: the "msgpack" tag names a
// field ("-" drops it) and may set the options inline, noinline, alias:NAME
// and intern; unexported fields are skipped unless embedded; an embedded
// struct (or pointer to struct) that msgpack codes with its generic struct
// coder is inlined, its fields promoted, unless a promoted name is already
// taken (then it stays one field named after its type); the embedded
// struct's own name then still decodes the whole struct. Aliases and names
// of the embedded struct's own embedded fields are not promoted. ok is false
// for types msgpack cannot build a table for: it panics (intern on a field
// that is not a string or interface, inline on one that is not a struct) or
// recurses forever (a struct inlining itself).
func (b *planBuilder) structFields(t reflect.Type) (*structPlan, bool) {
	type rawField struct {
		name   string
		index  []int // from t
		typ    reflect.Type
		intern bool
		ro     bool // reached through an unexported embedded field
	}
	var entries []rawField
	// getFields returns the field list of typ, whose fields are at
	// prefix in t, and its name table.
	var getFields func(typ reflect.Type, prefix []int, ro bool, depth int) (list []int32, names map[string]int32, ok bool)
	getFields = func(typ reflect.Type, prefix []int, ro bool, depth int) ([]int32, map[string]int32, bool) {
		if depth > 32 || typ.Kind() != reflect.Struct {
			return nil, nil, false
		}
		var list []int32
		names := map[string]int32{}
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			tag := tagparser.Parse(f.Tag.Get("msgpack"))
			if tag.Name == "-" {
				continue
			}
			if f.PkgPath != "" && !f.Anonymous {
				continue
			}
			intern := tag.HasOption("intern")
			if intern && f.Type.Kind() != reflect.Interface && f.Type.Kind() != reflect.String {
				return nil, nil, false
			}
			name := tag.Name
			if name == "" {
				name = f.Name
			}
			index := append(append([]int(nil), prefix...), i)
			fro := ro || f.PkgPath != ""
			entries = append(entries, rawField{name: name, index: index, typ: f.Type, intern: intern, ro: fro})
			id := int32(len(entries) - 1)
			if f.Anonymous && !tag.HasOption("noinline") {
				inline := tag.HasOption("inline")
				if inline {
					sub, _, ok := getFields(f.Type, index, fro, depth+1)
					if !ok {
						return nil, nil, false
					}
					for _, s := range sub {
						if _, taken := names[entries[s].name]; taken {
							continue // shadowed
						}
						names[entries[s].name] = s
						list = append(list, s)
					}
				} else {
					et := f.Type
					if et.Kind() == reflect.Pointer {
						et = et.Elem()
					}
					if plainStruct(et) {
						sub, _, ok := getFields(et, index, fro, depth+1)
						if !ok {
							return nil, nil, false
						}
						inline = true
						for _, s := range sub {
							if _, taken := names[entries[s].name]; taken {
								inline = false
								break
							}
						}
						if inline {
							for _, s := range sub {
								names[entries[s].name] = s
								list = append(list, s)
							}
						}
					}
				}
				if inline {
					names[name] = id
					continue
				}
			}
			names[name] = id
			list = append(list, id)
			if alias, ok := tag.Options["alias"]; ok {
				names[alias] = id
			}
		}
		return list, names, true
	}
	list, names, ok := getFields(t, nil, false, 0)
	if !ok {
		return nil, false
	}

	// Entries that neither the list nor the name table reach (fields
	// of an embedded struct that was not inlined after all) are kept
	// but never used.
	sp := &structPlan{byName: names, list: list, entries: make([]fieldEntry, len(entries))}

	// Seen-set bits: one per entry, then one per embedded pointer that
	// msgpack allocates on the way to a promoted field.
	ptrBits := map[string]int32{}
	nbits := int32(len(entries))
	type ptrStep struct {
		key  string
		size uint64
	}
	steps := make([][]ptrStep, len(entries))
	for i, e := range entries {
		cur := t
		for j, idx := range e.index {
			if j > 0 && cur.Kind() == reflect.Pointer {
				key := indexKey(e.index[:j])
				if _, ok := ptrBits[key]; !ok {
					ptrBits[key] = nbits
					nbits++
				}
				steps[i] = append(steps[i], ptrStep{key, uint64(cur.Elem().Size())})
				cur = cur.Elem()
			}
			if cur.Kind() != reflect.Struct {
				break
			}
			cur = cur.Field(idx).Type
		}
	}
	sp.words = int(nbits+63) / 64
	for i, e := range entries {
		fe := &sp.entries[i]
		fe.plan = b.plan(e.typ)
		fe.intern = e.intern
		fe.readonly = e.ro
		fe.conflict = make([]uint64, sp.words)
		for j, o := range entries {
			if isPrefix(e.index, o.index) || isPrefix(o.index, e.index) {
				fe.conflict[j/64] |= 1 << (j % 64)
			}
		}
		for _, st := range steps[i] {
			fe.ptrs = append(fe.ptrs, embeddedPtr{bit: ptrBits[st.key], size: st.size})
		}
	}
	return sp, true
}

func indexKey(index []int) string {
	var sb strings.Builder
	for _, i := range index {
		sb.WriteByte(byte(i >> 8))
		sb.WriteByte(byte(i))
	}
	return sb.String()
}

func isPrefix(a, b []int) bool {
	if len(a) > len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
