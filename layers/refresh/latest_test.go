package refresh

import (
	"fmt"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/stack/stacktest"
)

// TestRefreshLatestWins: a sender keeps, and refreshes, only the latest
// value of each latest-wins key (older kept ones are counted
// "superseded"); unkeyed parcels are kept as before.
func TestRefreshLatestWins(t *testing.T) {
	a, _ := New(Config{Every: time.Second, Keep: 64, Bytes: 1 << 20, Seed: 1})
	b, _ := New(Config{Every: time.Second, Keep: 64, Bytes: 1 << 20, Seed: 2})
	p, err := stacktest.NewPair(t, []stack.Layer{a}, []stack.Layer{b}, stacktest.PairConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		p.Send(fmt.Appendf(nil, "cursor %d", i), stack.Meta{Tag: &stack.Tag{Key: "cursor"}})
		p.Send(fmt.Appendf(nil, "tile %d", i), stack.Meta{Tag: &stack.Tag{Key: fmt.Sprint("tile", i%2)}})
	}
	p.Send([]byte("plain 1"), stack.Meta{})
	p.Send([]byte("plain 2"), stack.Meta{})
	p.Link.Flush()
	if got := p.GotB.Take(); len(got) != 12 {
		t.Fatalf("%d of 12 delivered", len(got))
	}
	if c := a.Counters(); c["kept"] != 5 || c["superseded"] != 7 {
		t.Fatalf("sender counters %v, want 5 kept (3 keys, 2 unkeyed), 7 superseded", c)
	}
	p.Clock.Advance(2 * time.Second)
	p.Link.Flush()
	if c := a.Counters(); c["refreshed"] != 5 {
		t.Fatalf("sender counters %v", c)
	}
	var kept []string
	for _, k := range a.kept {
		kept = append(kept, string(k.p.Bytes()))
	}
	if fmt.Sprint(kept) != "[tile 3 cursor 4 tile 4 plain 1 plain 2]" {
		t.Fatalf("kept %q", kept)
	}
}

// TestRefreshReceiverDropsOlderValue: a receiver drops a refreshed value
// of a key older than the one it delivered ("superseded"), delivers a
// newer one, and leaves first transmissions and unkeyed parcels alone.
func TestRefreshReceiverDropsOlderValue(t *testing.T) {
	b, _ := New(Config{Every: time.Second, Keep: 64, Bytes: 1 << 20, Seed: 2})
	p, err := stacktest.NewPair(t, []stack.Layer{newSender(t)}, []stack.Layer{b}, stacktest.PairConfig{})
	if err != nil {
		t.Fatal(err)
	}
	// Relay metadata (the key) reaches the layer in Meta.Tag, as the
	// stack decodes it from the datagram: feed B directly.
	in := func(kind byte, id uint32, key string) {
		pk := p.B.NewPacket(16)
		pk.Append([]byte(fmt.Sprint(kind, id, key)))
		putHeader(pk, kind, id)
		if key != "" {
			pk.Meta.Tag = &stack.Tag{Key: key}
		}
		if err := p.B.Up(pk); err != nil {
			t.Fatal(err)
		}
	}
	in(kindOriginal, 10, "k")
	in(kindRefresh, 7, "k")   // older than 10: superseded
	in(kindRefresh, 8, "")    // unkeyed: a loss healed
	in(kindRefresh, 12, "k")  // newer: delivered
	in(kindOriginal, 11, "k") // a first transmission: the order below decides
	in(kindRefresh, 9, "j")   // another key
	var got []string
	for _, d := range p.GotB.Take() {
		got = append(got, string(d.Bytes))
	}
	if fmt.Sprintf("%q", got) != `["0 10k" "1 8" "1 12k" "0 11k" "1 9j"]` {
		t.Fatalf("delivered %q", got)
	}
	if d := p.B.Stats().Layers[0].Drops; d["superseded"] != 1 || len(d) != 1 {
		t.Fatalf("drops %v", d)
	}
}

// newSender is a sender layer for a pair whose sender is not used.
func newSender(t *testing.T) *Layer {
	l, err := New(Config{Every: time.Second, Keep: 64, Bytes: 1 << 20, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	return l
}
