package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/internal/testnet"
)

// The must-show test of issue 25, in network namespaces: a multicast
// sender (host src), two gateways (far: behind a user-space delaying
// relay of 30 ms each way in its own namespace, listed first; near), two
// clients whose hosts drop every multicast datagram (nftables), and one
// that receives the group. The test binary is re-executed with
// RWANDA_GW_ROLE=fo-src|fo-gw|fo-client (netnsChild2).

const (
	foGroup   = "239.77.0.2:7400"
	foFar     = "10.79.0.2:7600" // the far gateway's delaying relay
	foNear    = "10.79.0.3:7500"
	foChannel = "nsfo"
	foDelay   = 30 * time.Millisecond
	foTimeout = 800 * time.Millisecond // the clients' gateway timeout
	foRun     = 4 * time.Second        // the sender's run; the near gateway is killed at half time
)

func foURL(gateways bool) string {
	u := "gwtest://" + foGroup + "?iface=eth0&channel=" + foChannel
	if gateways {
		u += "&gateway=" + foFar + "," + foNear
	}
	return u
}

// netnsChild2 runs one of this test's roles, like netnsChild; handled
// reports false for a role that is not one of them.
func netnsChild2(role string, lines func() (string, bool)) (code int, handled bool) {
	ctx := context.Background()
	fail := func(err error) (int, bool) { fmt.Println("fail", err); return 1, true }
	switch role {
	case "fo-gw":
		g, err := New(Config{URL: foURL(false), Listen: ":7500", Heartbeat: foTimeout / 3}) // three to a timeout, as the defaults
		if err != nil {
			return fail(err)
		}
		defer g.Close()
		if d, _ := time.ParseDuration(os.Getenv("RWANDA_GW_DELAY")); d > 0 {
			r, err := testnet.NewDelay(":7600", netip.MustParseAddrPort("127.0.0.1:7500"), d)
			if err != nil {
				return fail(err)
			}
			defer r.Close()
		}
		fmt.Println("ready")
		for {
			if _, ok := lines(); !ok {
				return 0, true
			}
			st := g.Stats()
			fmt.Println(st.Clients, st.Validated, st.Probes, st.CapTests)
		}
	case "fo-src":
		ch, err := channel.Open(ctx, foURL(false), failoverOptions()...)
		if err != nil {
			return fail(err)
		}
		defer ch.Close()
		fmt.Println("ready")
		var wg sync.WaitGroup
		var sent int
		for {
			l, ok := lines()
			if !ok {
				wg.Wait()
				return 0, true
			}
			switch f := strings.Fields(l); {
			case len(f) == 1 && f[0] == "peers":
				fmt.Println(len(ch.Stats().Peers))
			case len(f) == 1 && f[0] == "go":
				wg.Add(1)
				go func() {
					defer wg.Done()
					n, err := pushFailover(ctx, ch, foRun, nil)
					if err != nil {
						fmt.Println("fail", err)
					}
					sent = n
				}()
				fmt.Println("started")
			case len(f) == 1 && f[0] == "wait":
				wg.Wait()
				fmt.Println(sent)
			}
		}
	case "fo-client":
		probe := testnet.StartSchedProbe()
		defer probe.Stop()
		r := newFailoverReceiver()
		ch, err := channel.Open(ctx, foURL(true), append(failoverOptions(), channel.WithGatewayTimeout(foTimeout), channel.WithGatewayProbe(3*time.Second), channel.WithEvents(r.event))...)
		if err != nil {
			return fail(err)
		}
		defer ch.Close()
		if err := r.subscribe(ch); err != nil {
			return fail(err)
		}
		info, _ := ch.Gateway()
		b, _ := json.Marshal(info)
		fmt.Println("ready")
		fmt.Println(string(b))
		for {
			l, ok := lines()
			if !ok {
				return 0, true
			}
			f := strings.Fields(l)
			if len(f) != 2 {
				continue
			}
			n, _ := strconv.Atoi(f[1])
			switch f[0] {
			case "notes": // how many of the n notes arrived
				r.mu.Lock()
				got := 0
				for i := range n {
					if r.notes[i] > 0 {
						got++
					}
				}
				r.mu.Unlock()
				fmt.Println(got)
			case "report":
				sched := probe.Max()
				moveAt, audioAt, problems := r.check(n, time.Second+sched)
				if info, ok := ch.Gateway(); ok && info.Direct {
					problems = slicesDeleteMoves(problems) // a direct member never moves
				}
				info, _ := ch.Gateway()
				st := ch.Stats()
				b, _ := json.Marshal(foReport{MoveAt: moveAt.UnixNano(), AudioAt: audioAt.UnixNano(), Sched: sched, Problems: problems, Info: info, Drops: st.Drops, Events: st.Events})
				fmt.Println(string(b))
			}
		}
	}
	return 0, false
}

// slicesDeleteMoves drops the "N moves" problem of a direct member.
func slicesDeleteMoves(ps []string) []string {
	var out []string
	for _, p := range ps {
		if !strings.HasSuffix(p, " moves") && !strings.HasPrefix(p, "audio resumed") {
			out = append(out, p)
		}
	}
	return out
}

type foReport struct {
	MoveAt, AudioAt int64
	Sched           time.Duration
	Problems        []string
	Info            channel.GatewayInfo
	Drops, Events   map[string]uint64
}

