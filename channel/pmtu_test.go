package channel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/internal/udpio"
	"github.com/rwanda-go/rwanda/layers/frag"
	"github.com/rwanda-go/rwanda/posting"
	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/transport"
)

// TestStartMTU: a UDP socket's MTU is the path's capped at the default,
// the URL's mtu= as it is, or the default where the path is unknown.
func TestStartMTU(t *testing.T) {
	for _, c := range []struct {
		name  string
		local string
		dst   string
		mtu   int
		given bool
		want  int
	}{
		{"loopback capped", "127.0.0.1:0", "127.0.0.1:9", DefaultMTU4, false, DefaultMTU4},
		{"loopback IPv6 capped", "[::1]:0", "[::1]:9", DefaultMTU6, false, DefaultMTU6},
		{"mtu= raises it", "127.0.0.1:0", "127.0.0.1:9", 9000, true, 9000},
		{"mtu= lowers it", "127.0.0.1:0", "127.0.0.1:9", 600, true, 600},
		{"mtu= largest", "127.0.0.1:0", "127.0.0.1:9", maxMTU, true, maxMTU},
		{"listening: the default", "127.0.0.1:0", "", DefaultMTU4, false, DefaultMTU4},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn, err := udpio.ListenUnicast(netip.MustParseAddrPort(c.local))
			if err != nil {
				t.Skipf("no socket: %v", err) // IPv6 may be off
			}
			defer conn.Close()
			var dst netip.AddrPort
			if c.dst != "" {
				dst = netip.MustParseAddrPort(c.dst)
			}
			if got := startMTU(conn, &transport.Endpoint{MTU: c.mtu, MTUGiven: c.given}, dst); got != c.want {
				t.Errorf("startMTU = %d, want %d", got, c.want)
			}
		})
	}
}

// TestChannelMTU: what a channel opened on loopback uses: the default
// (the loopback's MTU is capped) unless mtu= says otherwise.
func TestChannelMTU(t *testing.T) {
	port := freePort(t)
	for _, c := range []struct {
		url   string
		want  int
		given bool
	}{
		{fmt.Sprintf("t://127.0.0.1:%d", port), DefaultMTU4, false},
		{fmt.Sprintf("t://127.0.0.1:%d?mtu=9000", port), 9000, true},
		{fmt.Sprintf("t://127.0.0.1:%d?mtu=1000", port), 1000, true},
		{groupURL("t"), DefaultMTU4, false},
		{groupURL("t") + "&mtu=60000", 60000, true},
		{memURL(t), DefaultMTUMem, false},
		{"t+plugmem://hub/x", DefaultMTUMem, false}, // a +transport's own MTU (mem's), not a UDP path's cap
	} {
		a, err := ParseURL(c.url)
		if err != nil {
			t.Fatal(err)
		}
		if a.MTUGiven != c.given {
			t.Errorf("%s: MTUGiven %v", c.url, a.MTUGiven)
		}
		ch := open(t, c.url)
		if got := ch.MTU(); got != c.want {
			t.Errorf("%s: MTU %d, want %d", c.url, got, c.want)
		}
		ch.Close()
	}
}

func TestPlateauBelow(t *testing.T) {
	for size, want := range map[int]int{65507: 8972, 9000: 8972, 8972: 1472, 1473: 1472, 1472: 1452, 1452: 1252, 1252: 1232, 1232: 548, 548: minMTU, 300: minMTU} {
		if got := plateauBelow(size); got != want {
			t.Errorf("plateauBelow(%d) = %d, want %d", size, got, want)
		}
	}
}

// TestSendFailureWarnings: the first failure of a kind is logged at Warn
// at once, the next ones of the kind only once failWarnEvery has passed,
// with how many were not.
func TestSendFailureWarnings(t *testing.T) {
	var p pathMTU
	t0 := time.Unix(1000, 0)
	steps := []struct {
		kind   string
		at     time.Duration
		ok     bool
		missed int
	}{
		{"path-mtu", 0, true, 0},
		{"path-mtu", time.Second, false, 0},
		{"network is unreachable", time.Second, true, 0},
		{"path-mtu", 2 * time.Second, false, 0},
		{"path-mtu", failWarnEvery + time.Second, true, 2},
		{"path-mtu", failWarnEvery + 2*time.Second, false, 0},
	}
	for i, s := range steps {
		missed, ok := p.warnNow(s.kind, t0.Add(s.at))
		if ok != s.ok || missed != s.missed {
			t.Errorf("step %d (%s at %v): warn %v with %d missed, want %v with %d", i, s.kind, s.at, ok, missed, s.ok, s.missed)
		}
	}
	for err, want := range map[error]string{
		&transport.MTUError{Err: syscall.EMSGSIZE}:        "path-mtu",
		fmt.Errorf("x: %w", ErrClosed):                    "closed",
		fmt.Errorf("x: %w", syscall.ENETUNREACH):          "network is unreachable",
		fmt.Errorf("something else"):                      "send-error",
		&udpio.SizeError{Err: syscall.EMSGSIZE, Size: 10}: "message too long",
	} {
		if got := failureKind(err); got != want {
			t.Errorf("failureKind(%v) = %q, want %q", err, got, want)
		}
	}
}

