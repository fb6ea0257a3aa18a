package rwotel

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/metrics"
)

// ScopeName is the instrumentation scope of the meter Register uses.
const ScopeName = "github.com/rwanda-go/rwanda/otel"

// Option configures Register.
type Option func(*config)

type config struct {
	name  string
	attrs []attribute.KeyValue
}

// WithChannelName sets the rwanda.channel attribute (default: the
// channel's identity).
func WithChannelName(name string) Option { return func(c *config) { c.name = name } }

// WithAttributes adds attributes to every measurement.
func WithAttributes(kv ...attribute.KeyValue) Option {
	return func(c *config) { c.attrs = append(c.attrs, kv...) }
}

type instruments struct {
	datagrams, bytes, postings, drops, events, keyUpdates, held metric.Int64ObservableCounter
	memory, memLimit, members, subs                             metric.Int64ObservableGauge
	streamPostings, streamBytes                                 metric.Int64ObservableCounter
	loss, jitter, rtt, rate                                     metric.Float64ObservableGauge
}

// Register creates the instruments on a meter of mp and observes c's
// Stats on each collection, until the returned registration's Unregister
// (call it before or after closing c; a closed channel's Stats keep their
// last values). Several channels may be registered with one provider:
// their measurements differ by rwanda.channel.
func Register(mp metric.MeterProvider, c *channel.Channel, opts ...Option) (metric.Registration, error) {
	if mp == nil || c == nil {
		return nil, fmt.Errorf("rwotel: Register needs a MeterProvider and a channel")
	}
	cfg := config{name: c.Address().Identity()}
	for _, o := range opts {
		o(&cfg)
	}
	m := mp.Meter(ScopeName)
	var in instruments
	var errs []error
	ctr := func(name, unit, desc string) metric.Int64ObservableCounter {
		i, err := m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return i
	}
	igauge := func(name, unit, desc string) metric.Int64ObservableGauge {
		i, err := m.Int64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return i
	}
	fgauge := func(name, unit, desc string) metric.Float64ObservableGauge {
		i, err := m.Float64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return i
	}
	in.datagrams = ctr("rwanda.channel.datagrams", "{datagram}", "Datagrams sent and received (received: before any check).")
	in.bytes = ctr("rwanda.channel.bytes", "By", "Bytes of datagrams sent and received.")
	in.postings = ctr("rwanda.channel.postings", "{posting}", "Postings sent and received.")
	in.drops = ctr("rwanda.channel.drops", "{drop}", "Datagrams, frames and postings dropped, by reason.")
	in.events = ctr("rwanda.channel.events", "{event}", "Events of the channel and its stacks, by kind.")
	in.keyUpdates = ctr("rwanda.channel.key_updates", "{update}", "Automatic datagram key updates of a keyed channel.")
	in.held = ctr("rwanda.channel.held", "{frame}", "Data frames held until their stream's late announcement.")
	in.memory = igauge("rwanda.channel.memory", "By", "Bytes the stacks and held frames have reserved from the memory budget.")
	in.memLimit = igauge("rwanda.channel.memory.limit", "By", "The channel's memory budget.")
	in.members = igauge("rwanda.channel.members", "{member}", "Members heard from.")
	in.subs = igauge("rwanda.channel.subscriptions", "{subscription}", "Live subscriptions.")
	in.streamPostings = ctr("rwanda.stream.postings", "{posting}", "Postings of each outgoing stream and incoming flow.")
	in.streamBytes = ctr("rwanda.stream.bytes", "By", "Bytes of each outgoing stream and incoming flow.")
	in.loss = fgauge("rwanda.monitor.loss", "1", "Fraction of packets lost recently, measured by the monitor layer.")
	in.jitter = fgauge("rwanda.monitor.jitter", "s", "Interarrival jitter (RFC 3550), measured by the monitor layer.")
	in.rtt = fgauge("rwanda.monitor.rtt", "s", "Round-trip time, measured by a sender's monitor layer.")
	in.rate = fgauge("rwanda.monitor.rate", "By/s", "Rate at which packets arrive, measured by the monitor layer.")
	for _, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("rwotel: %w", err)
		}
	}
	base := append([]attribute.KeyValue{attribute.String("rwanda.channel", cfg.name)}, cfg.attrs...)
	return m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		observe(o, &in, base, c.Stats())
		return nil
	}, in.datagrams, in.bytes, in.postings, in.drops, in.events, in.keyUpdates, in.held,
		in.memory, in.memLimit, in.members, in.subs, in.streamPostings, in.streamBytes,
		in.loss, in.jitter, in.rtt, in.rate)
}

