package frag

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/posting"
	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/stack/stacktest"
)

// wirePacket is a packet as it left a stack: its bytes and metadata.
type wirePacket struct {
	b []byte
	m stack.Meta
}

// relayPair is a frag sender stack whose wire records what leaves it, and
// a frag receiver stack fed by hand, both at the given MTU.
func relayPair(t *testing.T, cfg Config, mtu int) (tx, rx *stack.Stack, a *Layer, sent *[]wirePacket, got *stacktest.Collector) {
	t.Helper()
	pool := stack.NewPool()
	clock := stack.NewManualClock(stack.ManualEpoch)
	release := stack.HandlerFunc(func(p *stack.Packet) error { p.Release(); return nil })
	sent = new([]wirePacket)
	record := stack.HandlerFunc(func(p *stack.Packet) error {
		*sent = append(*sent, wirePacket{bytes.Clone(p.Bytes()), p.Meta})
		p.Release()
		return nil
	})
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	got = &stacktest.Collector{}
	tx, err = stack.New(stack.Config{Layers: []stack.Layer{a}, Wire: record, Deliver: release, MTU: mtu, Pool: pool, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	rx, err = stack.New(stack.Config{Layers: []stack.Layer{b}, Wire: release, Deliver: got, MTU: mtu, Pool: pool, Clock: clock,
		Flow: stack.Flow{Role: stack.Receiver}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		tx.Close()
		rx.Close()
		if n := pool.Outstanding(); n != 0 {
			t.Errorf("%d packets not released", n)
		}
	})
	return tx, rx, a, sent, got
}

// relayOnly is m's relay metadata alone, as a receiving channel parses it
// from the wire.
func relayOnly(t *testing.T, m *stack.Meta) stack.Meta {
	t.Helper()
	var r stack.Meta
	if _, err := stack.ParseRelay(stack.AppendRelay(nil, m), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func sameRelay(a, b *stack.Meta) bool {
	return bytes.Equal(stack.AppendRelay(nil, a), stack.AppendRelay(nil, b))
}

// A parcel with a key and a frame id is cut into fragments that leave room
// for their relay metadata within what a fragment had before; each
// fragment carries the parcel's metadata, and the reassembled parcel gets
// it back.
func TestRelayMetadataRoom(t *testing.T) {
	const mtu = 1000
	tx, rx, a, sent, got := relayPair(t, DefaultConfig(), mtu)
	old := a.FragmentSize() // per-fragment payload with no key or frame id
	if old != mtu-HeaderLen {
		t.Fatalf("fragment size %d", old)
	}
	meta := stack.Meta{Media: posting.Video, Tag: &stack.Tag{Key: strings.Repeat("k", posting.MaxKeyLen), Frame: math.MaxUint64},
		Flags: stack.FlagFrameEnd | stack.FlagDroppable | stack.FlagLeft, Left: 1234,
		Deadline: stack.ManualEpoch.Add(time.Second)}
	extra := stack.RelayExtra(&meta)
	if extra != 75 || maxRelayExtra != 75 {
		t.Fatalf("relay extra %d", extra)
	}
	whole := mtu - WholeLen // the largest parcel sent whole before
	for _, c := range []struct{ size, packets int }{
		{0, 1},
		{whole - extra, 1},
		{whole - extra + 1, 2}, // sent whole before
		{whole, 2},
		{10 * old, 11},
		{64 << 10, (64<<10 + old - extra - 1) / (old - extra)},
	} {
		*sent = nil
		parcel := data(c.size, byte(c.size))
		p := tx.NewPacket(c.size)
		p.Append(parcel)
		p.Meta = meta
		if err := tx.Down(p); err != nil {
			t.Fatal(err)
		}
		if len(*sent) != c.packets {
			t.Fatalf("%d bytes: %d packets, want %d", c.size, len(*sent), c.packets)
		}
		for i, w := range *sent {
			h, isWhole, err := Decode(w.b)
			if err != nil {
				t.Fatal(err)
			}
			if len(w.b)+extra > mtu {
				t.Fatalf("%d bytes: packet %d of %d bytes and %d of relay metadata exceeds the MTU", c.size, i, len(w.b), extra)
			}
			if !isWhole {
				if payload := len(w.b) - HeaderLen; payload+extra > old || int(h.Size) != old-extra {
					t.Fatalf("%d bytes: fragment %d of %d payload bytes (size %d) and %d of relay metadata, old size %d",
						c.size, i, payload, h.Size, extra, old)
				}
			}
			if w.m != meta {
				t.Fatalf("%d bytes: packet %d sent with %+v, not the parcel's %+v", c.size, i, w.m, meta)
			}
		}
		// Deliver them last first, each with only the relay metadata the
		// channel would parse from the wire and a sequence number.
		for i := len(*sent) - 1; i >= 0; i-- {
			q := stack.DefaultPool().FromBytes(0, (*sent)[i].b)
			q.Meta = relayOnly(t, &(*sent)[i].m)
			q.Meta.Seq = uint64(100 + i)
			rx.Up(q)
		}
		out := got.Take()
		if len(out) != 1 || !bytes.Equal(out[0].Bytes, parcel) {
			t.Fatalf("%d bytes: delivered %d parcels", c.size, len(out))
		}
		if m := out[0].Meta; !sameRelay(&m, &meta) || m.Key() != meta.Key() || m.Frame() != meta.Frame() ||
			m.Flags&(stack.FlagFrameEnd|stack.FlagDroppable|stack.FlagLeft) != meta.Flags&(stack.FlagFrameEnd|stack.FlagDroppable|stack.FlagLeft) ||
			m.Seq != 100 {
			t.Fatalf("%d bytes: parcel delivered with %+v, sent with %+v", c.size, m, meta)
		}
	}
	// Without a key or frame id nothing changes.
	*sent = nil
	p := tx.NewPacket(whole)
	p.Append(data(whole, 1))
	p.Meta = stack.Meta{Media: posting.Video, Flags: stack.FlagLeft, Left: 5}
	tx.Down(p)
	if len(*sent) != 1 || len((*sent)[0].b) != mtu {
		t.Fatalf("a parcel of %d bytes with no key went as %d packets", whole, len(*sent))
	}
}

// At an MTU that leaves too little room for the longest metadata,
// fragments stay at MinFragment and parcels still reassemble.
func TestRelayMetadataSmallMTU(t *testing.T) {
	const mtu = HeaderLen + 100
	cfg := DefaultConfig()
	cfg.Max = 1 << 20
	tx, rx, a, sent, got := relayPair(t, cfg, mtu)
	if a.FragmentSize() != 100 {
		t.Fatalf("fragment size %d", a.FragmentSize())
	}
	for _, key := range []string{"k", strings.Repeat("k", posting.MaxKeyLen)} {
		meta := stack.Meta{Tag: &stack.Tag{Key: key, Frame: 7}}
		extra := stack.RelayExtra(&meta)
		size, whole := a.sizesFor(&meta)
		if size != max(100-extra, MinFragment) || whole < size {
			t.Fatalf("key of %d: sizes %d, %d", len(key), size, whole)
		}
		for _, n := range []int{0, 1, whole, whole + 1, 1000} {
			*sent = nil
			p := tx.NewPacket(n)
			p.Append(data(n, 3))
			p.Meta = meta
			if err := tx.Down(p); err != nil {
				t.Fatal(err)
			}
			for i := len(*sent) - 1; i >= 0; i-- {
				q := stack.DefaultPool().FromBytes(0, (*sent)[i].b)
				q.Meta = relayOnly(t, &(*sent)[i].m)
				rx.Up(q)
			}
			out := got.Take()
			if len(out) != 1 || !bytes.Equal(out[0].Bytes, data(n, 3)) || out[0].Meta.Key() != key || out[0].Meta.Frame() != 7 {
				t.Fatalf("key of %d, %d bytes: delivered %d", len(key), n, len(out))
			}
		}
	}
}