// pmtuFake is the in-process hub (mem) with a path MTU: a datagram larger
// than path fails as EMSGSIZE does (an MTUError; MTU falls to path), unless
// it is larger than MTU, which the transport then sends "in pieces"
// (here: whole, and counted). It records the size of each datagram sent.
// URL: scheme+pmtufake://hub/NAME?path=BYTES (no path=: no limit).
type pmtuFake struct {
	*memEndpoint
	path int
	mtu  atomic.Int64

	down atomic.Bool // every Send fails with ENETUNREACH

	mu            sync.Mutex
	whole, pieces []int // sizes of the datagrams sent whole, and in pieces
	refused       int
}

func init() {
	transport.MustRegister(transport.Entry{Name: "pmtufake", Forms: []string{"app+pmtufake://hub/NAME?path=BYTES"},
		Open: func(_ context.Context, e *transport.Endpoint) (transport.Opened, error) {
			f := &pmtuFake{memEndpoint: openMem("pmtufake-" + e.URL.Host + e.URL.Path)}
			if v := e.URL.Query().Get("path"); v != "" {
				n, err := strconv.Atoi(v)
				if err != nil {
					return transport.Opened{}, &URLError{URL: e.URL.String(), Param: "path", Reason: err.Error(), Err: ErrBadURL}
				}
				f.path = n
			}
			mtu := e.MTU
			if !e.MTUGiven && f.path > 0 {
				mtu = min(mtu, f.path)
			}
			f.mtu.Store(int64(mtu))
			pmtuFakes.Lock()
			pmtuFakes.m[e.URL.String()] = f
			pmtuFakes.Unlock()
			return transport.Opened{Conn: f}, nil
		}})
}

// pmtuFakes are the fakes opened, by URL, for the tests to look at.
var pmtuFakes = struct {
	sync.Mutex
	m map[string]*pmtuFake
}{m: map[string]*pmtuFake{}}

func (f *pmtuFake) MTU(transport.Addr) int { return int(f.mtu.Load()) }

func (f *pmtuFake) Send(run []byte, seg int, dst transport.Addr) error {
	if f.down.Load() {
		return fmt.Errorf("pmtufake: %w", syscall.ENETUNREACH)
	}
	size := seg
	if size <= 0 || size >= len(run) {
		size = len(run)
	}
	mtu := int(f.mtu.Load())
	f.mu.Lock()
	switch {
	case f.path > 0 && size > mtu:
		transport.SplitRun(run, seg, func(d []byte) { f.pieces = append(f.pieces, len(d)) })
	case f.path > 0 && size > f.path:
		f.refused++
		f.mu.Unlock()
		f.mtu.Store(int64(f.path))
		return &transport.MTUError{Dst: dst, Size: size, MTU: f.path, Err: syscall.EMSGSIZE}
	default:
		transport.SplitRun(run, seg, func(d []byte) { f.whole = append(f.whole, len(d)) })
	}
	f.mu.Unlock()
	return f.memEndpoint.Send(run, seg, dst)
}

// sent returns copies of what f recorded.
func (f *pmtuFake) sent() (whole, pieces []int, refused int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.whole), slices.Clone(f.pieces), f.refused
}

