package sign_test

import (
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/layers/sign"
	"github.com/rwanda-go/rwanda/registry"
	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/stack/stacktest"
)

// sizes the layer carries on its own at the suite's 1500-byte MTU: it does
// not fragment, so nothing over the room its header leaves.
var sizes = []int{0, 1, 100, 1000, 1500 - 101}

func TestConformanceBatch1(t *testing.T) {
	id := ident(t, 1)
	c := config(id, trust(t, id), 1)
	stacktest.TestLayer(t, func() (stack.Layer, error) { return sign.New(c) }, stacktest.Options{Sizes: sizes})
}

func TestConformanceBatch16(t *testing.T) {
	id := ident(t, 1)
	c := config(id, trust(t, id), 16)
	c.Delay = 500 * time.Microsecond // the suite advances 1ms after each send
	stacktest.TestLayer(t, func() (stack.Layer, error) { return sign.New(c) }, stacktest.Options{Sizes: sizes})
}

func TestConformanceFromRegistry(t *testing.T) {
	id := ident(t, 1)
	env := registry.Env{Identity: id, Trusted: trust(t, id)}
	stacktest.TestLayer(t, func() (stack.Layer, error) {
		ls, err := registry.Build("sign(batch=4, delay=1ms, timeout=20ms)", env)
		if err != nil {
			return nil, err
		}
		return ls[0], nil
	}, stacktest.Options{Sizes: sizes})
}
