// Package harness is what the rwbench command and its peers program
// (bench/cmd/rwpeers, in the nested benchmark module) share: the result of
// one measurement ([Sample]), the JSON-lines protocol between them
// ([Request], [Response], [Hello]), and the plumbing of measurements that
// span processes — receiver and echo processes that print a readiness line,
// count what they receive and report it when told to stop ([Serve],
// [Child]), process CPU time ([CPUTime]) and latency percentiles
// ([Latencies]).
//
// # Child processes
//
// A measurement's far end runs in a process of its own. It prints one line
// "ready ARGS" on stdout once it listens (ARGS is, say, the port it got),
// then counts deliveries. When its parent writes "stop N" on its stdin (N:
// postings the sender sent to it), it waits until it has N, or until
// nothing has arrived for a quiet period, or a bound, and prints one JSON
// [Report] line. The count comes from the receiver: a sender's figures are
// never taken for deliveries. A child whose stdin closes exits: an ended
// parent takes its children along. On Linux children also get SIGKILL when
// their parent dies, and [Child] kills a child's whole process group when
// its context ends (Ctrl-C).
//
// The package imports only the standard library, so both modules can use
// it.
package harness
