package gateway

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/filter"
	"github.com/rwanda-go/rwanda/internal/gwire"
	"github.com/rwanda-go/rwanda/internal/testnet"
	"github.com/rwanda-go/rwanda/posting"
)

// TestDirectory: gateways sharing a Directory list each other; a
// DIRQUERY to either returns every entry (paged when they do not fit in
// one datagram), and a closed gateway is no longer listed.
func TestDirectory(t *testing.T) {
	testnet.CheckGoroutines(t)
	var dir Directory
	u1, u2 := groupURL("dir-one"), groupURL("dir-two")
	g1, err := New(Config{URL: u1, Listen: "127.0.0.1:0", Directory: &dir})
	if err != nil {
		t.Fatal(err)
	}
	defer g1.Close()
	g2, err := New(Config{URL: u2, Listen: "127.0.0.1:0", Directory: &dir, Advertise: "gw.example.net:7501"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	want := []DirEntry{{u1, g1.Addr().String()}, {u2, "gw.example.net:7501"}}
	for _, g := range []*Gateway{g1, g2} {
		got, err := QueryDirectory(ctx, g.Addr().String())
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("directory of %v: %v %v, want %v", g.Addr(), got, err, want)
		}
	}
	// Many long entries: several pages, every entry once, in order.
	for i := range 40 {
		e := DirEntry{URL: fmt.Sprintf("gwtest://239.1.1.%d:7400?channel=%s", i, strings.Repeat("n", 60+i)), Addr: fmt.Sprintf("10.0.0.%d:7500", i)}
		dir.Add(e)
		want = append(want, e)
	}
	dir.Add(DirEntry{URL: strings.Repeat("x", 2000)}) // too long to list
	got, err := QueryDirectory(ctx, g1.Addr().String())
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("paged directory: %d entries, %v; want %d", len(got), err, len(want))
	}
	g2.Close()
	got, err = QueryDirectory(ctx, g1.Addr().String())
	if err != nil || len(got) != len(want)-1 || got[0] != want[0] || slices.Contains(got, want[1]) {
		t.Fatalf("after a gateway closed: %d entries, %v", len(got), err)
	}
	if st := g1.Stats(); st.Control < 3 {
		t.Fatalf("answers counted: %+v", st)
	}
	// Nobody there: QueryDirectory ends with its context.
	short, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	if _, err := QueryDirectory(short, fmt.Sprintf("127.0.0.1:%d", testnet.FreePort(t))); err == nil {
		t.Fatal("a directory from nobody")
	}
}

