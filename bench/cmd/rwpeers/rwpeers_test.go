package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/cmd/rwbench/harness"
)

// TestMain lets the test binary stand in for rwpeers' child processes.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "child" {
		os.Exit(childMain(os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func checkSample(t *testing.T, name string, s harness.Sample, latency bool) {
	t.Helper()
	if s.Sent <= 0 || s.Delivered <= 0 || s.Delivered > s.Sent || s.Bytes <= 0 || s.Seconds <= 0 || s.Rate() <= 0 {
		t.Errorf("%s: %+v", name, s)
	}
	if latency {
		if l := s.Lat; l == nil || l.P50 <= 0 || l.P50 > l.P99 || l.P99 > l.P999 || len(l.CDF) != len(harness.CDFQuantiles) {
			t.Errorf("%s: latency %+v", name, s.Lat)
		}
	} else if s.CPU <= 0 {
		t.Errorf("%s: sender CPU %v", name, s.CPU)
	}
}

// TestMeasure runs a tiny measurement of every system rwpeers offers.
func TestMeasure(t *testing.T) {
	p, err := newPeers()
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	ctx := context.Background()
	for op, ss := range systems {
		for _, s := range ss {
			for _, size := range []int{64, 64 << 10} {
				r := harness.Request{Op: op, System: s, Size: size, N: 2, Duration: harness.Duration(100 * time.Millisecond)}
				name := fmt.Sprintf("%s %s %dB", op, s, size)
				got, err := p.do(ctx, r)
				if err != nil {
					t.Errorf("%s: %v", name, err)
					continue
				}
				checkSample(t, name, got, op == "latency" || op == "fec")
				if op == "fanout" && got.Receivers != 2 {
					t.Errorf("%s: %d receivers", name, got.Receivers)
				}
			}
		}
	}
	if _, err := p.do(ctx, harness.Request{Op: "latency", System: "nosuch", Size: 64, Duration: harness.Duration(time.Millisecond)}); err == nil {
		t.Error("an unknown system measured")
	}
}

// TestServe speaks the JSON-lines protocol to serve, as rwbench does.
func TestServe(t *testing.T) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan int)
	go func() {
		done <- run(context.Background(), []string{"serve"}, inR, outW, io.Discard)
		outW.Close()
	}()
	sc := bufio.NewScanner(outR)
	if !sc.Scan() || !strings.HasPrefix(sc.Text(), "ready ") {
		t.Fatalf("first line %q, want ready and a hello", sc.Text())
	}
	var hello harness.Hello
	if err := json.Unmarshal([]byte(strings.TrimPrefix(sc.Text(), "ready ")), &hello); err != nil || hello.Protocol != harness.ProtocolVersion {
		t.Fatalf("hello %q: %v", sc.Text(), err)
	}
	req, _ := json.Marshal(harness.Request{ID: 7, Op: "throughput", System: "kcp", Size: 1024, Duration: harness.Duration(100 * time.Millisecond)})
	io.WriteString(inW, string(req)+"\n"+`{"id":8,"op":"throughput","system":"kcp","size":-1,"duration":"1s"}`+"\n")
	var resp harness.Response
	if !sc.Scan() || json.Unmarshal(sc.Bytes(), &resp) != nil || resp.ID != 7 || resp.Sample == nil {
		t.Fatalf("answer %q", sc.Text())
	}
	checkSample(t, "serve kcp", *resp.Sample, false)
	if !sc.Scan() || json.Unmarshal(sc.Bytes(), &resp) != nil || resp.ID != 8 || resp.Error == "" {
		t.Fatalf("answer to a bad request %q", sc.Text())
	}
	inW.Close()
	if code := <-done; code != 0 {
		t.Errorf("serve exited %d", code)
	}
}

// TestRwbench builds rwbench (main module) and rwpeers and runs a tiny
// compare with the peers: their rows are there, and every ratio follows
// from the figures shown.
func TestRwbench(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	dir := t.TempDir()
	rwbench, rwpeers := filepath.Join(dir, "rwbench"), filepath.Join(dir, "rwpeers")
	for _, b := range []struct{ out, pkg, dir string }{{rwpeers, ".", "."}, {rwbench, "./cmd/rwbench", "../../.."}} {
		cmd := exec.Command(goTool, "build", "-o", b.out, b.pkg)
		cmd.Dir = b.dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", b.pkg, err, out)
		}
	}
	cmd := exec.Command(rwbench, "compare", "--peers", rwpeers, "--duration", "100ms", "--reps", "1", "--sizes", "64",
		"--n", "2", "--loss", "0", "--json", "-q", "--systems", "rwanda-reliable,rwanda-multicast,udp,udp-unicast,tcp,nats,grpc,grpc-unary,kcp,quic")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v: %v\n%s", cmd, err, errb.String())
	}
	var res struct {
		Peers  string   `json:"peers"`
		Errors []string `json:"errors"`
		Rows   []struct {
			Test, System string
			Size, N      int
			Sent         int64
			Delivered    int64
			Reliable     bool
			Settings     string
			Value        struct{ Median float64 }
			VsUDP        *float64 `json:"vs_udp"`
			UDP          *float64 `json:"udp_value"`
			VsBest       *float64 `json:"vs_best"`
			Best         *float64 `json:"best_value"`
			BestPeer     string   `json:"best_peer"`
		}
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("output does not parse: %v\n%s", err, out)
	}
	if len(res.Errors) > 0 || !strings.HasPrefix(res.Peers, "rwpeers") {
		t.Errorf("peers %q, errors %q", res.Peers, res.Errors)
	}
	value := map[string]float64{}
	have := map[string]bool{}
	for _, r := range res.Rows {
		value[r.Test+" "+r.System] = r.Value.Median
		have[r.System] = true
	}
	for _, s := range []string{"nats", "grpc", "grpc-unary", "kcp", "quic", "tcp", "udp"} {
		if !have[s] {
			t.Errorf("no row for %s", s)
		}
	}
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(a, b) }
	for _, r := range res.Rows {
		name := r.Test + " " + r.System
		if r.Delivered <= 0 || r.Delivered > r.Sent || r.Value.Median <= 0 {
			t.Errorf("%s: sent %d, delivered %d, value %v", name, r.Sent, r.Delivered, r.Value.Median)
		}
		if r.Reliable && r.Delivered != r.Sent {
			t.Errorf("%s: a reliable system delivered %d of %d", name, r.Delivered, r.Sent)
		}
		if r.Settings == "" {
			t.Errorf("%s: no settings printed", name)
		}
		if r.Test == "loss" { // no peer has a loss experiment
			continue
		}
		if r.VsBest == nil || r.BestPeer == "" {
			t.Errorf("%s: no ratio to the best peer", name)
			continue
		}
		if b := value[r.Test+" "+r.BestPeer]; *r.Best != b || !near(*r.VsBest, r.Value.Median/b) {
			t.Errorf("%s: ×best %v (%s %v), figures %v / %v", name, *r.VsBest, r.BestPeer, *r.Best, r.Value.Median, b)
		}
		if r.VsUDP != nil && !near(*r.VsUDP, r.Value.Median / *r.UDP) {
			t.Errorf("%s: ×udp %v, figures %v / %v", name, *r.VsUDP, r.Value.Median, *r.UDP)
		}
	}
}
