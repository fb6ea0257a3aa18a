package metrics_test

import (
	"context"
	"encoding/json"
	"expvar"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/metrics"
	"github.com/rwanda-go/rwanda/posting"
)

// lossy is a monitored best-effort stack that loses a fifth of its
// packets on the way down (impair's seed fixes which).
const lossy = "frag/monitor(report=50ms)/impair(loss=20%,seed=3)"

func open(t *testing.T, url string, opts ...channel.Option) *channel.Channel {
	t.Helper()
	c, err := channel.Open(context.Background(), url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// push sends n postings on stream s and waits until rx's monitor has
// seen at least some of them.
func push(t *testing.T, tx *channel.Channel, n int) {
	t.Helper()
	for i := range n {
		if err := tx.Push(context.Background(), posting.New(fmt.Appendf(nil, "posting %d", i), posting.WithStream("s"))); err != nil {
			t.Fatal(err)
		}
	}
}

var runs atomic.Int64

func TestExpvarShowsStatsAndMonitors(t *testing.T) {
	url := "mem://" + t.Name()
	tx := open(t, url, channel.WithQoS(lossy))
	rx := open(t, url)
	sub, _ := rx.Subscribe()
	defer sub.Close()
	name := fmt.Sprintf("rwanda-test-rx-%d", runs.Add(1)) // expvar names last as long as the process (go test -count)
	if err := metrics.PublishExpvar(name, rx); err != nil {
		t.Fatal(err)
	}
	if err := metrics.PublishExpvar(name, rx); err == nil || !strings.Contains(err.Error(), "already published") {
		t.Fatalf("publishing a name twice: %v", err)
	}
	push(t, tx, 200)

	// What an operator sees: GET /debug/vars.
	var snap struct {
		Member   uint64
		Received struct{ Postings uint64 }
		Flows    []struct {
			Stream, QoS string
			Postings    uint64
		}
		Monitors []struct {
			Role   string
			Stream string
			Loss   float64
			Member uint64
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		rec := httptest.NewRecorder()
		expvar.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/debug/vars", nil))
		var vars map[string]json.RawMessage
		if err := json.Unmarshal(rec.Body.Bytes(), &vars); err != nil {
			t.Fatalf("/debug/vars is not JSON: %v\n%s", err, rec.Body)
		}
		raw, ok := vars[name]
		if !ok {
			t.Fatalf("/debug/vars has no %s: %s", name, rec.Body)
		}
		if err := json.Unmarshal(raw, &snap); err != nil {
			t.Fatalf("the snapshot is not the JSON of Stats: %v\n%s", err, raw)
		}
		if len(snap.Monitors) == 1 && snap.Monitors[0].Loss > 0 && snap.Received.Postings > 100 {
			t.Logf("%s: %s", name, raw)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no loss measured in time: %s", raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if snap.Member != rx.ID() || len(snap.Flows) != 1 || snap.Flows[0].Stream != "s" || snap.Flows[0].QoS != "frag/monitor(report=50ms)/impair(loss=20%,seed=3)" {
		t.Fatalf("snapshot %+v", snap)
	}
	m := snap.Monitors[0]
	if m.Role != "receiver" || m.Stream != "s" || m.Member != tx.ID() || m.Loss > 0.6 {
		t.Fatalf("monitor %+v", m)
	}
}

// TestMonitorsSenderSide: the sender's monitor learns the RTT and the
// receiver's loss from its reports.
func TestMonitorsSenderSide(t *testing.T) {
	url := "mem://" + t.Name()
	tx := open(t, url, channel.WithQoS(lossy))
	rx := open(t, url)
	sub, _ := rx.Subscribe()
	defer sub.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		push(t, tx, 20)
		ms := metrics.Monitors(tx.Stats())
		if len(ms) == 1 && ms[0].Role == metrics.Sender && ms[0].RTT > 0 && ms[0].Receivers == 1 && ms[0].Loss > 0 {
			if ms[0].Stream != "s" || ms[0].QoS != lossy {
				t.Fatalf("monitor %+v", ms[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sender monitors %+v", ms)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A stack without a monitor shows none.
	plain := open(t, "mem://"+t.Name()+"-plain")
	plain.Push(context.Background(), posting.New("x"))
	if ms := metrics.Monitors(plain.Stats()); len(ms) != 0 {
		t.Fatalf("monitors without a monitor layer: %+v", ms)
	}
}

func TestExpvarVarInMap(t *testing.T) {
	ch := open(t, "mem://"+t.Name())
	var m expvar.Map
	m.Set("lobby", metrics.Expvar(ch))
	var got map[string]map[string]any
	if err := json.Unmarshal([]byte(m.String()), &got); err != nil {
		t.Fatalf("%v: %s", err, m.String())
	}
	if _, ok := got["lobby"]["Sent"]; !ok {
		t.Fatalf("no Sent in %s", m.String())
	}
	m.Delete("lobby")
}