// TestTimingGatewayCapable: a member that can receive the group (on
// loopback, every member can) is told so by the CAPTEST the gateway sends
// there, joins the group directly, and talks to it: its postings reach a
// member of the group, and the gateway serves no client (it only
// answered the probes).
func TestTimingGatewayCapable(t *testing.T) {
	testnet.CheckGoroutines(t)
	url := groupURL("capable")
	g := startGateway(t, url)
	m := open(t, url, channel.WithAnnounceInterval(200*time.Millisecond))
	mc := newCounter(m, t)
	// The probe's window only bounds the wait: Open returns once the
	// capability test passes.
	c := open(t, url+"&gateway="+g.Addr().String(), channel.WithAnnounceInterval(200*time.Millisecond), channel.WithGatewayProbe(5*time.Second))
	info, ok := c.Gateway()
	if !ok || !info.Direct || info.Current.IsValid() || len(info.Gateways) != 1 || info.Gateways[0] != g.Addr() {
		t.Fatalf("Gateway() = %+v, %v; want direct", info, ok)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 5 {
		if err := c.Push(ctx, posting.New(i, posting.WithStream("s"))); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "the group member gets the direct member's postings", func() bool { return mc.n("s") == 5 })
	st := g.Stats()
	if st.Clients != 0 || st.CapTests == 0 || st.Probes == 0 || st.FromClients != st.Probes {
		t.Fatalf("the gateway served the direct member: %+v", st)
	}
}

// TestTimingGatewayNearest: of two gateways behind user-space delaying
// relays (testnet.Delay: 100 ms and 2 ms each way), a member that does not
// join the group picks the nearer although the URL lists it second,
// keeps the other as its standby, and receives the group through the
// nearer. On one host every member receives the group, so the member
// skips the capability test (WithoutDirectJoin); the namespace test has
// a host without multicast.
func TestTimingGatewayNearest(t *testing.T) {
	testnet.CheckGoroutines(t)
	url := groupURL("nearest")
	far := startGateway(t, url)
	near := startGateway(t, url)
	dFar, err := testnet.NewDelay("127.0.0.1:0", far.Addr(), 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer dFar.Close()
	dNear, err := testnet.NewDelay("127.0.0.1:0", near.Addr(), 2*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer dNear.Close()
	opts := []channel.Option{channel.WithAnnounceInterval(200 * time.Millisecond)}
	m := open(t, url, opts...)
	c := open(t, fmt.Sprintf("%s&gateway=%v,%v", url, dFar.Addr(), dNear.Addr()), append(opts, channel.WithGatewayProbe(2*time.Second), channel.WithoutDirectJoin())...)
	info, ok := c.Gateway()
	t.Logf("gateways %v, round trips %v", info.Gateways, info.RTTs)
	if !ok || info.Direct || info.Current != dNear.Addr() || !slices.Equal(info.Gateways, []netip.AddrPort{dNear.Addr(), dFar.Addr()}) {
		t.Fatalf("Gateway() = %+v; want %v first", info, dNear.Addr())
	}
	// The far path's round trip is at least its 200 ms of delay.
	if info.RTTs[1] < 200*time.Millisecond || info.RTTs[0] >= info.RTTs[1] {
		t.Fatalf("round trips %v", info.RTTs)
	}
	cc := newCounter(c, t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	waitFor(t, 10*time.Second, "the near gateway validates the client", func() bool {
		cl := near.Clients()
		return len(cl) == 1 && cl[0].Validated
	})
	for i := range 5 {
		if err := m.Push(ctx, posting.New(i, posting.WithStream("s"))); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "the client gets the group's postings", func() bool { return cc.n("s") == 5 })
	if n := len(far.Clients()); n != 0 {
		t.Fatalf("the far gateway serves %d clients", n)
	}
	if n := len(near.Clients()); n != 1 {
		t.Fatalf("the near gateway serves %d clients", n)
	}
}

// failoverReceiver records what a client gets: each reliable note's
// count, and the arrival time of each audio posting.
type failoverReceiver struct {
	mu    sync.Mutex
	notes map[int]int
	audio []time.Time
	moves []time.Time
}

func newFailoverReceiver() *failoverReceiver {
	return &failoverReceiver{notes: map[int]int{}}
}

func (r *failoverReceiver) event(e channel.Event) {
	if e.Kind == "gateway-move" {
		r.mu.Lock()
		r.moves = append(r.moves, e.At)
		r.mu.Unlock()
	}
}

func (r *failoverReceiver) subscribe(ch *channel.Channel) error {
	_, err := ch.SubscribeFunc(func(p *posting.Posting) {
		v, ok := p.Body.(int)
		if !ok {
			return
		}
		now := time.Now()
		r.mu.Lock()
		defer r.mu.Unlock()
		switch p.Stream {
		case "notes":
			r.notes[v]++
		case "audio":
			r.audio = append(r.audio, now)
		}
	})
	return err
}

// check reports what is wrong with what r got of n notes: missing or
// duplicated notes, and audio that did not resume within resume of the
// move; it also returns the move's time and audio's first arrival after it.
func (r *failoverReceiver) check(n int, resume time.Duration) (moveAt, audioAt time.Time, problems []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var missing, dup int
	for i := range n {
		switch c := r.notes[i]; {
		case c == 0:
			missing++
		case c > 1:
			dup++
		}
	}
	if missing > 0 || dup > 0 {
		problems = append(problems, fmt.Sprintf("notes: %d of %d missing, %d duplicated", missing, n, dup))
	}
	if len(r.moves) != 1 {
		problems = append(problems, fmt.Sprintf("%d moves", len(r.moves)))
		return
	}
	moveAt = r.moves[0]
	for _, a := range r.audio {
		if a.After(moveAt) {
			audioAt = a
			break
		}
	}
	if audioAt.IsZero() || audioAt.Sub(moveAt) > resume {
		problems = append(problems, fmt.Sprintf("audio resumed %v after the move (at most %v)", audioAt.Sub(moveAt), resume))
	}
	return
}

// failoverOptions are the options of the failover tests' members: audio
// best effort, notes reliable, and an announce interval of 500 ms.
// Members forget one another after five silent intervals: the client's
// outage (the timeout, then its way in through the standby) must stay
// under that, or the sender forgets it and releases what it missed.
func failoverOptions() []channel.Option {
	return []channel.Option{
		channel.WithAnnounceInterval(500 * time.Millisecond),
		channel.WithMediaProfile(posting.Audio, filter.Profile{QoS: "frag/order/window(mode=besteffort)", TTL: 100 * time.Millisecond}),
		channel.WithMediaProfile(posting.Data, filter.Profile{QoS: "frag/order/window"}),
		channel.WithBlockingPush(),
	}
}

// pushFailover sends notes (reliable) and audio, 50 a second each, for d,
// calling at once at half time; it returns the notes sent.
func pushFailover(ctx context.Context, ch *channel.Channel, d time.Duration, at func()) (int, error) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	n := 0
	for ; time.Since(start) < d; n++ {
		if at != nil && time.Since(start) >= d/2 {
			at()
			at = nil
		}
		if err := ch.Push(ctx, posting.New(n, posting.WithStream("notes"), posting.WithMedia(posting.Data))); err != nil {
			return n, err
		}
		if err := ch.Push(ctx, posting.New(n, posting.WithStream("audio"), posting.WithMedia(posting.Audio))); err != nil {
			return n, err
		}
		select {
		case <-ctx.Done():
			return n, ctx.Err()
		case <-tick.C:
		}
	}
	return n, nil
}

// TestTimingGatewayFailover: a client served by one of two gateways (on
// loopback, so WithoutDirectJoin) moves to the other when the one serving
// it closes, within its configured timeout (600 ms) plus the watch's
// period (a tenth of it) plus the scheduling delay measured meanwhile;
// the audio resumes within 1 s of the move (plus that delay), and every
// reliable note arrives once: none lost, none twice. Keyed too: the
// gateways hold no key, and the move changes nothing end to end.
func TestTimingGatewayFailover(t *testing.T) {
	for _, keyed := range []bool{false, true} {
		t.Run(fmt.Sprintf("keyed=%v", keyed), func(t *testing.T) { testFailover(t, keyed) })
	}
}

func testFailover(t *testing.T, keyed bool) {
	testnet.CheckGoroutines(t)
	url := groupURL("failover")
	const timeout = 600 * time.Millisecond
	// Heartbeats three to a timeout, as the defaults have them (500 ms
	// and 1.5 s).
	var gws []*Gateway
	for range 2 {
		g, err := New(Config{URL: url, Listen: "127.0.0.1:0", Heartbeat: timeout / 3})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { g.Close() })
		gws = append(gws, g)
	}
	gA, gB := gws[0], gws[1]
	opts := failoverOptions()
	if keyed {
		opts = append(opts, channel.WithKey(testKey))
	}
	m := open(t, url, opts...)
	r := newFailoverReceiver()
	c := open(t, fmt.Sprintf("%s&gateway=%v,%v", url, gA.Addr(), gB.Addr()),
		append(opts, channel.WithoutDirectJoin(), channel.WithGatewayTimeout(timeout), channel.WithEvents(r.event))...)
	if err := r.subscribe(c); err != nil {
		t.Fatal(err)
	}
	info, _ := c.Gateway()
	active, standby := gA, gB
	if info.Current == gB.Addr() {
		active, standby = gB, gA
	}
	waitFor(t, 10*time.Second, "the sender knows the client", func() bool { return knows(m, c) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	probe := testnet.StartSchedProbe()
	var killAt time.Time
	n, err := pushFailover(ctx, m, 3*time.Second, func() {
		killAt = time.Now()
		active.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
	// Every note arrives, repaired end to end through the standby.
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		got := len(r.notes)
		r.mu.Unlock()
		if got >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond) // polling the subscriber
	}
	sched := probe.Stop()
	moveAt, audioAt, problems := r.check(n, time.Second+sched)
	info, _ = c.Gateway()
	t.Logf("%d notes; gateway closed at 0, moved at %v, audio again at %v; scheduling delay %v; %+v", n, moveAt.Sub(killAt), audioAt.Sub(killAt), sched, info)
	for _, p := range problems {
		t.Error(p)
	}
	if bound := timeout + sched; !moveAt.IsZero() && (moveAt.Before(killAt) || moveAt.Sub(killAt) > bound) {
		t.Errorf("moved %v after the gateway closed; want within %v", moveAt.Sub(killAt), bound)
	}
	if info.Current != standby.Addr() || info.Moves != 1 {
		t.Errorf("now through %v after %d moves; want %v", info.Current, info.Moves, standby.Addr())
	}
}

// TestProbeAnswers: a PROBE gets a PROBED naming the group, no larger
// than the PROBE, whether or not its address is validated; capability
// tests beyond Config.CapTests a second are refused and counted, the
// probes still answered; HEARTBEATs go to validated clients only.
func TestProbeAnswers(t *testing.T) {
	testnet.CheckGoroutines(t)
	url := groupURL("probe")
	g, err := New(Config{URL: url, Listen: "127.0.0.1:0", CapTests: 5, Heartbeat: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	raw, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	start := time.Now()
	const probes = 50
	for i := range probes {
		if _, err := raw.WriteToUDPAddrPort(gwire.AppendProbe(nil, uint64(i+1), gwire.ProbeCapability), g.Addr()); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 2048)
	answered := map[uint64]bool{}
	for len(answered) < probes {
		raw.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := raw.Read(buf)
		if err != nil {
			t.Fatalf("%d of %d probes answered: %v", len(answered), probes, err)
		}
		c, err := gwire.Parse(buf[:n])
		if err != nil || c.Type != gwire.Probed || n > gwire.ProbeLen || c.Group.String() != strings.TrimPrefix(strings.Split(url, "?")[0], "gwtest://") {
			t.Fatalf("answer %+v (%d bytes) %v", c, n, err)
		}
		answered[c.Cookie] = true
	}
	el := time.Since(start)
	st := g.Stats()
	if limit := 5 + uint64(5*el.Seconds()) + 1; st.CapTests < 1 || st.CapTests > limit || st.Drops["captest-limit"] != probes-st.CapTests || st.Probes != probes {
		t.Fatalf("in %v: %+v (at most %d capability tests)", el, st, limit)
	}
	// A client that validates gets heartbeats; the raw address, never
	// validated, none.
	open(t, fmt.Sprintf("gwtest://%v?channel=probe", g.Addr()))
	waitFor(t, 10*time.Second, "heartbeats to the client", func() bool { return g.Stats().Heartbeats >= 3 })
	raw.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := raw.Read(buf); err == nil {
		t.Fatalf("the unvalidated address got %x", buf[:n])
	}
}
