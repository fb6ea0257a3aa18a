package frag

import (
	"bytes"
	"testing"

	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/stack/stacktest"
)

func FuzzDecodeHeader(f *testing.F) {
	good := make([]byte, HeaderLen+10)
	Header{Parcel: 7, Index: 1, Count: 2, Size: 10}.put(good)
	f.Add(good)
	f.Add([]byte{0})
	f.Add([]byte{0, 1, 2, 3})
	f.Add([]byte{1})
	f.Add([]byte{2, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1})
	f.Add(append([]byte{1, 0xff, 0xff, 0xff, 0xff, 0, 0, 0xff, 0xff, 0, 1}, 'x'))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, whole, err := Decode(b)
		if err != nil {
			return
		}
		if whole {
			if b[0] != kindWhole {
				t.Fatal("whole without kind 0")
			}
			return
		}
		// A decoded header re-encodes to the same bytes, and its
		// invariants hold.
		out := make([]byte, HeaderLen)
		h.put(out)
		if !bytes.Equal(out, b[:HeaderLen]) {
			t.Fatalf("re-encoded %x, decoded from %x", out, b[:HeaderLen])
		}
		payload := len(b) - HeaderLen
		if h.Count < 2 || h.Index >= h.Count || payload < 1 || payload > int(h.Size) {
			t.Fatalf("accepted inconsistent header %+v with %d payload bytes", h, payload)
		}
	})
}

// FuzzReceive feeds a frag receiver a sequence of packets cut from the fuzz
// input: it must never panic, never hold more than its budgets, and leak
// nothing when closed.
func FuzzReceive(f *testing.F) {
	var seed bytes.Buffer
	for i := range 3 {
		pk := make([]byte, HeaderLen+50)
		Header{Parcel: 1, Index: uint16(i), Count: 3, Size: 50}.put(pk)
		seed.WriteByte(byte(len(pk)))
		seed.Write(pk)
	}
	f.Add(seed.Bytes())
	f.Add([]byte{1, 0, 3, 1, 2, 3})
	f.Fuzz(func(t *testing.T, in []byte) {
		cfg := DefaultConfig()
		cfg.Max, cfg.Buffer, cfg.Parcels = 8000, 16000, 4
		mem := stack.NewBudget(12000)
		a, _ := New(cfg)
		b, _ := New(cfg)
		p, err := stacktest.NewPair(nil, []stack.Layer{a}, []stack.Layer{b}, stacktest.PairConfig{MTU: 200, Memory: mem})
		if err != nil {
			t.Fatal(err)
		}
		for len(in) > 0 {
			n := min(int(in[0]), len(in)-1)
			p.B.Up(p.Pool.FromBytes(0, in[1:1+n]))
			in = in[1+n:]
			if mem.Used() > 12000 || b.r.used > cfg.Buffer || len(b.r.parts) > cfg.Parcels {
				t.Fatalf("over budget: shared %d, flow %d, parcels %d", mem.Used(), b.r.used, len(b.r.parts))
			}
			checkAccounts(t, b.r, mem)
		}
		p.Close()
		if mem.Used() != 0 || p.Pool.Outstanding() != 0 {
			t.Fatalf("after close: memory %d, packets %d", mem.Used(), p.Pool.Outstanding())
		}
	})
}

// checkAccounts fails t unless every byte r holds is reserved: each
// parcel's bookkeeping and bitmap, and either the packets of the fragments
// it holds, worth less than half the parcel, or the parcel's buffer; the
// flow's total is the parcels', and the channel's budget holds as much.
func checkAccounts(t *testing.T, r *reassembler, mem *stack.Budget) {
	t.Helper()
	var sum int64
	n := 0
	for pt := r.oldest; pt != nil; pt = pt.newer {
		n++
		if r.parts[pt.h.Parcel] != pt {
			t.Fatalf("parcel %d listed but not in the map", pt.h.Parcel)
		}
		base := int64(partialCost + 8*bitmapWords(pt.h.Count))
		var held int64
		for _, f := range pt.held {
			held += int64(f.p.Headroom()+f.p.Len()+f.p.Tailroom()) + heldCost
		}
		switch {
		case pt.buf == nil && (held != pt.heldCost || pt.reserved != base+held || held >= pt.size()/2 || len(pt.held) != pt.got):
			t.Fatalf("parcel %d: %d fragments held costing %d (%d counted), %d reserved, size %d", pt.h.Parcel, len(pt.held), held, pt.heldCost, pt.reserved, pt.size())
		case pt.buf != nil && (len(pt.held) != 0 || pt.reserved != base+pt.size()):
			t.Fatalf("parcel %d: buffer and %d fragments held, %d reserved, size %d", pt.h.Parcel, len(pt.held), pt.reserved, pt.size())
		}
		sum += pt.reserved
	}
	if n != len(r.parts) || sum != r.used || mem.Used() != r.used {
		t.Fatalf("%d parcels listed, %d in the map; reserved: parcels %d, flow %d, channel %d", n, len(r.parts), sum, r.used, mem.Used())
	}
}
