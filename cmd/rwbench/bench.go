package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/rwanda-go/rwanda/cmd/rwbench/harness"
	"github.com/rwanda-go/rwanda/registry"
)

// bench is one run of rwbench: its configuration, the peers program if
// there is one, and the progress line.
type bench struct {
	cfg      *config
	stderr   io.Writer
	tty      bool
	self     string // this executable, re-run for child processes
	key      string // hex key of the encrypt profile, for this run only
	peers    *peers
	peerNote string
	encrypt  bool
	started  time.Time
}

// job is one measurement, repeated.
type job struct {
	test    string // throughput, latency, fanout, loss
	system  string
	size    int
	n       int
	loss    float64
	run     func(ctx context.Context) (harness.Sample, error)
	samples []harness.Sample
	err     error
}

func newBench(ctx context.Context, cfg *config, stderr io.Writer) (*bench, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding this executable (children re-run it): %w", err)
	}
	k := make([]byte, 32)
	rand.Read(k)
	b := &bench{cfg: cfg, stderr: stderr, self: self, key: hex.EncodeToString(k), started: time.Now()}
	if f, ok := stderr.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			b.tty = true
		}
	}
	_, b.encrypt = registry.Default().Lookup("encrypt")
	switch cfg.cmd {
	case "sched":
		b.peerNote = "not used (sched measures the send queue alone)"
	case "scale":
		b.peerNote = "not used (scale measures rwanda alone)"
	default:
		b.peers, b.peerNote = startPeers(ctx, cfg.peers, stderr)
	}
	return b, nil
}

func (b *bench) close() {
	if b.peers != nil {
		b.peers.close()
	}
}

// wanted reports whether the -systems filter lets system through.
func (b *bench) wanted(system string) bool {
	return len(b.cfg.systems) == 0 || slices.Contains(b.cfg.systems, system)
}

// jobs lists the measurements of the subcommand, with notes on what is
// left out.
func (b *bench) jobs() (jobs []*job, skipped []string) {
	d := b.cfg.duration
	add := func(j *job) {
		if b.wanted(j.system) {
			jobs = append(jobs, j)
		}
	}
	profiles := []string{"empty", "reliable", "media"}
	if b.encrypt {
		profiles = append(profiles, "encrypt")
	} else {
		skipped = append(skipped, `rwanda-encrypt: the encrypt layer is not registered in this build (registry.Lookup("encrypt") found nothing)`)
	}
	peerSystems := func(op string) []string {
		if b.peers == nil {
			return nil
		}
		return b.peers.hello.Systems[op]
	}
	throughput := func(sizes []int) {
		for _, size := range sizes {
			for _, p := range profiles {
				add(&job{test: "throughput", system: "rwanda-" + p, size: size,
					run: func(ctx context.Context) (harness.Sample, error) { return b.rwThroughput(ctx, p, size, d) }})
			}
			add(&job{test: "throughput", system: "udp", size: size,
				run: func(ctx context.Context) (harness.Sample, error) { return b.udpThroughput(ctx, size, d, 0) }})
			add(&job{test: "throughput", system: "udp-batch", size: size,
				run: func(ctx context.Context) (harness.Sample, error) { return b.udpBatchThroughput(ctx, size, d) }})
			add(&job{test: "throughput", system: "tcp", size: size,
				run: func(ctx context.Context) (harness.Sample, error) { return b.tcpThroughput(ctx, size, d) }})
			for _, s := range peerSystems("throughput") {
				add(&job{test: "throughput", system: s, size: size,
					run: func(ctx context.Context) (harness.Sample, error) {
						return b.peers.do(ctx, harness.Request{Op: "throughput", System: s, Size: size, Duration: harness.Duration(d)})
					}})
			}
		}
	}
	latency := func(sizes []int) {
		lp := []string{"empty", "reliable"}
		if b.encrypt {
			lp = append(lp, "encrypt")
		}
		for _, size := range sizes {
			for _, p := range lp {
				add(&job{test: "latency", system: "rwanda-" + p, size: size,
					run: func(ctx context.Context) (harness.Sample, error) { return b.rwLatency(ctx, p, size, d) }})
			}
			add(&job{test: "latency", system: "udp", size: size,
				run: func(ctx context.Context) (harness.Sample, error) { return b.udpLatency(ctx, size, d) }})
			add(&job{test: "latency", system: "udp-netpoll", size: size,
				run: func(ctx context.Context) (harness.Sample, error) { return b.udpNetpollLatency(ctx, size, d) }})
			add(&job{test: "latency", system: "tcp", size: size,
				run: func(ctx context.Context) (harness.Sample, error) { return b.tcpLatency(ctx, size, d) }})
			for _, s := range peerSystems("latency") {
				add(&job{test: "latency", system: s, size: size,
					run: func(ctx context.Context) (harness.Sample, error) {
						return b.peers.do(ctx, harness.Request{Op: "latency", System: s, Size: size, Duration: harness.Duration(d)})
					}})
			}
		}
	}
	fanout := func(ns []int) {
		size, rate := b.cfg.fanSize, b.cfg.fanRate
		for _, n := range ns {
			for _, s := range []string{"rwanda-multicast", "rwanda-unicast", "udp-multicast", "udp-unicast"} {
				add(&job{test: "fanout", system: s, size: size, n: n,
					run: func(ctx context.Context) (harness.Sample, error) { return b.fanout(ctx, s, size, n, rate, d) }})
			}
			for _, s := range peerSystems("fanout") {
				add(&job{test: "fanout", system: s, size: size, n: n,
					run: func(ctx context.Context) (harness.Sample, error) {
						return b.peers.do(ctx, harness.Request{Op: "fanout", System: s, Size: size, N: n, Rate: rate, Duration: harness.Duration(d)})
					}})
			}
		}
	}
	loss := func(sizes []int) {
		for _, size := range sizes {
			for _, l := range b.cfg.losses {
				add(&job{test: "loss", system: "rwanda-reliable", size: size, loss: l,
					run: func(ctx context.Context) (harness.Sample, error) { return b.rwLoss(ctx, size, l, d) }})
				add(&job{test: "loss", system: "udp", size: size, loss: l,
					run: func(ctx context.Context) (harness.Sample, error) { return b.udpThroughput(ctx, size, d, l) }})
			}
		}
	}
	switch b.cfg.cmd {
	case "throughput":
		throughput(b.cfg.sizes)
	case "latency":
		latency(b.cfg.sizes)
	case "fanout":
		fanout(b.cfg.ns)
	case "loss":
		loss(b.cfg.sizes)
	case "fec":
		for _, j := range b.fecJobs(d) {
			add(j)
		}
	case "compare":
		throughput(b.cfg.sizes)
		latency([]int{64})
		fanout(b.cfg.ns)
		loss([]int{1024})
	}
	return jobs, skipped
}

