package posting_test

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	"github.com/rwanda-go/rwanda/posting"
)

// mustPanic runs f and returns the panic message, failing if f returns
// normally.
func mustPanic(t *testing.T, f func()) (msg string) {
	t.Helper()
	defer func() {
		r := recover()
		if r == nil {
			t.Errorf("did not panic")
			return
		}
		msg = fmt.Sprint(r)
	}()
	f()
	return ""
}

type (
	dupA      struct{ X int }
	dupB      struct{ Y int }
	twoNames  struct{ Z int }
	sameTwice struct{ W int }
)

func TestRegisterPanics(t *testing.T) {
	posting.Register[dupA]("test.dup")
	posting.Register[twoNames]("test.twoNames")

	tests := []struct {
		name string
		f    func()
		want string
	}{
		{"empty name", func() { posting.Register[dupB]("") }, "empty name"},
		{"long name", func() { posting.Register[dupB](strings.Repeat("n", 256)) }, "256 bytes"},
		{"pointer type", func() { posting.Register[*dupB]("test.ptr") }, "pointer"},
		{"pointer to builtin", func() { posting.Register[*int]("test.ptrint") }, "pointer"},
		{"interface any", func() { posting.Register[any]("test.any") }, "interface"},
		{"interface error", func() { posting.Register[error]("test.error") }, "interface"},
		{"chan", func() { posting.Register[chan int]("test.chan") }, "chan"},
		{"func", func() { posting.Register[func()]("test.func") }, "func"},
		{"unsafe pointer", func() { posting.Register[unsafe.Pointer]("test.unsafe") }, "unsafe"},
		{"string", func() { posting.Register[string]("test.string") }, "raw"},
		{"bytes", func() { posting.Register[[]byte]("test.bytes") }, "raw"},
		{"raw", func() { posting.Register[posting.Raw]("test.raw") }, "Raw"},
		{"duplicate name", func() { posting.Register[dupB]("test.dup") }, `"test.dup" is already registered`},
		{"builtin name", func() { posting.Register[dupB]("int") }, `"int" is already registered`},
		{"type under second name", func() { posting.Register[twoNames]("test.twoNames2") }, "already registered under name"},
		{"builtin type under new name", func() { posting.Register[int]("myint") }, "already registered under name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := mustPanic(t, tt.f)
			if !strings.Contains(msg, tt.want) || !strings.HasPrefix(msg, "posting: ") {
				t.Errorf("panic %q, want it to contain %q", msg, tt.want)
			}
		})
	}

	// The failed registrations left the registry unchanged.
	if name, ok := posting.TypeName(dupB{}); ok || name != "posting_test.dupB" {
		t.Errorf("TypeName(dupB) = %q, %v after failed registrations", name, ok)
	}
	if name, ok := posting.TypeName(twoNames{}); !ok || name != "test.twoNames" {
		t.Errorf("TypeName(twoNames) = %q, %v", name, ok)
	}

	// Registering the same type under the same name again is a no-op.
	posting.Register[sameTwice]("test.same")
	posting.Register[sameTwice]("test.same")
	posting.Register[int]("int")
}

func TestTypeName(t *testing.T) {
	tests := []struct {
		v          any
		name       string
		registered bool
	}{
		{nil, "", false},
		{[]byte("x"), "", false},
		{"x", "", false},
		{posting.Raw{Type: "t"}, "", false},
		{&posting.Raw{Type: "t"}, "", false},
		{chat{}, "test.chat", true},
		{&chat{}, "test.chat", true},
		{(*chat)(nil), "test.chat", true},
		{unreg{}, "posting_test.unreg", false},
		{&unreg{}, "posting_test.unreg", false},
		{1, "int", true},
		{int64(1), "int64", true},
		{uint64(1), "uint64", true},
		{1.5, "float64", true},
		{true, "bool", true},
		{[]string{}, "[]string", true},
		// Registered by RegisterDynamic in this package's init, not
		// by default (see TestDynamicNotRegisteredByDefault).
		{map[string]any{}, "map[string]interface {}", true},
		{[]any{}, "[]interface {}", true},
		{int32(1), "int32", false},
		{map[string]string{}, "map[string]string", false},
	}
	for _, tt := range tests {
		name, registered := posting.TypeName(tt.v)
		if name != tt.name || registered != tt.registered {
			t.Errorf("TypeName(%T) = %q, %v; want %q, %v", tt.v, name, registered, tt.name, tt.registered)
		}
	}
}