// TestPathMTULowered: a sender whose URL says mtu=9000 over a path that
// carries 1000 bytes: its first datagrams fail (EMSGSIZE), which is
// warned of, counted, an event and handed to the hook; the MTU falls to
// 1000; the failed datagrams go again in pieces at once, so everything
// arrives; and what is pushed afterwards is cut for 1000 bytes, nothing
// sent in pieces any more.
func TestPathMTULowered(t *testing.T) {
	hub := fmt.Sprintf("pt+pmtufake://hub/%s-%d", t.Name(), hubSeq.Add(1))
	txURL := hub + "?mtu=9000&path=1000"
	rx := open(t, hub)
	warns := new(warnCounter)
	var events, hooked atomic.Int64
	tx := open(t, txURL, WithBlockingPush(), WithQoS("frag"), WithLogger(slog.New(warns)),
		WithEvents(func(e Event) {
			if e.Kind == "path-mtu" {
				events.Add(1)
			}
		}))
	var lost atomic.Int64
	tx.onSendFailure(func(f sendFailure) {
		hooked.Add(1)
		lost.Add(int64(f.Lost))
		if f.Kind != "path-mtu" || f.MTU != 1000 {
			t.Errorf("hook: %+v, want a path-mtu failure and MTU 1000", f)
		}
	})
	pmtuFakes.Lock()
	fake := pmtuFakes.m[txURL]
	pmtuFakes.Unlock()
	sub, err := rx.Subscribe(Queue(256, FailSlow))
	must(t, err)
	if tx.MTU() != 9000 {
		t.Fatalf("MTU %d before sending, want the URL's 9000", tx.MTU())
	}
	ctx := context.Background()
	push := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			body := make([]byte, 4<<10)
			copy(body, strconv.Itoa(i))
			must(t, tx.Push(ctx, posting.New(body)))
		}
		for i := from; i < to; i++ {
			if b := next(t, sub).Body.([]byte); len(b) != 4<<10 {
				t.Fatalf("a body of %d bytes", len(b))
			}
		}
	}
	push(0, 20)
	if tx.MTU() != 1000 {
		t.Fatalf("MTU %d after the path refused, want 1000", tx.MTU())
	}
	_, pieces, refused := fake.sent()
	if refused == 0 || len(pieces) == 0 {
		t.Fatalf("%d sends refused, %d datagrams sent in pieces: want some of each", refused, len(pieces))
	}
	st := tx.Stats()
	if st.Events["path-mtu"] != 1 || events.Load() != 1 || warns.n.Load() < 1 || hooked.Load() < 1 || lost.Load() != 0 || st.Drops["send-error"] != 0 {
		t.Fatalf("events %d (WithEvents %d), warnings %d, hook %d (lost %d), send errors %d: want one path-mtu event, a warning, the hook, nothing lost",
			st.Events["path-mtu"], events.Load(), warns.n.Load(), hooked.Load(), lost.Load(), st.Drops["send-error"])
	}
	before := len(pieces)
	push(20, 30)
	whole, pieces, _ := fake.sent()
	if len(pieces) != before {
		t.Errorf("%d more datagrams sent in pieces after the MTU fell", len(pieces)-before)
	}
	for _, n := range whole {
		if n > 1000 {
			t.Fatalf("a datagram of %d bytes sent whole over a path of 1000", n)
		}
	}
	t.Logf("%d refused, %d datagrams in pieces, %d whole; stack %v", refused, len(pieces), len(whole), tx.Stats().Streams[0].Stack.Layers[0].Counters)
}

// TestPathMTUStackLimit: lowering the MTU reaches the frag layers of the
// streams there are and of those made afterwards; it never raises the
// MTU, nor lowers it under the smallest a URL may give.
func TestPathMTUStackLimit(t *testing.T) {
	hub := fmt.Sprintf("pt+pmtufake://hub/%s-%d", t.Name(), hubSeq.Add(1))
	tx := open(t, hub+"?mtu=1472", WithQoS("frag"))
	ctx := context.Background()
	fragOf := func(stream string) *frag.Layer {
		t.Helper()
		must(t, tx.Push(ctx, posting.New("x", posting.WithStream(stream)))) // the layer resizes at its next parcel
		for _, os := range tx.og.current() {
			if os.key.name == stream {
				return os.st.Layers()[0].(*frag.Layer)
			}
		}
		t.Fatalf("no stream %q", stream)
		return nil
	}
	if f := fragOf("old"); f.FragmentSize() != tx.stackMTU(DefaultMTU4)-frag.HeaderLen {
		t.Fatalf("fragment size %d before", f.FragmentSize())
	}
	from, lowered := tx.lowerMTU(900)
	if from != DefaultMTU4 || !lowered || tx.MTU() != 900 {
		t.Fatalf("lowerMTU(900) from %d, lowered %v, MTU %d", from, lowered, tx.MTU())
	}
	want := tx.stackMTU(900) - frag.HeaderLen
	for _, stream := range []string{"old", "new"} {
		if f := fragOf(stream); f.FragmentSize() != want {
			t.Errorf("stream %q: fragment size %d, want %d", stream, f.FragmentSize(), want)
		}
	}
	if _, lowered := tx.lowerMTU(1000); lowered || tx.MTU() != 900 {
		t.Fatalf("lowerMTU(1000) raised the MTU to %d", tx.MTU())
	}
	if _, lowered := tx.lowerMTU(10); !lowered || tx.MTU() != minMTU {
		t.Fatalf("lowerMTU(10): MTU %d, want the floor %d", tx.MTU(), minMTU)
	}
}

