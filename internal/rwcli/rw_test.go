package rwcli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/internal/testnet"
	"github.com/rwanda-go/rwanda/posting"
)

// The tests drive rw as a user would: each rw is a process of its own
// (the test binary, started again with RW_TEST_MAIN=1, runs Main), on
// real channels — multicast groups on the loopback interface, each test
// on a group and port of its own — and the tests read what it prints.

func TestMain(m *testing.M) {
	if os.Getenv("RW_TEST_MAIN") == "1" {
		Main()
		return
	}
	os.Exit(m.Run())
}

// group returns a multicast URL on lo for one test.
func group(t *testing.T) string {
	t.Helper()
	return fmt.Sprintf("rwt://239.255.%d.%d:%d?iface=lo", rand.IntN(256), 1+rand.IntN(254), 20000+rand.IntN(30000))
}

// syncBuffer is a goroutine-safe buffer.
type syncBuffer = testnet.Buffer

// proc is a running rw.
type proc struct {
	args           []string
	cmd            *exec.Cmd
	stdout, stderr syncBuffer
	done           chan struct{}
	err            error
}

// rwCommand returns an rw process with args, not started.
func rwCommand(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "RW_TEST_MAIN=1")
	return cmd
}

// start starts rw with args (and stdin, if not ""); it is killed when
// the test ends.
func start(t *testing.T, stdin string, args ...string) *proc {
	t.Helper()
	p := &proc{args: args, cmd: rwCommand(args...), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if stdin != "" {
		p.cmd.Stdin = strings.NewReader(stdin)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// waitFor waits until rw's standard error contains s.
func (p *proc) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(p.stderr.String(), s) {
		select {
		case <-p.done:
			t.Fatalf("rw %s exited (%v) before saying %q; stderr:\n%s", strings.Join(p.args, " "), p.err, s, p.stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("rw %s did not say %q; stderr:\n%s", strings.Join(p.args, " "), s, p.stderr.String())
		}
	}
}

// wait waits for rw to exit and returns its exit status.
func (p *proc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		p.cmd.Process.Signal(syscall.SIGQUIT)
		<-p.done
		t.Fatalf("rw %s did not exit; stderr:\n%s", strings.Join(p.args, " "), p.stderr.String())
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	} else if p.err != nil {
		t.Fatalf("rw %s: %v", strings.Join(p.args, " "), p.err)
	}
	return 0
}

// rw runs rw with args to the end and returns what it printed; it fails
// the test when the exit status is not want.
func rw(t *testing.T, want int, stdin string, args ...string) (stdout, stderr string) {
	t.Helper()
	p := start(t, stdin, args...)
	if code := p.wait(t); code != want {
		t.Fatalf("rw %s: exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, p.stdout.String(), p.stderr.String())
	}
	return p.stdout.String(), p.stderr.String()
}

// jsonLines parses rw's --json output.
func jsonLines(t *testing.T, out string) []Posting {
	t.Helper()
	var ps []Posting
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var p Posting
		if err := json.Unmarshal([]byte(line), &p); err != nil {
			t.Fatalf("not a JSON posting: %q: %v", line, err)
		}
		ps = append(ps, p)
	}
	return ps
}

func TestPubSubJSON(t *testing.T) {
	url := group(t)
	sub := start(t, "", "sub", url, "--json", "--count", "3", "--stream", "lesson")
	sub.waitFor(t, "listening on")
	_, stderr := rw(t, 0, "", "pub", url, "hello {n}", "--count", "3", "--stream", "lesson", "--header", "traceparent=00-abc-def-01", "--ttl", "10s")
	if !strings.Contains(stderr, "sent 3 postings") {
		t.Errorf("pub's summary: %q", stderr)
	}
	if code := sub.wait(t); code != 0 {
		t.Fatalf("sub: exit %d\n%s", code, sub.stderr.String())
	}
	ps := jsonLines(t, sub.stdout.String())
	if len(ps) != 3 {
		t.Fatalf("sub printed %d postings:\n%s", len(ps), sub.stdout.String())
	}
	for i, p := range ps {
		if p.Stream != "lesson" || p.Seq != uint64(i+1) || p.Body != fmt.Sprintf("hello %d", i+1) || p.Type != "string" || p.Kind != "message" {
			t.Errorf("posting %d: %+v", i, p)
		}
		if len(p.Headers) != 1 || p.Headers[0] != [2]string{"traceparent", "00-abc-def-01"} || p.TTLMS != 10000 {
			t.Errorf("posting %d headers %v ttl %v", i, p.Headers, p.TTLMS)
		}
		if p.AgeMS == nil || *p.AgeMS < 0 || *p.AgeMS > 10000 || len(p.Sender) != 16 || p.Sender != ps[0].Sender {
			t.Errorf("posting %d: age %v sender %q", i, p.AgeMS, p.Sender)
		}
	}
	if !strings.Contains(sub.stderr.String(), "rw sub: 3 postings") {
		t.Errorf("sub's summary: %s", sub.stderr.String())
	}
}

// TestPubStdinSubPretty pushes standard input's lines, paced, and reads
// them in the human format.
func TestPubStdinSubPretty(t *testing.T) {
	url := group(t)
	sub := start(t, "", "sub", url, "--count", "3")
	sub.waitFor(t, "listening on")
	start := time.Now()
	rw(t, 0, "one\ntwo\nthree\nfour\n", "pub", url, "--rate", "20", "--count", "3", "--media", "control", "-q")
	if el := time.Since(start); el < 100*time.Millisecond {
		t.Errorf("3 postings at 20/s took %v", el)
	}
	if code := sub.wait(t); code != 0 {
		t.Fatalf("sub: exit %d\n%s", code, sub.stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(sub.stdout.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("sub printed:\n%s", sub.stdout.String())
	}
	for i, want := range []string{"one", "two", "three"} {
		re := regexp.MustCompile(fmt.Sprintf(`^\d\d:\d\d:\d\d\.\d{3} [0-9a-f]{16} "" #%d control age=\S+: %s$`, i+1, want))
		if !re.MatchString(lines[i]) {
			t.Errorf("line %d: %q", i, lines[i])
		}
	}
}

// point is a body type that rw does not know (nobody registers it).
type point struct {
	X int
	Y string
}

// TestSubShowsBodiesOfUnknownTypes: a program pushes a struct that rw
// has no type for, and a registered built-in (int): rw decodes the first
// from its msgpack bytes.
func TestSubShowsBodiesOfUnknownTypes(t *testing.T) {
	url := group(t)
	sub := start(t, "", "sub", url, "--json", "--count", "3")
	sub.waitFor(t, "listening on")
	ch, err := channel.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	for _, body := range []any{point{X: 7, Y: "up"}, 42, []byte{0xff, 0x00, 0x01}} {
		if err := ch.Push(context.Background(), posting.New(body, posting.WithStream("s"))); err != nil {
			t.Fatal(err)
		}
	}
	if code := sub.wait(t); code != 0 {
		t.Fatalf("sub: exit %d\n%s", code, sub.stderr.String())
	}
	ps := jsonLines(t, sub.stdout.String())
	if len(ps) != 3 {
		t.Fatalf("sub printed:\n%s", sub.stdout.String())
	}
	if m, ok := ps[0].Body.(map[string]any); !ok || !ps[0].Raw || ps[0].Type != "rwcli.point" || m["X"] != 7.0 || m["Y"] != "up" {
		t.Errorf("struct body: %+v", ps[0])
	}
	if ps[1].Body != 42.0 || ps[1].Raw || ps[1].Type != "int" {
		t.Errorf("int body: %+v", ps[1])
	}
	if ps[2].Body != "/wAB" || ps[2].Encoding != "base64" || ps[2].Type != "bytes" {
		t.Errorf("bytes body: %+v", ps[2])
	}
	if ps[0].Sender != fmt.Sprintf("%016x", ch.ID()) {
		t.Errorf("sender %s, want %016x", ps[0].Sender, ch.ID())
	}
}

func TestReqServe(t *testing.T) {
	url := group(t)
	srv := start(t, "", "serve", url, "--reply", "pong", "--count", "2")
	srv.waitFor(t, "serving the default service")
	out, stderr := rw(t, 0, "", "req", url, "ping", "--header", "k=v")
	if out != "pong\n" || !strings.Contains(stderr, "reply from member") {
		t.Fatalf("req printed %q, %q", out, stderr)
	}
	out, _ = rw(t, 0, "ping again", "req", url, "--json")
	if ps := jsonLines(t, out); len(ps) != 1 || ps[0].Body != "pong" || ps[0].Kind != "reply" {
		t.Fatalf("req --json printed %q", out)
	}
	if code := srv.wait(t); code != 0 {
		t.Fatalf("serve: exit %d\n%s", code, srv.stderr.String())
	}
	reqs := strings.Split(strings.TrimSpace(srv.stdout.String()), "\n")
	if len(reqs) != 2 || !regexp.MustCompile(`request age=\S+ k="v": ping$`).MatchString(reqs[0]) || !strings.HasSuffix(reqs[1], ": ping again") {
		t.Fatalf("serve printed:\n%s", srv.stdout.String())
	}

	// A named service that echoes.
	echo := start(t, "", "serve", url, "--name", "echo", "--count", "1")
	echo.waitFor(t, `serving "echo"`)
	if out, _ := rw(t, 0, "", "req", url, "--name", "echo", "say this"); out != "say this\n" {
		t.Fatalf("echo: %q", out)
	}
	echo.wait(t)

	// Nobody serves: the error says what to do.
	_, stderr = rw(t, 1, "", "req", url, "anyone?", "--timeout", "1s")
	if !strings.Contains(stderr, "rw serve "+url) {
		t.Fatalf("req without a server: %s", stderr)
	}
}

// TestStatOnce watches a monitored stream: members, the flow with its
// stack, and the loss its monitor measures.
func TestStatOnce(t *testing.T) {
	url := group(t)
	qos := "frag/monitor(report=100ms)/impair(loss=10%,seed=4)"
	pub := start(t, "", "pub", url, "tick {n}", "--count", "400", "--rate", "100", "--stream", "ticks", "--qos", qos, "-q")
	out, _ := rw(t, 0, "", "stat", url, "--once", "--wait", "1500ms")
	t.Logf("rw stat --once:\n%s", out)
	for _, want := range []string{"rw stat " + url, "members (1)", "incoming flows (1)", "ticks", qos, "outgoing streams (0)", "drops", "events"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in the snapshot", want)
		}
	}
	// The flow's row shows a loss in percent.
	var row string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "ticks") && strings.Contains(l, qos) {
			row = l
		}
	}
	if !strings.Contains(row, "%") {
		t.Errorf("flow row without loss: %q", row)
	}
	pub.cmd.Process.Signal(os.Interrupt)
	if code := pub.wait(t); code != 0 {
		t.Errorf("pub interrupted: exit %d\n%s", code, pub.stderr.String())
	}
}

// TestStatLive runs the live view (not a terminal: snapshots one after
// another) and interrupts it.
func TestStatLive(t *testing.T) {
	url := group(t)
	st := start(t, "", "stat", url, "--every", "100ms")
	deadline := time.Now().Add(20 * time.Second)
	for strings.Count(st.stdout.String(), "rw stat ") < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("stat printed:\n%s", st.stdout.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	st.cmd.Process.Signal(os.Interrupt)
	if code := st.wait(t); code != 0 {
		t.Fatalf("stat: exit %d", code)
	}
	if !strings.Contains(st.stdout.String(), "postings/s in") {
		t.Errorf("no rates after the first snapshot:\n%s", st.stdout.String())
	}
}

func TestRecordReplay(t *testing.T) {
	live, played := group(t), group(t)
	file := filepath.Join(t.TempDir(), "lesson.rw")
	rec := start(t, "", "record", live, file, "--count", "3")
	rec.waitFor(t, "recording")
	rw(t, 0, "", "pub", live, "slide {n}", "--count", "3", "--rate", "20", "--stream", "slides", "--header", "lang=rw", "-q")
	if code := rec.wait(t); code != 0 {
		t.Fatalf("record: exit %d\n%s", code, rec.stderr.String())
	}
	if !strings.Contains(rec.stderr.String(), "recorded 3 postings") {
		t.Errorf("record said: %s", rec.stderr.String())
	}
	if n, err := countRecords(file); err != nil || n != 3 {
		t.Fatalf("the recording holds %d postings (%v)", n, err)
	}
	// The recording is a file:// channel: rw sub reads it too.
	out, _ := rw(t, 0, "", "sub", "file://"+file, "--json", "--count", "3", "-q")
	if ps := jsonLines(t, out); len(ps) != 3 || ps[2].Body != "slide 3" {
		t.Fatalf("sub of the recording: %s", out)
	}

	sub := start(t, "", "sub", played, "--json", "--count", "3")
	sub.waitFor(t, "listening on")
	_, stderr := rw(t, 0, "", "replay", file, played)
	if !strings.Contains(stderr, "3 postings from") || !strings.Contains(stderr, "(realtime)") || !strings.Contains(stderr, "pushed 3 postings") {
		t.Errorf("replay said: %s", stderr)
	}
	if code := sub.wait(t); code != 0 {
		t.Fatalf("sub: exit %d\n%s", code, sub.stderr.String())
	}
	ps := jsonLines(t, sub.stdout.String())
	if len(ps) != 3 {
		t.Fatalf("sub printed:\n%s", sub.stdout.String())
	}
	for i, p := range ps {
		if p.Stream != "slides" || p.Body != fmt.Sprintf("slide %d", i+1) || len(p.Headers) != 1 || p.Headers[0] != [2]string{"lang", "rw"} {
			t.Errorf("replayed %d: %+v", i, p)
		}
	}

	// Errors say what to do.
	_, stderr = rw(t, 1, "", "replay", filepath.Join(t.TempDir(), "none.rw"), played)
	if !strings.Contains(stderr, "rw record URL") {
		t.Errorf("replay of a missing file: %s", stderr)
	}
	notRec := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(notRec, []byte("hello\n"), 0o644)
	if _, stderr = rw(t, 1, "", "replay", notRec, played); !strings.Contains(stderr, "not a rwanda recording") {
		t.Errorf("replay of a text file: %s", stderr)
	}
}

func TestLayers(t *testing.T) {
	out, _ := rw(t, 0, "", "layers")
	for _, want := range []string{"profiles", "reliable", "frag/order/window", "frag —", "mtu", "window —", "monitor —", "report", "RECEIVERS ACCEPT"} {
		if !strings.Contains(out, want) {
			t.Errorf("rw layers: no %q", want)
		}
	}
	out, _ = rw(t, 0, "", "layers", "window", "media")
	if !strings.Contains(out, "window —") || strings.Contains(out, "frag —") || !strings.Contains(out, "media ") {
		t.Errorf("rw layers window media:\n%s", out)
	}
	out, _ = rw(t, 0, "", "layers", "--json", "frag")
	var reg struct {
		Layers []struct {
			Name   string
			Params []struct{ Name, Default string }
		}
	}
	if err := json.Unmarshal([]byte(out), &reg); err != nil || len(reg.Layers) != 1 || reg.Layers[0].Name != "frag" || len(reg.Layers[0].Params) == 0 {
		t.Errorf("rw layers --json frag: %v\n%s", err, out)
	}
	if _, stderr := rw(t, 1, "", "layers", "nosuch"); !strings.Contains(stderr, "there are:") {
		t.Errorf("unknown layer: %s", stderr)
	}
}

// TestBench: rw bench runs the rwbench program on PATH with rw's
// arguments, and says how to install it when there is none.
func TestBench(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("a shell script stands in for rwbench")
	}
	dir := t.TempDir()
	script := "#!/bin/sh\necho \"rwbench ran with: $*\"\nexit 3\n"
	if err := os.WriteFile(filepath.Join(dir, "rwbench"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := rwCommand("bench", "--duration", "100ms")
	cmd.Env = append(cmd.Env, "PATH="+dir)
	out, err := cmd.Output()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 || string(out) != "rwbench ran with: --duration 100ms\n" {
		t.Fatalf("rw bench: %q, %v", out, err)
	}

	cmd = rwCommand("bench")
	cmd.Env = append(cmd.Env, "PATH="+t.TempDir())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(stderr.String(), "go install github.com/rwanda-go/rwanda/cmd/rwbench@latest") {
		t.Fatalf("rw bench without rwbench: %v\n%s", err, stderr.String())
	}
}

// TestErrorsSayWhatToDo checks the advice rw gives.
func TestErrorsSayWhatToDo(t *testing.T) {
	_, stderr := rw(t, 1, "", "sub", "239.1.2.3:7400")
	if !strings.Contains(stderr, "app://239.7.7.7:7400?iface=lo") {
		t.Errorf("URL without a scheme: %s", stderr)
	}
	_, stderr = rw(t, 1, "", "sub", "app://239.1.2.3:7400?ifac=lo")
	if !strings.Contains(stderr, "ifac") || !strings.Contains(stderr, "parameters: qos, iface") {
		t.Errorf("misspelt parameter: %s", stderr)
	}
	if _, stderr = rw(t, 2, "", "pub"); !strings.Contains(stderr, "usage: rw pub") {
		t.Errorf("pub without a URL: %s", stderr)
	}
	if _, stderr = rw(t, 2, "", "frobnicate"); !strings.Contains(stderr, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: %s", stderr)
	}
	if _, stderr = rw(t, 2, "", "pub", group(t), "x", "--media", "smell"); !strings.Contains(stderr, "smell") {
		t.Errorf("bad media: %s", stderr)
	}
	if out, _ := rw(t, 0, "", "help", "sub"); !strings.Contains(out, "--json") && !strings.Contains(out, "-json") {
		t.Errorf("help sub: %s", out)
	}
	if _, stderr = rw(t, 2, ""); !strings.Contains(stderr, "usage: rw <command>") {
		t.Errorf("no command: %s", stderr)
	}

	// A port another process holds.
	port := 20000 + rand.IntN(30000)
	busy := start(t, "", "sub", fmt.Sprintf("rwt://:%d", port))
	busy.waitFor(t, "listening on")
	if _, stderr = rw(t, 1, "", "sub", fmt.Sprintf("rwt://:%d", port)); !strings.Contains(stderr, "another program already listens on port") {
		t.Errorf("port in use: %s", stderr)
	}

	// A key file too short to be a key.
	kf := filepath.Join(t.TempDir(), "key")
	os.WriteFile(kf, []byte("abcd\n"), 0o600)
	if _, stderr = rw(t, 1, "", "sub", group(t), "--key-file", kf); !strings.Contains(stderr, "at least 16") {
		t.Errorf("short key: %s", stderr)
	}
}

// TestIfaceHint: a multicast URL without iface= on a host with several
// interfaces gets a note naming them and the URL to use; an Open that
// fails without one says to add it.
func TestIfaceHint(t *testing.T) {
	a, err := channel.ParseURL("app://239.7.7.7:7400")
	if err != nil {
		t.Fatal(err)
	}
	h := ifaceHint(a, "", []string{"eth0", "wlan0"})
	if !strings.Contains(h, "eth0, wlan0") || !strings.Contains(h, "app://239.7.7.7:7400?iface=eth0") {
		t.Errorf("hint: %s", h)
	}
	if h := ifaceHint(a, "", []string{"eth0"}); h != "" {
		t.Errorf("one interface: %s", h)
	}
	if h := ifaceHint(a, "eth0", []string{"eth0", "wlan0"}); h != "" {
		t.Errorf("--iface given: %s", h)
	}
	withIf, _ := channel.ParseURL("app://239.7.7.7:7400?iface=lo")
	if h := ifaceHint(withIf, "", []string{"eth0", "wlan0"}); h != "" {
		t.Errorf("iface= given: %s", h)
	}
	err = explainOpen(a, "", errors.New("setsockopt: no such device"), []string{"eth0", "wlan0"})
	if !strings.Contains(err.Error(), "add ?iface=NAME") || !strings.Contains(err.Error(), "?iface=eth0") {
		t.Errorf("explained: %v", err)
	}
}

// TestRunInProcess runs commands through Run, as Main does, for what
// needs no second process.
func TestRunInProcess(t *testing.T) {
	var out, errb bytes.Buffer
	// A transport of another module this rw does not have: it says which
	// rw has it.
	if code := Run(context.Background(), []string{"sub", "x+nats://127.0.0.1:4222/s?channel=c", "--count", "1"}, strings.NewReader(""), &out, &errb); code != 1 ||
		!strings.Contains(errb.String(), "go install github.com/rwanda-go/rwanda/natsx/cmd/rw@latest") {
		t.Fatalf("sub over +nats: %d %s", code, errb.String())
	}
	errb.Reset()
	if code := Run(context.Background(), []string{"layers", "frag"}, strings.NewReader(""), &out, &errb); code != 0 || !strings.Contains(out.String(), "frag —") {
		t.Fatalf("layers: %d %s %s", code, out.String(), errb.String())
	}
	out.Reset()
	errb.Reset()
	// pub onto a mem:// hub of this process, with a subscriber beside it.
	url := "mem://" + t.Name()
	ch, err := channel.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	sub, _ := channel.SubscribeTyped[string](ch)
	if code := Run(context.Background(), []string{"pub", url, "--linger", "0", "a", "--count", "2", "--header", "x=y"}, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("pub: %d %s", code, errb.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 2 {
		s, p, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("posting %d: %v", i, err)
		}
		if v, _ := p.Header("x"); s != "a" || v != "y" {
			t.Fatalf("posting %d: %q %v %v", i, s, p, err)
		}
	}
}

// TestSilenceHint: what rw sub says when nothing arrives.
func TestSilenceHint(t *testing.T) {
	a, err := channel.Open(context.Background(), "mem://"+t.Name())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if h := silenceHint(a); !strings.Contains(h, "no member heard") {
		t.Errorf("alone: %s", h)
	}
	b, err := channel.Open(context.Background(), "mem://"+t.Name())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	deadline := time.Now().Add(10 * time.Second)
	for len(a.Stats().Peers) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if h := silenceHint(a); !strings.Contains(h, "1 members heard, none sending") {
		t.Errorf("with a silent member: %s", h)
	}
}
