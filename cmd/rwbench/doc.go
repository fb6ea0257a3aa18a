// Command rwbench measures rwanda beside what people use instead — raw
// UDP, raw TCP, NATS, gRPC, kcp-go and quic-go — in one run on one
// machine, and prints the ratios.
//
//	go run ./cmd/rwbench              # compare: a quick pass of everything, about a minute
//	go run ./cmd/rwbench throughput   # postings/s and MB/s by size: 64 B, 1 KiB, 64 KiB, 1 MiB
//	go run ./cmd/rwbench latency      # round trip by size: median, p99, p99.9
//	go run ./cmd/rwbench fanout       # one sender, N = 1, 4, 8 receiver processes
//	go run ./cmd/rwbench loss         # goodput of the reliable profile at 0/1/5/20% loss
//	go run ./cmd/rwbench sched        # the RWANDA scheduling experiment: deadline misses by policy and utilisation
//	go run ./cmd/rwbench scale        # live heap per idle stream and per member, first delivery on the Nth new stream
//
// Flags (after the subcommand): -duration of each repetition, -reps,
// -sizes, -n (fan-out receivers), -loss, -fanout-size, -streams and
// -members (scale's N and M), -fanout-rate (fanout's offered rate),
// -systems (a subset,
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
// scale (not part of compare: its figures are absolute heap sizes, with
// nothing in the run to compare them with) measures what idle streams and
// members cost. For each N of -streams (10, 100, 1 000, 10 000), a sender
// and a receiver channel in rwbench's own process (unicast on loopback,
// reliable, both ends' WithLimits raised above N) carry one 64-byte
// posting on each of N new streams: the live heap they added (after
// garbage collection) per stream, both ends together; and the time from
// Push to delivery of the posting on the Nth new stream once N−1 exist
// (and on the next four, one at a time; the median of all). For each M of
// -members (10, 100, 1 000), M sender channels in ⌈M/250⌉ child processes
// each push one reliable 64-byte posting to one listener channel in
// rwbench's process, every channel announcing every 100 ms; once all are
// delivered and the sockets have been quiet for 400 ms (quiet readers give
// their read buffers back), the live heap grown per member at the
// listener's process and in the senders' processes. Every posting must be
// delivered: otherwise the row is left out, the error says how many
// arrived and what the receiver dropped (naming the cap that refused),
// and rwbench exits with status 1.
//
// Every measurement has its far end — receiver or echo — in a process of
// its own (rwbench runs itself with a hidden "child" subcommand), and the
// receivers count what they get: delivered figures never come from the
// sender. Throughput and fan-out first warm up (a quarter of -duration,
// 20–250 ms: connections, windows, buffers and the runtime warm; the far
// end counts afresh once it has the warm-up's postings), then measure
// postings delivered from the first send to the last delivery, the tail
// included; a best-effort system's losses show as "delivered" below 100%.
// A reliable system (rwanda's reliable profiles, TCP, gRPC, kcp-go,
// quic-go streams) must deliver every posting: otherwise its row is
// marked FAIL, the run lists the shortfall as an error and exits with
// status 1 (as it does when a measurement fails). Round trips are timed
// one probe at a time after a warm-up of 50 probes. Fan-out sends to N
// receiver processes at a fixed offered rate (-fanout-rate, 20 000
// postings/s to each by default: below the receivers' capacity, so the
// sender's CPU per posting compares across N and systems) and reports all
// their deliveries per second, the sender process's CPU time (getrusage)
// per posting sent to all of them (and, in --json, its user part alone:
// on loopback the kernel's delivery to every receiver is charged to the
// sender's system time), and apart from them the repairs
// (retransmissions) among the sender's data packets.
//
// The systems: rwanda with the profiles "none" (the empty stack; "frag"
// for postings over 1 KiB, the least that carries them), "reliable",
// "media", and "reliable/encrypt" with a key when the encrypt layer is
// registered; its fan-out on a multicast group on the loopback interface
// (239.77.x.y, ?iface=lo, never another interface) and over N unicast
// channels. LAN-like rows pin a path MTU of 1472 bytes of UDP payload
// whatever loopback's: rwanda's URLs say mtu=1472, raw UDP cuts its
// datagrams there, kcp-go's segments are 1472 bytes and quic-go's packets
// 1452 (its largest); the TCP-based systems (raw TCP, NATS, gRPC) ride
// loopback's 64 KiB MTU. Raw UDP ("udp") sends each posting in datagrams
// of at most 1472 bytes with an 8-byte header, one write each (the
// receiver counts postings that arrived whole); "udp-batch" packs
// postings many to a datagram and writes 64 datagrams per sendmmsg, read
// with recvmmsg. The raw-UDP round trip ("udp") reads with blocking
// system calls on a locked OS thread at both ends (the fair baseline);
// "udp-netpoll" reads through the net package. Raw TCP frames postings
// with a length through a 64 KiB buffered writer. NATS (nats-server in a
// process of its own on 127.0.0.1), gRPC (client streaming for
// throughput, unary calls for round trips), kcp-go (kcptun's fast mode
// with acks at once) and quic-go (one stream for throughput, RFC 9221
// datagrams for round trips) run in rwpeers, a program of the nested
// module in bench/, which keeps their dependencies out of the library's
// go.mod. Every row prints its settings under its table.
// rwbench builds rwpeers once into the user cache directory
// (os.UserCacheDir()/rwanda/rwpeers, rebuilt when its sources change) if
// it finds bench/ and a go command, and otherwise says so and measures
// without the peers.
//
// Each row is the median of the repetitions with their min–max, and
// carries its ratio to raw UDP (×udp: udp-unicast in fan-out) and to the
// best peer (×best: the best of tcp, nats, grpc, grpc-unary, kcp and
// quic) of the same configuration in the same run; the JSON and CSV outputs carry both
// figures of each ratio. The loss experiment drops packets inside
// rwanda's stack (the impair layer, seed 7), where the window repairs
// them, and at raw UDP's sender, where nothing does. After the tables,
// issue 18's targets: each a ratio of two medians of the run, and whether
// it is met.
//
// Children are killed when rwbench ends, on Ctrl-C too (process groups,
// and the parent-death signal on Linux); every run is bounded by
// -timeout. Figures of a shared machine are noisy: compare ratios taken in
// one run.
package main
