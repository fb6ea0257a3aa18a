package channel

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/keys"
	"github.com/rwanda-go/rwanda/posting"
	"github.com/rwanda-go/rwanda/transport"
)

// tally subscribes to c and returns a function that reports how many
// times each body has arrived so far.
func tally(t *testing.T, c *Channel) func() map[string]int {
	t.Helper()
	var mu sync.Mutex
	seen := make(map[string]int)
	if _, err := c.SubscribeFunc(func(p *posting.Posting) {
		mu.Lock()
		seen[fmt.Sprint(p.Body)]++
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	return func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		out := make(map[string]int, len(seen))
		for k, v := range seen {
			out[k] = v
		}
		return out
	}
}

// waitFor polls cond until it holds or 20 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond) // polling other goroutines
	}
}

// TestFreshRestartedReceiverRefusesRecording: a keyed receiver restarts on
// the same port. An outsider who recorded everything the sender sent (a
// best-effort stream the receiver got) plays it to the new receiver,
// before and after the sender has echoed the new receiver's nonce:
// nothing of it is delivered. What the sender still
// holds unacknowledged (postings pushed while no receiver was up) it
// retransmits after the echo, under fresh counters, and those are
// delivered, once each (DECISIONS §3).
func TestFreshRestartedReceiverRefusesRecording(t *testing.T) {
	checkGoroutines(t)
	port := freePort(t)
	url := "ktest://:" + strconv.Itoa(port) + "?channel=fresh"
	rx1 := open(t, url, WithKey(testKey))
	got1 := tally(t, rx1)
	px := newProxy(t, port)
	// "raw" is best effort (encrypt only): the sender never sends its
	// postings again, so any of them delivered twice came from the tape.
	tx := open(t, "ktest://127.0.0.1:"+strconv.Itoa(px.port())+"?channel=fresh", WithKey(testKey), WithStreamQoS("raw", "encrypt"))
	waitPeer(t, rx1, tx.ID())
	px.recording(true)
	ctx := context.Background()
	for i := range 5 {
		must(t, tx.Push(ctx, posting.New(fmt.Sprintf("old-%d", i), posting.WithStream("raw"))))
	}
	waitFor(t, "the first receiver to get old-0..4", func() bool { return len(got1()) == 5 })
	must(t, rx1.Close())
	waitFor(t, "the sender to see the first receiver leave", func() bool { return len(tx.Stats().Peers) == 0 })
	// Pushed while nobody listens: the sender's window keeps them.
	for i := range 3 {
		must(t, tx.Push(ctx, posting.New(fmt.Sprintf("backlog-%d", i))))
	}
	tape := px.recorded()

	rx2 := open(t, url, WithKey(testKey))
	got2 := tally(t, rx2)
	// The outsider plays the recording at once (before any echo) ...
	for _, d := range tape {
		px.inject(d)
	}
	waitFor(t, "the backlog at the restarted receiver", func() bool {
		g := got2()
		return g["backlog-0"] > 0 && g["backlog-1"] > 0 && g["backlog-2"] > 0
	})
	// ... and again once the sender is fresh to the new receiver.
	waitPeer(t, rx2, tx.ID())
	refused := func() uint64 { d := rx2.Stats().Drops; return d["unfresh"] + d["replayed"] }
	before := refused()
	for _, d := range tape {
		px.inject(d)
	}
	waitFor(t, "the second playing refused", func() bool { return refused() >= before+uint64(len(tape)) })
	// A posting pushed now is delivered behind everything played: when it
	// arrives, the played datagrams have all been handled.
	must(t, tx.Push(ctx, posting.New("after")))
	waitFor(t, "a posting after the playing", func() bool { return got2()["after"] == 1 })
	want := map[string]int{"backlog-0": 1, "backlog-1": 1, "backlog-2": 1, "after": 1}
	if g := got2(); fmt.Sprint(g) != fmt.Sprint(want) {
		t.Fatalf("restarted receiver delivered %v, want %v (played %d recorded datagrams twice; drops %v)", g, want, len(tape), rx2.Stats().Drops)
	}
	t.Logf("%d recorded datagrams played twice; drops %v", len(tape), rx2.Stats().Drops)
}

