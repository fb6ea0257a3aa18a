package channel

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/internal/testnet"
	"github.com/rwanda-go/rwanda/posting"
)

// freePort returns a UDP port on 127.0.0.1 that was free a moment ago.
// freePort and freePortTB return a free UDP port on 127.0.0.1.
var freePort, freePortTB = testnet.FreePort, testnet.FreePort

// groupURL returns a random administratively scoped group on lo.
func groupURL(scheme string) string {
	return fmt.Sprintf("%s://239.255.%d.%d:%d?iface=lo", scheme, rand.IntN(256), 1+rand.IntN(254), 20000+rand.IntN(30000))
}

func TestUnicastPushAndReply(t *testing.T) {
	checkGoroutines(t)
	port := freePort(t)
	srv := open(t, fmt.Sprintf("test://:%d", port))
	cli := open(t, fmt.Sprintf("test://127.0.0.1:%d", port))
	fromCli, _ := srv.Subscribe()
	fromSrv, _ := cli.Subscribe()
	ctx := context.Background()
	must(t, cli.Push(ctx, posting.New("to server")))
	if p := next(t, fromCli); p.Body.(string) != "to server" || p.Sender != cli.ID() {
		t.Fatalf("server got %v", p)
	}
	// The server learned the client from its datagrams and can push back.
	must(t, srv.Push(ctx, posting.New(make([]byte, 200000))))
	if p := next(t, fromSrv); len(p.Body.([]byte)) != 200000 {
		t.Fatalf("client got %v", p)
	}
	must(t, srv.Serve(func(ctx context.Context, req *posting.Posting) (*posting.Posting, error) {
		return posting.New("pong:" + req.Body.(string)), nil
	}))
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rep, err := cli.Pull(pctx, posting.New("ping"))
	if err != nil || rep.Body.(string) != "pong:ping" {
		t.Fatalf("pull: %v %v", rep, err)
	}
	if st := srv.Stats(); st.Received.Datagrams == 0 || len(st.Peers) != 1 || st.Peers[0].ID != cli.ID() {
		t.Fatalf("server stats %+v", st)
	}
}

func TestUnicastSymmetricPeers(t *testing.T) {
	pa, pb := freePort(t), freePort(t)
	a := open(t, fmt.Sprintf("test://127.0.0.1:%d?listen=127.0.0.1:%d", pb, pa))
	b := open(t, fmt.Sprintf("test://127.0.0.1:%d?listen=127.0.0.1:%d", pa, pb))
	sb, _ := b.Subscribe()
	must(t, a.Push(context.Background(), posting.New(42)))
	if p := next(t, sb); p.Body.(int) != 42 {
		t.Fatal(p)
	}
	if a.LocalAddr().Port() != uint16(pa) {
		t.Fatalf("local addr %v", a.LocalAddr())
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		url  string
		opts []Option
		want string
	}{
		{"test://239.1.2.3:5000?iface=nosuchif0", nil, `no interface "nosuchif0"`},
		{"test://239.1.2.3:5000?iface=lo&qos=windw", nil, `unknown layer "windw"`},
		{"test://239.1.2.3:5000?iface=lo&qos=frag", []Option{WithQoS("frag(mtu=1200)")}, "conflicts with WithQoS"},
		{"mem://x", []Option{WithQoS("frag(mtu=9)")}, ""}, // checked when a stream is built
		{"mem://x", []Option{WithKey([]byte("short"))}, "too short"},
		{"mem://x", []Option{WithSendQueue(10)}, "too small"},
		{"test://no.such.host.invalid:5000", nil, "cannot resolve"},
		{"test://127.0.0.1:5000", []Option{WithKey(testKey)}, "must name its channel id"},
		{"test://:5000", []Option{WithKey(testKey)}, "must name its channel id"},
	} {
		ch, err := Open(ctx, c.url, c.opts...)
		if c.want == "" {
			if err != nil {
				t.Errorf("%s: %v", c.url, err)
				continue
			}
			err = ch.Push(ctx, posting.New("x"))
			ch.Close()
			if err == nil || !strings.Contains(err.Error(), "mtu") {
				t.Errorf("%s: push with a bad stack: %v", c.url, err)
			}
			continue
		}
		if err == nil {
			ch.Close()
			t.Errorf("%s: opened", c.url)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.url, err, c.want)
		}
	}
}

