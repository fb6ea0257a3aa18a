package channel

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rwanda-go/rwanda/internal/testnet"
	"github.com/rwanda-go/rwanda/posting"
)

// Path MTU in network namespaces: two hosts on a bridge whose links have
// an MTU of 1280, so a 1472-byte datagram (the Ethernet default) does not
// fit. Reliable postings of 4 KiB, more than one datagram each, must all
// arrive, over multicast and unicast: with no mtu= in the URL the channel
// takes its MTU from the path; with mtu=9000 the first sends fail
// (EMSGSIZE), the failure is logged at Warn and counted, the MTU comes
// down and the data still arrives.

const (
	pmtuN    = 50      // postings per run
	pmtuBody = 4 << 10 // bytes of body each
	pmtuLink = 1280    // the links' MTU
)

func init() {
	switch os.Getenv(childEnv) {
	case "pmtu-receiver":
		os.Exit(pmtuReceiverChild())
	case "pmtu-sender":
		os.Exit(pmtuSenderChild())
	}
}

// pmtuReceiverChild opens RWANDA_URL, says "ready", then "got tx-I from
// SENDER" for each posting whose body is whole, until its stdin is closed
// ("done").
func pmtuReceiverChild() int {
	ch, err := Open(context.Background(), os.Getenv("RWANDA_URL"))
	if err != nil {
		fmt.Println("fail open:", err)
		return 1
	}
	defer ch.Close()
	sub, err := ch.Subscribe(Queue(1024, FailSlow))
	if err != nil {
		fmt.Println("fail subscribe:", err)
		return 1
	}
	ctx, stop := context.WithCancel(context.Background())
	go func() {
		io.Copy(io.Discard, os.Stdin)
		stop()
	}()
	fmt.Println("ready")
	for {
		p, err := sub.Next(ctx)
		if err != nil {
			fmt.Println("done")
			return 0
		}
		b, _ := p.Body.([]byte)
		name, _, _ := strings.Cut(string(b), "|")
		if len(b) != pmtuBody || !strings.HasPrefix(name, "tx-") {
			fmt.Printf("fail: a posting of %d bytes (%.20q)\n", len(b), b)
			return 1
		}
		fmt.Printf("got %s from %016x\n", name, p.Sender)
	}
}

// warnCounter is a slog.Handler that counts the records of Warn level or
// above and writes them to stderr.
type warnCounter struct{ n atomic.Int64 }

func (w *warnCounter) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (w *warnCounter) WithAttrs([]slog.Attr) slog.Handler           { return w }
func (w *warnCounter) WithGroup(string) slog.Handler                { return w }

func (w *warnCounter) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		w.n.Add(1)
		fmt.Fprintf(os.Stderr, "sender warns: %s\n", r.Message)
	}
	return nil
}

// pmtuSenderChild opens RWANDA_URL and pushes pmtuN postings of pmtuBody
// bytes ("tx-I|" and padding), says "sent N", then waits for its stdin
// to close and reports what it counted: "mtu M", "warns W", "errors E",
// "lowered L", then "done".
func pmtuSenderChild() int {
	warns := new(warnCounter)
	ch, err := Open(context.Background(), os.Getenv("RWANDA_URL"), WithBlockingPush(), WithLogger(slog.New(warns)))
	if err != nil {
		fmt.Println("fail open:", err)
		return 1
	}
	var hooked atomic.Int64
	ch.onSendFailure(func(f sendFailure) {
		hooked.Add(1)
		fmt.Fprintf(os.Stderr, "sender's hook: %s to %v: %v (lost %d, MTU %d)\n", f.Kind, f.To, f.Err, f.Lost, f.MTU)
	})
	ctx, cancel := context.WithTimeout(context.Background(), ssmTimeout)
	defer cancel()
	for i := range pmtuN {
		body := make([]byte, pmtuBody)
		copy(body, fmt.Sprintf("tx-%d|", i))
		if err := ch.Push(ctx, posting.New(body)); err != nil {
			fmt.Printf("fail push %d: %v\n", i, err)
			return 1
		}
	}
	fmt.Println("sent", pmtuN)
	io.Copy(io.Discard, os.Stdin)
	st := ch.Stats()
	fmt.Println("mtu", ch.MTU())
	fmt.Println("warns", warns.n.Load())
	fmt.Println("errors", st.Drops["send-error"])
	fmt.Println("lowered", st.Events["path-mtu"])
	fmt.Println("hooked", hooked.Load())
	if err := ch.Close(); err != nil {
		fmt.Println("fail close:", err)
		return 1
	}
	fmt.Println("done")
	return 0
}

