// Package rwotel publishes a rwanda channel's counters as OpenTelemetry
// metrics: the same figures as its Stats (and as metrics.PublishExpvar's
// JSON), and what the monitor layer measures of each stream and flow —
// loss, jitter, RTT and rate.
//
//	import rwotel "github.com/rwanda-go/rwanda/otel"
//
//	reg, err := rwotel.Register(meterProvider, ch)
//	defer reg.Unregister()
//
// [Carrier] lets OpenTelemetry propagators carry trace context in
// postings' headers (traceparent, tracestate, baggage), across Pull and
// Serve or Push and Subscribe.
//
// It lives in a nested module of its own, so the OpenTelemetry
// dependencies stay out of the library's go.mod.
//
// # Instruments
//
// All are asynchronous: one callback reads the channel's Stats once per
// collection. Every measurement carries rwanda.channel (the channel's
// identity, channel.Address.Identity, unless [WithChannelName] says
// otherwise) and the attributes of [WithAttributes].
//
//	rwanda.channel.datagrams      counter  {datagram}  rwanda.direction (sent, received)
//	rwanda.channel.bytes          counter  By          rwanda.direction
//	rwanda.channel.postings       counter  {posting}   rwanda.direction
//	rwanda.channel.drops          counter  {drop}      rwanda.reason (Stats.Drops' keys)
//	rwanda.channel.events         counter  {event}     rwanda.event (Stats.Events' keys)
//	rwanda.channel.key_updates    counter  {update}    rwanda.direction
//	rwanda.channel.held           counter  {frame}     frames held for a late announcement
//	rwanda.channel.memory         gauge    By          the stacks' reservations
//	rwanda.channel.memory.limit   gauge    By          the memory budget (WithMemory)
//	rwanda.channel.members        gauge    {member}    members heard from
//	rwanda.channel.subscriptions  gauge    {subscription}
//	rwanda.stream.postings        counter  {posting}   rwanda.stream, rwanda.direction, rwanda.member
//	rwanda.stream.bytes           counter  By          likewise
//	rwanda.monitor.loss           gauge    1           rwanda.stream, rwanda.role, rwanda.member
//	rwanda.monitor.jitter         gauge    s           likewise
//	rwanda.monitor.rtt            gauge    s           likewise; senders only, once a receiver reported
//	rwanda.monitor.rate           gauge    By/s        likewise
//
// rwanda.stream.* count outgoing streams (direction sent; rwanda.member
// is the member a stream is addressed to, "" for everyone) and incoming
// flows (direction received; rwanda.member is the remote sender), member
// ids in hex as rwanda prints them. rwanda.monitor.* come from streams
// and flows whose stack has a monitor layer (see package layers/monitor):
// rwanda.role is "sender" (the worst receiver's figures, from their
// reports) or "receiver" (measured on arrival). A flow that is forgotten
// and comes back starts its counters again from zero.
package rwotel
