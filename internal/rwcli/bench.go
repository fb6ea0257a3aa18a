package rwcli

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

var benchCmd = &command{
	name: "bench", args: "[RWBENCH ARGS...]",
	summary: `Run rwbench, the comparison of rwanda with raw UDP, TCP, NATS, gRPC and
kcp-go: its compare (about a minute) unless the arguments name another of
its subcommands (throughput, latency, fanout, loss, sched, scale); every
argument is rwbench's (rw bench -h shows them). rw looks for the rwbench
program beside itself, then on PATH; install it with
  go install github.com/rwanda-go/rwanda/cmd/rwbench@latest`,
}

// installHint says how to get rwbench.
const installHint = `install it beside rw with
  go install github.com/rwanda-go/rwanda/cmd/rwbench@latest
(it lands in $(go env GOPATH)/bin, where go install put rw; make sure that is on PATH),
or, in a checkout of rwanda, run it from the source: go run ./cmd/rwbench`

// findRwbench returns the rwbench program beside rw's own executable,
// else on PATH.
func findRwbench() (string, error) {
	name := "rwbench"
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	if p, err := exec.LookPath("rwbench"); err == nil {
		return p, nil
	}
	return "", errors.New("the rwbench program is neither beside rw nor on PATH")
}

// runBench runs rwbench with args, its output on ours; its exit status
// is rw's.
func runBench(e *env, args []string) error {
	prog, err := findRwbench()
	if err != nil {
		return hint(err, "%s", installHint)
	}
	what := "compare"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		what = args[0]
	}
	e.progressf("rw bench: running %s (%s)", prog, what)
	cmd := exec.CommandContext(e.ctx, prog, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = e.stdin, e.stdout, e.stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() > 0 {
			return &exitError{code: ee.ExitCode(), err: fmt.Errorf("rwbench exited with status %d", ee.ExitCode())}
		}
		return fmt.Errorf("running %s: %w", prog, err)
	}
	return nil
}