// pmtuReport is what a sender said after its run.
type pmtuReport struct{ mtu, warns, errors, lowered, hooked int }

// pmtuRun starts a receiver on rx with rxURL and a sender on tx with
// txURL, waits until the receiver has all pmtuN postings and returns what
// the sender reports.
func pmtuRun(t *testing.T, tx, rx *testnet.Host, txURL, rxURL string) pmtuReport {
	t.Helper()
	r := startSSMChild(t, rx, "receiver", "pmtu-receiver", rxURL)
	r.expect("ready")
	s := startSSMChild(t, tx, "sender", "pmtu-sender", txURL)
	s.expect(fmt.Sprintf("sent %d", pmtuN))
	if line := r.next(func() bool { return r.got["tx"] >= pmtuN }); line != "" {
		t.Fatalf("receiver said %q, want postings", line)
	}
	s.stdin.Close()
	var rep pmtuReport
	for _, f := range []struct {
		name string
		v    *int
	}{{"mtu", &rep.mtu}, {"warns", &rep.warns}, {"errors", &rep.errors}, {"lowered", &rep.lowered}, {"hooked", &rep.hooked}} {
		line := s.next(nil)
		v, ok := strings.CutPrefix(line, f.name+" ")
		n, err := strconv.Atoi(v)
		if !ok || err != nil {
			t.Fatalf("sender said %q, want %q and a number", line, f.name)
		}
		*f.v = n
	}
	s.expect("done")
	s.wait()
	r.stop()
	t.Logf("receiver got %d postings; sender: %+v", r.got["tx"], rep)
	return rep
}

// TestPathMTUNamespaces: over links of MTU 1280, 4 KiB reliable postings
// all arrive without mtu= in the URL (the MTU comes from the path, and no
// send fails), and with mtu=9000 (the first sends fail, which is logged at
// Warn and counted, and the MTU comes down to the path's).
func TestPathMTUNamespaces(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes in network namespaces")
	}
	nw := testnet.NewNet(t)
	br := nw.Bridge("br")
	tx := nw.Host("tx", br, "10.78.0.1/24")
	rx := nw.Host("rx", br, "10.78.0.2/24")
	tx.SetMTU(pmtuLink)
	rx.SetMTU(pmtuLink)
	want := pmtuLink - 28 // IPv4 and UDP headers
	for _, c := range []struct {
		name         string
		txURL, rxURL string
		forced       bool
	}{
		{"multicast", "pmtutest://239.7.7.9:7411", "pmtutest://239.7.7.9:7411", false},
		{"unicast", "pmtutest://10.78.0.2:7412", "pmtutest://:7412", false},
		{"multicast/mtu=9000", "pmtutest://239.7.7.9:7413?mtu=9000", "pmtutest://239.7.7.9:7413", true},
		{"unicast/mtu=9000", "pmtutest://10.78.0.2:7414?mtu=9000", "pmtutest://:7414", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			rep := pmtuRun(t, tx, rx, c.txURL, c.rxURL)
			if rep.mtu != want {
				t.Errorf("sender's MTU is %d, want %d (the path's)", rep.mtu, want)
			}
			if !c.forced {
				if rep.warns != 0 || rep.errors != 0 || rep.lowered != 0 || rep.hooked != 0 {
					t.Errorf("sender %+v: want no warning, send error or lowered MTU on a path whose MTU it knew", rep)
				}
				return
			}
			if rep.warns == 0 || rep.lowered == 0 || rep.hooked == 0 {
				t.Errorf("sender %+v: want the failed sends warned of, counted and handed to the hook", rep)
			}
		})
	}
}