// TestSpoofedByeNoRedelivery: on an unkeyed signed channel an outsider who
// recorded a member's datagrams says goodbye in its name, from its own
// address (after a hello from there, to try to move the member's address
// first), then plays the recording: the receiver still knows the member,
// and delivers nothing twice.
func TestSpoofedByeNoRedelivery(t *testing.T) {
	checkGoroutines(t)
	id, err := keys.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	trust, err := keys.NewTrust(id.Public())
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	rx := open(t, "stest://:"+strconv.Itoa(port), WithTrusted(trust), WithQoS("reliable/sign"))
	got := tally(t, rx)
	px := newProxy(t, port)
	tx := open(t, "stest://127.0.0.1:"+strconv.Itoa(px.port()), WithIdentity(id), WithQoS("reliable/sign"))
	px.recording(true)
	ctx := context.Background()
	const n = 20
	for i := range n {
		must(t, tx.Push(ctx, posting.New(fmt.Sprintf("p-%d", i))))
	}
	waitFor(t, "the postings", func() bool { return len(got()) == n })
	tape := px.recorded()

	spoofer, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer spoofer.Close()
	to := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
	send := func(d []byte) {
		if _, err := spoofer.WriteToUDP(d, to); err != nil {
			t.Fatal(err)
		}
	}
	send(appendHello(appendDgramHeader(nil, tx.ID()), 0, time.Now()))
	send(appendHello(appendDgramHeader(nil, tx.ID()), helloBye, time.Now()))
	for _, d := range tape {
		send(d)
	}
	// On loopback what the spoofer sent is in the receiver's socket
	// before this: when it arrives, all that was handled.
	must(t, tx.Push(ctx, posting.New("after")))
	waitFor(t, "a posting after the playing", func() bool { return got()["after"] == 1 })
	for body, k := range got() {
		if k != 1 {
			t.Errorf("%q delivered %d times", body, k)
		}
	}
	if len(got()) != n+1 {
		t.Errorf("delivered %d distinct postings, want %d", len(got()), n+1)
	}
	if rx.Stats().Drops["bye-elsewhere"] != 1 {
		t.Errorf("spoofed goodbye not refused: drops %v", rx.Stats().Drops)
	}
	t.Logf("played %d datagrams after the spoofed goodbye; drops %v", len(tape), rx.Stats().Drops)
}

// TestKeyedGroupsSharingKeyRefused: two multicast channels with default
// URLs (two groups) share a key. Everything one group carries, captured
// by an outsider's socket and played into the other, is refused there.
func TestKeyedGroupsSharingKeyRefused(t *testing.T) {
	checkGoroutines(t)
	urlA, urlB := groupURL("ktest"), groupURL("ktest")
	for urlB[:len(urlB)-len("?iface=lo")] == urlA[:len(urlA)-len("?iface=lo")] {
		urlB = groupURL("ktest")
	}
	rxB := open(t, urlB, WithKey(testKey))
	gotB := tally(t, rxB)
	txA := open(t, urlA, WithKey(testKey))
	rxA := open(t, urlA, WithKey(testKey))
	gotA := tally(t, rxA)

	// The outsider: plain sockets on both groups.
	capture := joinGroup(t, urlA)
	inject := joinGroup(t, urlB)
	var mu sync.Mutex
	var tape [][]byte
	go capture.Serve(func(d []byte, _ transport.Addr) {
		mu.Lock()
		tape = append(tape, append([]byte(nil), d...))
		mu.Unlock()
	}, func() {})
	go inject.Serve(func([]byte, transport.Addr) {}, func() {})

	waitPeer(t, rxA, txA.ID())
	for i := range 20 {
		must(t, txA.Push(context.Background(), posting.New(i)))
	}
	waitFor(t, "the postings on group A", func() bool { return len(gotA()) == 20 })
	mu.Lock()
	played := append([][]byte(nil), tape...)
	mu.Unlock()
	before := rxB.Stats().Drops["unauthenticated"]
	for _, d := range played {
		if err := inject.Send(d, 0, transport.Addr{}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "group A's datagrams refused on group B", func() bool {
		return rxB.Stats().Drops["unauthenticated"] >= before+uint64(len(played))
	})
	if g := gotB(); len(g) != 0 {
		t.Fatalf("group B delivered %v", g)
	}
	if p := rxB.Stats().Peers; len(p) != 0 {
		t.Fatalf("group B lists members of group A: %v", p)
	}
}

// joinGroup opens the multicast transport on url's group, as any program
// on the host could, and closes it when the test ends.
func joinGroup(t *testing.T, url string) transport.Conn {
	t.Helper()
	addr, err := ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	entry, err := transport.Lookup("multicast")
	if err != nil {
		t.Fatal(err)
	}
	opened, err := entry.Open(context.Background(), addr.endpoint())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { opened.Conn.Close() })
	return opened.Conn
}