// observe records one Stats snapshot.
func observe(o metric.Observer, in *instruments, base []attribute.KeyValue, st channel.Stats) {
	with := func(kv ...attribute.KeyValue) metric.MeasurementOption {
		all := make([]attribute.KeyValue, 0, len(base)+len(kv))
		return metric.WithAttributes(append(append(all, base...), kv...)...)
	}
	u := func(v uint64) int64 { return int64(min(v, 1<<63-1)) }
	sent, recv := attribute.String("rwanda.direction", "sent"), attribute.String("rwanda.direction", "received")
	for _, d := range []struct {
		dir attribute.KeyValue
		t   channel.Traffic
	}{{sent, st.Sent}, {recv, st.Received}} {
		o.ObserveInt64(in.datagrams, u(d.t.Datagrams), with(d.dir))
		o.ObserveInt64(in.bytes, u(d.t.Bytes), with(d.dir))
		o.ObserveInt64(in.postings, u(d.t.Postings), with(d.dir))
	}
	for reason, n := range st.Drops {
		o.ObserveInt64(in.drops, u(n), with(attribute.String("rwanda.reason", reason)))
	}
	for kind, n := range st.Events {
		o.ObserveInt64(in.events, u(n), with(attribute.String("rwanda.event", kind)))
	}
	o.ObserveInt64(in.keyUpdates, u(st.Keys.Sent), with(sent))
	o.ObserveInt64(in.keyUpdates, u(st.Keys.Received), with(recv))
	o.ObserveInt64(in.held, u(st.Held), with())
	o.ObserveInt64(in.memory, st.Memory, with())
	o.ObserveInt64(in.memLimit, st.MemLimit, with())
	o.ObserveInt64(in.members, int64(len(st.Peers)), with())
	o.ObserveInt64(in.subs, int64(st.Subs), with())

	member := func(id uint64) attribute.KeyValue {
		if id == 0 {
			return attribute.String("rwanda.member", "")
		}
		return attribute.String("rwanda.member", fmt.Sprintf("%016x", id))
	}
	// Streams of one name may be several (one per stack, per target): sum
	// them per (stream, member), so that no attribute set is observed twice.
	type key struct {
		stream string
		dir    string
		member uint64
	}
	type sum struct{ postings, bytes uint64 }
	sums := map[key]sum{}
	var order []key
	add := func(k key, p, b uint64) {
		s, ok := sums[k]
		if !ok {
			order = append(order, k)
		}
		sums[k] = sum{s.postings + p, s.bytes + b}
	}
	for _, s := range st.Streams {
		add(key{s.Name, "sent", s.Target}, s.Postings, s.Bytes)
	}
	for _, f := range st.Flows {
		add(key{f.Stream, "received", f.Sender}, f.Postings, f.Bytes)
	}
	for _, k := range order {
		s := sums[k]
		opt := with(attribute.String("rwanda.stream", k.stream), attribute.String("rwanda.direction", k.dir), member(k.member))
		o.ObserveInt64(in.streamPostings, u(s.postings), opt)
		o.ObserveInt64(in.streamBytes, u(s.bytes), opt)
	}

	// The monitors: the worst figures where one (stream, role, member) has
	// several (a stream whose media run on stacks of their own).
	type mkey struct {
		stream string
		role   metrics.Role
		member uint64
	}
	worst := map[mkey]metrics.Monitor{}
	var morder []mkey
	for _, m := range metrics.Monitors(st) {
		k := mkey{m.Stream, m.Role, m.Member}
		w, ok := worst[k]
		if !ok {
			morder = append(morder, k)
			worst[k] = m
			continue
		}
		w.Loss, w.Jitter, w.RTT = max(w.Loss, m.Loss), max(w.Jitter, m.Jitter), max(w.RTT, m.RTT)
		w.Rate = min(w.Rate, m.Rate)
		worst[k] = w
	}
	for _, k := range morder {
		m := worst[k]
		opt := with(attribute.String("rwanda.stream", k.stream), attribute.String("rwanda.role", string(k.role)), member(k.member))
		o.ObserveFloat64(in.loss, m.Loss, opt)
		o.ObserveFloat64(in.jitter, m.Jitter.Seconds(), opt)
		o.ObserveFloat64(in.rate, m.Rate, opt)
		if m.RTT > 0 {
			o.ObserveFloat64(in.rtt, m.RTT.Seconds(), opt)
		}
	}
}
