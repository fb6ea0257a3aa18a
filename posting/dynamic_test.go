package posting

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// withRegistry runs f with a fresh default registry in place of the
// process-wide one, which the external tests have extended.
func withRegistry(t *testing.T, f func()) {
	t.Helper()
	saved := types
	types = newRegistry()
	defer func() { types = saved }()
	f()
}

// TestDynamicNotRegisteredByDefault checks that map[string]any and []any
// are opt-in: a process that has not called RegisterDynamic receives their
// bodies as a Raw with ErrNotRegistered, which Raw.Decode still decodes,
// and one that has decodes them.
func TestDynamicNotRegisteredByDefault(t *testing.T) {
	withRegistry(t, func() {
		want := map[string]reflect.Type{
			"bool": reflect.TypeFor[bool](), "int": reflect.TypeFor[int](), "int64": reflect.TypeFor[int64](),
			"uint64": reflect.TypeFor[uint64](), "float64": reflect.TypeFor[float64](), "[]string": reflect.TypeFor[[]string](),
		}
		got := map[string]reflect.Type{}
		for name, ti := range types.cur.Load().byName {
			got[name] = ti.typ
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("default registry %v, want %v", got, want)
		}

		bodies := []any{map[string]any{"k": []any{"v", int8(1)}}, []any{"x", map[string]any{"y": true}}}
		for _, body := range bodies {
			if name, ok := TypeName(body); ok {
				t.Errorf("TypeName(%T) = %q, registered before RegisterDynamic", body, name)
			}
			b, err := (&Posting{Body: body}).MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			p, err := Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			raw, ok := p.Body.(Raw)
			if !ok || !errors.Is(raw.Err, ErrNotRegistered) {
				t.Fatalf("%T body before RegisterDynamic decoded as %#v, want a Raw with ErrNotRegistered", body, p.Body)
			}
			v := reflect.New(reflect.TypeOf(body))
			if err := raw.Decode(v.Interface()); err != nil || !reflect.DeepEqual(v.Elem().Interface(), body) {
				t.Errorf("Raw.Decode = %v, %v; want %v", v.Elem(), err, body)
			}
		}

		RegisterDynamic()
		RegisterDynamic() // idempotent
		for _, body := range bodies {
			b, _ := (&Posting{Body: body}).MarshalBinary()
			p, err := Decode(b)
			if err != nil || !reflect.DeepEqual(p.Body, body) {
				t.Errorf("after RegisterDynamic, %T body decoded as %#v, %v", body, p.Body, err)
			}
		}
		if name, ok := TypeName(map[string]any{}); !ok || name != "map[string]interface {}" {
			t.Errorf("TypeName(map[string]any) = %q, %v after RegisterDynamic", name, ok)
		}
		if name, ok := TypeName([]any{}); !ok || name != "[]interface {}" {
			t.Errorf("TypeName([]any) = %q, %v after RegisterDynamic", name, ok)
		}
	})

	// Registering one of the two by hand under its usual name is the
	// same, and RegisterDynamic then registers the other.
	withRegistry(t, func() {
		Register[[]any]("[]interface {}")
		RegisterDynamic()
		if _, ok := TypeName(map[string]any{}); !ok {
			t.Error("map[string]any not registered")
		}
	})

	// A name taken by another type makes RegisterDynamic panic, like
	// Register.
	withRegistry(t, func() {
		Register[map[string]string]("map[string]interface {}")
		defer func() {
			if r := recover(); r == nil || !strings.Contains(r.(string), "already registered") {
				t.Errorf("RegisterDynamic with a taken name: panic %v", r)
			}
		}()
		RegisterDynamic()
	})
}
