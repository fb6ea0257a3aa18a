package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/cmd/rwbench/harness"
	"github.com/rwanda-go/rwanda/gateway"
	"github.com/rwanda-go/rwanda/internal/udpio"
	"github.com/rwanda-go/rwanda/posting"
)

// The gateway subcommand (issue 24): one multicast sender offering R
// postings/s of S bytes, a gateway process relaying them to C unicast
// client channels in P processes; it reports the postings the clients
// delivered per second and the gateway process's own CPU (getrusage) per
// delivery, and, in the same run, the CPU of raw batched sends (sendmmsg)
// of the same datagrams to the same clients at the same pace, with no
// gateway logic, from the same process. Not part of compare: it is
// absolute figures of one machine.

// GatewayResult is what the gateway subcommand measured.
type GatewayResult struct {
	Clients        int     `json:"clients"`
	Rate           int     `json:"rate_per_client"`
	Size           int     `json:"size"`
	Seconds        float64 `json:"seconds"`
	Offered        int64   `json:"offered"`
	DeliveredPerS  float64 `json:"delivered_per_s"`
	DeliveredShare float64 `json:"delivered_share"`
	GatewaySent    int64   `json:"gateway_datagrams_sent"`
	GatewayCPUns   int64   `json:"gateway_cpu_ns"`
	CPUPerDelivery float64 `json:"gateway_cpu_ns_per_delivery"`
	CPUPerDatagram float64 `json:"gateway_cpu_ns_per_datagram"`
	RawSent        int64   `json:"raw_datagrams_sent"`
	RawCPUns       int64   `json:"raw_cpu_ns"`
	RawPerDatagram float64 `json:"raw_cpu_ns_per_datagram"`
	Ratio          float64 `json:"ratio_per_datagram"`
}

const gatewayChannelID = "gwbench"

// gatewayMain is "rwbench gateway [flags]" and its children
// ("rwbench gateway child gw|clients ...").
func gatewayMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "child" {
		if err := gatewayChild(args[1:], os.Stdin, stdout); err != nil {
			fmt.Fprintf(stderr, "rwbench gateway child: %v\n", err)
			return 1
		}
		return 0
	}
	fs := flag.NewFlagSet("rwbench gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	clients := fs.Int("clients", 100, "client channels")
	procs := fs.Int("procs", 4, "client processes")
	rate := fs.Int("rate", 1000, "postings per second offered to each client")
	size := fs.Int("size", 200, "posting size, bytes")
	dur := fs.Duration("duration", 5*time.Second, "how long the measured phase sends")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *clients < 1 || *procs < 1 || *procs > *clients || *rate < 1 || *size < 8 || *dur <= 0 {
		fmt.Fprintln(stderr, "rwbench gateway: want clients ≥ procs ≥ 1, rate ≥ 1, size ≥ 8, duration > 0")
		return 2
	}
	res, err := benchGateway(ctx, *clients, *procs, *rate, *size, *dur, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "rwbench gateway: %v\n", err)
		return 1
	}
	if *asJSON {
		e := json.NewEncoder(stdout)
		e.SetIndent("", "  ")
		e.Encode(res)
		return 0
	}
	fmt.Fprintf(stdout, "gateway: %d clients × %d postings/s of %d B, %.1f s, %d CPUs\n", res.Clients, res.Rate, res.Size, res.Seconds, runtime.NumCPU())
	fmt.Fprintf(stdout, "  delivered postings/s (all clients)   %.0f (%.2f %% of offered)\n", res.DeliveredPerS, 100*res.DeliveredShare)
	fmt.Fprintf(stdout, "  gateway CPU per delivery             %.0f ns (%.0f ns per datagram sent, %d sent)\n", res.CPUPerDelivery, res.CPUPerDatagram, res.GatewaySent)
	fmt.Fprintf(stdout, "  raw sendmmsg CPU per datagram        %.0f ns (%d sent)\n", res.RawPerDatagram, res.RawSent)
	fmt.Fprintf(stdout, "  gateway / raw, per datagram          %.2f×\n", res.Ratio)
	return 0
}

// proc is a child process driven by lines.
type proc struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string
}

func startProc(ctx context.Context, args ...string) (*proc, string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	cmd := exec.CommandContext(ctx, exe, append([]string{"gateway", "child"}, args...)...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, "", err
	}
	outp, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	p := &proc{cmd: cmd, in: in, lines: make(chan string, 4)}
	go func() {
		sc := bufio.NewScanner(outp)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	l, err := p.ask("")
	if err != nil || !strings.HasPrefix(l, "ready") {
		p.stop()
		return nil, "", fmt.Errorf("child %v: %q %v", args, l, err)
	}
	return p, strings.TrimSpace(strings.TrimPrefix(l, "ready")), nil
}

// ask sends line (unless empty) and returns the child's next line.
func (p *proc) ask(line string) (string, error) {
	if line != "" {
		if _, err := fmt.Fprintln(p.in, line); err != nil {
			return "", err
		}
	}
	select {
	case l, ok := <-p.lines:
		if !ok {
			return "", errors.New("child exited")
		}
		return l, nil
	case <-time.After(60 * time.Second):
		return "", errors.New("child silent for 60 s")
	}
}

func (p *proc) stop() {
	p.in.Close()
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
}

func askInts(p *proc, line string) ([]int64, error) {
	l, err := p.ask(line)
	if err != nil {
		return nil, err
	}
	var out []int64
	for _, f := range strings.Fields(l) {
		v, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("child said %q to %q", l, line)
		}
		out = append(out, v)
	}
	return out, nil
}