// TestSendFailuresSurface: while every send fails (the network is
// unreachable), the first failure is an event ("send-error", then at most
// one per 10 s) and, once they have failed for a second, Push returns a
// *SendError naming the cause; when sends succeed again Push works, and a
// reliable stream delivers what was pushed before.
func TestSendFailuresSurface(t *testing.T) {
	checkGoroutines(t)
	clock := stack.NewManualClock(stack.ManualEpoch)
	hub := fmt.Sprintf("sf+pmtufake://hub/%s-%d", t.Name(), hubSeq.Add(1))
	var mu sync.Mutex
	var events []Event
	tx := open(t, hub, WithClock(clock), WithEvents(func(e Event) {
		if e.Kind == "send-error" {
			mu.Lock()
			events = append(events, e)
			mu.Unlock()
		}
	}))
	pmtuFakes.Lock()
	fake := pmtuFakes.m[hub] // the sender's (the receiver's replaces it in the map)
	pmtuFakes.Unlock()
	rx := open(t, hub, WithClock(clock))
	sub, _ := rx.Subscribe()
	advance(t, clock, 100*time.Millisecond, tx, rx)
	fake.down.Store(true)
	ctx := context.Background()
	must(t, tx.Push(ctx, posting.New("while down")))
	advance(t, clock, 1500*time.Millisecond, tx, rx)
	err := tx.Push(ctx, posting.New("refused"))
	var se *SendError
	if !errors.As(err, &se) || !errors.Is(err, ErrSend) || !errors.Is(err, syscall.ENETUNREACH) || se.Failures < failingMin {
		t.Fatalf("Push while every send fails: %v", err)
	}
	mu.Lock()
	n := len(events)
	mu.Unlock()
	if n != 1 {
		t.Fatalf("%d send-error events, want 1 (the first; then one per 10 s)", n)
	}
	fake.down.Store(false)
	advance(t, clock, 2*time.Second, tx, rx) // hellos and the window's retransmissions go through
	must(t, tx.Push(ctx, posting.New("after")))
	advance(t, clock, 100*time.Millisecond, tx, rx)
	for _, want := range []string{"while down", "after"} {
		if p := next(t, sub); p.Body != want {
			t.Fatalf("got %v, want %q", p.Body, want)
		}
	}
}

// TestSendFailuresPerDestination: sends failing to one destination (a
// member's address on a unicast channel) for a second make pushes to that
// member fail, while sends elsewhere succeed and the channel's other
// pushes go on; a success to it clears it.
func TestSendFailuresPerDestination(t *testing.T) {
	clock := stack.NewManualClock(stack.ManualEpoch)
	c := open(t, memURL(t), WithClock(clock))
	a := transport.IPAddr(netip.MustParseAddrPort("192.0.2.1:7"))
	b := transport.IPAddr(netip.MustParseAddrPort("192.0.2.2:7"))
	for range failingMin {
		c.failed(sendFailure{To: a, Err: syscall.EHOSTUNREACH, Lost: 1})
		c.pmtu.sent(b) // the others get through
	}
	if err := c.pmtu.sendsFailingTo(a, clock.Now()); err != nil {
		t.Fatalf("failing for less than %v: %v", failingFor, err)
	}
	clock.Advance(failingFor)
	c.failed(sendFailure{To: a, Err: syscall.EHOSTUNREACH, Lost: 1})
	c.pmtu.sent(b)
	err := c.pmtu.sendsFailingTo(a, clock.Now())
	var se *SendError
	if !errors.As(err, &se) || !errors.Is(err, syscall.EHOSTUNREACH) || se.Failures != failingMin+1 {
		t.Fatalf("to a: %v", err)
	}
	if err := c.pmtu.sendsFailingTo(b, clock.Now()); err != nil {
		t.Fatalf("to b: %v", err)
	}
	if err := c.pmtu.sendsFailing(clock.Now()); err != nil {
		t.Fatalf("the channel's sends succeed elsewhere, yet: %v", err)
	}
	c.pmtu.sent(a)
	if err := c.pmtu.sendsFailingTo(a, clock.Now()); err != nil {
		t.Fatalf("after a success to a: %v", err)
	}
}
