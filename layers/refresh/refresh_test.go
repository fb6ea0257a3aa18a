package refresh

import (
	"fmt"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/registry"
	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/stack/stacktest"
)

// TestRefreshHealsLoss: parcels lost on the way arrive with the next
// refresh, as long as they are among those kept; what is kept is bounded.
func TestRefreshHealsLoss(t *testing.T) {
	a, _ := New(Config{Every: time.Second, Keep: 3, Bytes: 1 << 20, Seed: 1})
	b, _ := New(Config{Every: time.Second, Keep: 3, Bytes: 1 << 20, Seed: 2})
	p, err := stacktest.NewPair(t, []stack.Layer{a}, []stack.Layer{b}, stacktest.PairConfig{})
	if err != nil {
		t.Fatal(err)
	}
	p.Link.SetFilter(func(d stacktest.Direction, n int, _ []byte) int {
		if d == stacktest.AtoB && n == 3 {
			return 0 // tile 3 is lost the first time
		}
		return 1
	})
	for i := range 5 {
		p.Send(fmt.Appendf(nil, "tile %d", i), stack.Meta{})
	}
	p.Link.Flush()
	first := p.GotB.Take()
	if len(first) != 4 {
		t.Fatalf("%d of 5 arrived before the refresh", len(first))
	}
	p.Clock.Advance(2 * time.Second)
	p.Link.Flush()
	again := p.GotB.Take()
	// The last three (keep=3) come again: tiles 2, 3 (the lost one) and 4.
	if len(again) != 3 || string(again[0].Bytes) != "tile 2" || string(again[1].Bytes) != "tile 3" || string(again[2].Bytes) != "tile 4" {
		t.Fatalf("refresh sent %v", again)
	}
	if c := a.Counters(); c["refreshed"] != 3 || c["kept"] != 3 {
		t.Fatalf("counters %v", c)
	}
}

func TestConformance(t *testing.T) {
	stacktest.TestLayer(t, func() (stack.Layer, error) {
		ls, err := registry.Build("refresh(every=1h,keep=4)", registry.Env{})
		if err != nil {
			return nil, err
		}
		return ls[0], nil
	}, stacktest.Options{Sizes: []int{0, 1, 100, 1400}})
}

func TestConfigErrors(t *testing.T) {
	for _, q := range []string{"refresh(every=0s)", "refresh(keep=0)", "refresh(bytes=0)"} {
		if _, err := registry.Build(q, registry.Env{}); err == nil {
			t.Errorf("%s accepted", q)
		}
	}
}
