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
	// The last three (keep=3) are sent again: tiles 2, 3 (the lost one)
	// and 4; only tile 3, never delivered, is delivered now.
	if len(again) != 1 || string(again[0].Bytes) != "tile 3" {
		t.Fatalf("after the refresh, delivered %v", again)
	}
	if c := a.Counters(); c["refreshed"] != 3 || c["kept"] != 3 {
		t.Fatalf("counters %v", c)
	}
	if c, d := b.Counters(), p.B.Stats().Layers[0].Drops; c["refresh-delivered"] != 1 || d["refreshed-dup"] != 2 {
		t.Fatalf("receiver counters %v, drops %v", c, d)
	}
}

// TestRefreshDeliversOnce: however many refreshes a receiver gets, each
// parcel is delivered once, whether it arrived first as the original or
// (a late joiner, a loss) as a refresh; every copy after the first is
// dropped and counted as "refreshed-dup".
func TestRefreshDeliversOnce(t *testing.T) {
	a, _ := New(Config{Every: time.Second, Keep: 64, Bytes: 1 << 20, Seed: 1})
	b, _ := New(Config{Every: time.Second, Keep: 64, Bytes: 1 << 20, Seed: 2})
	p, err := stacktest.NewPair(t, []stack.Layer{a}, []stack.Layer{b}, stacktest.PairConfig{})
	if err != nil {
		t.Fatal(err)
	}
	late := true // B has not joined yet: it misses the first transmissions of 0..9
	p.Link.SetFilter(func(d stacktest.Direction, n int, _ []byte) int {
		if late {
			return 0
		}
		return 1
	})
	for i := range 10 {
		p.Send(fmt.Appendf(nil, "tile %d", i), stack.Meta{})
	}
	p.Link.Flush()
	late = false
	for i := 10; i < 20; i++ {
		p.Send(fmt.Appendf(nil, "tile %d", i), stack.Meta{})
	}
	p.Link.Flush()
	got := map[string]int{}
	for _, g := range p.GotB.Take() {
		got[string(g.Bytes)]++
	}
	for range 5 { // five refreshes of all twenty
		p.Clock.Advance(2 * time.Second)
		p.Link.Flush()
		for _, g := range p.GotB.Take() {
			got[string(g.Bytes)]++
		}
	}
	for i := range 20 {
		if n := got[fmt.Sprint("tile ", i)]; n != 1 {
			t.Errorf("tile %d delivered %d times", i, n)
		}
	}
	if len(got) != 20 {
		t.Errorf("delivered %v", got)
	}
	c, drops := b.Counters(), p.B.Stats().Layers[0].Drops
	refreshed := a.Counters()["refreshed"]
	if refreshed < 100 || c["refresh-delivered"] != 10 || drops["refreshed-dup"] != refreshed-10 {
		t.Fatalf("sender refreshed %d; receiver delivered %d refreshes, drops %v", refreshed, c["refresh-delivered"], drops)
	}
}

// TestWindowBounded: a receiver remembers the last keep ids (at least
// 64) in keep bits, whatever ids arrive: the bitmap never grows, ids
// within it are delivered once, ids older than it are dropped as stale,
// and ids wrap around 2^32.
func TestWindowBounded(t *testing.T) {
	for _, keep := range []int{1, 64, 100, 4096} {
		w := newWindow(keep)
		size := max(64, (keep+63)/64*64)
		if int(w.size) != size || len(w.bits) != size/64 {
			t.Fatalf("keep %d: window of %d ids in %d words", keep, w.size, len(w.bits))
		}
		start := uint32(1<<32 - 10*size) // wraps past zero
		for i := range uint32(20 * size) {
			id := start + i
			if r := w.add(id); r != fresh {
				t.Fatalf("keep %d: new id %d: %d", keep, id, r)
			}
			if r := w.add(id); r != seenBefore {
				t.Fatalf("keep %d: id %d again: %d", keep, id, r)
			}
			if back := id - uint32(size) + 1; i >= uint32(size) && w.add(back) != seenBefore {
				t.Fatalf("keep %d: id %d, the oldest remembered, not seen", keep, back)
			}
			if old := id - uint32(size); i >= uint32(size) && w.add(old) != tooOld {
				t.Fatalf("keep %d: id %d, older than the window, not stale", keep, old)
			}
		}
		if len(w.bits) != size/64 {
			t.Fatalf("keep %d: bitmap grew to %d words", keep, len(w.bits))
		}
	}
	// A gap: the ids skipped over are not taken as delivered; a jump
	// beyond the window forgets everything before it.
	w := newWindow(64)
	w.add(100)
	w.add(110)
	if w.add(105) != fresh || w.add(105) != seenBefore {
		t.Fatal("an id skipped over")
	}
	w.add(1000)
	if w.add(990) != fresh || w.add(936) != tooOld {
		t.Fatal("after a jump")
	}
}

// TestMalformed: packets shorter than the header or of an unknown kind are
// dropped and counted.
func TestMalformed(t *testing.T) {
	a, _ := New(Config{Every: time.Hour, Keep: 4, Bytes: 1 << 20, Seed: 1})
	b, _ := New(Config{Every: time.Hour, Keep: 4, Bytes: 1 << 20, Seed: 2})
	p, err := stacktest.NewPair(t, []stack.Layer{a}, []stack.Layer{b}, stacktest.PairConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]byte{{}, {0, 0, 0, 1}, {2, 0, 0, 0, 1, 'x'}} {
		p.B.Up(p.Pool.FromBytes(0, bad))
	}
	if d := p.B.Stats().Layers[0].Drops["malformed"]; d != 3 {
		t.Fatalf("malformed drops %d, want 3", d)
	}
	if got := p.GotB.Take(); len(got) != 0 {
		t.Fatalf("delivered %v", got)
	}
}

func TestConformance(t *testing.T) {
	// Forged parcel ids move a receiver's window (nothing authenticates
	// them at this layer; in a channel, window below and the channel's
	// keys do): garbage may derail it.
	stacktest.TestLayer(t, func() (stack.Layer, error) {
		ls, err := registry.Build("refresh(every=1h,keep=4)", registry.Env{})
		if err != nil {
			return nil, err
		}
		return ls[0], nil
	}, stacktest.Options{Sizes: []int{0, 1, 100, 1400}, GarbageMayDerail: true})
}

func TestConfigErrors(t *testing.T) {
	for _, q := range []string{"refresh(every=0s)", "refresh(keep=0)", "refresh(bytes=0)"} {
		if _, err := registry.Build(q, registry.Env{}); err == nil {
			t.Errorf("%s accepted", q)
		}
	}
}
