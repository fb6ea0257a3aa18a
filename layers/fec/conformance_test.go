package fec_test

import (
	"testing"

	"github.com/rwanda-go/rwanda/layers/fec"
	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/stack/stacktest"
)

// fec does not fragment: sizes stay under the MTU less its overhead.
var sizes = []int{0, 1, 100, 1000, 1400}

func TestConformance(t *testing.T) {
	stacktest.TestLayer(t, func() (stack.Layer, error) { return fec.New(fec.DefaultConfig()) }, stacktest.Options{Sizes: sizes})
}

// With parity on every block, parity crosses the link with the data (and
// is useless there: nothing is lost).
func TestConformanceFixedParity(t *testing.T) {
	stacktest.TestLayer(t, func() (stack.Layer, error) {
		c := fec.DefaultConfig()
		c.Fixed = 2
		return fec.New(c)
	}, stacktest.Options{Sizes: sizes})
}
