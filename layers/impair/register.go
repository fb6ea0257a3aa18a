package impair

import (
	"github.com/rwanda-go/rwanda/registry"
	"github.com/rwanda-go/rwanda/stack"
)

// Info describes the layer and its parameters to the registry.
func Info() registry.Info {
	return registry.Info{
		Summary: "damages traffic deterministically from a seed (loss, bursts, reordering, delay, jitter, duplication, corruption), for tests and demos",
		Params: []registry.ParamInfo{
			{Name: "loss", Kind: registry.PercentParam, Default: "0%", Doc: "long-run share of packets dropped"},
			{Name: "burst", Kind: registry.FloatParam, Default: "1", Doc: "mean run of consecutive losses, at least 1; above 1 a Gilbert-Elliott chain, and loss may be at most burst/(1+burst)"},
			{Name: "reorder", Kind: registry.PercentParam, Default: "0%", Doc: "share of packets held back until the next packet in the same direction has passed"},
			{Name: "reorderwait", Kind: registry.DurationParam, Max: "1s", Default: "10ms", Doc: "longest a held packet waits to be overtaken, up to 10s"},
			{Name: "delay", Kind: registry.DurationParam, Max: "10s", Default: "0s", Doc: "delay added to every packet, up to 10s"},
			{Name: "jitter", Kind: registry.DurationParam, Max: "10s", Default: "0s", Doc: "the delay varies uniformly by up to this much either way (clamped at 0), up to 10s"},
			{Name: "dup", Kind: registry.PercentParam, Default: "0%", Doc: "share of packets sent twice"},
			{Name: "corrupt", Kind: registry.PercentParam, Default: "0%", Doc: "share of packets with one random byte flipped"},
			{Name: "seed", Kind: registry.IntParam, Default: "0", Doc: "seed of the decisions; 0 picks one at random and reports it (event \"seed\", Layer.Seed)"},
			{Name: "dir", Kind: registry.IdentParam, Default: "down", Choices: []string{"down", "up", "both"}, Doc: "direction impaired; down damages each direction of a flow once when both ends use the same QoS string"},
		},
		Capabilities: stack.Capabilities{Provides: []stack.Capability{stack.CapImpaired}},
	}
}

func build(_ registry.Env, p *registry.Params) (stack.Layer, error) {
	dir, err := ParseDir(p.Ident("dir"))
	if err != nil {
		return nil, p.Errorf("dir", "%v", err)
	}
	cfg := Config{
		Loss:        p.Percent("loss"),
		Burst:       p.Float("burst"),
		Reorder:     p.Percent("reorder"),
		ReorderWait: p.Duration("reorderwait"),
		Delay:       p.Duration("delay"),
		Jitter:      p.Duration("jitter"),
		Dup:         p.Percent("dup"),
		Corrupt:     p.Percent("corrupt"),
		Seed:        p.Int("seed"),
		Dir:         dir,
	}
	if param, reason := cfg.check(); reason != "" {
		return nil, p.Errorf(param, "%s", reason)
	}
	return New(cfg)
}

func init() {
	registry.Register("impair", Builder())
}

// Builder returns the layer's builder, for registering impair in a
// registry of one's own (importing the package registers it in the default
// one).
func Builder() registry.Builder { return registry.NewBuilder(Info(), build) }
