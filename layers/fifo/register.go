package fifo

import (
	"github.com/rwanda-go/rwanda/registry"
	"github.com/rwanda-go/rwanda/sched"
	"github.com/rwanda-go/rwanda/stack"
)

// Info describes the layer to the registry.
func Info() registry.Info {
	return registry.Info{
		Summary:      sched.FIFO.Summary(),
		Capabilities: stack.Capabilities{Provides: []stack.Capability{stack.CapScheduled}},
	}
}

// Builder returns the layer's builder.
func Builder() registry.Builder {
	return registry.NewBuilder(Info(), func(registry.Env, *registry.Params) (stack.Layer, error) {
		return sched.NewLayer(sched.FIFO), nil
	})
}

func init() { registry.Register("fifo", Builder()) }
