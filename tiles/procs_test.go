package tiles

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/internal/testnet"
)

// The three-process test: the test binary re-executed as the sender and
// as the late joiner (childEnv names the role), the test process itself
// receiving from the start.

const childEnv = "RWANDA_TILES_TEST_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "sender":
		os.Exit(senderChild())
	case "joiner":
		os.Exit(joinerChild())
	}
	os.Exit(m.Run())
}

const (
	procFrames = 40 // 4 s of the desktop at 10 fps
	procName   = "desk"
)

// procSize is the desktop's size in the three-process test: 1920×1080,
// a quarter of it under the race detector, whose instrumentation makes
// decoding a snapshot CPU work the scheduling-delay probe does not see
// (.ci/run runs the package without -race too).
func procSize() (w, h int) {
	if raceEnabled {
		return 960, 540
	}
	return 1920, 1080
}

func pixHash(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

// senderChild opens RWANDA_URL, says "ready", and on "go START" (Unix
// nanoseconds) shares procFrames frames of the desktop (procSize) at 10 fps
// from START, then holds the last. It prints "final HASH MAXFULL" (the
// last frame's hash, the largest full image in bytes) and "sched NS", and
// on "stats" prints "stats SNAPSHOTS SNAPSHOT_TILES SNAPSHOT_BYTES TILES
// REPAIRS PUSH_FAILED JOINS_EARLY". It ends when stdin closes.
func senderChild() int {
	ch, err := channel.Open(context.Background(), os.Getenv("RWANDA_URL"))
	if err != nil {
		fmt.Println("fail open:", err)
		return 1
	}
	defer ch.Close()
	s, err := NewChannelSender(ch, procName, Config{})
	if err != nil {
		fmt.Println("fail sender:", err)
		return 1
	}
	defer s.Close()
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	var start int64
	if !in.Scan() {
		return 1
	}
	if _, err := fmt.Sscanf(in.Text(), "go %d", &start); err != nil {
		fmt.Printf("fail: %q: %v\n", in.Text(), err)
		return 1
	}
	probe := testnet.StartSchedProbe()
	w, h := procSize()
	d := NewDesktop(w, h, 11)
	time.Sleep(time.Until(time.Unix(0, start))) // the agreed start time
	tk := time.NewTicker(100 * time.Millisecond)
	defer tk.Stop()
	var hash string
	maxFull := 0
	for f := range procFrames {
		m := d.Next()
		if err := s.Frame(m); err != nil {
			fmt.Println("fail frame:", err)
			return 1
		}
		maxFull = max(maxFull, s.Stats().FullSize)
		if f == procFrames-1 {
			hash = pixHash(m.Pix)
			break
		}
		<-tk.C
	}
	fmt.Println("final", hash, maxFull)
	fmt.Println("sched", int64(probe.Stop()))
	for in.Scan() {
		if in.Text() == "stats" {
			st := s.Stats()
			fmt.Println("stats", st.Snapshots, st.SnapshotTiles, st.SnapshotBytes, s.core.Geometry().Tiles(), st.Repairs, st.PushFailed, st.JoinsEarly)
		}
	}
	return 0
}

// joinerChild opens RWANDA_URL, starts receiving, and prints "complete NS
// SCHED" (how long after it started the image was complete, and its
// probe's largest scheduling delay meanwhile); then, on "final HASH", it
// waits until its image has that hash and prints "same NS" (or "fail").
func joinerChild() int {
	ch, err := channel.Open(context.Background(), os.Getenv("RWANDA_URL"))
	if err != nil {
		fmt.Println("fail open:", err)
		return 1
	}
	defer ch.Close()
	probe := testnet.StartSchedProbe()
	t0 := time.Now()
	r, err := NewChannelReceiver(ch, procName, RecvConfig{})
	if err != nil {
		fmt.Println("fail receiver:", err)
		return 1
	}
	defer r.Close()
	for !r.Complete() {
		select {
		case <-r.Updated():
		case <-time.After(time.Minute):
			fmt.Println("fail: not complete after a minute; stale", len(r.Stale()))
			return 1
		}
	}
	fmt.Println("complete", int64(time.Since(t0)), int64(probe.Stop()))
	in := bufio.NewScanner(os.Stdin)
	if !in.Scan() {
		return 1
	}
	want := strings.TrimPrefix(in.Text(), "final ")
	if err := sameImage(r, want, time.Minute); err != nil {
		fmt.Println("fail:", err)
		return 1
	}
	fmt.Println("same")
	for in.Scan() {
	}
	return 0
}

// sameImage waits until r's image hashes to want.
func sameImage(r *ChannelReceiver, want string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		if img := r.Image(); img != nil && pixHash(img.Pix) == want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("image not the sender's after %v; stale tiles %v", limit, r.Stale())
		}
		select {
		case <-r.Updated():
		case <-time.After(50 * time.Millisecond): // a repair may not change the count of tiles seen
		}
	}
}

