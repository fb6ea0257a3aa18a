package impair_test

import (
	"testing"

	"github.com/rwanda-go/rwanda/layers/impair"
	"github.com/rwanda-go/rwanda/registry"
	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/stack/stacktest"
)

// impair adds no header and does not fragment: the payloads must fit under
// the MTU with the suite's 8 bytes of marker headers.
var opts = stacktest.Options{Sizes: []int{0, 1, 100, 1000, 1400, 1492}}

func fromRegistry(qos string) stacktest.Factory {
	return func() (stack.Layer, error) {
		ls, err := registry.Build(qos, registry.Env{})
		if err != nil {
			return nil, err
		}
		return ls[0], nil
	}
}

// The identity configuration, as a QoS string names it.
func TestConformance(t *testing.T) {
	stacktest.TestLayer(t, fromRegistry("impair"), opts)
}

func TestConformanceDefaultConfig(t *testing.T) {
	stacktest.TestLayer(t, func() (stack.Layer, error) { return impair.New(impair.DefaultConfig()) }, opts)
}

// A delay that keeps order and loses nothing also conforms: the suite
// advances the clock after each send, and Close releases what is held.
func TestConformanceDelayed(t *testing.T) {
	stacktest.TestLayer(t, fromRegistry("impair(delay=1ms,seed=3)"), opts)
}
