package sched_test

import (
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/registry"
	"github.com/rwanda-go/rwanda/sched"
	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/stack/stacktest"

	_ "github.com/rwanda-go/rwanda/layers/edf"
	_ "github.com/rwanda-go/rwanda/layers/fifo"
	_ "github.com/rwanda-go/rwanda/layers/priority"
)

func TestLayerConformance(t *testing.T) {
	for _, name := range []string{"fifo", "priority", "edf"} {
		t.Run(name, func(t *testing.T) {
			stacktest.TestLayer(t, func() (stack.Layer, error) {
				ls, err := registry.Build(name, registry.Env{})
				if err != nil {
					return nil, err
				}
				return ls[0], nil
			}, stacktest.Options{Sizes: []int{0, 1, 100, 1400}})
		})
	}
}

// TestEDFLayerDropsExpired: a packet whose deadline has passed never goes
// down; one still in time does.
func TestEDFLayerDropsExpired(t *testing.T) {
	p, err := stacktest.NewPair(t, []stack.Layer{sched.NewLayer(sched.EDF)}, []stack.Layer{sched.NewLayer(sched.EDF)}, stacktest.PairConfig{})
	if err != nil {
		t.Fatal(err)
	}
	now := p.Clock.Now()
	p.Send([]byte("late"), stack.Meta{Deadline: now})
	p.Send([]byte("in time"), stack.Meta{Deadline: now.Add(time.Second)})
	p.Send([]byte("no deadline"), stack.Meta{})
	p.Link.Flush()
	got := p.GotB.Take()
	if len(got) != 2 || string(got[0].Bytes) != "in time" {
		t.Fatalf("got %v", got)
	}
	if d := p.A.Stats().Layers[0].Drops["expired"]; d != 1 {
		t.Fatalf("expired drops %d", d)
	}
	if l, ok := p.A.Layers()[0].(sched.Scheduled); !ok || l.Policy() != sched.EDF {
		t.Fatal("the layer does not tell its policy")
	}
}
