package sign

import (
	"github.com/rwanda-go/rwanda/registry"
	"github.com/rwanda-go/rwanda/stack"
)

// Info describes the layer and its parameters to the registry.
func Info() registry.Info {
	d := DefaultConfig()
	return registry.Info{
		Summary: "Ed25519 source authentication: senders sign each packet or batches of packet digests; receivers deliver only what a trusted key signed for this sender and stream",
		Params: []registry.ParamInfo{
			{Name: "batch", Kind: registry.IntParam, Max: "256", Default: "16", Doc: "packets per signature; 1 signs each packet on its own, more sends packets at once and signs their digests in a SIG packet"},
			{Name: "delay", Kind: registry.DurationParam, Max: "1s", Default: d.Delay.String(), Doc: "longest a batch waits for its SIG (batch > 1)"},
			{Name: "hold", Kind: registry.SizeParam, Max: "16MiB", Default: "4MiB", Doc: "bytes a receiver holds in packets waiting for their signature (whole buffers counted); the oldest is evicted first"},
			{Name: "packets", Kind: registry.IntParam, Max: "16384", Default: "1024", Doc: "packets a receiver holds waiting for their signature, and digests it keeps for packets not arrived"},
			{Name: "timeout", Kind: registry.DurationParam, Max: "30s", Default: d.Timeout.String(), Doc: "how long a receiver holds a packet waiting for its signature; longer than delay"},
		},
		Capabilities: stack.Capabilities{Provides: []stack.Capability{stack.CapAuthenticated}},
	}
}

func build(env registry.Env, p *registry.Params) (stack.Layer, error) {
	c := Config{Identity: env.Identity, Trusted: env.Trusted, Channel: env.Channel, MemberSalt: env.MemberSalt}
	batch, packets := p.Int("batch"), p.Int("packets")
	c.Delay, c.Hold, c.Timeout = p.Duration("delay"), p.Size("hold"), p.Duration("timeout")
	switch {
	case batch < 1 || batch > MaxBatch:
		return nil, p.Errorf("batch", "batch %d out of range 1..%d", batch, MaxBatch)
	case batch > 1 && (c.Delay <= 0 || c.Delay > MaxDelay):
		return nil, p.Errorf("delay", "delay %v out of range (0, %v]", c.Delay, MaxDelay)
	case c.Hold < 64<<10 || c.Hold > MaxHold:
		return nil, p.Errorf("hold", "hold %d out of range 64KiB..1GiB", c.Hold)
	case packets < 1 || packets > MaxPackets:
		return nil, p.Errorf("packets", "packets %d out of range 1..%d", packets, MaxPackets)
	case c.Timeout <= 0 || c.Timeout > MaxTimeout:
		return nil, p.Errorf("timeout", "timeout %v out of range (0, %v]", c.Timeout, MaxTimeout)
	case batch > 1 && c.Timeout <= c.Delay:
		return nil, p.Errorf("timeout", "timeout %v must be longer than delay %v", c.Timeout, c.Delay)
	}
	c.Batch, c.Packets = int(batch), int(packets)
	return New(c)
}

// Builder returns the layer's builder, for registering sign in a registry
// of one's own (importing the package registers it in the default one).
func Builder() registry.Builder { return registry.NewBuilder(Info(), build) }

func init() { registry.Register("sign", Builder()) }
