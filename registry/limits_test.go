package registry

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func limitsRegistry() *Registry {
	r := &Registry{}
	r.Register("order", testBuilder("order",
		ParamInfo{Name: "buffer", Kind: IntParam, Default: "4096", Max: "16384"},
		ParamInfo{Name: "wait", Kind: DurationParam, Default: "10ms", Min: "1ms", Max: "1s"},
		ParamInfo{Name: "loud", Kind: BoolParam, Default: "false"},
	))
	r.Register("frag", testBuilder("frag",
		ParamInfo{Name: "max", Kind: SizeParam, Default: "16MiB", Max: "16MiB"},
	))
	r.RegisterProfile(Profile{Name: "big", QoS: "frag/order(buffer=20000)"})
	return r
}

func TestCheckLimits(t *testing.T) {
	r := limitsRegistry()
	for _, tc := range []struct {
		qos, param, why string
		override        map[string]Bounds
	}{
		{qos: "frag/order"},
		{qos: "order(buffer=16384,wait=1ms)"},
		{qos: "order(buffer=16385)", param: "buffer", why: "above the receive limit 16384"},
		{qos: "order(wait=500us)", param: "wait", why: "below the receive limit 1ms"},
		{qos: "frag(max=1GiB)", param: "max", why: "above the receive limit 16MiB"},
		{qos: "big", param: "buffer", why: "above"},
		{qos: "order(buffer=65536)", override: map[string]Bounds{"order.buffer": {Max: "65536"}}},
		{qos: "order", param: "buffer", why: "above the receive limit 1000", override: map[string]Bounds{"order.buffer": {Max: "1000"}}},
		{qos: "order(wait=2s)", override: map[string]Bounds{"order.wait": {}}}, // lifted
	} {
		spec, err := r.Resolve(tc.qos)
		if err != nil {
			t.Fatalf("Resolve(%q): %v", tc.qos, err)
		}
		err = r.CheckLimits(spec, tc.override)
		if tc.why == "" {
			if err != nil {
				t.Errorf("CheckLimits(%q): %v", tc.qos, err)
			}
			continue
		}
		var re *Error
		if !errors.Is(err, ErrLimit) || !errors.As(err, &re) || re.Param != tc.param || !strings.Contains(err.Error(), tc.why) {
			t.Errorf("CheckLimits(%q) = %v; want ErrLimit on %s saying %q", tc.qos, err, tc.param, tc.why)
		}
	}
}

func TestCheckLimitsBadOverride(t *testing.T) {
	r := limitsRegistry()
	for _, o := range []map[string]Bounds{
		{"order.bufer": {Max: "1"}},
		{"nolayer.x": {Max: "1"}},
		{"order.loud": {Max: "1"}},
		{"order.buffer": {Max: "lots"}},
		{"order.wait": {Min: "2s", Max: "1s"}},
	} {
		if err := r.CheckLimits(Spec{}, o); !errors.Is(err, ErrParam) {
			t.Errorf("CheckLimits(override %v) = %v; want ErrParam", o, err)
		}
	}
}

func TestRegisterRefusesBadLimits(t *testing.T) {
	for _, pi := range []ParamInfo{
		{Name: "n", Kind: IntParam, Default: "10", Max: "5"},
		{Name: "n", Kind: IntParam, Max: "1s"},
		{Name: "b", Kind: BoolParam, Max: "1"},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Register with %+v did not panic", pi)
				}
			}()
			(&Registry{}).Register("x", testBuilder("x", pi))
		}()
	}
}

func TestLimitsAndValue(t *testing.T) {
	r := limitsRegistry()
	want := map[string]Bounds{"order.buffer": {Max: "16384"}, "order.wait": {Min: "1ms", Max: "1s"}, "frag.max": {Max: "16MiB"}}
	if diff := cmp.Diff(want, r.Limits()); diff != "" {
		t.Errorf("Limits (-want +got):\n%s", diff)
	}
	spec, _ := r.Resolve("order(buffer=7)")
	if v, ok := r.Value(spec.Layers[0], "buffer"); !ok || v.String() != "7" {
		t.Errorf("Value(buffer) = %v, %v; want 7", v, ok)
	}
	if v, ok := r.Value(spec.Layers[0], "wait"); !ok || v.String() != "10ms" {
		t.Errorf("Value(wait) = %v, %v; want the default 10ms", v, ok)
	}
	if _, ok := r.Value(spec.Layers[0], "nope"); ok {
		t.Error("Value of an undeclared parameter reported ok")
	}
}
