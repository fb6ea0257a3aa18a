package frag

import (
	"bytes"
	"runtime"
	"testing"

	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/stack/stacktest"
)

// fragmentPacket returns a fragment packet: header h and payload.
func fragmentPacket(pool *stack.Pool, h Header, payload []byte) *stack.Packet {
	b := make([]byte, HeaderLen, HeaderLen+len(payload))
	h.put(b)
	return pool.FromBytes(0, append(b, payload...))
}

// rxStack is a frag receiver stack (cfg) with the given shared budget,
// whose deliveries are collected.
func rxStack(t *testing.T, cfg Config, mem *stack.Budget) (*stack.Stack, *Layer, *stack.Pool, *stacktest.Collector, *stack.ManualClock) {
	t.Helper()
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pool := stack.NewPool()
	got := &stacktest.Collector{}
	clock := stack.NewManualClock(stack.ManualEpoch)
	s, err := stack.New(stack.Config{Layers: []stack.Layer{l}, MTU: 1500, Pool: pool, Memory: mem,
		Clock:   clock,
		Wire:    stack.HandlerFunc(func(p *stack.Packet) error { p.Release(); return nil }),
		Deliver: got})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		if mem.Used() != 0 || pool.Outstanding() != 0 {
			t.Errorf("after close: %d bytes reserved, %d packets outstanding", mem.Used(), pool.Outstanding())
		}
	})
	return s, l, pool, got, clock
}

// heapGrowth returns the bytes allocated while f ran.
func heapGrowth(f func()) uint64 {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// A 12-byte fragment (one byte of payload) may declare a parcel of 16 MiB:
// it costs about its own packet, not the parcel. The review's fragment
// made the receiver allocate 16 MiB.
func TestHostileFragmentAllocatesLittle(t *testing.T) {
	cases := []struct {
		name   string
		h      Header
		charge int64 // most a parcel may be charged: its packet's buffer, bitmap, bookkeeping
	}{
		// 257 fragments of 65535 bytes: 16 MiB less a little.
		{"large-fragments", Header{Index: 256, Count: 257, Size: 65535}, 2<<10 + heldCost + partialCost + 8*5},
		// 65535 fragments of 256 bytes: the largest bitmap (8 KiB).
		{"most-fragments", Header{Index: 65534, Count: 65535, Size: 256}, 2<<10 + heldCost + partialCost + 8<<10},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if int64(c.h.Count-1)*int64(c.h.Size)+1 > DefaultConfig().Max || c.h.size() < 16<<20-1<<20 {
				t.Fatalf("header %+v does not declare about 16 MiB", c.h)
			}
			mem := stack.NewBudget(1 << 30)
			s, l, pool, got, _ := rxStack(t, DefaultConfig(), mem)
			const n = 100
			pks := make([]*stack.Packet, n)
			for i := range pks {
				h := c.h
				h.Parcel = uint32(i)
				pks[i] = fragmentPacket(pool, h, []byte{'x'})
				if pks[i].Len() != 12 {
					t.Fatalf("fragment of %d bytes", pks[i].Len())
				}
			}
			alloc := heapGrowth(func() {
				for _, pk := range pks {
					s.Up(pk)
				}
			})
			t.Logf("%d fragments declaring %d bytes each: %d bytes allocated, %d reserved (%d a parcel)",
				n, c.h.size(), alloc, mem.Used(), mem.Used()/n)
			if len(got.Take()) != 0 || l.Incomplete() != n {
				t.Fatalf("incomplete %d", l.Incomplete())
			}
			// The parcels' bitmaps and bookkeeping; the fragments' packets
			// existed before.
			if per := alloc / n; per > uint64(c.charge) {
				t.Fatalf("%d bytes allocated a fragment", per)
			}
			if mem.Used() > n*c.charge || mem.Used() != l.r.used {
				t.Fatalf("%d bytes reserved from the channel, %d by the flow, for %d fragments", mem.Used(), l.r.used, n)
			}
		})
	}
}

// size is what a parcel with this header reserves once it has a buffer.
func (h Header) size() int64 { return int64(h.Count) * int64(h.Size) }

