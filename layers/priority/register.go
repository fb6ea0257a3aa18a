package priority

import (
	"github.com/rwanda-go/rwanda/registry"
	"github.com/rwanda-go/rwanda/sched"
)

// Builder returns the layer's builder, for registering "priority" in a registry
// of one's own (importing the package registers it in the default one).
func Builder() registry.Builder { return sched.Builder(sched.Priority) }

func init() { registry.Register("priority", Builder()) }
