package frag

import (
	"github.com/rwanda-go/rwanda/registry"
	"github.com/rwanda-go/rwanda/stack"
)

// Info describes the layer and its parameters to the registry.
func Info() registry.Info {
	return registry.Info{
		Summary: "splits parcels larger than the MTU into fragments and reassembles them, whole or not at all",
		Params: []registry.ParamInfo{
			{Name: "mtu", Kind: registry.SizeParam, Max: "64KiB", Doc: "largest packet on the wire, headers below included; 0 or unset: the channel's MTU"},
			{Name: "max", Kind: registry.SizeParam, Max: "16MiB", Default: "16MiB", Doc: "largest body accepted (a posting's; parcels may exceed it by 8 KiB of headers)"},
			{Name: "buffer", Kind: registry.SizeParam, Max: "64MiB", Default: "32MiB", Doc: "reassembly memory per flow (at least max)"},
			{Name: "parcels", Kind: registry.IntParam, Max: "1024", Default: "256", Doc: "incomplete parcels held per flow; the oldest is evicted first"},
			{Name: "timeout", Kind: registry.DurationParam, Max: "30s", Default: "2s", Doc: "how long an incomplete parcel waits for its missing fragments"},
		},
		Capabilities: stack.Capabilities{Provides: []stack.Capability{stack.CapFragmentation}},
	}
}

func build(_ registry.Env, p *registry.Params) (stack.Layer, error) {
	cfg := Config{
		MTU:     int(p.Size("mtu")),
		Max:     p.Size("max"),
		Buffer:  p.Size("buffer"),
		Parcels: int(p.Int("parcels")),
		Timeout: p.Duration("timeout"),
	}
	switch {
	case cfg.MTU < 0 || int64(cfg.MTU) != p.Size("mtu"):
		return nil, p.Errorf("mtu", "mtu %d is out of range", p.Size("mtu"))
	case cfg.Max < 1:
		return nil, p.Errorf("max", "max must be at least 1 byte")
	case cfg.Buffer < cfg.Max:
		return nil, p.Errorf("buffer", "buffer %d is smaller than max %d: the largest parcel could never be reassembled", cfg.Buffer, cfg.Max)
	case p.Int("parcels") < 1 || p.Int("parcels") > 1<<20:
		return nil, p.Errorf("parcels", "parcels %d is out of range 1..%d", p.Int("parcels"), 1<<20)
	case cfg.Timeout <= 0:
		return nil, p.Errorf("timeout", "timeout must be positive")
	}
	return New(cfg)
}

func init() {
	registry.Register("frag", Builder())
}

// Builder returns the layer's builder, for registering frag in a registry
// of one's own (importing the package registers it in the default one).
func Builder() registry.Builder { return registry.NewBuilder(Info(), build) }
