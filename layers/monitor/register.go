package monitor

import (
	"github.com/rwanda-go/rwanda/registry"
	"github.com/rwanda-go/rwanda/stack"
)

// Info describes the layer and its parameters to the registry.
func Info() registry.Info {
	return registry.Info{
		Summary: "measures a flow: rate over the last k packets, loss, RTT and RFC 3550 jitter per receiver, from stamped packets and periodic receiver reports",
		Params: []registry.ParamInfo{
			{Name: "k", Kind: registry.IntParam, Max: "4096", Default: "64", Doc: "packets the rate and the recent loss are measured over, 2..4096"},
			{Name: "report", Kind: registry.DurationParam, Min: "10ms", Default: "1s", Doc: "period of receiver reports and monitor-report events; 0s turns them off"},
			{Name: "reorder", Kind: registry.IntParam, Max: "1024", Default: "3", Doc: "a missing packet counts as lost once this many later ones arrived, 0..1024"},
			{Name: "receivers", Kind: registry.IntParam, Max: "4096", Default: "256", Doc: "receivers a sender keeps figures for; the least recently heard is forgotten first"},
		},
		Capabilities: stack.Capabilities{Provides: []stack.Capability{stack.CapMonitored}},
	}
}

func build(_ registry.Env, p *registry.Params) (stack.Layer, error) {
	k, reorder, rcv := p.Int("k"), p.Int("reorder"), p.Int("receivers")
	switch {
	case k < 2 || k > MaxK:
		return nil, p.Errorf("k", "k %d out of range 2..%d", k, MaxK)
	case reorder < 0 || reorder > MaxReorder:
		return nil, p.Errorf("reorder", "reorder %d out of range 0..%d", reorder, MaxReorder)
	case rcv < 1 || rcv > MaxReceivers:
		return nil, p.Errorf("receivers", "receivers %d out of range 1..%d", rcv, MaxReceivers)
	}
	cfg := Config{K: int(k), Report: p.Duration("report"), Reorder: int(reorder), Receivers: int(rcv)}
	if err := cfg.Validate(); err != nil {
		return nil, p.Errorf("report", "%v", err)
	}
	return New(cfg)
}

func init() {
	registry.Register("monitor", Builder())
}

// Builder returns the layer's builder, for registering monitor in a
// registry of one's own (importing the package registers it in the default
// one).
func Builder() registry.Builder { return registry.NewBuilder(Info(), build) }