func benchGateway(ctx context.Context, clients, procs, rate, size int, d time.Duration, stderr io.Writer) (*GatewayResult, error) {
	group := fmt.Sprintf("239.255.%d.%d:%d", rand.IntN(256), 1+rand.IntN(254), 20000+rand.IntN(30000))
	url := "rwbench://" + group + "?iface=lo&channel=" + gatewayChannelID
	gw, addr, err := startProc(ctx, "gw", "-url", url)
	if err != nil {
		return nil, err
	}
	defer gw.stop()
	var cps []*proc
	defer func() {
		for _, p := range cps {
			p.stop()
		}
	}()
	for i := range procs {
		n := clients/procs + btoi(i < clients%procs)
		p, _, err := startProc(ctx, "clients", "-url", "rwbench://"+addr+"?channel="+gatewayChannelID, "-n", strconv.Itoa(n))
		if err != nil {
			return nil, err
		}
		cps = append(cps, p)
	}
	tx, err := channel.Open(ctx, url, channel.WithQoS("frag/order/window(mode=besteffort)"), channel.WithBlockingPush())
	if err != nil {
		return nil, err
	}
	defer tx.Close()
	body := make([]byte, size)
	push := func(d time.Duration) (int64, error) {
		start := time.Now()
		var n int64
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for time.Since(start) < d {
			due := int64(time.Since(start).Seconds() * float64(rate))
			for ; n < due; n++ {
				if err := tx.Push(ctx, posting.New(body)); err != nil {
					return n, err
				}
			}
			<-t.C
		}
		return n, nil
	}
	// Until every client is validated at the gateway (they say hello).
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, err := askInts(gw, "clients")
		if err != nil {
			return nil, err
		}
		if int(v[0]) >= clients {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%d of %d clients validated after 30 s", v[0], clients)
		}
		if _, err := push(100 * time.Millisecond); err != nil {
			return nil, err
		}
	}
	fmt.Fprintln(stderr, "rwbench gateway: clients validated; warming up (and capturing datagrams for the raw run)")
	if _, err := gw.ask("capture"); err != nil {
		return nil, err
	}
	if _, err := push(time.Second); err != nil {
		return nil, err
	}
	count := func() (int64, error) {
		var sum int64
		for _, p := range cps {
			v, err := askInts(p, "count")
			if err != nil {
				return 0, err
			}
			sum += v[0]
		}
		return sum, nil
	}
	c0, err := count()
	if err != nil {
		return nil, err
	}
	g0, err := askInts(gw, "cpu")
	if err != nil {
		return nil, err
	}
	start := time.Now()
	offered, err := push(d)
	if err != nil {
		return nil, err
	}
	el := time.Since(start)
	g1, err := askInts(gw, "cpu")
	if err != nil {
		return nil, err
	}
	time.Sleep(50 * time.Millisecond) // what is in flight arrives (not a clock)
	c1, err := count()
	if err != nil {
		return nil, err
	}
	fmt.Fprintln(stderr, "rwbench gateway: raw sendmmsg of the same datagrams")
	// The raw run sends as many datagrams a second as the gateway sent
	// to its clients in the measured phase (the capture's own pace would
	// include what the gateway relays to the group, which it never sends
	// to a client, and a faster sender pays less per datagram: fewer of
	// its receivers sleep between datagrams).
	r, err := askInts(gw, fmt.Sprintf("raw %d %d", d.Nanoseconds(), int64(float64(g1[1]-g0[1])/el.Seconds())))
	if err != nil {
		return nil, err
	}
	res := &GatewayResult{Clients: clients, Rate: rate, Size: size, Seconds: el.Seconds(), Offered: offered * int64(clients),
		GatewaySent: g1[1] - g0[1], GatewayCPUns: g1[0] - g0[0], RawCPUns: r[0], RawSent: r[1]}
	delivered := c1 - c0
	res.DeliveredPerS = float64(delivered) / el.Seconds()
	if res.Offered > 0 {
		res.DeliveredShare = float64(delivered) / float64(res.Offered)
	}
	if delivered > 0 {
		res.CPUPerDelivery = float64(res.GatewayCPUns) / float64(delivered)
	}
	if res.GatewaySent > 0 {
		res.CPUPerDatagram = float64(res.GatewayCPUns) / float64(res.GatewaySent)
	}
	if res.RawSent > 0 {
		res.RawPerDatagram = float64(res.RawCPUns) / float64(res.RawSent)
		res.Ratio = res.CPUPerDatagram / res.RawPerDatagram
	}
	return res, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// cpuNs is this process's CPU time (getrusage; 0 off Linux).
