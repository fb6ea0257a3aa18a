package channel

import (
	"strings"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/posting"
	"github.com/rwanda-go/rwanda/stack"
)

func TestLossAdapterDecisions(t *testing.T) {
	var a LossAdapter
	be := "frag/window(mode=besteffort)"
	cases := []struct {
		name string
		s    StreamState
		want string // prefix of the chosen QoS; "" none
	}{
		{"low loss stays", StreamState{Media: posting.Video, QoS: "frag", Original: "frag", Measures: stack.Measures{Loss: 0.01, Receivers: 1}}, ""},
		{"no receivers stays", StreamState{Media: posting.Video, QoS: "frag", Original: "frag", Measures: stack.Measures{Loss: 0.5}}, ""},
		{"video repairs", StreamState{Media: posting.Video, QoS: "frag", Original: "frag", Measures: stack.Measures{Loss: 0.05, Receivers: 1}}, "frag/order/window(ttl=200ms)"},
		{"audio repairs", StreamState{Media: posting.Audio, QoS: be, Original: be, Measures: stack.Measures{Loss: 0.05, Receivers: 2}}, "frag/order/window(ttl=100ms)"},
		{"data repairs", StreamState{Media: posting.Data, QoS: "frag", Original: "frag", Measures: stack.Measures{Loss: 0.02, Receivers: 1}}, "reliable"},
		{"monitor and below kept", StreamState{Media: posting.Data, QoS: "frag/monitor/impair(loss=1%)", Original: "frag/monitor", Measures: stack.Measures{Loss: 0.2, Receivers: 1}}, "reliable/monitor/impair(loss=1%)"},
		{"already repairing stays", StreamState{Media: posting.Data, QoS: "reliable", Original: "frag", Measures: stack.Measures{Loss: 0.2, Receivers: 1}, Since: time.Hour}, ""},
		{"reverts when quiet", StreamState{Media: posting.Data, QoS: "reliable", Original: "frag", Measures: stack.Measures{Loss: 0.001, Receivers: 1}, Since: 3 * time.Second}, "frag"},
		{"not before hold", StreamState{Media: posting.Data, QoS: "reliable", Original: "frag", Measures: stack.Measures{Loss: 0.001, Receivers: 1}, Since: time.Second}, ""},
	}
	for _, c := range cases {
		q, why := a.Adapt(c.s)
		if c.want == "" && q != "" || c.want != "" && !strings.HasPrefix(q, c.want) {
			t.Errorf("%s: chose %q (%s), want %q", c.name, q, why, c.want)
		}
		if q != "" && why == "" {
			t.Errorf("%s: no reason given", c.name)
		}
	}
}

func TestLossAdapterThinsVideo(t *testing.T) {
	a := LossAdapter{ThinVideo: true}
	q, why := a.Adapt(StreamState{Media: posting.Video, QoS: "frag", Original: "frag",
		Measures: stack.Measures{Loss: 0.1, Receivers: 1, Rate: 100_000}})
	if q != "frag/ratelimit(rate=90000)" {
		t.Fatalf("chose %q (%s)", q, why)
	}
	// Audio is repaired, not thinned.
	if q, _ := a.Adapt(StreamState{Media: posting.Audio, QoS: "frag", Original: "frag",
		Measures: stack.Measures{Loss: 0.1, Receivers: 1, Rate: 100_000}}); !strings.HasPrefix(q, "frag/order/window") {
		t.Fatalf("audio: %q", q)
	}
	// Back once quiet.
	if q, _ := a.Adapt(StreamState{Media: posting.Video, QoS: "frag/ratelimit(rate=90000)", Original: "frag",
		Measures: stack.Measures{Loss: 0, Receivers: 1}, Since: time.Minute}); q != "frag" {
		t.Fatalf("back: %q", q)
	}
}