// The multicast test: three receiver processes each get every posting.

const childEnv = "RWANDA_CHANNEL_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "receiver" {
		os.Exit(receiverChild())
	}
	os.Exit(m.Run())
}

// receiverChild joins the group, says "ready", and checks that it receives
// postings 0..n-1 in order, then says "ok".
func receiverChild() int {
	url, n := os.Getenv("RWANDA_URL"), 0
	n, _ = strconv.Atoi(os.Getenv("RWANDA_N"))
	ch, err := Open(context.Background(), url)
	if err != nil {
		fmt.Println("fail open:", err)
		return 1
	}
	defer ch.Close()
	sub, err := ch.Subscribe(Queue(n+16, FailSlow))
	if err != nil {
		fmt.Println("fail subscribe:", err)
		return 1
	}
	fmt.Println("ready")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := range n {
		p, err := sub.Next(ctx)
		if err != nil {
			fmt.Printf("fail after %d: %v\n", i, err)
			return 1
		}
		if p.Body.(int) != i || p.Seq != uint64(i+1) {
			fmt.Printf("fail: posting %d is %v (seq %d)\n", i, p.Body, p.Seq)
			return 1
		}
	}
	fmt.Println("ok", n)
	return 0
}

func TestMulticastThreeProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	url := groupURL("mtest")
	const n = 2000
	type child struct {
		cmd  *exec.Cmd
		out  *bufio.Scanner
		done chan string
	}
	var kids []*child
	for range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"=receiver", "RWANDA_URL="+url, "RWANDA_N="+strconv.Itoa(n))
		stdout, _ := cmd.StdoutPipe()
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		k := &child{cmd: cmd, out: bufio.NewScanner(stdout), done: make(chan string, 2)}
		kids = append(kids, k)
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		go func() {
			for k.out.Scan() {
				k.done <- k.out.Text()
			}
			close(k.done)
		}()
	}
	for i, k := range kids {
		select {
		case line := <-k.done:
			if line != "ready" {
				t.Fatalf("child %d: %q", i, line)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("child %d not ready", i)
		}
	}
	sender := open(t, url, WithBlockingPush())
	ctx := context.Background()
	for i := range n {
		must(t, sender.Push(ctx, posting.New(i)))
	}
	for i, k := range kids {
		select {
		case line := <-k.done:
			if line != fmt.Sprintf("ok %d", n) {
				t.Fatalf("child %d: %q", i, line)
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("child %d did not finish", i)
		}
		if err := k.cmd.Wait(); err != nil {
			t.Fatalf("child %d: %v", i, err)
		}
	}
	st := sender.Stats()
	t.Logf("sent %d postings in %d datagrams (%d bytes)", n, st.Sent.Datagrams, st.Sent.Bytes)
}

func TestMulticastInProcess(t *testing.T) {
	checkGoroutines(t)
	url := groupURL("mtest")
	a, b := open(t, url), open(t, url)
	sa, _ := a.Subscribe()
	sb, _ := b.Subscribe()
	must(t, a.Push(context.Background(), posting.New("from a")))
	if p := next(t, sb); p.Body.(string) != "from a" {
		t.Fatal(p)
	}
	expectNone(t, sa) // our own datagrams come back on loopback and are ignored
	must(t, b.Serve(func(ctx context.Context, req *posting.Posting) (*posting.Posting, error) {
		return posting.New(req.Body.(int) * 2), nil
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rep, err := a.Pull(ctx, posting.New(21))
	if err != nil || rep.Body.(int) != 42 {
		t.Fatalf("pull over multicast: %v %v", rep, err)
	}
	if errors.Is(err, ErrNoServer) {
		t.Fatal()
	}
}