// A receiver may register a type under the reflect name a sender used for
// an unregistered type.
type laterA struct{ V string }

func TestRegisterUnderReflectName(t *testing.T) {
	b, err := (&posting.Posting{Body: laterA{V: "v"}}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	p, _ := posting.Decode(b)
	if _, registered := posting.TypeName(laterA{}); !registered { // not on a -count=2 rerun
		if _, ok := p.Body.(posting.Raw); !ok {
			t.Fatalf("before registration body is %T", p.Body)
		}
	}
	posting.Register[laterA](reflect.TypeFor[laterA]().String())
	p, _ = posting.Decode(b)
	if diff := cmp.Diff(laterA{V: "v"}, p.Body); diff != "" {
		t.Errorf("after registration (-want +got):\n%s", diff)
	}
}

// conc0..conc15 are registered concurrently.
type (
	conc0  struct{ V int }
	conc1  struct{ V int }
	conc2  struct{ V int }
	conc3  struct{ V int }
	conc4  struct{ V int }
	conc5  struct{ V int }
	conc6  struct{ V int }
	conc7  struct{ V int }
	conc8  struct{ V int }
	conc9  struct{ V int }
	conc10 struct{ V int }
	conc11 struct{ V int }
	conc12 struct{ V int }
	conc13 struct{ V int }
	conc14 struct{ V int }
	conc15 struct{ V int }
)

// concCase registers T and returns a body of type T with value v.
func concCase[T ~struct{ V int }](name string) (register func(), body func(int) any) {
	return func() { posting.Register[T](name) }, func(v int) any { return T{V: v} }
}

func TestConcurrentRegisterAndCoding(t *testing.T) {
	type pair struct {
		register func()
		body     func(int) any
	}
	var cases []pair
	add := func(r func(), b func(int) any) { cases = append(cases, pair{r, b}) }
	add(concCase[conc0]("test.conc.0"))
	add(concCase[conc1]("test.conc.1"))
	add(concCase[conc2]("test.conc.2"))
	add(concCase[conc3]("test.conc.3"))
	add(concCase[conc4]("test.conc.4"))
	add(concCase[conc5]("test.conc.5"))
	add(concCase[conc6]("test.conc.6"))
	add(concCase[conc7]("test.conc.7"))
	add(concCase[conc8]("test.conc.8"))
	add(concCase[conc9]("test.conc.9"))
	add(concCase[conc10]("test.conc.10"))
	add(concCase[conc11]("test.conc.11"))
	add(concCase[conc12]("test.conc.12"))
	add(concCase[conc13]("test.conc.13"))
	add(concCase[conc14]("test.conc.14"))
	add(concCase[conc15]("test.conc.15"))

	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i, c := range cases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.register()
			c.register() // idempotent, even when racing
			body := c.body(i)
			for j := range 50 {
				p := &posting.Posting{Seq: uint64(j + 1), Body: body}
				b, err := p.AppendBinary(nil)
				if err != nil {
					errs <- err
					return
				}
				q, err := posting.Decode(b)
				if err != nil {
					errs <- err
					return
				}
				if !reflect.DeepEqual(q.Body, body) {
					errs <- fmt.Errorf("case %d: decoded %#v, want %#v", i, q.Body, body)
					return
				}
			}
		}()
	}
	// Meanwhile, unrelated postings are encoded and decoded.
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 200 {
				body := &chat{From: "x", N: j}
				stream := fmt.Sprint("stream", j%5)
				b, err := (&posting.Posting{Stream: stream, Body: body}).MarshalBinary()
				if err != nil {
					errs <- err
					return
				}
				q, err := posting.Decode(b)
				if err != nil {
					errs <- err
					return
				}
				if q.Stream != stream {
					errs <- fmt.Errorf("decoded stream %q, want %q", q.Stream, stream)
					return
				}
				if got, ok := q.Body.(*chat); !ok || *got != *body {
					errs <- fmt.Errorf("decoded %#v", q.Body)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
