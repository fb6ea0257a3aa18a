package ratelimit

import (
	"github.com/rwanda-go/rwanda/registry"
	"github.com/rwanda-go/rwanda/stack"
)

// Info describes the layer and its parameters to the registry.
func Info() registry.Info {
	return registry.Info{
		Summary: "token bucket (rate, bucket, peak rate: the DMIF flowspec) pacing what leaves the stack; delays the excess and thins obsolete postings",
		Params: []registry.ParamInfo{
			{Name: "rate", Kind: registry.SizeParam, Doc: "long-run rate in bytes per second, such as 1MB or 2MiB (required)"},
			{Name: "bucket", Kind: registry.SizeParam, Max: "64MiB", Doc: "bucket size: the most that passes at once; unset: rate/10, at least two MTUs"},
			{Name: "peak", Kind: registry.SizeParam, Doc: "peak rate in bytes per second (at least rate): packets leave len/peak apart; unset: no peak"},
			{Name: "queue", Kind: registry.SizeParam, Max: "64MiB", Doc: "bytes held back before the stack reports no room; unset: rate/2, at least 64KiB and the bucket"},
		},
		Capabilities: stack.Capabilities{Provides: []stack.Capability{stack.CapRateLimited}},
	}
}

func build(_ registry.Env, p *registry.Params) (stack.Layer, error) {
	if !p.IsSet("rate") {
		return nil, p.Errorf("rate", "rate is required, e.g. ratelimit(rate=1MB)")
	}
	cfg := Config{Rate: p.Size("rate"), Bucket: p.Size("bucket"), Peak: p.Size("peak"), Queue: p.Size("queue")}
	switch {
	case cfg.Rate < 1 || cfg.Rate > MaxRate:
		return nil, p.Errorf("rate", "rate %d B/s out of range 1..1TiB", cfg.Rate)
	case p.IsSet("bucket") && cfg.Bucket < 1:
		return nil, p.Errorf("bucket", "bucket must be at least 1 byte")
	case p.IsSet("peak") && cfg.Peak < cfg.Rate:
		return nil, p.Errorf("peak", "peak %d B/s is below rate %d B/s", cfg.Peak, cfg.Rate)
	case p.IsSet("queue") && cfg.Queue < 1:
		return nil, p.Errorf("queue", "queue must be at least 1 byte")
	}
	if err := cfg.Validate(); err != nil {
		return nil, p.Errorf("", "%v", err)
	}
	return New(cfg)
}

func init() {
	registry.Register("ratelimit", Builder())
}

// Builder returns the layer's builder, for registering ratelimit in a
// registry of one's own (importing the package registers it in the default
// one).
func Builder() registry.Builder { return registry.NewBuilder(Info(), build) }
