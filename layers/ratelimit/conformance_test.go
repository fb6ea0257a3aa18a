package ratelimit_test

import (
	"testing"

	"github.com/rwanda-go/rwanda/layers/ratelimit"
	"github.com/rwanda-go/rwanda/registry"
	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/stack/stacktest"
)

// The layer does not fragment: sizes stay under the MTU.
var sizes = []int{0, 1, 100, 1000, 1400}

func TestConformance(t *testing.T) {
	stacktest.TestLayer(t, func() (stack.Layer, error) { return ratelimit.New(ratelimit.Config{Rate: 1e6}) }, stacktest.Options{Sizes: sizes})
}

// TestConformancePaced runs the suite with a bucket just large enough for
// its sizes and a peak rate, so packets are spaced and some wait for the
// harness to advance the clock (1ms after each send).
func TestConformancePaced(t *testing.T) {
	stacktest.TestLayer(t, func() (stack.Layer, error) {
		ls, err := registry.Build("ratelimit(rate=1MB,bucket=3000,peak=1MB,queue=4KiB)", registry.Env{})
		if err != nil {
			return nil, err
		}
		return ls[0], nil
	}, stacktest.Options{Sizes: sizes})
}
