// Command rwpeers measures the systems rwbench compares rwanda with: NATS
// (nats-server in a child process of its own on 127.0.0.1, and nats.go),
// gRPC (unary round trips and client streaming, with a hand-written
// service and a codec for raw bytes, no protoc), kcp-go (reliable UDP,
// tuned as kcptun's fast mode with acks at once) and quic-go (a stream for
// throughput, RFC 9221 datagrams for round trips). The far end of every
// measurement — subscriber, server, echo — runs in a child process of its
// own, as in rwbench, and each measurement reports the settings it used.
//
// Usage:
//
//	rwpeers serve                         JSON lines: harness.Request in on stdin, harness.Response out
//	rwpeers run OP SYSTEM [flags]         one measurement, its harness.Sample as JSON on stdout
//	rwpeers child KIND [flags]            (internal) the far end of a measurement
//
// OP is throughput, latency or fanout; SYSTEM is nats, grpc (client
// streaming; throughput), grpc-unary (latency), kcp or quic. For example:
//
//	rwpeers run throughput nats -size 64 -duration 2s
//
// serve prints "ready " and a harness.Hello (protocol version and the
// systems it measures), then answers one request per line until stdin
// closes. rwbench starts it; see cmd/rwbench in the main module.
package main
