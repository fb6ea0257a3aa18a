package channel

import (
	"fmt"
	"slices"
	"time"

	"github.com/rwanda-go/rwanda/posting"
	"github.com/rwanda-go/rwanda/registry"
	"github.com/rwanda-go/rwanda/stack"
)

// StreamState is what an [Adapter] is shown of an outgoing stream.
type StreamState struct {
	Name     string
	Media    posting.Media
	QoS      string         // the stack it runs now (canonical)
	Original string         // the stack it ran before any adaptation
	Measures stack.Measures // from the stack's measuring layer (monitor)
	Since    time.Duration  // since its stack last changed
}

// Adapter chooses stacks for streams from what their stacks measure. It
// is called for every outgoing stream whose stack measures its flow (has
// a monitor layer), every interval given to [WithAdapter], and answers a
// QoS string to move the stream to, or "" to leave it, with a reason for
// the event it causes.
type Adapter interface {
	Adapt(s StreamState) (qos, why string)
}

// AdapterFunc adapts a function to an [Adapter].
type AdapterFunc func(StreamState) (qos, why string)

// Adapt calls f.
func (f AdapterFunc) Adapt(s StreamState) (string, string) { return f(s) }

// WithAdapter runs an adaptation policy over the channel's streams every
// interval (see [Adapter] and [LossAdapter], the default one). Each change
// is made with [Channel.Reconfigure] and reported as an event of kind
// "adapted".
func WithAdapter(a Adapter, every time.Duration) Option {
	return func(c *config) error {
		if a == nil {
			return fmt.Errorf("WithAdapter: nil adapter")
		}
		if every < time.Millisecond {
			return fmt.Errorf("WithAdapter: interval %v is too short", every)
		}
		c.adapter, c.adaptEvery = a, every
		return nil
	}
}

// LossAdapter is the default adaptation policy, for streams sent best
// effort with a monitor layer (for example "frag/monitor"):
//
//   - when the loss its receivers report reaches Up, a stream without
//     retransmission moves to its medium's repairing stack (Repair: audio
//     semi-reliable within 100 ms, video semi-reliable within 200 ms,
//     everything else reliable), keeping its monitor and the layers below
//     it;
//   - when the loss stays at or under Down for Hold, a moved stream goes
//     back to the stack it started with.
//
// With ThinVideo, a lossy video stream is not repaired but thinned: rate
// limited (layer ratelimit) to nine tenths of what its slowest receiver
// takes, so it stops crowding the path, and its postings that cannot leave
// before their deadline are dropped at the sender — video goes first.
//
// Zero fields take the defaults (Up 2%, Down 0.5%, Hold 2s).
type LossAdapter struct {
	Up, Down  float64
	Hold      time.Duration
	Repair    map[posting.Media]string
	ThinVideo bool
	Registry  *registry.Registry // to read stacks; default registry.Default()
}

// DefaultRepair is LossAdapter's default table of repairing stacks.
var DefaultRepair = map[posting.Media]string{
	posting.Audio: "frag/order/window(ttl=100ms)",
	posting.Video: "frag/order/window(ttl=200ms)",
}

// Adapt implements [Adapter].
func (a LossAdapter) Adapt(s StreamState) (string, string) {
	up, down, hold := a.Up, a.Down, a.Hold
	if up == 0 {
		up = 0.02
	}
	if down == 0 {
		down = 0.005
	}
	if hold == 0 {
		hold = 2 * time.Second
	}
	reg := a.Registry
	if reg == nil {
		reg = registry.Default()
	}
	spec, err := reg.Resolve(s.QoS)
	if err != nil {
		return "", ""
	}
	limited := slices.ContainsFunc(spec.Layers, func(l registry.LayerSpec) bool { return l.Name == "ratelimit" })
	repairs := slices.ContainsFunc(spec.Layers, func(l registry.LayerSpec) bool {
		if l.Name != "window" {
			return false
		}
		for _, p := range l.Params {
			if p.Key == "mode" && p.Value.String() == "besteffort" {
				return false
			}
		}
		return true
	})
	loss := s.Measures.Loss
	// below is the stack from the monitor down (the path's own layers).
	below := ""
	if i := slices.IndexFunc(spec.Layers, func(l registry.LayerSpec) bool { return l.Name == "monitor" }); i >= 0 {
		below = "/" + (registry.Spec{Layers: spec.Layers[i:]}).String()
	}
	switch {
	case a.ThinVideo && s.Media == posting.Video && !repairs && !limited && loss >= up && s.Measures.Receivers > 0 && s.Measures.Rate > 0:
		rate := max(int64(0.9*s.Measures.Rate), 1000)
		above := spec.Layers
		if i := slices.IndexFunc(spec.Layers, func(l registry.LayerSpec) bool { return l.Name == "monitor" }); i >= 0 {
			above = spec.Layers[:i]
		}
		q := (registry.Spec{Layers: above}).String()
		if q != "" {
			q += "/"
		}
		q += fmt.Sprintf("ratelimit(rate=%d)", rate) + below
		return q, fmt.Sprintf("loss %.1f%% ≥ %.1f%%: thinning video to %d B/s", 100*loss, 100*up, rate)
	case !repairs && loss >= up && s.Measures.Receivers > 0:
		q := a.Repair[s.Media]
		if q == "" {
			q = DefaultRepair[s.Media]
		}
		if q == "" {
			q = "reliable"
		}
		// Keep what measures the flow and everything below it (encrypt,
		// impair: the path's own layers), at the wire side as before.
		q += below
		return q, fmt.Sprintf("loss %.1f%% ≥ %.1f%%: repairing", 100*loss, 100*up)
	case (repairs || limited) && s.QoS != s.Original && loss <= down && s.Since >= hold:
		return s.Original, fmt.Sprintf("loss %.2f%% ≤ %.2f%% for %v: back to %s", 100*loss, 100*down, hold, s.Original)
	}
	return "", ""
}

// adapt runs the adapter over the outgoing streams (the adapter loop).
func (c *Channel) adapt(now time.Time) {
	if c.closed.Load() {
		return
	}
	done := map[string]bool{}
	for _, os := range c.og.current() {
		if done[os.key.name] {
			continue
		}
		m, ok := os.st.Measure()
		if !ok {
			continue
		}
		orig := os.original
		if orig == "" {
			orig = os.qos
		}
		q, why := c.cfg.adapter.Adapt(StreamState{Name: os.key.name, Media: os.media, QoS: os.qos, Original: orig,
			Measures: m, Since: now.Sub(os.created)})
		if q == "" {
			continue
		}
		canon, err := c.resolveQoS(q)
		if err != nil || canon == os.qos {
			if err != nil {
				c.log.Warn("adapter chose a stack that cannot be built", "stream", os.key.name, "qos", q, "err", err)
			}
			continue
		}
		done[os.key.name] = true
		if err := c.og.reconfigure(os.key.name, canon, orig); err != nil {
			c.log.Warn("adaptation failed", "stream", os.key.name, "qos", canon, "err", err)
			continue
		}
		c.cnt.report(Event{Kind: "adapted", Stream: os.key.name, Detail: why + " → " + canon, At: now})
	}
}
