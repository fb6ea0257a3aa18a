package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/rwanda-go/rwanda/cmd/rwbench/harness"
)

// benchModule is the nested module that holds the peers program.
const benchModule = "github.com/rwanda-go/rwanda/bench"

// peers is a running rwpeers process: rwbench sends it requests and reads
// its answers, JSON lines on its stdin and stdout.
type peers struct {
	child *harness.Child
	hello harness.Hello
	id    int
}

// startPeers finds, builds if needed, and starts the peers program. mode
// is "off", "auto", or the path of a built rwpeers. It returns nil and the
// reason when there are no peers, or the peers and what they are.
func startPeers(ctx context.Context, mode string, stderr io.Writer) (*peers, string) {
	var path string
	switch mode {
	case "off":
		return nil, "skipped (-peers=off)"
	case "auto":
		var why string
		if path, why = peersBinary(ctx, stderr); path == "" {
			fmt.Fprintf(stderr, "rwbench: peers (NATS, gRPC, kcp-go) skipped: %s\n", why)
			return nil, "skipped: " + why
		}
	default:
		path = mode
	}
	c, err := harness.Start(ctx, path, []string{"serve"}, nil, 30*time.Second)
	if err != nil {
		fmt.Fprintf(stderr, "rwbench: peers skipped: %v\n", err)
		return nil, fmt.Sprintf("skipped: %s did not start: %v", path, err)
	}
	p := &peers{child: c}
	if err := json.Unmarshal([]byte(c.Ready), &p.hello); err != nil || p.hello.Protocol != harness.ProtocolVersion {
		c.Kill()
		why := fmt.Sprintf("%s speaks protocol %d, this rwbench %d: rebuild it (cd bench && go build ./cmd/rwpeers)", path, p.hello.Protocol, harness.ProtocolVersion)
		if err != nil {
			why = fmt.Sprintf("%s: bad hello %q: %v", path, c.Ready, err)
		}
		fmt.Fprintf(stderr, "rwbench: peers skipped: %s\n", why)
		return nil, "skipped: " + why
	}
	var vs []string
	for k, v := range p.hello.Versions {
		vs = append(vs, k+" "+v)
	}
	sort.Strings(vs)
	return p, fmt.Sprintf("rwpeers (%s)", strings.Join(vs, ", "))
}

// do runs one measurement in the peers process.
func (p *peers) do(ctx context.Context, r harness.Request) (harness.Sample, error) {
	p.id++
	r.ID = p.id
	b, _ := json.Marshal(r)
	if err := p.child.Send(string(b)); err != nil {
		return harness.Sample{}, fmt.Errorf("rwpeers: %w", err)
	}
	for {
		line, err := p.child.Line(ctx, time.Duration(r.Duration)+harness.Bound+60*time.Second)
		if err != nil {
			return harness.Sample{}, fmt.Errorf("rwpeers: %w", err)
		}
		var resp harness.Response
		if err := json.Unmarshal([]byte(line), &resp); err != nil {
			return harness.Sample{}, fmt.Errorf("rwpeers: bad answer %q: %w", line, err)
		}
		if resp.ID != r.ID { // the answer to a request given up on
			continue
		}
		if resp.Error != "" {
			return harness.Sample{}, errors.New(resp.Error)
		}
		if resp.Sample == nil {
			return harness.Sample{}, errors.New("rwpeers: an answer without a sample")
		}
		return *resp.Sample, nil
	}
}

func (p *peers) close() { p.child.Kill() }

// peersBinary returns the path of an up-to-date rwpeers, building it into
// the user's cache directory if the bench module's sources are at hand
// and newer than the cached binary; or "" and why not.
func peersBinary(ctx context.Context, stderr io.Writer) (string, string) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Sprintf("no cache directory for the peers binary (%v); build it (cd bench && go build -o rwpeers ./cmd/rwpeers) and pass -peers PATH", err)
	}
	bin := filepath.Join(cache, "rwanda", "rwpeers")
	howto := fmt.Sprintf("build them with: cd bench && go build -o %s ./cmd/rwpeers", bin)
	dir := findBenchModule()
	st, statErr := os.Stat(bin)
	if dir == "" {
		if statErr == nil {
			return bin, ""
		}
		return "", "the bench/ module (" + benchModule + ") was not found next to rwbench's source or above the current directory; run rwbench from a clone of the repository, or " + howto + " and pass -peers " + bin
	}
	newest, err := newestSource(dir)
	if err != nil {
		return "", fmt.Sprintf("reading %s: %v", dir, err)
	}
	if statErr == nil && !st.ModTime().Before(newest) {
		return bin, ""
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		if statErr == nil {
			fmt.Fprintf(stderr, "rwbench: %s is older than its sources, and there is no go command to rebuild it; using it as it is\n", bin)
			return bin, ""
		}
		return "", "no go command on PATH to build them; " + howto
	}
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return "", err.Error()
	}
	fmt.Fprintf(stderr, "rwbench: building the peers (NATS, gRPC, kcp-go) from %s into %s (once; the first build downloads modules and takes a minute or two)\n", dir, bin)
	bctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	tmp := bin + ".tmp"
	cmd := exec.CommandContext(bctx, goTool, "build", "-o", tmp, "./cmd/rwpeers")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		os.Remove(tmp)
		return "", fmt.Sprintf("building them failed (%v): %s; %s", err, strings.TrimSpace(lastLines(string(out), 5)), howto)
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", err.Error()
	}
	return bin, ""
}

// findBenchModule looks for the bench module beside rwbench's source, then
// in the current directory and its parents.
func findBenchModule() string {
	var dirs []string
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		dirs = append(dirs, filepath.Join(filepath.Dir(file), "..", "..", "bench"))
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			dirs = append(dirs, filepath.Join(d, "bench"))
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && strings.Contains(string(b), "module "+benchModule+"\n") {
			return filepath.Clean(d)
		}
	}
	return ""
}

// newestSource is the latest modification time of the sources rwpeers is
// built from: the bench module's Go files (tests aside), go.mod and
// go.sum, the harness package it shares with rwbench, and the library
// packages the channel over NATS rows run (natsx and the core's).
func newestSource(dir string) (time.Time, error) {
	var newest time.Time
	visit := func(root string) error {
		return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			name := d.Name()
			if d.IsDir() || strings.HasSuffix(name, "_test.go") || !(strings.HasSuffix(name, ".go") || name == "go.mod" || name == "go.sum") {
				return nil
			}
			if info, err := d.Info(); err == nil && info.ModTime().After(newest) {
				newest = info.ModTime()
			}
			return nil
		})
	}
	if err := visit(dir); err != nil {
		return newest, err
	}
	harnessDir := filepath.Join(dir, "..", "cmd", "rwbench", "harness")
	if _, err := os.Stat(harnessDir); err == nil {
		if err := visit(harnessDir); err != nil {
			return newest, err
		}
	}
	// The channel over NATS rows (issue 27) run the library itself, through
	// the natsx module: its sources, and the core packages it builds on
	// (cd bench && go list -deps ./cmd/rwpeers).
	for _, d := range []string{"natsx", "channel", "filter", "internal", "keys", "layers", "posting", "registry", "sched", "stack", "transport"} {
		p := filepath.Join(dir, "..", d)
		if _, err := os.Stat(p); err != nil {
			continue
		}
		if err := visit(p); err != nil {
			return newest, err
		}
	}
	return newest, nil
}

func lastLines(s string, n int) string {
	sc := bufio.NewScanner(strings.NewReader(s))
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "; ")
}
