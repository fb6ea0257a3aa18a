package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "child" {
		os.Exit(childMain(os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	if len(os.Args) > 1 && os.Args[1] == "gateway" {
		code := gatewayMain(ctx, os.Args[2:], os.Stdout, os.Stderr) // gateway.go
		stop()
		os.Exit(code)
	}
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// subcommands lists what rwbench measures, in the order compare runs them.
var subcommands = []string{"throughput", "latency", "fanout", "loss", "sched"}

// standalone lists the subcommands compare leaves out: scale's figures are
// absolute heap sizes with nothing to compare them with, its heap readings
// want a process without other measurements' leftovers, and its 10 000
// stream row alone takes seconds. fec probes a path with 40 ms of delay
// each way: each repetition takes 20 s to gather enough round trips.
var standalone = []string{"scale", "fec"}

// config is what the flags say.
type config struct {
	cmd      string
	duration time.Duration
	reps     int
	sizes    []int
	ns       []int
	streams  []int // scale: streams
	members  []int // scale: members
	losses   []float64
	fanSize  int
	fanRate  float64 // fan-out's offered rate, postings/s to each receiver
	json     bool
	csv      bool
	svgDir   string
	peers    string
	systems  []string
	timeout  time.Duration
	quiet    bool
}

const usage = `rwbench measures rwanda beside raw UDP, raw TCP, NATS, gRPC, kcp-go and
quic-go on this machine, in one run, and prints the ratios. It exits with
status 1 when a measurement fails or a reliable system does not deliver
every posting.

usage: rwbench [subcommand] [flags]

subcommands:
  compare      a quick pass of all the others (the default)
  throughput   postings/s and MB/s by size
  latency      round trip by size: median, p99, p99.9
  fanout       one sender, N receiver processes at a fixed offered rate:
               sender CPU per posting, repairs; multicast, unicast, broker
  loss         goodput of the reliable profile at 0/1/5/20% loss
  sched        the RWANDA scheduling experiment: deadline misses of no
               scheduler, fifo, priority and edf by utilisation
  scale        live heap per idle stream and per member, and time to first
               delivery on the Nth new stream (not part of compare)
  gateway      100 unicast clients of a gateway, 1000 postings/s each:
               delivered/s and gateway CPU per delivery beside raw
               sendmmsg (not part of compare; rwbench gateway -h)
  fec          round trips of 16 KiB postings at 2% loss and 40 ms each way:
               media without and with fec, kcp-go without and with its FEC
               (not part of compare)

flags:
`

// parseArgs reads the subcommand and its flags.
func parseArgs(args []string, stderr io.Writer) (*config, error) {
	cfg := &config{cmd: "compare"}
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cfg.cmd = args[0]
		args = args[1:]
	}
	if cfg.cmd == "help" {
		args = []string{"-h"}
		cfg.cmd = "compare"
	}
	if cfg.cmd != "compare" && !slices.Contains(subcommands, cfg.cmd) && !slices.Contains(standalone, cfg.cmd) {
		return nil, fmt.Errorf("unknown subcommand %q (want one of compare, %s)", cfg.cmd, strings.Join(append(slices.Clone(subcommands), standalone...), ", "))
	}
	quick := cfg.cmd == "compare"
	fs := flag.NewFlagSet("rwbench "+cfg.cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	defDur, defSizes, defN, defLoss, defTimeout := "1s", "64,1024,65536,1048576", "1,4,8", "0,1,5,20", 15*time.Minute
	if quick {
		defDur, defSizes, defN, defLoss, defTimeout = "300ms", "64,65536", "1,4,8", "0,5,20", 4*time.Minute
	}
	if cfg.cmd == "latency" {
		defSizes = "64,1024,65536"
	}
	if cfg.cmd == "loss" {
		defSizes = "1024"
	}
	if cfg.cmd == "fec" {
		defDur, defSizes = "20s", "16384"
	}
	dur := fs.String("duration", defDur, "how long each repetition sends")
	fs.IntVar(&cfg.reps, "reps", 3, "repetitions of each measurement (figures are their median, with min–max)")
	sizes := fs.String("sizes", defSizes, "posting sizes in bytes, comma-separated (throughput, latency, loss; compare: throughput, with 64 for latency and 1024 for loss)")
	ns := fs.String("n", defN, "receiver processes for fanout, comma-separated")
	streams := fs.String("streams", "10,100,1000,10000", "scale: numbers of streams, comma-separated")
	members := fs.String("members", "10,100,1000", "scale: numbers of member channels, comma-separated (250 per child process)")
	losses := fs.String("loss", defLoss, "loss percentages for loss, comma-separated")
	fs.IntVar(&cfg.fanSize, "fanout-size", 1024, "posting size for fanout, bytes")
	fs.Float64Var(&cfg.fanRate, "fanout-rate", 20000, "fanout's offered rate, postings per second to each receiver (fixed, below the receivers' capacity, so sender CPU per posting compares across N); 0 sends as fast as the sender can")
	fs.BoolVar(&cfg.json, "json", false, "print JSON instead of the table")
	fs.BoolVar(&cfg.csv, "csv", false, "print CSV instead of the table")
	fs.StringVar(&cfg.svgDir, "svg", "", "also write charts (SVG) into this directory")
	fs.StringVar(&cfg.peers, "peers", "auto", `the peers program (NATS, gRPC, kcp-go, quic-go): "auto" builds it from bench/ if it can, "off" skips the peers, or a path to a built rwpeers`)
	systems := fs.String("systems", "", "measure only these systems (comma-separated names as printed, e.g. rwanda-reliable,udp,nats)")
	fs.DurationVar(&cfg.timeout, "timeout", defTimeout, "bound on the whole run")
	fs.BoolVar(&cfg.quiet, "q", false, "no progress line")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var err error
	if cfg.duration, err = time.ParseDuration(*dur); err != nil || cfg.duration <= 0 || cfg.duration > time.Minute {
		return nil, fmt.Errorf("-duration %q: want a duration between 1ms and 1m such as 500ms", *dur)
	}
	if cfg.reps < 1 || cfg.reps > 100 {
		return nil, fmt.Errorf("-reps %d: want 1..100", cfg.reps)
	}
	if cfg.sizes, err = parseInts("sizes", *sizes, 1, 16<<20); err != nil {
		return nil, err
	}
	if cfg.ns, err = parseInts("n", *ns, 1, 64); err != nil {
		return nil, err
	}
	if cfg.streams, err = parseInts("streams", *streams, 1, 100000); err != nil {
		return nil, err
	}
	if cfg.members, err = parseInts("members", *members, 1, 10000); err != nil {
		return nil, err
	}
	if cfg.fanRate < 0 || cfg.fanRate > 10e6 {
		return nil, fmt.Errorf("-fanout-rate %g: want 0..10000000 postings/s", cfg.fanRate)
	}
	if cfg.fanSize < 8 || cfg.fanSize > 1<<20 {
		return nil, fmt.Errorf("-fanout-size %d: want 8..1048576", cfg.fanSize)
	}
	for _, s := range strings.Split(*losses, ",") {
		v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s), "%"), 64)
		if err != nil || v < 0 || v >= 100 {
			return nil, fmt.Errorf("-loss: %q is not a percentage in [0, 100)", s)
		}
		cfg.losses = append(cfg.losses, v)
	}
	if *systems != "" {
		for _, s := range strings.Split(*systems, ",") {
			cfg.systems = append(cfg.systems, strings.TrimSpace(s))
		}
	}
	if cfg.json && cfg.csv {
		return nil, errors.New("-json and -csv: pick one")
	}
	return cfg, nil
}

