package playout_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/internal/testnet"
	"github.com/rwanda-go/rwanda/playout"
	"github.com/rwanda-go/rwanda/posting"
)

// The three-process test: this test's process, a sender and a receiver
// (the test binary re-executed with playoutChild set).

const playoutChild = "RWANDA_PLAYOUT_CHILD"

func init() {
	switch os.Getenv(playoutChild) {
	case "sender":
		os.Exit(avSender())
	case "receiver":
		os.Exit(avReceiver())
	}
}

const (
	audioPeriod = 20 * time.Millisecond
	videoPeriod = 33 * time.Millisecond
	// The video starts this much further behind than the audio (its
	// initial delay is larger): the receiver's group must bring them
	// together.
	videoBehind = 300 * time.Millisecond
	skewLo      = -125 * time.Millisecond // ITU-R BT.1359: sound late
	skewHi      = 45 * time.Millisecond   // sound early
)

// avSender pushes audio every 20 ms and video frames every 33 ms to
// RWANDA_URL for RWANDA_SECONDS, then prints "sent A V".
func avSender() int {
	ctx := context.Background()
	ch, err := channel.Open(ctx, os.Getenv("RWANDA_URL"))
	if err != nil {
		fmt.Println("fail open:", err)
		return 1
	}
	defer ch.Close()
	secs, _ := strconv.ParseFloat(os.Getenv("RWANDA_SECONDS"), 64)
	end := time.Now().Add(time.Duration(secs * float64(time.Second)))
	at, vt := time.NewTicker(audioPeriod), time.NewTicker(videoPeriod)
	defer at.Stop()
	defer vt.Stop()
	var na, nv int
	for time.Now().Before(end) {
		var p *posting.Posting
		select {
		case <-at.C:
			p = posting.New(make([]byte, 160), posting.WithStream("audio"), posting.WithMedia(posting.Audio), posting.WithTTL(time.Second))
			na++
		case <-vt.C:
			p = posting.New(make([]byte, 4000), posting.WithStream("video"), posting.WithMedia(posting.Video), posting.WithTTL(time.Second))
			nv++
		}
		if err := ch.Push(ctx, p); err != nil {
			fmt.Println("fail push:", err)
			return 1
		}
	}
	fmt.Println("sent", na, nv)
	return 0
}

// release is a posting as the receiver played it.
type release struct {
	sent, at time.Time
}

// avReceiver plays the audio and video streams of RWANDA_URL through one
// playout group until stdin closes, then prints its figures.
func avReceiver() int {
	ctx := context.Background()
	ch, err := channel.Open(ctx, os.Getenv("RWANDA_URL"))
	if err != nil {
		fmt.Println("fail open:", err)
		return 1
	}
	defer ch.Close()
	probe := testnet.StartSchedProbe()
	var sender atomic.Uint64
	g := playout.NewGroup(playout.Config{Offset: func() (time.Duration, bool) { return ch.ClockOffset(sender.Load()) }})
	audio := g.Stream(playout.Config{})
	video := g.Stream(playout.Config{InitialDelay: 100*time.Millisecond + videoBehind})
	wake := make(chan struct{}, 1)
	sub, err := ch.SubscribeFunc(func(p *posting.Posting) {
		sender.CompareAndSwap(0, p.Sender)
		switch p.Stream {
		case "audio":
			audio.Push(p, time.Now())
		case "video":
			video.Push(p, time.Now())
		}
		select {
		case wake <- struct{}{}:
		default:
		}
	}, channel.Streams("audio", "video"))
	if err != nil {
		fmt.Println("fail subscribe:", err)
		return 1
	}
	defer sub.Close()
	done := make(chan struct{})
	go func() {
		fmt.Println("ready")
		bufio.NewReader(os.Stdin).ReadString('\n')
		close(done)
	}()
	// The player: sleep until the next posting is due (or a push), play
	// what is due.
	var played = map[string][]release{}
	var wakeLate []time.Duration
	timer := time.NewTimer(time.Hour)
	var due time.Time
	for {
		now := time.Now()
		if !due.IsZero() && !now.Before(due) {
			wakeLate = append(wakeLate, now.Sub(due))
		}
		for p := g.Next(now); p != nil; p = g.Next(now) {
			played[p.Stream] = append(played[p.Stream], release{p.Sent, now})
		}
		wait := time.Hour
		var ok bool
		if due, ok = g.Due(); ok {
			wait = time.Until(due)
		} else {
			due = time.Time{}
		}
		timer.Reset(wait)
		select {
		case <-wake:
		case <-timer.C:
		case <-done:
			sched := probe.Stop()
			as, vs := audio.Stats(), video.Stats()
			sk, first, conv := avSkews(played["audio"], played["video"])
			slices.Sort(wakeLate)
			var p1, p99 time.Duration
			if len(sk) > 0 {
				s := slices.Clone(sk)
				slices.Sort(s)
				p1, p99 = s[len(s)/100], s[len(s)-1-len(s)/100]
			}
			fmt.Printf("figures audio %d %d %d video %d %d %d skew %d %d %d %d %d sched %d wake %d delay %d %d\n",
				as.Pushed, as.Played, as.Late, vs.Pushed, vs.Played, vs.Late,
				len(sk), p1, p99, first, conv, sched, wakeLate[len(wakeLate)*99/100], as.Delay, vs.Delay)
			return 0
		}
	}
}

