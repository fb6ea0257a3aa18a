package fifo

import (
	"github.com/rwanda-go/rwanda/registry"
	"github.com/rwanda-go/rwanda/sched"
)

// Builder returns the layer's builder, for registering "fifo" in a registry
// of one's own (importing the package registers it in the default one).
func Builder() registry.Builder { return sched.Builder(sched.FIFO) }

func init() { registry.Register("fifo", Builder()) }
