package posting

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"

	"github.com/vmihailenco/msgpack/v5"
)

// ErrNotRegistered is the [Raw.Err] of a decoded body whose type name is not
// registered in the receiving process.
var ErrNotRegistered = errors.New("posting: body type not registered")

// ErrOverBudget is the [Raw.Err] of a decoded body that was not decoded
// because decoding it could allocate more than 8 bytes per body byte plus
// 4 KiB, beyond the value of the registered type itself. Before decoding
// a msgpack body, the receiver walks its bytes together with the
// registered Go type and bounds what the decode would allocate (see the
// package documentation); hostile bodies made of one-byte empty maps,
// arrays or nils that each become a large Go value are thus delivered as
// they arrived instead of taking tens or hundreds of bytes of memory per
// byte. The posting itself is delivered: the Raw holds the bytes, and
// [Raw.Decode], which has no budget, decodes them if the application so
// chooses. Bodies that set the same struct field twice, which the bound
// does not follow, are not decoded either.
var ErrOverBudget = errors.New("posting: body not decoded: decoding it could allocate more than 8 bytes per body byte")

// Raw is the body of a decoded posting whose msgpack-encoded value was not
// turned into a Go value: its type name is not registered (Err is
// [ErrNotRegistered]), decoding it could allocate more than the decode
// budget allows (Err is [ErrOverBudget]), or its bytes do not decode as the
// registered type (Err wraps the msgpack error).
//
// A Raw body keeps everything needed to decode it later, with
// [Raw.Decode], or to forward it unchanged: encoding a posting whose Body is
// a Raw (or a non-nil *Raw) writes Type, Pointer and Data back verbatim, so
// relays need not know the body types they carry.
type Raw struct {
	// Type is the wire type name of the body: the name the sender's type
	// was registered under, or its reflect.Type.String form.
	Type string

	// Data is the msgpack encoding of the body. It is a copy and does not
	// alias the decoded input.
	Data []byte

	// Pointer reports whether the sender pushed a pointer (*T) rather than
	// a value (T).
	Pointer bool

	// Err says why the body was not decoded. It is ignored when encoding.
	Err error
}

// Decode unmarshals the msgpack Data into v, which must be a non-nil
// pointer. Data must hold exactly one msgpack value, and it is checked for
// hostile lengths and nesting before msgpack sees it (see the package
// documentation), so no declared length makes it allocate more than the
// data justifies.
//
// Unlike the decoding of a posting, Decode has no memory budget: it decodes
// a body whose Err is [ErrOverBudget], whose Go value may take tens or
// hundreds of bytes per byte of Data (over a thousand for a slice of
// 512-byte structs sent as one-byte empty maps), because the application
// asked for it. Call it on untrusted data only where that much memory is
// acceptable for len(Data), or decode into a type that cannot amplify. It
// does refuse, as the decoding of a posting does, data that msgpack would
// read differently from the check (a map header inside an extension) and
// types msgpack cannot build a decoder for without recursing forever.
func (r Raw) Decode(v any) error {
	return unmarshalMsgpack(r.Data, v)
}

// typeInfo describes one registered type.
type typeInfo struct {
	name        string
	typ         reflect.Type
	plan        *scanPlan                           // how msgpack decodes a body into typ
	decodeValue func(*msgpack.Decoder) (any, error) // returns a T
	decodePtr   func(*msgpack.Decoder) (any, error) // returns a non-nil *T
	nilPtr      any                                 // (*T)(nil)
}

// registry is an immutable snapshot of the registered types. It is replaced
// wholesale (copy on write) by Register, so lookups need no locks.
type registry struct {
	byType map[reflect.Type]*typeInfo
	byName map[string]*typeInfo
}

// registryHolder owns the current registry snapshot.
type registryHolder struct {
	mu  sync.Mutex // serialises writers
	cur atomic.Pointer[registry]
}

// types is the process-wide type registry. It is initialised in its
// declaration, so Register may be used from package-level variable
// initialisers in any package.
var types = newRegistry()

func newRegistry() *registryHolder {
	h := &registryHolder{}
	h.cur.Store(&registry{
		byType: map[reflect.Type]*typeInfo{},
		byName: map[string]*typeInfo{},
	})
	registerBuiltin[bool](h)
	registerBuiltin[int](h)
	registerBuiltin[int64](h)
	registerBuiltin[uint64](h)
	registerBuiltin[float64](h)
	registerBuiltin[[]string](h)
	return h
}

func registerBuiltin[T any](h *registryHolder) {
	if err := h.add(newTypeInfo[T](reflect.TypeFor[T]().String())); err != nil {
		panic(err)
	}
}

// lookupType returns the registration of t, or nil.
func lookupType(t reflect.Type) *typeInfo {
	return types.cur.Load().byType[t]
}

// lookupName returns the registration of the wire name, or nil. The
// conversion in the map index does not allocate.
func lookupName(name []byte) *typeInfo {
	return types.cur.Load().byName[string(name)]
}

var (
	bytesType = reflect.TypeFor[[]byte]()
	rawType   = reflect.TypeFor[Raw]()
)

