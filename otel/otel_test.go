package rwotel_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/rwanda-go/rwanda/channel"
	rwotel "github.com/rwanda-go/rwanda/otel"
	"github.com/rwanda-go/rwanda/posting"
)

// lossy is a monitored best-effort stack that loses a fifth of its
// packets on the way down.
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

// point is one data point of a collection, whatever its type.
type point struct {
	value float64
	attrs attribute.Set
}

func collect(t *testing.T, r *sdkmetric.ManualReader) map[string][]point {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string][]point{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != rwotel.ScopeName {
			t.Errorf("scope %q", sm.Scope.Name)
		}
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				if !d.IsMonotonic || d.Temporality != metricdata.CumulativeTemporality {
					t.Errorf("%s: a counter that is not monotonic and cumulative", m.Name)
				}
				for _, p := range d.DataPoints {
					out[m.Name] = append(out[m.Name], point{float64(p.Value), p.Attributes})
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					out[m.Name] = append(out[m.Name], point{float64(p.Value), p.Attributes})
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					out[m.Name] = append(out[m.Name], point{p.Value, p.Attributes})
				}
			default:
				t.Errorf("%s: unexpected data %T", m.Name, m.Data)
			}
		}
	}
	return out
}

// find returns the value of metric name whose attributes include kv, and
// whether there is one.
func find(ps []point, kv ...attribute.KeyValue) (float64, bool) {
next:
	for _, p := range ps {
		for _, want := range kv {
			if v, ok := p.attrs.Value(want.Key); !ok || v != want.Value {
				continue next
			}
		}
		return p.value, true
	}
	return 0, false
}

// TestOTelAdapter registers a sender and a receiver with an in-memory
// reader and checks the counters against Stats and the monitor's loss,
// jitter and RTT.
func TestOTelAdapter(t *testing.T) {
	url := "mem://" + t.Name()
	tx := open(t, url, channel.WithQoS(lossy))
	rx := open(t, url)
	sub, _ := rx.Subscribe()
	defer sub.Close()

	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	regTx, err := rwotel.Register(mp, tx, rwotel.WithChannelName("lesson-tx"), rwotel.WithAttributes(attribute.String("site", "lab")))
	if err != nil {
		t.Fatal(err)
	}
	regRx, err := rwotel.Register(mp, rx, rwotel.WithChannelName("lesson-rx"))
	if err != nil {
		t.Fatal(err)
	}

	chTx, chRx := attribute.String("rwanda.channel", "lesson-tx"), attribute.String("rwanda.channel", "lesson-rx")
	sent, recv := attribute.String("rwanda.direction", "sent"), attribute.String("rwanda.direction", "received")
	stream := attribute.String("rwanda.stream", "s")
	pushed := 0
	var got map[string][]point
	deadline := time.Now().Add(10 * time.Second)
	for {
		for range 20 {
			must(t, tx.Push(context.Background(), posting.New(fmt.Appendf(nil, "posting %d", pushed), posting.WithStream("s"))))
			pushed++
		}
		time.Sleep(20 * time.Millisecond)
		got = collect(t, reader)
		rtt, hasRTT := find(got["rwanda.monitor.rtt"], chTx, stream, attribute.String("rwanda.role", "sender"))
		rxLoss, _ := find(got["rwanda.monitor.loss"], chRx, stream, attribute.String("rwanda.role", "receiver"))
		txLoss, _ := find(got["rwanda.monitor.loss"], chTx, stream, attribute.String("rwanda.role", "sender"))
		if hasRTT && rtt > 0 && rxLoss > 0 && txLoss > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no RTT and loss in time; last collection: %v", got)
		}
	}

	// The channel counters are Stats'.
	if v, ok := find(got["rwanda.channel.postings"], chTx, sent, attribute.String("site", "lab")); !ok || int(v) != pushed {
		t.Errorf("sent postings %v (%v), pushed %d", v, ok, pushed)
	}
	if v, ok := find(got["rwanda.stream.postings"], chTx, sent, stream, attribute.String("rwanda.member", "")); !ok || int(v) != pushed {
		t.Errorf("stream postings %v (%v), pushed %d", v, ok, pushed)
	}
	st := rx.Stats()
	if v, ok := find(got["rwanda.channel.postings"], chRx, recv); !ok || v <= 0 || v > float64(st.Received.Postings) {
		t.Errorf("received postings %v (%v); Stats now %d", v, ok, st.Received.Postings)
	}
	if v, ok := find(got["rwanda.stream.postings"], chRx, recv, stream, attribute.String("rwanda.member", fmt.Sprintf("%016x", tx.ID()))); !ok || v <= 0 {
		t.Errorf("flow postings %v (%v)", v, ok)
	}
	if v, ok := find(got["rwanda.channel.members"], chRx); !ok || v != 1 {
		t.Errorf("members %v (%v)", v, ok)
	}
	if v, ok := find(got["rwanda.channel.memory.limit"], chRx); !ok || v != float64(st.MemLimit) {
		t.Errorf("memory limit %v (%v), Stats %d", v, ok, st.MemLimit)
	}
	if v, ok := find(got["rwanda.channel.subscriptions"], chRx); !ok || v != 1 {
		t.Errorf("subscriptions %v (%v)", v, ok)
	}
	// The monitor: loss within reason for 20% impairment, jitter measured.
	for _, ch := range []attribute.KeyValue{chTx, chRx} {
		loss, _ := find(got["rwanda.monitor.loss"], ch, stream)
		if loss <= 0 || loss > 0.6 {
			t.Errorf("%v: loss %v", ch.Value.AsString(), loss)
		}
		if _, ok := find(got["rwanda.monitor.jitter"], ch, stream); !ok {
			t.Errorf("%v: no jitter", ch.Value.AsString())
		}
		if _, ok := find(got["rwanda.monitor.rate"], ch, stream); !ok {
			t.Errorf("%v: no rate", ch.Value.AsString())
		}
	}
	if _, ok := find(got["rwanda.monitor.rtt"], chRx); ok {
		t.Error("a receiver reported an RTT")
	}

	// Unregistered, a channel is no longer observed.
	must(t, regTx.Unregister())
	must(t, regRx.Unregister())
	if got := collect(t, reader); len(got["rwanda.channel.postings"]) != 0 {
		t.Errorf("observed after Unregister: %v", got["rwanda.channel.postings"])
	}
}

func TestOTelRegisterNeedsArguments(t *testing.T) {
	if _, err := rwotel.Register(nil, nil); err == nil {
		t.Fatal("Register(nil, nil) succeeded")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