func cpuNs() int64 { return int64(harness.CPUTime()) }

// gatewayChild runs a child: "gw -url URL" (the gateway) or
// "clients -url URL -n N" (client channels counting deliveries).
func gatewayChild(args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("want a role")
	}
	fs := flag.NewFlagSet("child", flag.ContinueOnError)
	url := fs.String("url", "", "channel URL")
	n := fs.Int("n", 1, "client channels")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	sc := bufio.NewScanner(stdin)
	switch args[0] {
	case "clients":
		ctx := context.Background()
		var delivered atomic.Int64
		for range *n {
			ch, err := channel.Open(ctx, *url)
			if err != nil {
				return err
			}
			defer ch.Close()
			ch.SubscribeFunc(func(*posting.Posting) { delivered.Add(1) })
		}
		fmt.Fprintln(stdout, "ready")
		for sc.Scan() {
			fmt.Fprintln(stdout, delivered.Load())
		}
		return nil
	case "gw":
		return gatewayRole(*url, sc, stdout)
	}
	return fmt.Errorf("unknown role %q", args[0])
}

func gatewayRole(url string, sc *bufio.Scanner, stdout io.Writer) error {
	g, err := gateway.New(gateway.Config{URL: url, Listen: "127.0.0.1:0"})
	if err != nil {
		return err
	}
	defer g.Close()
	a, err := channel.ParseURL(url)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "ready", g.Addr())
	var captured [][]byte
	var capDone chan struct{}
	var capConn *udpio.Conn
	var profFile *os.File // RWBENCH_GATEWAY_PPROF: a CPU profile of the measured phase
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "clients":
			fmt.Fprintln(stdout, g.Stats().Validated)
		case "capture":
			// Keep a second of the group's datagrams (off the measured
			// phase: the capture ends when the measurement starts).
			lo, _ := net.InterfaceByName("lo")
			capConn, err = udpio.ListenMulticast(udpio.MulticastConfig{Group: a.Group, Interface: lo, Loopback: true})
			if err != nil {
				return err
			}
			capDone = make(chan struct{})

			go func() {
				defer close(capDone)
				msgs := make([]udpio.Message, 8)
				for i := range msgs {
					msgs[i].Buf = make([]byte, 64<<10)
				}
				for {
					k, err := capConn.ReadBatch(msgs)
					if err != nil {
						return
					}
					for i := range k {
						for d := range msgs[i].Datagrams {
							if len(captured) < 100000 {
								captured = append(captured, append([]byte(nil), d...))
							}
						}
					}
				}
			}()
			fmt.Fprintln(stdout, "ok")
		case "cpu":
			if prof := os.Getenv("RWBENCH_GATEWAY_PPROF"); prof != "" {
				if profFile == nil {
					profFile, _ = os.Create(prof)
					pprof.StartCPUProfile(profFile)
				} else {
					pprof.StopCPUProfile()
					profFile.Close()
				}
			}
			if capConn != nil {
				capConn.Close()
				<-capDone
				capConn = nil
			}
			fmt.Fprintln(stdout, cpuNs(), g.Stats().ToClients)
		case "raw":
			if len(f) != 3 {
				return fmt.Errorf("raw: want a duration and a rate, got %q", sc.Text())
			}
			ns, _ := strconv.ParseInt(f[1], 10, 64)
			perSec, _ := strconv.ParseInt(f[2], 10, 64)
			var dsts []netip.AddrPort
			for _, c := range g.Clients() {
				dsts = append(dsts, c.Addr)
			}
			g.Close() // the raw run measures the sends alone
			cpu, sent, err := rawRun(captured, float64(perSec), dsts, time.Duration(ns))
			if err != nil {
				return err
			}
			fmt.Fprintln(stdout, cpu, sent)
		}
	}
	return nil
}

// rawRun sends the captured datagrams (over and over) to dsts for d,
// each to every address in one batched send, sendsPerSec datagrams a
// second in all, and returns the CPU it took and the datagrams sent.
func rawRun(captured [][]byte, sendsPerSec float64, dsts []netip.AddrPort, d time.Duration) (cpu, sent int64, err error) {
	if len(captured) == 0 || len(dsts) == 0 {
		return 0, 0, errors.New("nothing captured, or no clients")
	}
	// The gateway's kind of socket, so that the baseline differs from it
	// by the gateway's work alone.
	conn, err := udpio.ListenUnicast(netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), 0))
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close()
	conn.SetWriteBuffer(4 << 20)
	rs := gateway.NewRawSender(conn)
	perSec := sendsPerSec / float64(len(dsts)) // captured datagrams a second
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	c0 := cpuNs()
	start := time.Now()
	var i int64
	for time.Since(start) < d {
		due := int64(time.Since(start).Seconds() * perSec)
		for ; i < due; i++ {
			rs.Send(captured[i%int64(len(captured)):i%int64(len(captured))+1], dsts)
			sent += int64(len(dsts))
		}
		<-t.C
	}
	return cpuNs() - c0, sent, nil
}