// avSkews returns the skew of each video frame played (positive: sound
// early): its playout instant less that of the sound of its capture
// instant, read off the audio posting holding it (which plays its 20 ms
// from its own playout instant); the first one; and how long after the
// first frame the skew stays within bounds for a second (-1: never).
func avSkews(audio, video []release) (sk []time.Duration, first, converged time.Duration) {
	var at []time.Time
	for _, v := range video {
		j, found := slices.BinarySearchFunc(audio, v.sent, func(a release, s time.Time) int { return a.sent.Compare(s) })
		if !found {
			j--
		}
		if j < 0 || v.sent.Sub(audio[j].sent) >= audioPeriod+audioPeriod/2 {
			continue // its audio is missing
		}
		pa := audio[j].at.Add(v.sent.Sub(audio[j].sent))
		sk = append(sk, v.at.Sub(pa))
		at = append(at, v.sent)
	}
	if len(sk) == 0 {
		return nil, 0, -1
	}
	converged = -1
	start := 0
	for i, s := range sk {
		if s < skewLo || s > skewHi {
			start = i + 1
		} else if start < len(at) && at[i].Sub(at[start]) >= time.Second {
			converged = at[start].Sub(at[0])
			break
		}
	}
	return sk, sk[0], converged
}

// child is a child process of the test binary.
type child struct {
	cmd   *exec.Cmd
	stdin interface{ Close() error }
	lines chan string
}

func startChild(t *testing.T, role string, env ...string) *child {
	t.Helper()
	c := &child{cmd: exec.Command(os.Args[0], "-test.run=^$"), lines: make(chan string, 4)}
	c.cmd.Env = append(append(os.Environ(), playoutChild+"="+role), env...)
	c.cmd.Stderr = os.Stderr
	stdin, err := c.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.stdin = stdin
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.cmd.Process.Kill(); c.cmd.Wait() })
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			c.lines <- s.Text()
		}
		close(c.lines)
	}()
	return c
}

func (c *child) line(t *testing.T, timeout time.Duration) string {
	t.Helper()
	select {
	case l, ok := <-c.lines:
		if !ok {
			t.Fatal("child ended")
		}
		if strings.HasPrefix(l, "fail") {
			t.Fatalf("child: %s", l)
		}
		return l
	case <-time.After(timeout):
		t.Fatalf("child said nothing for %v", timeout)
	}
	return ""
}

// TestTimingMulticastAVSync: a sender process pushes audio (every 20 ms)
// and video (every 33 ms) over multicast on loopback for 4 s; a receiver
// process plays both through one playout group, the video starting 300 ms
// further behind. The skew (video playout instant − the sound's, for the
// same capture instant) has its 1st and 99th percentiles within
// −125…+45 ms widened by the receiver's measured scheduling delay (the
// player's wake-ups are late by that much, DECISIONS §4), is in bounds
// from the first frames on (at the latest within 5 s), and both streams
// play (no stall): at least 95 % of what was sent.
func TestTimingMulticastAVSync(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two processes")
	}
	url := fmt.Sprintf("av://239.255.%d.%d:%d?iface=lo", rand.IntN(256), 1+rand.IntN(254), 20000+rand.IntN(30000))
	rx := startChild(t, "receiver", "RWANDA_URL="+url)
	if l := rx.line(t, 30*time.Second); l != "ready" {
		t.Fatalf("receiver: %q", l)
	}
	tx := startChild(t, "sender", "RWANDA_URL="+url, "RWANDA_SECONDS=4")
	var na, nv int
	if _, err := fmt.Sscanf(tx.line(t, time.Minute), "sent %d %d", &na, &nv); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // the last postings play
	rx.stdin.Close()
	l := rx.line(t, 30*time.Second)
	var ap, apl, al, vp, vpl, vl, n int
	var p1, p99, first, conv, sched, wake, ad, vd time.Duration
	if _, err := fmt.Sscanf(l, "figures audio %d %d %d video %d %d %d skew %d %d %d %d %d sched %d wake %d delay %d %d",
		&ap, &apl, &al, &vp, &vpl, &vl, &n, &p1, &p99, &first, &conv, &sched, &wake, &ad, &vd); err != nil {
		t.Fatalf("receiver: %q: %v", l, err)
	}
	allow := max(sched, wake)
	t.Logf("sent audio %d video %d; played audio %d (late %d) video %d (late %d); skew over %d frames: first %v, p1 %v, p99 %v, in sync %v after the first frame; delay audio %v video %v; scheduling delay %v, player wake-ups late by %v (p99)",
		na, nv, apl, al, vpl, vl, n, first, p1, p99, conv, ad, vd, sched, wake)
	if p1 < skewLo-allow || p99 > skewHi+allow {
		t.Errorf("skew p1 %v p99 %v, outside %v…%v widened by %v", p1, p99, skewLo, skewHi, allow)
	}
	if conv < 0 || conv > 5*time.Second {
		t.Errorf("in sync only %v after the first frame", conv)
	}
	if float64(apl) < 0.95*float64(na) || float64(vpl) < 0.95*float64(nv) {
		t.Errorf("played audio %d of %d, video %d of %d", apl, na, vpl, nv)
	}
}
