package window

import (
	"bytes"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/stack"
)

func FuzzDecode(f *testing.F) {
	f.Add(appendData(nil, flagNak, 7, 3, 200*time.Millisecond))
	f.Add(appendData(nil, flagBestEffort, 1<<32-1, 1<<32-1, 0))
	f.Add(appendAck(nil, 9, 100, 31, []span{{10, 12}, {20, 30}}))
	f.Add(appendStatus(nil, 5))
	f.Add(appendNak(nil, []span{{1, 2}}))
	f.Add(appendSync(nil, 10, 4))
	f.Add(appendSkip(nil, []span{{4294967295, 3}}))
	f.Add([]byte{9})
	f.Fuzz(func(t *testing.T, b []byte) {
		var m msg
		n, err := decode(b, &m)
		if err != nil {
			return
		}
		if n <= 0 || n > len(b) {
			t.Fatalf("header length %d of %d", n, len(b))
		}
		// What decodes re-encodes to the same header.
		var out []byte
		switch m.typ {
		case msgData:
			out = appendData(nil, m.flags&^flagTTL, m.seq, m.floor, m.ttl)
		case msgAck:
			out = appendAck(nil, m.seq, m.rwnd, m.floor, m.spans)
		case msgStatus:
			out = appendStatus(nil, m.seq)
		case msgNak:
			out = appendNak(nil, m.spans)
		case msgSync:
			out = appendSync(nil, m.seq, m.floor)
		case msgSkip:
			out = appendSkip(nil, m.spans)
		}
		if m.typ != msgData && !bytes.Equal(out, b[:n]) {
			t.Fatalf("re-encoded %x from %x", out, b[:n])
		}
		if m.typ == msgData {
			var m2 msg
			if _, err := decode(out, &m2); err != nil || m2.seq != m.seq || m2.floor != m.floor || m2.ttl != m.ttl {
				t.Fatalf("data round trip: %+v vs %+v (%v)", m, m2, err)
			}
		}
	})
}

// FuzzReceive feeds a window's receiving (and feedback-handling) path a
// sequence of packets: no panics, bounded work, nothing leaked.
func FuzzReceive(f *testing.F) {
	var seed []byte
	for i, m := range [][]byte{
		appendData(nil, flagNak, 1, 1, 0), appendData(nil, flagNak, 5, 1, time.Second),
		appendSync(nil, 9, 3), appendSkip(nil, []span{{2, 4}}), appendNak(nil, []span{{1, 3}}),
		appendAck(nil, 3, 10, 5, []span{{5, 6}}), appendStatus(nil, 2), appendData(nil, flagBestEffort, 1<<31, 1<<31, 0),
	} {
		seed = append(seed, byte(len(m)+i%2))
		seed = append(seed, m...)
	}
	f.Add(seed)
	f.Fuzz(func(t *testing.T, in []byte) {
		cfg := DefaultConfig()
		cfg.Size = 64
		l, _ := New(cfg)
		pool := stack.NewPool()
		clock := stack.NewManualClock(time.Time{})
		release := stack.HandlerFunc(func(p *stack.Packet) error { p.Release(); return nil })
		s, err := stack.New(stack.Config{Layers: []stack.Layer{l}, Wire: release, Deliver: release, MTU: 1500, Pool: pool, Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		for len(in) > 0 {
			n := min(int(in[0]), len(in)-1)
			p := pool.FromBytes(0, in[1:1+n])
			if n > 0 && in[0]&1 == 1 {
				p.Meta.Flags |= stack.FlagOverheard
			}
			p.Meta.Peer = uint64(in[0] % 3)
			s.Up(p)
			in = in[1+n:]
			clock.Advance(3 * time.Millisecond)
		}
		clock.Advance(time.Minute)
		s.Close()
		if pool.Outstanding() != 0 {
			t.Fatalf("%d packets leaked", pool.Outstanding())
		}
	})
}