// TestTimingGatewayFailoverNetns: see the top of the file. The member
// that receives the group joins it directly and is served by no gateway;
// the two without multicast pick the near gateway (listed second) by its
// round trip and are served by it. Then the near gateway's process is
// killed: both move to the far one within their timeout (800 ms) plus the
// largest scheduling delay measured (in the test process and in theirs); audio resumes within 1 s of the move
// (plus that delay); every reliable note reaches every member once.
func TestTimingGatewayFailoverNetns(t *testing.T) {
	net := testnet.NewNet(t)
	testnet.Require(t, "nft")
	br := net.Bridge("br")
	src := net.Host("src", br, "10.79.0.1/24")
	far := net.Host("far", br, "10.79.0.2/24")
	near := net.Host("near", br, "10.79.0.3/24")
	c1 := net.Host("c1", br, "10.79.0.11/24")
	c2 := net.Host("c2", br, "10.79.0.12/24")
	capH := net.Host("cap", br, "10.79.0.13/24")
	for _, h := range []*testnet.Host{c1, c2} {
		h.Drop("ip daddr 224.0.0.0/4") // no multicast reaches these hosts
	}
	gFar := startRole(t, far, "fo-gw", "RWANDA_GW_DELAY="+foDelay.String())
	gNear := startRole(t, near, "fo-gw")
	tx := startRole(t, src, "fo-src")
	var cls []*nsChild
	infos := map[string]channel.GatewayInfo{}
	for _, h := range []*testnet.Host{c1, c2, capH} {
		c := startRole(t, h, "fo-client")
		var info channel.GatewayInfo
		if err := json.Unmarshal([]byte(c.ask(t, "")), &info); err != nil {
			t.Fatal(err)
		}
		infos[h.Name] = info
		t.Logf("%s: %+v", h.Name, info)
		cls = append(cls, c)
	}
	// Capability test: the member that receives the group joins it.
	if !infos["cap"].Direct {
		t.Errorf("the member that receives the group was not told to join it: %+v", infos["cap"])
	}
	// RTT test: the near gateway, listed second, serves the others.
	for _, n := range []string{"c1", "c2"} {
		i := infos[n]
		if i.Direct || i.Current.String() != foNear || len(i.RTTs) != 2 || i.RTTs[1] < 2*foDelay || i.RTTs[0] >= i.RTTs[1] {
			t.Errorf("%s: %+v; want served by %s, the nearer", n, i, foNear)
		}
	}
	deadline := time.Now().Add(nsMeet)
	for {
		n, _ := strconv.Atoi(tx.ask(t, "peers"))
		if n >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sender knows %d of 3 members after %v", n, nsMeet)
		}
		time.Sleep(100 * time.Millisecond) // polling another process
	}
	stNear, stFar := gNear.ask(t, "stats"), gFar.ask(t, "stats")
	t.Logf("before the kill: near gateway (clients, validated, probes, captests) %s, far %s", stNear, stFar)
	if !strings.HasPrefix(stNear, "2 2 ") || !strings.HasPrefix(stFar, "0 0 ") {
		t.Errorf("clients served: near %q, far %q; want 2 and 0 (the direct member talks to the group)", stNear, stFar)
	}
	probe := testnet.StartSchedProbe()
	if l := tx.ask(t, "go"); l != "started" {
		t.Fatalf("src: %q", l)
	}
	time.Sleep(foRun / 2) // let the sender run before the kill: pacing, not a clock for the protocol
	killAt := time.Now()
	if err := gNear.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	sent, _ := strconv.Atoi(tx.ask(t, "wait"))
	// Every member gets every note (repairs through the far gateway take
	// a few round trips of 60 ms).
	deadline = time.Now().Add(10 * time.Second)
	for _, c := range cls {
		for {
			got, _ := strconv.Atoi(c.ask(t, fmt.Sprintf("notes %d", sent)))
			if got >= sent || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond) // polling another process
		}
	}
	sched := probe.Stop()
	for i, c := range cls {
		var rep foReport
		if err := json.Unmarshal([]byte(c.ask(t, fmt.Sprintf("report %d", sent))), &rep); err != nil {
			t.Fatal(err)
		}
		name := []string{"c1", "c2", "cap"}[i]
		for _, p := range rep.Problems {
			t.Errorf("%s: %s", name, p)
		}
		if len(rep.Problems) > 0 {
			t.Logf("%s: drops %v, events %v", name, rep.Drops, rep.Events)
		}
		if name == "cap" {
			if rep.Info.Moves != 0 {
				t.Errorf("cap: moved %d times", rep.Info.Moves)
			}
			continue
		}
		moved := time.Duration(rep.MoveAt - killAt.UnixNano())
		bound := foTimeout + max(sched, rep.Sched)
		t.Logf("%s: moved %v after the kill (bound %v), audio again %v after the move; scheduling delay here %v, there %v; %+v",
			name, moved, bound, time.Duration(rep.AudioAt-rep.MoveAt), sched, rep.Sched, rep.Info)
		if rep.MoveAt == 0 || moved < 0 || moved > bound {
			t.Errorf("%s: moved %v after the kill; want within %v", name, moved, bound)
		}
		if rep.Info.Current.String() != foFar {
			t.Errorf("%s: now through %v, want %s", name, rep.Info.Current, foFar)
		}
	}
	t.Logf("%d notes; far gateway after: %s", sent, gFar.ask(t, "stats"))
}