// A parcel's buffer is allocated when the fragments it holds are worth
// half of it: before, they are held as they came; after, they are copied
// into it and every later fragment goes straight into place. Reservations
// follow, and never exceed the parcel plus one fragment.
func TestBufferGrowsWithFragments(t *testing.T) {
	for _, order := range []string{"in-order", "reverse"} {
		t.Run(order, func(t *testing.T) {
			mem := stack.NewBudget(1 << 30)
			p, _, b := newPair(t, DefaultConfig(), stacktest.PairConfig{MTU: 1500, Memory: mem})
			in := data(300<<10, 7)
			if err := p.Send(in, stack.Meta{}); err != nil {
				t.Fatal(err)
			}
			count := p.Link.Pending(stacktest.AtoB)
			var pt *partial
			switched := -1
			for i := range count {
				at := 0
				if order == "reverse" {
					at = p.Link.Pending(stacktest.AtoB) - 1
				}
				p.Link.DeliverAt(stacktest.AtoB, at)
				if i == count-1 {
					break
				}
				if pt == nil {
					for _, x := range b.r.parts {
						pt = x
					}
				}
				base := int64(partialCost + 8*bitmapWords(pt.h.Count))
				switch {
				case pt.buf == nil:
					if len(pt.held) != i+1 || pt.heldCost >= pt.size()/2 || pt.reserved != base+pt.heldCost {
						t.Fatalf("fragment %d: %d held costing %d, %d reserved, parcel %d", i, len(pt.held), pt.heldCost, pt.reserved, pt.size())
					}
				case switched < 0:
					switched = i
					fallthrough
				default:
					if len(pt.held) != 0 || pt.reserved != base+pt.size() {
						t.Fatalf("fragment %d: %d held, %d reserved, parcel %d", i, len(pt.held), pt.reserved, pt.size())
					}
				}
				if mem.Used() != b.r.used || b.r.used != pt.reserved {
					t.Fatalf("fragment %d: channel %d, flow %d, parcel %d reserved", i, mem.Used(), b.r.used, pt.reserved)
				}
			}
			got := p.GotB.Take()
			if len(got) != 1 || !bytes.Equal(got[0].Bytes, in) {
				t.Fatalf("delivered %d", len(got))
			}
			t.Logf("%d fragments; buffer allocated at fragment %d", count, switched)
			// 2 KiB packet buffers for 1489-byte fragments: the buffer comes
			// once about a third of the parcel has arrived.
			if switched < count/4 || switched > count/2 {
				t.Fatalf("buffer allocated at fragment %d of %d", switched, count)
			}
			if mem.Used() != 0 || b.Incomplete() != 0 {
				t.Fatalf("after delivery: %d reserved, %d incomplete", mem.Used(), b.Incomplete())
			}
		})
	}
}

// When a parcel cannot grow, even with the others evicted, it is dropped
// with its fragments: it could never complete.
func TestGrowthRefused(t *testing.T) {
	mem := stack.NewBudget(20 << 10)
	p, _, b := newPair(t, DefaultConfig(), stacktest.PairConfig{MTU: 1500, Memory: mem})
	p.Send(data(100<<10, 1), stack.Meta{}) // 69 fragments of 1489 bytes
	p.Link.Flush()
	if got := p.GotB.Take(); len(got) != 0 {
		t.Fatal("delivered over the budget")
	}
	if drops(p.B, dropNoMemory) == 0 || drops(p.B, dropEvicted) == 0 || mem.Used() > 20<<10 {
		t.Fatalf("no-memory %d evicted %d used %d", drops(p.B, dropNoMemory), drops(p.B, dropEvicted), mem.Used())
	}
	// The budget holds a parcel that fits.
	p.Send(data(8<<10, 2), stack.Meta{})
	p.Link.Flush()
	if got := p.GotB.Take(); len(got) != 1 || !bytes.Equal(got[0].Bytes, data(8<<10, 2)) {
		t.Fatal("a parcel within the budget was not delivered")
	}
	if mem.Used() != b.r.used {
		t.Fatalf("channel %d, flow %d reserved", mem.Used(), b.r.used)
	}
}

// Invented parcel ids cost a bounded amount: at most Config.Parcels
// incomplete parcels, within Config.Buffer, and the map of parcels starts
// afresh once the burst has expired. Ids completed recently are a fixed
// array.
func TestInventedParcelIDs(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Parcels = 1 << 20
	cfg.Buffer = cfg.Max
	s, l, pool, _, clock := rxStack(t, cfg, nil)
	const n = 50000
	for i := range n {
		s.Up(fragmentPacket(pool, Header{Parcel: uint32(i) * 2654435761, Index: 1, Count: 2, Size: 1000}, []byte{1}))
		if l.r.used > cfg.Buffer || l.Incomplete() > cfg.Parcels {
			t.Fatalf("after %d: %d bytes reserved, %d parcels", i, l.r.used, l.Incomplete())
		}
	}
	held := l.Incomplete()
	t.Logf("%d invented parcels: %d held in %d bytes, %d evicted", n, held, l.r.used, drops(s, dropEvicted))
	if held >= n || int64(held)*(2<<10) > cfg.Buffer {
		t.Fatalf("%d parcels held", held)
	}
	clock.Advance(cfg.Timeout)
	if l.Incomplete() != 0 || l.r.used != 0 || l.r.peak != 0 {
		t.Fatalf("after expiry: %d parcels, %d bytes, map peak %d", l.Incomplete(), l.r.used, l.r.peak)
	}
}
