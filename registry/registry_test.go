package registry

import (
	"errors"
	"github.com/rwanda-go/rwanda/keys"
	"strings"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/stack"
)

type testLayer struct {
	stack.Base
	name   string
	params *Params
	closed *int
}

func (l *testLayer) Name() string { return l.name }
func (l *testLayer) Close() error {
	if l.closed != nil {
		*l.closed++
	}
	return nil
}

func testBuilder(name string, params ...ParamInfo) Builder {
	return NewBuilder(Info{Summary: "test layer " + name, Params: params}, func(env Env, p *Params) (stack.Layer, error) {
		return &testLayer{name: name, params: p}, nil
	})
}

func newTestRegistry() *Registry {
	r := &Registry{}
	r.Register("frag", testBuilder("frag",
		ParamInfo{Name: "mtu", Kind: SizeParam, Default: "1200"},
		ParamInfo{Name: "timeout", Kind: DurationParam, Default: "2s"},
	))
	r.Register("window", testBuilder("window",
		ParamInfo{Name: "size", Kind: IntParam, Default: "256"},
		ParamInfo{Name: "mode", Kind: IdentParam, Default: "reliable", Choices: []string{"reliable", "semi", "besteffort"}},
		ParamInfo{Name: "loss", Kind: PercentParam},
		ParamInfo{Name: "nak", Kind: BoolParam, Default: "true"},
		ParamInfo{Name: "gain", Kind: FloatParam, Default: "0.125"},
	))
	r.Register("order", testBuilder("order"))
	r.RegisterProfile(Profile{Name: "reliable", QoS: "frag/order/window"})
	r.RegisterProfile(Profile{Name: "secure", QoS: "reliable/encrypt"})
	return r
}

func TestRegisterPanics(t *testing.T) {
	r := newTestRegistry()
	cases := map[string]func(){
		"nil builder":  func() { r.Register("x", nil) },
		"duplicate":    func() { r.Register("frag", testBuilder("frag")) },
		"bad name":     func() { r.Register("Frag", testBuilder("Frag")) },
		"empty name":   func() { r.Register("", testBuilder("")) },
		"profile name": func() { r.Register("reliable", testBuilder("reliable")) },
		"dup param": func() {
			r.Register("y", testBuilder("y", ParamInfo{Name: "a", Kind: IntParam}, ParamInfo{Name: "a", Kind: IntParam}))
		},
		"no kind":     func() { r.Register("y2", testBuilder("y2", ParamInfo{Name: "a"})) },
		"bad default": func() { r.Register("z", testBuilder("z", ParamInfo{Name: "d", Kind: DurationParam, Default: "12"})) },
		"bad choice": func() {
			r.Register("z2", testBuilder("z2", ParamInfo{Name: "m", Kind: IdentParam, Default: "x", Choices: []string{"a"}}))
		},
		"profile dup":     func() { r.RegisterProfile(Profile{Name: "reliable", QoS: ""}) },
		"profile layer":   func() { r.RegisterProfile(Profile{Name: "frag", QoS: ""}) },
		"profile bad qos": func() { r.RegisterProfile(Profile{Name: "p", QoS: "frag("}) },
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("did not panic")
				}
			}()
			f()
		})
	}
}

func TestResolve(t *testing.T) {
	r := newTestRegistry()
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"reliable", "frag/order/window"},
		{" frag( mtu = 64KiB ) / window(size=8,mode=semi)", "frag(mtu=64KiB)/window(mode=semi,size=8)"},
		{"order/reliable", "order/frag/order/window"},
	} {
		spec, err := r.Resolve(c.in)
		if err != nil {
			t.Fatalf("%q: %v", c.in, err)
		}
		if spec.String() != c.want {
			t.Errorf("%q resolved to %q, want %q", c.in, spec, c.want)
		}
	}
}

func TestResolveErrors(t *testing.T) {
	r := newTestRegistry()
	for _, c := range []struct {
		in     string
		offset int
		is     error
		reason string
	}{
		{"frag/windw", 5, ErrUnknownLayer, `unknown layer "windw"; registered: frag, order, window, reliable (profile), secure (profile)`},
		{"frag(mtuu=1)", 5, ErrParam, `unknown parameter "mtuu"; known: mtu, timeout`},
		{"order(x=1)", 6, ErrParam, `unknown parameter "x"; the layer takes none`},
		{"frag(mtu=200ms)", 5, ErrParam, "want a size such as 1200 or 64KiB, got duration 200ms"},
		{"frag(timeout=5)", 5, ErrParam, "want a duration such as 200ms, got number 5"},
		{"window(mode=fast)", 7, ErrParam, `want one of reliable, semi, besteffort, got "fast"`},
		{"window(size=1.5)", 7, ErrParam, "want an integer such as 64, got number 1.5"},
		{"window(loss=0.1)", 7, ErrParam, "want a percentage such as 10%, got number 0.1"},
		{"window(nak=yes)", 7, ErrParam, "want true or false, got identifier yes"},
		{"frag/reliable(x=1)", 14, ErrParam, "profile reliable takes no parameters; write its layers out (frag/order/window) to change them"},
		{"frag/secure", 5, ErrUnknownLayer, `unknown layer "encrypt"`},
		{"frag(", 5, ErrSyntax, ""},
	} {
		_, err := r.Resolve(c.in)
		var re *Error
		if !errors.As(err, &re) || !errors.Is(err, c.is) {
			t.Errorf("%q: got %v, want %v", c.in, err, c.is)
			continue
		}
		if re.Offset != c.offset || re.Input != c.in || !strings.Contains(re.Reason, c.reason) {
			t.Errorf("%q: offset %d reason %q; want offset %d reason containing %q", c.in, re.Offset, re.Reason, c.offset, c.reason)
		}
	}
}

