package fec

import (
	"github.com/rwanda-go/rwanda/registry"
	"github.com/rwanda-go/rwanda/stack"
)

// Info describes the layer and its parameters to the registry.
func Info() registry.Info {
	d := DefaultConfig()
	return registry.Info{
		Summary: "forward error correction below a window: Reed-Solomon parity per block (a posting's fragments, or a burst of small packets), as much as the receivers' loss calls for, and parity in answer to NAKs so one repair serves many receivers",
		Params: []registry.ParamInfo{
			{Name: "parity", Kind: registry.IdentParam, Default: "auto", Choices: []string{"auto", "off"}, Doc: "auto: parity with each block from the loss receivers report (none without loss); off: parity only for NAKs"},
			{Name: "fixed", Kind: registry.IntParam, Max: "64", Default: "0", Doc: "parity shards with every block whatever the loss (overrides parity)"},
			{Name: "residual", Kind: registry.PercentParam, Default: "2%", Doc: "share of blocks auto lets parity alone leave unrepaired"},
			{Name: "k", Kind: registry.IntParam, Max: "128", Default: "32", Doc: "most data packets in a block"},
			{Name: "wait", Kind: registry.DurationParam, Max: "1s", Default: "0s", Doc: "how long a block stays open for more packets; 0s: until the end of the burst"},
			{Name: "hold", Kind: registry.DurationParam, Max: "1s", Default: d.Hold.String(), Doc: "longest a receiver holds packets behind a loss while parity is coming"},
			{Name: "round", Kind: registry.DurationParam, Min: "1ms", Max: "10s", Default: d.Round.String(), Doc: "NAKs within a round of the first get only parity beyond what it sent; about one round trip"},
			{Name: "keep", Kind: registry.DurationParam, Min: "1ms", Max: "1m", Default: d.Keep.String(), Doc: "how long blocks are kept for repair"},
			{Name: "buffer", Kind: registry.SizeParam, Min: "64KiB", Max: "64MiB", Default: "4MiB", Doc: "bytes of blocks kept at each end"},
			{Name: "report", Kind: registry.DurationParam, Min: "1ms", Max: "1m", Default: d.Report.String(), Doc: "how often receivers report loss"},
			{Name: "repair", Kind: registry.BoolParam, Default: "true", Doc: "answer NAKs with parity"},
		},
		Capabilities: stack.Capabilities{},
	}
}

func build(_ registry.Env, p *registry.Params) (stack.Layer, error) {
	c := DefaultConfig()
	if p.Ident("parity") == "off" {
		c.Parity = Off
	}
	c.Fixed, c.K = int(p.Int("fixed")), int(p.Int("k"))
	c.Residual = p.Percent("residual")
	c.Wait, c.Hold, c.Round, c.Keep, c.Report = p.Duration("wait"), p.Duration("hold"), p.Duration("round"), p.Duration("keep"), p.Duration("report")
	c.Buffer = int(p.Size("buffer"))
	c.Repair = p.Bool("repair")
	if err := c.Validate(); err != nil {
		return nil, p.Errorf("", "%v", err)
	}
	return New(c)
}

// Builder returns the layer's builder, for registering fec in a registry
// of one's own (importing the package registers it in the default one).
func Builder() registry.Builder { return registry.NewBuilder(Info(), build) }

func init() { registry.Register("fec", Builder()) }
