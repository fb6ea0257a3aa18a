// Command rwbench measures rwanda beside what people use instead — raw
// UDP, raw TCP, NATS, gRPC and kcp-go — in one run on one machine, and
// prints the ratios.
//
//	go run ./cmd/rwbench              # compare: a quick pass of everything, about a minute
//	go run ./cmd/rwbench throughput   # postings/s and MB/s by size: 64 B, 1 KiB, 64 KiB, 1 MiB
//	go run ./cmd/rwbench latency      # round trip by size: median, p99, p99.9
//	go run ./cmd/rwbench fanout       # one sender, N = 1, 4, 8 receiver processes
//	go run ./cmd/rwbench loss         # goodput of the reliable profile at 0/1/5/20% loss
//	go run ./cmd/rwbench sched        # the RWANDA scheduling experiment: deadline misses by policy and utilisation
//
// Flags (after the subcommand): -duration of each repetition, -reps,
// -sizes, -n (fan-out receivers), -loss, -fanout-size, -systems (a subset,
// by the names printed), -json or -csv instead of the table, -svg DIR for
// charts (throughput by size, round-trip CDF, fan-out by N), -peers, -q
// (no progress line) and -timeout (the bound on the whole run).
//
// # What is measured
//
// sched (also part of compare) runs the scheduling experiment of the
// RWANDA paper on the send queue channels use (package sched) in scaled,
// simulated time, so it repeats exactly: six clients needing 3, 3, 3, 6,
// 6 and 6 units of link time every period, no scheduler vs fifo vs
// priority vs edf, the period swept to vary the utilisation; a job is
// missed when it leaves the link after its deadline (the next release).
//
// Every measurement has its far end — receiver or echo — in a process of
// its own (rwbench runs itself with a hidden "child" subcommand), and the
// receivers count what they get: delivered figures never come from the
// sender. Throughput is postings delivered from the first send to the last
// delivery, the tail included; a best-effort system's losses show as
// "delivered" below 100%. Round trips are timed one probe at a time after
// a warm-up. Fan-out sends to N receiver processes at once and reports all
// their deliveries per second and the sender process's CPU time
// (getrusage) per posting sent to all of them; for NATS the sender's
// process also runs the broker.
//
// The systems: rwanda with the profiles "none" (the empty stack; "frag"
// for postings over 1 KiB, the least that carries them), "reliable",
// "media", and "reliable/encrypt" with a key when the encrypt layer is
// registered; its fan-out on a multicast group on the loopback interface
// (239.77.x.y, ?iface=lo, never another interface) and over N unicast
// channels. Raw UDP sends each posting in datagrams of at most 1472 bytes
// with an 8-byte header, one write each (the receiver counts postings that
// arrived whole); raw TCP frames postings with a length through a 64 KiB
// buffered writer. NATS (an embedded nats-server on 127.0.0.1), gRPC
// (client streaming for throughput, unary calls for round trips) and
// kcp-go (fast mode) run in rwpeers, a program of the nested module in
// bench/, which keeps their dependencies out of the library's go.mod.
// rwbench builds it once into the user cache directory
// (os.UserCacheDir()/rwanda/rwpeers, rebuilt when its sources change) if
// it finds bench/ and a go command, and otherwise says so and measures
// without the peers.
//
// Each row is the median of the repetitions with their min–max, and
// carries its ratio to raw UDP (×udp: udp-unicast in fan-out) and to the
// best peer (×best: the best of tcp, nats, grpc, grpc-unary and kcp) of the
// same configuration in the same run; the JSON and CSV outputs carry both
// figures of each ratio. The loss experiment drops packets inside
// rwanda's stack (the impair layer, seed 7), where the window repairs
// them, and at raw UDP's sender, where nothing does.
//
// Children are killed when rwbench ends, on Ctrl-C too (process groups,
// and the parent-death signal on Linux); every run is bounded by
// -timeout. Figures of a shared machine are noisy: compare ratios taken in
// one run.
package main