func TestParams(t *testing.T) {
	r := newTestRegistry()
	ls, err := r.Build("frag(mtu=9000)/window(loss=5%,nak=false)", Env{})
	if err != nil {
		t.Fatal(err)
	}
	f, w := ls[0].(*testLayer).params, ls[1].(*testLayer).params
	if f.Size("mtu") != 9000 || !f.IsSet("mtu") || f.Duration("timeout") != 2*time.Second || f.IsSet("timeout") {
		t.Fatalf("frag params: mtu %d timeout %v", f.Size("mtu"), f.Duration("timeout"))
	}
	if w.Int("size") != 256 || w.Ident("mode") != "reliable" || w.Percent("loss") != 0.05 || w.Bool("nak") || w.Float("gain") != 0.125 {
		t.Fatalf("window params: %d %s %v %v %v", w.Int("size"), w.Ident("mode"), w.Percent("loss"), w.Bool("nak"), w.Float("gain"))
	}
	if w.Layer() != "window" || w.Value("size").String() != "256" {
		t.Fatal("Layer/Value")
	}
	// Undeclared name or wrong kind: a builder bug, so a panic.
	for _, f := range []func(){func() { w.Int("nope") }, func() { w.Size("size") }} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			f()
		}()
	}
	e := w.Errorf("size", "size %d is too small", 1)
	var re *Error
	if !errors.As(e, &re) || re.Offset != 15 || re.Param != "size" {
		// size was not given: the error points at the layer name (offset 15).
		t.Fatalf("Errorf: %#v", e)
	}
}

func TestBuildFailures(t *testing.T) {
	r := newTestRegistry()
	closed := 0
	r.Register("good", NewBuilder(Info{}, func(Env, *Params) (stack.Layer, error) {
		return &testLayer{name: "good", closed: &closed}, nil
	}))
	r.Register("bad", NewBuilder(Info{}, func(Env, *Params) (stack.Layer, error) {
		return nil, errors.New("no key configured")
	}))
	r.Register("misnamed", NewBuilder(Info{}, func(Env, *Params) (stack.Layer, error) {
		return &testLayer{name: "other", closed: &closed}, nil
	}))
	_, err := r.Build("good/good/bad", Env{})
	if !errors.Is(err, ErrBuild) || !strings.Contains(err.Error(), "offset 10: layer bad: no key configured") {
		t.Fatalf("got %v", err)
	}
	if closed != 2 {
		t.Fatalf("closed %d built layers, want 2", closed)
	}
	_, err = r.Build("misnamed", Env{})
	if !errors.Is(err, ErrBuild) || !strings.Contains(err.Error(), `builder made a layer named "other"`) || closed != 3 {
		t.Fatalf("got %v (closed %d)", err, closed)
	}
}

func TestEnvReachesBuilder(t *testing.T) {
	r := &Registry{}
	var got Env
	r.Register("k", NewBuilder(Info{}, func(env Env, _ *Params) (stack.Layer, error) {
		got = env
		return &testLayer{name: "k"}, nil
	}))
	ring, err := keys.NewRing(3, []byte("0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Build("k", Env{Keys: ring, Channel: "app://239.1.1.1:7"}); err != nil {
		t.Fatal(err)
	}
	if got.Keys != ring || got.Channel != "app://239.1.1.1:7" {
		t.Fatalf("env %+v", got)
	}
}

func TestIntrospection(t *testing.T) {
	r := newTestRegistry()
	infos := r.Layers()
	var names []string
	for _, i := range infos {
		names = append(names, i.Name)
	}
	if strings.Join(names, ",") != "frag,order,window" {
		t.Fatalf("layers %v", names)
	}
	if infos[0].Summary != "test layer frag" || infos[0].Params[0].Name != "mtu" || infos[0].Params[0].Default != "1200" {
		t.Fatalf("frag info %+v", infos[0])
	}
	ps := r.Profiles()
	if len(ps) != 2 || ps[0].Name != "reliable" || ps[0].QoS != "frag/order/window" {
		t.Fatalf("profiles %+v", ps)
	}
}

func TestNewStack(t *testing.T) {
	r := newTestRegistry()
	h := stack.HandlerFunc(func(p *stack.Packet) error { p.Release(); return nil })
	s, err := r.NewStack("reliable", Env{}, stack.Config{Wire: h, Deliver: h, MTU: 1500})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.String() != "frag/order/window" {
		t.Fatalf("stack %s", s)
	}
}

func TestDefaultProfiles(t *testing.T) {
	var names []string
	for _, p := range Profiles() {
		names = append(names, p.Name)
		if p.Doc == "" {
			t.Errorf("profile %s has no doc", p.Name)
		}
	}
	if strings.Join(names, ",") != "bulk,media,none,realtime,reliable" {
		t.Fatalf("default profiles %v", names)
	}
	if spec, err := Resolve("none"); err != nil || spec.String() != "" {
		t.Fatalf("none: %q %v", spec, err)
	}
}
