package frag_test

import (
	"testing"

	"github.com/rwanda-go/rwanda/layers/frag"
	"github.com/rwanda-go/rwanda/registry"
	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/stack/stacktest"
)

func TestConformance(t *testing.T) {
	stacktest.TestLayer(t, func() (stack.Layer, error) { return frag.New(frag.DefaultConfig()) }, stacktest.Options{})
}

func TestConformanceFromRegistry(t *testing.T) {
	stacktest.TestLayer(t, func() (stack.Layer, error) {
		ls, err := registry.Build("frag(mtu=600,timeout=500ms)", registry.Env{})
		if err != nil {
			return nil, err
		}
		return ls[0], nil
	}, stacktest.Options{MTU: 1500})
}
