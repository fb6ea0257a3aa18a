package compress

import (
	"github.com/rwanda-go/rwanda/registry"
	"github.com/rwanda-go/rwanda/stack"
)

// Info describes the layer and its parameters to the registry.
func Info() registry.Info {
	return registry.Info{
		Summary: "compresses each packet with s2 or zstd when that makes it shorter, and refuses packets that would decode to more than max",
		Params: []registry.ParamInfo{
			{Name: "algo", Kind: registry.IdentParam, Default: "s2", Choices: []string{"s2", "zstd"},
				Doc: "algorithm for what this side sends: s2 (fast) or zstd (smaller); either is decoded on receipt"},
			{Name: "level", Kind: registry.IntParam, Max: "22", Default: "1",
				Doc: "effort: s2 1-3 (fast, better, best); zstd 1-22 on zstd's scale (1-2 fastest, 3-5 default, 6-9 better, 10+ best)"},
			{Name: "min", Kind: registry.SizeParam, Default: "64B",
				Doc: "payloads shorter than this are sent stored, uncompressed"},
			{Name: "max", Kind: registry.SizeParam, Max: "16MiB", Default: "16MiB",
				Doc: "largest payload sent or delivered (at most 1GiB); a packet declaring a longer decoded length is dropped before decoding"},
		},
		Capabilities: stack.Capabilities{Provides: []stack.Capability{stack.CapCompressed}},
	}
}

func build(_ registry.Env, p *registry.Params) (stack.Layer, error) {
	algo, err := ParseAlgo(p.Ident("algo"))
	if err != nil {
		return nil, p.Errorf("algo", "%v", err)
	}
	cfg := Config{Algo: algo, Level: int(p.Int("level")), Min: int(p.Size("min")), Max: p.Size("max")}
	switch {
	case algo == S2 && (p.Int("level") < 1 || p.Int("level") > MaxS2Level):
		return nil, p.Errorf("level", "s2 level %d is out of range 1..%d", p.Int("level"), MaxS2Level)
	case algo == Zstd && (p.Int("level") < 1 || p.Int("level") > MaxZstdLevel):
		return nil, p.Errorf("level", "zstd level %d is out of range 1..%d", p.Int("level"), MaxZstdLevel)
	case p.Size("min") < 0 || int64(cfg.Min) != p.Size("min"):
		return nil, p.Errorf("min", "min %d is out of range", p.Size("min"))
	case cfg.Max < 1 || cfg.Max > MaxMax:
		return nil, p.Errorf("max", "max %d is out of range 1B..1GiB", cfg.Max)
	}
	return New(cfg)
}

func init() {
	registry.Register("compress", Builder())
}

// Builder returns the layer's builder, for registering compress in a
// registry of one's own (importing the package registers it in the default
// one).
func Builder() registry.Builder { return registry.NewBuilder(Info(), build) }
