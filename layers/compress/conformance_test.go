package compress_test

import (
	"testing"

	"github.com/rwanda-go/rwanda/layers/compress"
	"github.com/rwanda-go/rwanda/registry"
	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/stack/stacktest"
)

// The suite's payloads up to the MTU less room for the layer and the
// suite's own 4-byte markers: compress cannot carry an incompressible
// payload over the MTU (frag below it can), and the suite's larger
// payloads (3×MTU+7, 64 KiB) compress only to about half.
var sizes = []int{0, 1, 63, 64, 100, 1000, 1400, 1450}

func TestConformance(t *testing.T) {
	for _, algo := range []compress.Algo{compress.S2, compress.Zstd} {
		t.Run(algo.String(), func(t *testing.T) {
			cfg := compress.DefaultConfig()
			cfg.Algo = algo
			stacktest.TestLayer(t, func() (stack.Layer, error) { return compress.New(cfg) }, stacktest.Options{Sizes: sizes})
		})
	}
}

func TestConformanceFromRegistry(t *testing.T) {
	stacktest.TestLayer(t, func() (stack.Layer, error) {
		ls, err := registry.Build("compress(algo=zstd,level=3,min=0B,max=64KiB)", registry.Env{})
		if err != nil {
			return nil, err
		}
		return ls[0], nil
	}, stacktest.Options{Sizes: sizes})
}

// With a large enough MTU the suite runs its default sizes, 64 KiB
// included.
func TestConformanceLargeMTU(t *testing.T) {
	stacktest.TestLayer(t, func() (stack.Layer, error) { return compress.New(compress.DefaultConfig()) },
		stacktest.Options{MTU: 70000})
}
