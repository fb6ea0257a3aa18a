package metrics

import (
	"expvar"
	"fmt"
	"sync"
	"time"

	"github.com/rwanda-go/rwanda/channel"
)

// Role says which end of a flow a monitor layer measured.
type Role string

// The two ends.
const (
	Sender   Role = "sender"   // an outgoing stream: figures from its receivers' reports (the worst receiver)
	Receiver Role = "receiver" // an incoming flow: figures measured on arrival
)

// Monitor is what one monitor layer reports (see package layers/monitor,
// "What it exposes"): on an outgoing stream the worst receiver's figures
// and the RTT, on an incoming flow the figures measured where it arrives.
type Monitor struct {
	Role   Role
	Stream string
	// Member is the remote sender of an incoming flow, or the member an
	// outgoing stream is addressed to (0: everyone).
	Member uint64
	QoS    string
	// Loss is the fraction of packets lost recently, 0 to 1.
	Loss float64
	// Jitter is the interarrival jitter (RFC 3550).
	Jitter time.Duration
	// RTT is the round-trip time (senders only; 0 when no receiver has
	// reported one yet).
	RTT time.Duration
	// Rate is the rate, in bytes per second, at which packets arrive (at
	// a sender: at its slowest receiver).
	Rate float64
	// Lost counts the packets found lost so far.
	Lost uint64
	// Receivers is the number of receivers reporting (senders only).
	Receivers int
}

// Monitors returns the figures of every monitor layer in st's outgoing
// streams and incoming flows, streams first, in st's order. Streams and
// flows whose stacks have no monitor layer are left out. The monitor
// layer leaves zero counters out of Stats, so a missing figure reads as
// 0 (for RTT: not known yet).
func Monitors(st channel.Stats) []Monitor {
	var out []Monitor
	for _, s := range st.Streams {
		for _, l := range s.Stack.Layers {
			if l.Name == "monitor" {
				out = append(out, monitorOf(Sender, s.Name, s.Target, s.QoS, l.Counters))
			}
		}
	}
	for _, f := range st.Flows {
		for _, l := range f.Stack.Layers {
			if l.Name == "monitor" {
				out = append(out, monitorOf(Receiver, f.Stream, f.Sender, f.QoS, l.Counters))
			}
		}
	}
	return out
}

func monitorOf(role Role, stream string, member uint64, qos string, c map[string]uint64) Monitor {
	us := func(k string) time.Duration { return time.Duration(c[k]) * time.Microsecond }
	return Monitor{
		Role: role, Stream: stream, Member: member, QoS: qos,
		Loss:      float64(c["loss-ppm"]) / 1e6,
		Jitter:    us("jitter-us"),
		RTT:       us("rtt-us"),
		Rate:      float64(c["rate-Bps"]),
		Lost:      c["lost"],
		Receivers: int(c["receivers"]),
	}
}

// Snapshot is what the expvar variable shows: the channel's Stats (its
// fields at the top level of the JSON object) and, beside them, the
// monitor layers' figures.
type Snapshot struct {
	channel.Stats
	Monitors []Monitor `json:",omitempty"`
}

// Take returns c's Stats and its monitors' figures.
func Take(c *channel.Channel) Snapshot {
	st := c.Stats()
	return Snapshot{Stats: st, Monitors: Monitors(st)}
}

// Expvar returns an expvar.Var whose value is c's [Snapshot], read anew
// each time it is shown: Stats' fields (Sent, Received, Drops, Events,
// Streams, Flows, Peers, ...) and Monitors, as JSON. Put it in an
// expvar.Map to publish channels that come and go (a Map's entries can be
// deleted; published names cannot).
func Expvar(c *channel.Channel) expvar.Var {
	return expvar.Func(func() any { return Take(c) })
}

var publishMu sync.Mutex

// PublishExpvar publishes c's [Snapshot] in the standard expvar registry
// under name, so that expvar.Handler (GET /debug/vars on
// http.DefaultServeMux) shows it as JSON. expvar names are for the
// process's lifetime: publish a channel that lives as long, or use
// [Expvar] in an expvar.Map. It fails when the name is taken.
func PublishExpvar(name string, c *channel.Channel) error {
	if name == "" || c == nil {
		return fmt.Errorf("metrics: PublishExpvar needs a name and a channel")
	}
	publishMu.Lock()
	defer publishMu.Unlock()
	if expvar.Get(name) != nil {
		return fmt.Errorf("metrics: expvar %q is already published (names cannot be reused; use metrics.Expvar in an expvar.Map for channels that come and go)", name)
	}
	expvar.Publish(name, Expvar(c))
	return nil
}