// run measures every job, repetition by repetition (each repetition goes
// through all jobs, so slow drifts of a shared machine spread over all of
// them), and builds the result.
func (b *bench) run(ctx context.Context) *Result {
	jobs, skipped := b.jobs()
	res := &Result{
		Command:    "rwbench " + strings.Join(os.Args[1:], " "),
		Date:       time.Now().UTC().Format(time.RFC3339),
		Machine:    machine(),
		Duration:   b.cfg.duration.String(),
		Warmup:     harness.Warmup(b.cfg.duration).String(),
		FanoutRate: b.cfg.fanRate,
		Reps:       b.cfg.reps,
		Peers:      b.peerNote,
		Skipped:    skipped,
	}
	if len(os.Args) > 0 && strings.HasSuffix(os.Args[0], ".test") {
		res.Command = "rwbench (test) " + b.cfg.cmd
	}
	total, done := len(jobs)*b.cfg.reps, 0
	for rep := 1; rep <= b.cfg.reps && ctx.Err() == nil; rep++ {
		for _, j := range jobs {
			if ctx.Err() != nil {
				break
			}
			done++
			if j.err != nil {
				continue
			}
			b.progress(fmt.Sprintf("[%d/%d] %s %s rep %d/%d", done, total, j.test, j.label(), rep, b.cfg.reps))
			jctx, cancel := context.WithTimeout(ctx, b.cfg.duration+harness.Bound+30*time.Second)
			s, err := j.run(jctx)
			cancel()
			if err != nil {
				if ctx.Err() != nil {
					break
				}
				j.err = err
				continue
			}
			j.samples = append(j.samples, s)
		}
	}
	b.progress("")
	if ctx.Err() != nil {
		res.Interrupted = fmt.Sprintf("%v after %v; the figures measured so far are shown", context.Cause(ctx), time.Since(b.started).Round(time.Second))
	}
	for _, j := range jobs {
		if j.err != nil {
			res.Errors = append(res.Errors, fmt.Sprintf("%s %s: %v", j.test, j.label(), j.err))
		}
	}
	res.Rows = buildRows(jobs)
	res.Errors = append(res.Errors, deliveryFailures(res.Rows)...)
	res.Targets = targets(res.Rows)
	if b.cfg.cmd == "sched" || b.cfg.cmd == "compare" {
		res.Sched = runSched()
	}
	if b.cfg.cmd == "scale" && ctx.Err() == nil {
		var errs []string
		res.Scale, errs = b.runScale(ctx)
		res.Errors = append(res.Errors, errs...)
		if ctx.Err() != nil && res.Interrupted == "" {
			res.Interrupted = fmt.Sprintf("%v after %v; the figures measured so far are shown", context.Cause(ctx), time.Since(b.started).Round(time.Second))
		}
	}
	res.Elapsed = time.Since(b.started).Seconds()
	return res
}

// label names a job in progress lines and errors.
func (j *job) label() string {
	s := j.system + " " + sizeName(j.size)
	if j.test == "fanout" {
		s += fmt.Sprintf(" n=%d", j.n)
	}
	if j.test == "loss" {
		s += fmt.Sprintf(" loss=%g%%", j.loss)
	}
	return s
}

// progress rewrites the progress line on a terminal, or prints a line
// elsewhere; "" clears it.
func (b *bench) progress(msg string) {
	if b.cfg.quiet {
		return
	}
	el := time.Since(b.started).Round(time.Second)
	switch {
	case b.tty && msg == "":
		fmt.Fprint(b.stderr, "\r\033[K")
	case b.tty:
		fmt.Fprintf(b.stderr, "\r\033[K%v %s", el, msg)
	case msg != "":
		fmt.Fprintf(b.stderr, "rwbench: %v %s\n", el, msg)
	}
}

// Machine describes where the figures were taken.
type Machine struct {
	OS     string `json:"os"`
	Arch   string `json:"arch"`
	CPUs   int    `json:"cpus"`
	CPU    string `json:"cpu,omitempty"`
	Go     string `json:"go"`
	Kernel string `json:"kernel,omitempty"`
}

func machine() Machine {
	m := Machine{OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// sizeName writes a size the way the table does: 64B, 1KiB, 64KiB, 1MiB.
func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}
