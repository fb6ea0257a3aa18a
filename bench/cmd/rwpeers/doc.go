// Command rwpeers measures the systems rwbench compares rwanda with: NATS
// (an embedded nats-server on 127.0.0.1, and nats.go), gRPC (unary round
// trips and client streaming, with a hand-written service and a codec for
// raw bytes, no protoc) and kcp-go (reliable UDP, in its fast mode). The
// far end of every measurement — subscriber, server, echo — runs in a
// child process of its own, as in rwbench.
//
// Usage:
//
//	rwpeers serve                         JSON lines: harness.Request in on stdin, harness.Response out
//	rwpeers run OP SYSTEM [flags]         one measurement, its harness.Sample as JSON on stdout
//	rwpeers child KIND [flags]            (internal) the far end of a measurement
//
// OP is throughput, latency or fanout; SYSTEM is nats, grpc (client
// streaming; throughput), grpc-unary (latency) or kcp. For example:
//
//	rwpeers run throughput nats -size 64 -duration 2s
//
// serve prints "ready " and a harness.Hello (protocol version and the
// systems it measures), then answers one request per line until stdin
// closes. rwbench starts it; see cmd/rwbench in the main module.
package main
