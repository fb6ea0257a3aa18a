package sched

import (
	"github.com/rwanda-go/rwanda/registry"
	"github.com/rwanda-go/rwanda/stack"
)

// Layer marks a stack's packets for a policy of its channel's send queue
// (see channel.WithLinkRate): the channel asks [Layer.Policy] when it
// builds the stream. Under EDF, packets whose deadline has already passed
// are dropped here, before they reach the queue. Packages layers/fifo,
// layers/priority and layers/edf register it.
type Layer struct {
	stack.Base
	policy Policy
}

// NewLayer returns a scheduling layer for p.
func NewLayer(p Policy) *Layer { return &Layer{policy: p} }

// Name is the policy's name: "fifo", "priority", "edf".
func (l *Layer) Name() string { return l.policy.String() }

// Overhead is 0: the layer adds nothing to packets.
func (l *Layer) Overhead() int { return 0 }

// Policy is the policy the stream's packets are queued under.
func (l *Layer) Policy() Policy { return l.policy }

// Capabilities declares scheduling.
func (l *Layer) Capabilities() stack.Capabilities {
	return stack.Capabilities{Provides: []stack.Capability{stack.CapScheduled}}
}

// Down drops expired packets under EDF and passes the others on.
func (l *Layer) Down(p *stack.Packet) error {
	b := l.Binding()
	if l.policy == EDF && p.Meta.Flags&stack.FlagControl == 0 {
		if d := p.Meta.Deadline; !d.IsZero() && !b.Now().Before(d) {
			b.Drop(p, "expired")
			return nil
		}
	}
	return b.Down.Handle(p)
}

// Scheduled is what a channel looks for in a stack to learn the policy of
// its stream.
type Scheduled interface {
	Policy() Policy
}

// Builder returns a registry builder of layers for p, for the packages
// that register "fifo", "priority" and "edf".
func Builder(p Policy) registry.Builder {
	return registry.NewBuilder(registry.Info{
		Summary:      p.Summary(),
		Capabilities: stack.Capabilities{Provides: []stack.Capability{stack.CapScheduled}},
	}, func(registry.Env, *registry.Params) (stack.Layer, error) { return NewLayer(p), nil })
}
