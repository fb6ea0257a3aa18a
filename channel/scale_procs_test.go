package channel

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/posting"
)

// Many members at one receiver (issue 30): member channels in processes
// of their own, the test binary re-executed with childEnv=members.

func init() {
	if os.Getenv(childEnv) == "members" {
		os.Exit(membersChild())
	}
}

// membersChild opens RWANDA_N channels to RWANDA_URL, pushes one reliable
// posting on each, prints "pushed N" (or "fail ..."), and keeps them open
// (members that say hello) until stdin closes.
func membersChild() int {
	url := os.Getenv("RWANDA_URL")
	n, _ := strconv.Atoi(os.Getenv("RWANDA_N"))
	ctx := context.Background()
	for i := range n {
		ch, err := Open(ctx, url, WithQoS("reliable"), WithBlockingPush())
		if err != nil {
			fmt.Printf("fail open %d of %d: %v\n", i+1, n, err)
			return 1
		}
		if err := ch.Push(ctx, posting.New(make([]byte, 64))); err != nil {
			fmt.Printf("fail push %d of %d: %v\n", i+1, n, err)
			return 1
		}
	}
	fmt.Println("pushed", n)
	// Until stdin closes; the channels end with the process.
	bufio.NewReader(os.Stdin).ReadString('\n')
	return 0
}

// TestScaleManyMembers: 1000 member channels in 4 processes, unicast to
// one listener on loopback, push one reliable posting each; the listener
// delivers all 1000, one from each, and lists 1000 members.
func TestScaleManyMembers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 4 processes with 250 channels each")
	}
	const procs, perProc = 4, 250
	const members = procs * perProc
	port := freePort(t)
	rx := open(t, fmt.Sprintf("scale://:%d", port))
	var (
		mu      sync.Mutex
		senders = map[uint64]int{}
		got     atomic.Int64
	)
	_, err := rx.SubscribeFunc(func(p *posting.Posting) {
		mu.Lock()
		senders[p.Sender]++
		mu.Unlock()
		got.Add(1)
	})
	must(t, err)
	lines := make(chan string, procs)
	for i := range procs {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"=members", fmt.Sprintf("RWANDA_URL=scale://127.0.0.1:%d", port),
			"RWANDA_N="+strconv.Itoa(perProc))
		cmd.Stderr = os.Stderr
		stdin, err := cmd.StdinPipe()
		must(t, err)
		stdout, err := cmd.StdoutPipe()
		must(t, err)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() })
		go func() {
			s := bufio.NewScanner(stdout)
			line := fmt.Sprintf("process %d ended without a word", i+1)
			if s.Scan() {
				line = s.Text()
			}
			lines <- line
		}()
	}
	for range procs {
		select {
		case line := <-lines:
			if line != "pushed "+strconv.Itoa(perProc) {
				t.Fatalf("member process: %q", line)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("member processes did not push within 60 s")
		}
	}
	last, since := got.Load(), time.Now()
	for got.Load() < members {
		if n := got.Load(); n != last {
			last, since = n, time.Now()
		}
		if time.Since(since) > 10*time.Second {
			t.Fatalf("%d of %d postings delivered, none for 10 s; listener drops %v", got.Load(), members, rx.Stats().Drops)
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	distinct := len(senders)
	var twice []string
	for id, n := range senders {
		if n != 1 {
			twice = append(twice, fmt.Sprintf("%016x×%d", id, n))
		}
	}
	mu.Unlock()
	if distinct != members || len(twice) > 0 {
		// The drops (an evicted flow, say) tell where a second copy came from.
		st := rx.Stats()
		t.Fatalf("%d postings from %d senders (want one from each of %d); more than one from %s; listener drops %v, events %v, received %+v, %d flows",
			got.Load(), distinct, members, strings.Join(twice, ", "), st.Drops, st.Events, st.Received, len(st.Flows))
	}
	st := rx.Stats()
	if len(st.Peers) != members {
		t.Fatalf("the listener lists %d members, want %d; drops %v", len(st.Peers), members, st.Drops)
	}
	listed := map[uint64]bool{}
	for _, p := range st.Peers {
		listed[p.ID] = true
	}
	mu.Lock()
	defer mu.Unlock()
	for id := range senders {
		if !listed[id] {
			t.Fatalf("sender %016x delivered a posting but is not listed among the members", id)
		}
	}
}