// TestFreshOpen walks a receiver's freshness with an injected clock: an
// authentic datagram before the echo is "unfresh" (its body given for its
// NONCE frames, an ask at most every freshRetry); the datagram with the
// echo and later ones are accepted; earlier counters stay refused; a
// counter jump beyond counterJump is refused, one within it accepted.
func TestFreshOpen(t *testing.T) {
	ring := authRing(t)
	rx := newDgramAuth(ring, authTestIdentity, 1, 64)
	tx := newDgramAuth(ring, authTestIdentity, 2, 64)
	now := time.Unix(1000, 0)
	from := addrN(1)
	seal := func(seen bool) []byte {
		d := appendHello(appendKeyedHeader(nil, 2), 0, now)
		if seen {
			d = appendSeen(d, 1, rx.nonce)
		}
		return tx.seal(d, 0)
	}
	early := seal(false)
	open := func(d []byte) (bool, string, bool) {
		body, why, ask := rx.open(d, 2, from, now)
		return body != nil, why, ask
	}
	if body, why, ask := open(seal(false)); !body || why != "unfresh" || !ask {
		t.Fatalf("before the echo: body %v, %q, ask %v", body, why, ask)
	}
	now = now.Add(freshRetry / 2)
	if body, why, ask := open(seal(false)); !body || why != "unfresh" || ask {
		t.Fatalf("again within freshRetry: body %v, %q, ask %v", body, why, ask)
	}
	now = now.Add(freshRetry)
	if _, why, ask := open(seal(false)); why != "unfresh" || !ask {
		t.Fatalf("after freshRetry: %q, ask %v", why, ask)
	}
	if _, why, _ := open(seal(true)); why != "" {
		t.Fatalf("the echo: %q", why)
	}
	if _, why, _ := open(seal(false)); why != "" {
		t.Fatalf("after the echo: %q", why)
	}
	if body, why, _ := open(early); body || why != "unfresh" {
		t.Fatalf("sealed before the echo, played after: body %v, %q", body, why)
	}
	// A jump: tx's counter leaps ahead, as an insider's forgery could.
	tx.counter += counterJump(0) + 1
	if _, why, _ := open(seal(false)); why != "counter-jump" {
		t.Fatalf("a jump of %d at once: %q", counterJump(0)+1, why)
	}
	now = now.Add(time.Second)
	if _, why, _ := open(seal(false)); why != "" {
		t.Fatalf("the same jump after a second's silence: %q", why)
	}
	if counterJump(-time.Hour) != counterJump(0) || counterJump(1<<62) != counterJump(1<<40) {
		t.Fatal("counterJump does not clamp")
	}
}

// TestFreshNonceEcho: a member echoes a nonce new to it at once, the same
// nonce again only when asked and at most every freshRetry.
func TestFreshNonceEcho(t *testing.T) {
	m := newMembers(8, transport.Addr{}, true, true, newCounters(nil, nil), func(uint64) {})
	now := time.Unix(1000, 0)
	if m.nonce(5, 77, true, now) {
		t.Fatal("echo to an unknown member")
	}
	m.touch(5, addrN(1), now, false)
	for i, c := range []struct {
		nonce uint64
		ask   bool
		after time.Duration
		echo  bool
	}{
		{77, false, 0, true},              // new
		{77, false, time.Second, false},   // known, not asked
		{77, true, freshRetry / 2, true},  // asked, long after the first echo
		{77, true, freshRetry / 2, false}, // asked again too soon
		{77, true, freshRetry, true},
		{78, false, 0, true}, // a new nonce: the member restarted its channel
	} {
		now = now.Add(c.after)
		if got := m.nonce(5, c.nonce, c.ask, now); got != c.echo {
			t.Fatalf("step %d: echo %v, want %v", i, got, c.echo)
		}
	}
	if len(m.list()) != 0 {
		t.Fatal("a pending member is listed")
	}
	m.touch(5, addrN(1), now, true)
	if len(m.list()) != 1 {
		t.Fatal("a fresh member is not listed")
	}
}

// TestMembersUnkeyedAddressSticky: on an unkeyed channel a member's address
// moves only after it has been silent there for migrateAfter, and a
// goodbye counts only from its address; on a keyed channel the address
// follows its (authenticated) datagrams.
func TestMembersUnkeyedAddressSticky(t *testing.T) {
	for _, keyed := range []bool{false, true} {
		m := newMembers(8, transport.Addr{}, false, false, newCounters(nil, nil), func(uint64) {})
		m.keyed, m.migrateAfter = keyed, 2*time.Second
		now := time.Unix(1000, 0)
		home, other := addrN(1), addrN(2)
		m.touch(5, home, now, true)
		now = now.Add(time.Second)
		m.touch(5, other, now, true)
		if m.hello(5, helloBye, 0, other, now); keyed != (m.len() == 0) {
			t.Fatalf("keyed %v: goodbye from another address: %d members left", keyed, m.len())
		}
		if keyed {
			continue
		}
		if got := m.list()[0].Addr; got != home {
			t.Fatalf("address moved to %v while the member was heard at home", got)
		}
		now = now.Add(1500 * time.Millisecond) // 2.5 s since heard at home
		m.touch(5, other, now, true)
		if got := m.list()[0].Addr; got != other {
			t.Fatalf("address %v after migrateAfter of silence at home", got)
		}
		m.hello(5, helloBye, 0, other, now)
		if m.len() != 0 {
			t.Fatal("goodbye from the member's address not taken")
		}
	}
}
