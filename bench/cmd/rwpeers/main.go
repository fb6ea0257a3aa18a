package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/rwanda-go/rwanda/cmd/rwbench/harness"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "child" {
		os.Exit(childMain(os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// readyTimeout bounds how long a child may take to start listening.
const readyTimeout = 10 * time.Second

// systems lists what rwpeers measures, by operation.
var systems = map[string][]string{
	"throughput": {"nats", "rwanda-nats", "grpc", "kcp", "quic"},
	"latency":    {"nats", "grpc-unary", "kcp", "quic", "rwanda-nats-leaf", "rwanda-bridge"},
	"fanout":     {"nats", "rwanda-nats"},
	"fec":        {"kcp", "kcp-fec"}, // round trips at 2% loss, 40 ms each way (kcpfec.go)
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: rwpeers serve | rwpeers run OP SYSTEM [-size N] [-n N] [-duration D]")
		return 2
	}
	p, err := newPeers()
	if err != nil {
		fmt.Fprintf(stderr, "rwpeers: %v\n", err)
		return 1
	}
	defer p.close()
	switch args[0] {
	case "serve":
		if err := p.serve(ctx, stdin, stdout); err != nil {
			fmt.Fprintf(stderr, "rwpeers: %v\n", err)
			return 1
		}
		return 0
	case "run":
		fs := flag.NewFlagSet("rwpeers run", flag.ContinueOnError)
		fs.SetOutput(stderr)
		size := fs.Int("size", 64, "posting size, bytes")
		n := fs.Int("n", 1, "receivers (fanout)")
		d := fs.Duration("duration", time.Second, "how long the sender sends")
		if len(args) < 3 {
			fmt.Fprintln(stderr, "usage: rwpeers run OP SYSTEM [-size N] [-n N] [-duration D]")
			return 2
		}
		if err := fs.Parse(args[3:]); err != nil {
			return 2
		}
		s, err := p.do(ctx, harness.Request{Op: args[1], System: args[2], Size: *size, N: *n, Duration: harness.Duration(*d)})
		if err != nil {
			fmt.Fprintf(stderr, "rwpeers: %v\n", err)
			return 1
		}
		json.NewEncoder(stdout).Encode(s)
		return 0
	}
	fmt.Fprintf(stderr, "rwpeers: unknown command %q (want serve or run)\n", args[0])
	return 2
}

// peers holds what lives across measurements: the NATS server (a process
// of its own, started on first use) and this executable's path, re-run
// for children.
type peers struct {
	self string
	nats *harness.Child
}

func newPeers() (*peers, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return &peers{self: self}, nil
}

func (p *peers) close() {
	if p.nats != nil {
		p.nats.Kill()
	}
}

// child starts this executable's child subcommand kind with args.
func (p *peers) child(ctx context.Context, kind string, args ...string) (*harness.Child, error) {
	return harness.Start(ctx, p.self, append([]string{"child", kind}, args...), nil, readyTimeout)
}

// serve answers requests, one JSON line each, until stdin closes.
func (p *peers) serve(ctx context.Context, stdin io.Reader, stdout io.Writer) error {
	hello, _ := json.Marshal(harness.Hello{Protocol: harness.ProtocolVersion, Systems: systems, Versions: versions()})
	if _, err := fmt.Fprintf(stdout, "ready %s\n", hello); err != nil {
		return err
	}
	sc := bufio.NewScanner(stdin)
	enc := json.NewEncoder(stdout)
	for sc.Scan() {
		var req harness.Request
		resp := harness.Response{}
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			resp.Error = fmt.Sprintf("bad request %q: %v", sc.Text(), err)
		} else {
			resp.ID = req.ID
			jctx, cancel := context.WithTimeout(ctx, time.Duration(req.Duration)+harness.Bound+30*time.Second)
			s, err := p.do(jctx, req)
			cancel()
			if err != nil {
				resp.Error = err.Error()
			} else {
				resp.Sample = &s
			}
		}
		if err := enc.Encode(resp); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return sc.Err()
}

// do runs one measurement.
func (p *peers) do(ctx context.Context, r harness.Request) (harness.Sample, error) {
	d := time.Duration(r.Duration)
	if d <= 0 || d > time.Minute || r.Size < 8 && r.Op == "latency" || r.Size < 1 || r.Size > 16<<20 {
		return harness.Sample{}, fmt.Errorf("bad request: duration %v, size %d", d, r.Size)
	}
	switch r.Op + " " + r.System {
	case "throughput nats":
		return p.natsThroughput(ctx, r.Size, 1, 0, d)
	case "fanout nats":
		if r.N < 1 || r.N > 64 || r.Rate < 0 {
			return harness.Sample{}, fmt.Errorf("bad request: %d receivers at %g/s", r.N, r.Rate)
		}
		return p.natsThroughput(ctx, r.Size, r.N, r.Rate, d)
	case "throughput rwanda-nats": // a channel over NATS (rwnats.go)
		return p.rwNATSThroughput(ctx, r.Size, 1, d)
	case "fanout rwanda-nats":
		if r.N < 1 || r.N > 64 {
			return harness.Sample{}, fmt.Errorf("bad request: %d receivers", r.N)
		}
		return p.rwNATSThroughput(ctx, r.Size, r.N, d)
	case "latency nats":
		return p.natsLatency(ctx, r.Size, d)
	case "latency rwanda-nats-leaf", "latency rwanda-bridge": // the NATS bridge (bridge.go)
		return p.bridgeLatency(ctx, r.System == "rwanda-bridge", r.Size, d)
	case "throughput grpc":
		return p.grpcThroughput(ctx, r.Size, d)
	case "latency grpc-unary":
		return p.grpcLatency(ctx, r.Size, d)
	case "throughput kcp":
		return p.kcpThroughput(ctx, r.Size, d)
	case "latency kcp":
		return p.kcpLatency(ctx, r.Size, d)
	case "throughput quic":
		return p.quicThroughput(ctx, r.Size, d)
	case "latency quic":
		return p.quicLatency(ctx, r.Size, d)
	case "fec kcp", "fec kcp-fec":
		return p.kcpLossyLatency(ctx, r.System == "kcp-fec", r.Size, d)
	}
	return harness.Sample{}, errors.New("rwpeers does not measure " + r.Op + " of " + r.System)
}

// versions lists the peers' module versions, as built.
func versions() map[string]string {
	v := map[string]string{}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	names := map[string]string{
		"github.com/nats-io/nats-server/v2": "nats-server",
		"github.com/nats-io/nats.go":        "nats.go",
		"google.golang.org/grpc":            "grpc",
		"github.com/xtaci/kcp-go/v5":        "kcp-go",
		"github.com/quic-go/quic-go":        "quic-go",
	}
	for _, d := range bi.Deps {
		if name, ok := names[d.Path]; ok {
			v[name] = d.Version
		}
	}
	return v
}

// childMain is the far end of a measurement: see package harness.
func childMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "rwpeers child: want a kind")
		return 2
	}
	kind := args[0]
	fs := flag.NewFlagSet("rwpeers child "+kind, flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "", "NATS server URL")
	subject := fs.String("subject", "rwbench", "NATS subject")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	var err error
	switch kind {
	case "nats-sub", "nats-echo":
		err = childNATS(kind == "nats-echo", *url, *subject, stdin, stdout)
	case "rwnats-recv":
		err = childRwNATS(*url, stdin, stdout)
	case "grpc-server":
		err = childGRPC(stdin, stdout)
	case "kcp-recv", "kcp-echo":
		err = childKCP(kind == "kcp-echo", stdin, stdout)
	case "quic-recv", "quic-echo":
		err = childQUIC(kind == "quic-echo", stdin, stdout)
	case "nats-server":
		err = childNATSServer(stdin, stdout)
	case "kcp-lossy-echo", "kcp-fec-echo":
		err = childKCPLossy(kind == "kcp-fec-echo", stdin, stdout)
	default:
		err = fmt.Errorf("unknown kind %q", kind)
	}
	if err != nil && !errors.Is(err, harness.ErrParentGone) {
		fmt.Fprintf(stderr, "rwpeers child %s: %v\n", kind, err)
		return 1
	}
	return 0
}

