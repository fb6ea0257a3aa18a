package window_test

import (
	"testing"

	"github.com/rwanda-go/rwanda/layers/window"
	"github.com/rwanda-go/rwanda/registry"
	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/stack/stacktest"
)

// The window alone does not fragment: sizes stay under the MTU. Forged
// sequence numbers can move a window without authentication below it (the
// encrypt layer's job), so garbage may derail it.
var sizes = []int{0, 1, 100, 1000, 1400}

func TestConformance(t *testing.T) {
	stacktest.TestLayer(t, func() (stack.Layer, error) { return window.New(window.DefaultConfig()) }, stacktest.Options{Sizes: sizes, GarbageMayDerail: true})
}

func TestConformanceBestEffort(t *testing.T) {
	stacktest.TestLayer(t, func() (stack.Layer, error) {
		ls, err := registry.Build("window(mode=besteffort)", registry.Env{})
		if err != nil {
			return nil, err
		}
		return ls[0], nil
	}, stacktest.Options{Sizes: sizes, GarbageMayDerail: true})
}

func TestRegistryParams(t *testing.T) {
	ls, err := registry.Build("window(size=64,ttl=200ms,feedback=ack,isn=4294967290,nakdelay=1ms,anticipate=false)", registry.Env{})
	if err != nil {
		t.Fatal(err)
	}
	c := ls[0].(*window.Layer).Config()
	if c.Size != 64 || c.TTL.Milliseconds() != 200 || c.Feedback != window.Ack || c.ISN != 4294967290 || c.Anticipate {
		t.Fatalf("config %+v", c)
	}
	for _, bad := range []string{"window(size=2)", "window(iw=2000)", "window(mode=sometimes)", "window(isn=-1)",
		"window(minrto=2s,maxrto=1s)", "window(naklimit=0)", "window(queue=2GiB)"} {
		if _, err := registry.Build(bad, registry.Env{}); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}