// Register makes values of type T travel under name, and decode back as T
// (or *T, whichever the sender pushed) in every process that registers the
// same name. It is typically called from an init function:
//
//	func init() { posting.Register[Chat]("example.com/chat.Chat") }
//
// Like [database/sql.Register], Register panics on programming errors: if
// name is empty or longer than [MaxTypeNameLen] bytes; if T is a pointer or
// interface type, a channel, function or unsafe pointer type, string,
// []byte (which travel raw without registration) or [Raw]; if name is
// already registered for a different type; or if T is already registered
// under a different name. Registering the same type under the same name
// again is a no-op.
//
// The following names are registered in advance and decode as the
// corresponding Go types: "bool", "int", "int64", "uint64", "float64" and
// "[]string". map[string]any and []any bodies are not: their Go values
// cost up to 84 bytes of memory per body byte, so a receiver opts in with
// [RegisterDynamic].
//
// Decoding a body is bounded by a memory budget whatever T is (see
// [ErrOverBudget]); a T whose Go form is much larger than its msgpack form
// (a large array of small integers, say) decodes only when small.
//
// Register is safe for concurrent use, but it is meant to be rare: each call
// copies the registry, so that the per-posting lookups never lock.
func Register[T any](name string) {
	t := reflect.TypeFor[T]()
	if name == "" {
		panic(fmt.Sprintf("posting: Register[%v] with empty name", t))
	}
	if len(name) > MaxTypeNameLen {
		panic(fmt.Sprintf("posting: Register[%v]: name is %d bytes, limit is %d", t, len(name), MaxTypeNameLen))
	}
	switch t.Kind() {
	case reflect.Pointer:
		panic(fmt.Sprintf("posting: Register[%v]: T must not be a pointer type; register %v and push pointers to it", t, t.Elem()))
	case reflect.Interface:
		panic(fmt.Sprintf("posting: Register[%v]: T must be a concrete type, not an interface", t))
	case reflect.Chan, reflect.Func, reflect.UnsafePointer:
		panic(fmt.Sprintf("posting: Register[%v]: %v values cannot be encoded", t, t.Kind()))
	}
	switch t {
	case bytesType, reflect.TypeFor[string]():
		panic(fmt.Sprintf("posting: Register[%v]: %v bodies travel raw and need no registration", t, t))
	case rawType:
		panic("posting: Register[posting.Raw]: Raw cannot be registered")
	}
	if err := types.add(newTypeInfo[T](name)); err != nil {
		panic(err.Error())
	}
}

// RegisterDynamic registers map[string]any under the name
// "map[string]interface {}" and []any under "[]interface {}", the names
// senders use for them, so that such bodies decode as those types. It is
// the same as
//
//	posting.Register[map[string]any]("map[string]interface {}")
//	posting.Register[[]any]("[]interface {}")
//
// Earlier versions of this package registered these two in advance; they
// are opt-in now because their values are the most expensive to decode:
// every element becomes an interface value, every nested map a hash
// table, so that a hostile 1 MiB body could take 34 to 84 MB. Registered, they are decoded within the same budget as any
// other type (see [ErrOverBudget]), which admits ordinary JSON-like
// documents but not, for instance, a large map of one-letter keys to small
// integers. Without RegisterDynamic such bodies arrive as a [Raw] with
// [ErrNotRegistered], and [Raw.Decode] decodes them on demand.
//
// Values inside decode as msgpack decodes them into interface values (a
// small integer becomes an int8, for example). RegisterDynamic may be
// called any number of times; like [Register], it panics if one of the
// names is registered for another type.
func RegisterDynamic() {
	Register[map[string]any]("map[string]interface {}")
	Register[[]any]("[]interface {}")
}

func newTypeInfo[T any](name string) *typeInfo {
	return &typeInfo{
		name: name,
		typ:  reflect.TypeFor[T](),
		plan: topPlanFor(reflect.TypeFor[T]()),
		decodeValue: func(d *msgpack.Decoder) (any, error) {
			var v T
			if err := d.Decode(&v); err != nil {
				return nil, err
			}
			return v, nil
		},
		decodePtr: func(d *msgpack.Decoder) (any, error) {
			v := new(T)
			if err := d.Decode(v); err != nil {
				return nil, err
			}
			return v, nil
		},
		nilPtr: (*T)(nil),
	}
}

// add installs ti in a new registry snapshot.
func (h *registryHolder) add(ti *typeInfo) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	old := h.cur.Load()
	if prev, ok := old.byName[ti.name]; ok {
		if prev.typ == ti.typ {
			return nil
		}
		return fmt.Errorf("posting: Register[%v]: name %q is already registered for type %v", ti.typ, ti.name, prev.typ)
	}
	if prev, ok := old.byType[ti.typ]; ok {
		return fmt.Errorf("posting: Register[%v]: type is already registered under name %q, cannot also register it as %q", ti.typ, prev.name, ti.name)
	}
	next := &registry{
		byType: make(map[reflect.Type]*typeInfo, len(old.byType)+1),
		byName: make(map[string]*typeInfo, len(old.byName)+1),
	}
	for k, v := range old.byType {
		next.byType[k] = v
	}
	for k, v := range old.byName {
		next.byName[k] = v
	}
	next.byType[ti.typ] = ti
	next.byName[ti.name] = ti
	h.cur.Store(next)
	return nil
}

// TypeName returns the wire type name under which a body of v's type would
// be encoded, and whether that type is registered. Pointers are
// dereferenced once, so a *T body has the name of T. For nil, []byte and
// string bodies, which travel raw, and for Raw bodies it returns "" and
// false.
func TypeName(v any) (name string, registered bool) {
	switch v.(type) {
	case nil, []byte, string, Raw, *Raw:
		return "", false
	}
	t := reflect.TypeOf(v)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if ti := lookupType(t); ti != nil {
		return ti.name, true
	}
	return t.String(), false
}
