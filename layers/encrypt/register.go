package encrypt

import (
	"github.com/rwanda-go/rwanda/registry"
	"github.com/rwanda-go/rwanda/stack"
)

// Info describes the layer and its parameters to the registry.
func Info() registry.Info {
	return registry.Info{
		Summary: "seals every packet with an AEAD under per-sender derived keys; drops forged, replayed and unknown-key packets",
		Params: []registry.ParamInfo{
			{Name: "suite", Kind: registry.IdentParam, Default: Suites[0].Name, Choices: suiteNames(), Doc: "the AEAD"},
			{Name: "replay", Kind: registry.IntParam, Max: "65536", Default: "1024", Doc: "replay window, in packets (64..65536)"},
			{Name: "peers", Kind: registry.IntParam, Max: "4096", Default: "256", Doc: "originators whose keys and windows a stack keeps (least recently used evicted)"},
		},
		Capabilities: stack.Capabilities{Provides: []stack.Capability{stack.CapConfidential, stack.CapAuthenticated}},
	}
}

func build(env registry.Env, p *registry.Params) (stack.Layer, error) {
	s, err := SuiteByName(p.Ident("suite"))
	if err != nil {
		return nil, p.Errorf("suite", "%v", err)
	}
	if env.Keys == nil {
		return nil, ErrNoKeys
	}
	r, n := p.Int("replay"), p.Int("peers")
	if r < 64 || r > 1<<16 {
		return nil, p.Errorf("replay", "replay %d is out of range 64..65536", r)
	}
	if n < 1 || n > 1<<16 {
		return nil, p.Errorf("peers", "peers %d is out of range 1..65536", n)
	}
	return New(Config{Suite: s, Keys: env.Keys, Channel: env.Channel, Replay: int(r), Peers: int(n)})
}

func init() {
	registry.Register("encrypt", Builder())
}

// Builder returns the layer's builder, for registering encrypt in a
// registry of one's own (importing the package registers it in the default
// one).
func Builder() registry.Builder { return registry.NewBuilder(Info(), build) }
