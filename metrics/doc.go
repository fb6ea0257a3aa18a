// Package metrics exposes a channel's counters to the tools that collect
// them: the standard library's expvar (served at /debug/vars by
// net/http) here, and OpenTelemetry in the nested module
// github.com/rwanda-go/rwanda/otel, which keeps its dependencies out of
// this module.
//
//	ch, _ := channel.Open(ctx, "classroom://239.7.7.7:7400?iface=eth0")
//	metrics.PublishExpvar("classroom", ch) // GET /debug/vars shows its Stats as JSON
//
// It is a package of its own, not part of channel, because importing
// expvar registers /debug/vars on http.DefaultServeMux: programs that
// never ask for it should not get it.
//
// [Monitors] reads what the monitor layer measured (loss, jitter, RTT,
// rate) out of a [channel.Stats], for every outgoing stream and incoming
// flow whose stack has a monitor layer; the expvar snapshot, the
// OpenTelemetry adapter and `rw stat` all show those figures.
package metrics