type child struct {
	w     *bufio.Writer
	lines chan string
	name  string
}

func startChild(t *testing.T, role, url string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+role, "RWANDA_URL="+url)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{w: bufio.NewWriter(stdin), lines: make(chan string, 16), name: role}
	t.Cleanup(func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() })
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			c.lines <- s.Text()
		}
		close(c.lines)
	}()
	return c
}

func (c *child) line(t *testing.T) string {
	t.Helper()
	select {
	case l, ok := <-c.lines:
		if !ok {
			t.Fatalf("the %s process ended", c.name)
		}
		if strings.HasPrefix(l, "fail") {
			t.Fatalf("%s: %s", c.name, l)
		}
		return l
	case <-time.After(2 * time.Minute):
		t.Fatalf("the %s process said nothing for two minutes", c.name)
	}
	return ""
}

func (c *child) say(t *testing.T, s string) {
	t.Helper()
	fmt.Fprintln(c.w, s)
	if err := c.w.Flush(); err != nil {
		t.Fatal(err)
	}
}

// TestTimingTilesLateJoinerThreeProcesses: over a multicast group on
// loopback, on the channel's default stack, a sender process shares 4 s
// of the 1920×1080 desktop at 10 fps (see procSize); the test process receives from the
// start, and a third process joins 2 s in. The late joiner holds the
// complete image within 2 s plus the largest scheduling delay measured in
// its process and the sender's (DECISIONS §4); its join costs one
// snapshot pass of every tile once, at most one full image (the receiver
// there from the start caused none: its join came before the first frame,
// which served it); once the sender holds still both receivers hold its last frame,
// pixel for pixel.
func TestTimingTilesLateJoinerThreeProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two processes for about 5 s")
	}
	url := fmt.Sprintf("tiles://239.255.%d.%d:%d?iface=lo", rand.IntN(256), 1+rand.IntN(254), 20000+rand.IntN(30000))
	snd := startChild(t, "sender", url)
	if l := snd.line(t); l != "ready" {
		t.Fatalf("sender: %q", l)
	}
	ch, err := channel.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	r, err := NewChannelReceiver(ch, procName, RecvConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	probe := testnet.StartSchedProbe()
	start := time.Now().Add(300 * time.Millisecond)
	snd.say(t, fmt.Sprint("go ", start.UnixNano()))
	time.Sleep(time.Until(start.Add(2 * time.Second))) // the joiner comes 2 s into the stream
	joiner := startChild(t, "joiner", url)
	var took, joinerSched int64
	if _, err := fmt.Sscanf(joiner.line(t), "complete %d %d", &took, &joinerSched); err != nil {
		t.Fatal(err)
	}
	var hash string
	var maxFull int
	if _, err := fmt.Sscanf(snd.line(t), "final %s %d", &hash, &maxFull); err != nil {
		t.Fatal(err)
	}
	var senderSched int64
	if _, err := fmt.Sscanf(snd.line(t), "sched %d", &senderSched); err != nil {
		t.Fatal(err)
	}
	joiner.say(t, "final "+hash)
	stillAt := time.Now()
	if l := joiner.line(t); l != "same" {
		t.Fatalf("joiner: %q", l)
	}
	if err := sameImage(r, hash, time.Minute); err != nil {
		t.Fatal(err)
	}
	converged := time.Since(stillAt)
	if w, h := procSize(); w != 1920 {
		t.Logf("the race detector is on: a %d×%d desktop", w, h)
	}
	snd.say(t, "stats")
	var snaps, snapTiles, snapBytes, tiles, repairs, failed, early int
	if _, err := fmt.Sscanf(snd.line(t), "stats %d %d %d %d %d %d %d", &snaps, &snapTiles, &snapBytes, &tiles, &repairs, &failed, &early); err != nil {
		t.Fatal(err)
	}
	tol := max(probe.Stop(), time.Duration(joinerSched), time.Duration(senderSched))
	st, _ := r.Stats()
	t.Logf("late joiner complete after %v (bound 2 s + %v of scheduling delay); both receivers hold the last frame %v after it was sent", time.Duration(took), tol, converged)
	t.Logf("sender: %d snapshot pass(es), %d tiles of %d, %d B (largest full image %d B), %d repairs, %d pushes failed, %d joins before the first frame; receiver from the start %+v",
		snaps, snapTiles, tiles, snapBytes, maxFull, repairs, failed, early, st)
	if time.Duration(took) > 2*time.Second+tol {
		t.Errorf("the late joiner was complete after %v, more than 2 s + %v", time.Duration(took), tol)
	}
	if snaps != 1 || snapTiles != tiles || snapBytes > maxFull {
		t.Errorf("join cost %d pass(es), %d tiles, %d B; want 1 pass of %d tiles, at most %d B", snaps, snapTiles, snapBytes, tiles, maxFull)
	}
}
