// Command rw pokes at rwanda channels from a terminal, as the nats
// command does for NATS: publish, subscribe, ask and serve, watch a
// channel's members, streams, stacks, loss, RTT and drops, record and
// replay, list the protocol layers, and run the comparison benchmark.
//
//	go install github.com/rwanda-go/rwanda/cmd/rw@latest
//
//	rw sub 'app://239.7.7.7:7400?iface=lo'             # terminal 1: print what arrives
//	rw pub 'app://239.7.7.7:7400?iface=lo' 'hello {n}' --count 3 --rate 10
//	echo hi | rw pub 'app://239.7.7.7:7400?iface=lo'   # each line a posting
//	rw sub 'app://239.7.7.7:7400?iface=lo' --json --count 1
//
//	rw serve 'app://239.7.7.7:7400?iface=lo' --reply pong
//	rw req 'app://239.7.7.7:7400?iface=lo' ping        # prints pong
//
//	rw stat 'app://239.7.7.7:7400?iface=lo'            # live view, every second (--once: one snapshot)
//	rw record 'app://239.7.7.7:7400?iface=lo' lesson.rw --count 100
//	rw replay lesson.rw 'app://239.7.7.7:7400?iface=lo'
//	rw layers                                            # layers, parameters, defaults, profiles
//	rw bench                                             # runs rwbench's compare
//
// Commands:
//
//	pub URL [BODY]     push BODY (--count times; {n} is the posting's
//	                   number), each line of standard input, or --file;
//	                   --rate, --stream, --media, --qos, --ttl, --header
//	sub URL            one line per posting, or --json (stream, media,
//	                   kind, sender, seq, sent, age_ms, headers, type,
//	                   size, body); --count, --for, --stream, --media
//	req URL [BODY]     Pull: ask a member that serves and print the reply;
//	                   --name (a named service), --to, --timeout
//	serve URL          Serve: echo requests, or --reply TEXT; --name,
//	                   --count, --delay
//	stat URL           members, incoming flows and outgoing streams with
//	                   their stacks, loss, jitter, RTT, drops and events;
//	                   --once, --wait, --every
//	record URL FILE    a file:// recording of what arrives; --count, --for
//	replay FILE URL    push a recording, paced as recorded (--fast)
//	layers [NAME...]   the layer registry: parameters, kinds, defaults,
//	                   the bounds receivers accept; the profiles; --json
//	bench [ARGS...]    run the rwbench program (beside rw or on PATH;
//	                   go install github.com/rwanda-go/rwanda/cmd/rwbench@latest)
//
// Every command that opens a channel takes --qos, --iface and
// --key-file (a keyed channel). Flags may come before or after the
// arguments. Progress lines and advice go to standard error; postings and
// replies to standard output. When a multicast URL names no interface on
// a host with several, rw says so and suggests iface=; when nothing
// arrives, or nobody serves, it says what to check.
//
// This rw knows the transports of the core module (multicast, UDP,
// mem://, file://). For URLs over NATS, install the rw of module natsx,
// the same command with its transport registered:
//
//	go install github.com/rwanda-go/rwanda/natsx/cmd/rw@latest
//
// rw decodes the bodies of types it does not know (other programs'
// registered types) from their msgpack bytes, without their Go type:
// structs show as objects keyed by field name.
package main