func parseInts(name, s string, lo, hi int) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		mult := 1
		switch {
		case strings.HasSuffix(f, "KiB"):
			f, mult = strings.TrimSuffix(f, "KiB"), 1<<10
		case strings.HasSuffix(f, "MiB"):
			f, mult = strings.TrimSuffix(f, "MiB"), 1<<20
		}
		v, err := strconv.Atoi(f)
		if err != nil || v*mult < lo || v*mult > hi {
			return nil, fmt.Errorf("-%s: %q is not a number in %d..%d", name, f, lo, hi)
		}
		out = append(out, v*mult)
	}
	return out, nil
}

// run is rwbench without the process around it: it parses args, measures,
// and prints to stdout (results) and stderr (progress, notes). It returns
// the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "rwbench: %v\n", err)
		return 2
	}
	// Building the peers (once) is bounded on its own; -timeout bounds
	// the measurements.
	b, err := newBench(ctx, cfg, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "rwbench: %v\n", err)
		return 1
	}
	defer b.close()
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	res := b.run(ctx)
	if cfg.svgDir != "" {
		files, err := writeSVGs(cfg.svgDir, res)
		if err != nil {
			fmt.Fprintf(stderr, "rwbench: charts: %v\n", err)
		} else {
			fmt.Fprintf(stderr, "rwbench: charts written: %s\n", strings.Join(files, ", "))
		}
	}
	switch {
	case cfg.json:
		err = writeJSON(stdout, res)
	case cfg.csv:
		err = writeCSV(stdout, res)
	default:
		err = writeTable(stdout, res)
	}
	if err != nil {
		fmt.Fprintf(stderr, "rwbench: %v\n", err)
		return 1
	}
	if res.Interrupted != "" {
		fmt.Fprintf(stderr, "rwbench: stopped early: %s\n", res.Interrupted)
		return 130
	}
	if len(res.Errors) > 0 {
		// A measurement that failed, or a reliable row that did not
		// deliver every posting (scale's rows too), fails the run.
		fmt.Fprintf(stderr, "rwbench: FAIL: %s\n", strings.Join(res.Errors, "; "))
		return 1
	}
	return 0
}
