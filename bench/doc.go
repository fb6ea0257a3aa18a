// Package bench is the nested benchmark module of rwanda: the systems
// rwbench compares the library with — NATS (nats-server and nats.go),
// gRPC, kcp-go and quic-go — live here, in their own go.mod, so the
// library's module needs none of them.
//
// The module builds one program, rwpeers (cmd/rwpeers), which rwbench
// (cmd/rwbench in the main module) runs as a child process and talks to
// in JSON lines. rwbench builds it on its own when it finds this directory
// and a Go toolchain; by hand:
//
//	cd bench && go build -o ~/.cache/rwanda/rwpeers ./cmd/rwpeers
//
// RESULTS.md records the project's benchmark figures.
package bench