// sendUntil calls send until deadline (checking the clock every 64 calls
// for small postings) and returns how many calls there were.
func sendUntil(size int, deadline time.Time, send func() error) (int64, error) {
	var n int64
	every := int64(64)
	if size > 4<<10 {
		every = 1
	}
	for ; n%every != 0 || time.Now().Before(deadline); n++ {
		if err := send(); err != nil {
			return n, err
		}
	}
	return n, nil
}

// latencySample builds the Sample of a latency run from its round trips.
func latencySample(cpu time.Duration, lat []time.Duration, lost int64, size int, d time.Duration) (harness.Sample, error) {
	n := int64(len(lat))
	s := harness.Sample{Sent: n + lost, Delivered: n, Lost: lost, Receivers: 1, Bytes: n * int64(size), Seconds: d.Seconds(), CPU: cpu.Seconds()}
	if s.Lat = harness.Latencies(lat); s.Lat == nil {
		return s, errors.New("no round trip completed")
	}
	return s, nil
}

// errLost is what a round trip returns for a probe that got no answer
// (counted by the caller, not timed).
var errLost = errors.New("probe lost")

// minRoundTrips is how many round trips a latency run measures at least.
const minRoundTrips = 20

// probe runs round trips until d has passed (after 50 for warm-up), and
// at least minRoundTrips measured ones (a loaded machine can spend a short
// run on the warm-up; 10 s more at most), and returns their times; rt does
// one.
func probe(ctx context.Context, d time.Duration, rt func() error) ([]time.Duration, error) {
	lat := make([]time.Duration, 0, 1<<16)
	end := time.Now().Add(d + 100*time.Millisecond)
	hard := end.Add(10 * time.Second)
	for i := 0; time.Now().Before(end) || len(lat) < minRoundTrips && time.Now().Before(hard); i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		t0 := time.Now()
		if err := rt(); errors.Is(err, errLost) {
			continue
		} else if err != nil {
			return nil, err
		}
		if i >= 50 && len(lat) < cap(lat) {
			lat = append(lat, time.Since(t0))
		}
	}
	return lat, nil
}
