package monitor_test

import (
	"testing"

	"github.com/rwanda-go/rwanda/layers/monitor"
	"github.com/rwanda-go/rwanda/registry"
	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/stack/stacktest"
)

// The monitor does not fragment: sizes stay under the MTU.
var sizes = []int{0, 1, 100, 1000, 1400}

func TestConformance(t *testing.T) {
	stacktest.TestLayer(t, func() (stack.Layer, error) { return monitor.New(monitor.DefaultConfig()) }, stacktest.Options{Sizes: sizes})
}

// TestConformanceFastReports runs the suite with reports every 10ms, so
// reports cross the link while data flows.
func TestConformanceFastReports(t *testing.T) {
	stacktest.TestLayer(t, func() (stack.Layer, error) {
		ls, err := registry.Build("monitor(k=4,report=1ms,reorder=0,receivers=2)", registry.Env{})
		if err != nil {
			return nil, err
		}
		return ls[0], nil
	}, stacktest.Options{Sizes: sizes})
}
