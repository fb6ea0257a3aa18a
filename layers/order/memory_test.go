package order

import (
	"math/bits"
	"runtime"
	"testing"

	"github.com/rwanda-go/rwanda/stack"
)

// checkReserved fails t unless the layer's reservation is what it holds:
// its held packets' buffers and its pages, as the budget says too.
func checkReserved(t *testing.T, o *Layer, mem *stack.Budget) {
	t.Helper()
	var want int64
	held := 0
	for _, pg := range o.pages {
		want += pg.cost
		for h := pg.held; h != 0; h &= h - 1 {
			want += bufferCost(pg.pkts[bits.TrailingZeros64(h)])
			held++
		}
		if pg.held&pg.skipped != 0 || pg.held|pg.skipped == 0 {
			t.Fatalf("page held %b skipped %b", pg.held, pg.skipped)
		}
	}
	if held != o.Held() || want != o.Reserved() || mem != nil && mem.Used() != want {
		t.Fatalf("%d held (%d counted); %d bytes held, %d reserved by the layer, %d in the budget", held, o.Held(), want, o.Reserved(), mem.Used())
	}
}

// A buffer of a million packets allocates nothing when the stack is
// built: the review measured 9 MiB per flow, uncharged.
func TestLargeBufferAllocatesNothingUpFront(t *testing.T) {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r := budgetRig(t, true, 1<<20, stack.NewBudget(1<<30))
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("stack with order(buffer=1048576): %d bytes allocated", alloc)
	if !r.o.Waits() || alloc > 64<<10 {
		t.Fatalf("waits %v, %d bytes allocated building the stack", r.o.Waits(), alloc)
	}
	// One packet held at the far end of the buffer costs a page, not
	// the buffer.
	r.skip(0, 1)
	p := r.pl.Get(0, 1, 0)
	p.Meta.Seq = 1<<20 - 1
	runtime.GC()
	runtime.ReadMemStats(&before)
	r.s.Up(p)
	runtime.ReadMemStats(&after)
	alloc = after.TotalAlloc - before.TotalAlloc
	t.Logf("one packet held %d ahead: %d bytes allocated, %d reserved", 1<<20-2, alloc, r.o.Reserved())
	// TotalAlloc counts other goroutines' allocations too (tens of KB seen
	// on a loaded machine); the buffer this guards against is megabytes.
	if r.o.Held() != 1 || alloc > 256<<10 || r.o.Reserved() > 4<<10 {
		t.Fatalf("held %d: %d bytes allocated, %d reserved", r.o.Held(), alloc, r.o.Reserved())
	}
}

// Held packets and pages are charged to the channel's budget while held,
// and given back as they are delivered.
func TestHeldPacketsCharged(t *testing.T) {
	mem := stack.NewBudget(1 << 20)
	r := budgetRig(t, true, 1024, mem)
	r.skip(0, 1)
	r.data(3, 70, 200, 5, 4)
	checkReserved(t, r.o, mem)
	if r.o.Held() != 5 || mem.Used() < 5*2048 {
		t.Fatalf("held %d, %d bytes reserved", r.o.Held(), mem.Used())
	}
	r.skip(100, 50) // ahead of a gap: remembered in pages of its own
	checkReserved(t, r.o, mem)
	r.data(1, 2)
	eq(t, r.take(), 1, 2, 3, 4, 5)
	checkReserved(t, r.o, mem)
	r.skip(6, 64)
	eq(t, r.take(), 70)
	r.skip(71, 29) // and 100-149 were skipped already
	eq(t, r.take())
	checkReserved(t, r.o, mem)
	r.skip(150, 50)
	eq(t, r.take(), 200)
	if mem.Used() != 0 || len(r.o.pages) != 0 {
		t.Fatalf("nothing held: %d bytes reserved, %d pages", mem.Used(), len(r.o.pages))
	}
}

// When the budget refuses to hold a packet, the gaps in front of it are
// given up and it is delivered: nothing stalls, nothing comes out of
// order, and the refusal is counted.
func TestMemoryRefusalGivesUpGaps(t *testing.T) {
	mem := stack.NewBudget(3 * (2048 + pageCost + slotsCost))
	r := budgetRig(t, true, 1024, mem)
	r.skip(0, 1)
	r.data(3, 4, 5) // three fit
	eq(t, r.take())
	r.data(7) // refused: 1, 2, 6 are given up
	eq(t, r.take(), 3, 4, 5, 7)
	c := r.s.Stats().Layers[0].Counters
	if c["no-memory"] != 1 || c["gave-up-for-memory"] != 3 || mem.Denied() != 1 {
		t.Fatalf("counters %v, denied %d", c, mem.Denied())
	}
	r.data(2, 8, 10)
	eq(t, r.take(), 8)
	checkReserved(t, r.o, mem)
	if d := r.s.Stats().Layers[0].Drops["late"]; d != 1 {
		t.Fatalf("late drops %d", d)
	}
}

// A packet far beyond the buffer gives up the gaps in front of it in one
// step, however far: the cost does not grow with the distance.
func TestFarJumpIsCheap(t *testing.T) {
	r := budgetRig(t, true, 8, nil)
	r.skip(0, 1)
	r.data(2, 3)
	r.data(1 << 40)
	eq(t, r.take(), 2, 3)
	c := r.s.Stats().Layers[0].Counters
	// Below 1<<40-7 (the new start of the buffer): all but 2 and 3, from 1.
	if want := uint64(1<<40 - 7 - 3); c["overflow"] != want {
		t.Fatalf("overflow %d, want %d", c["overflow"], want)
	}
	r.data(1<<40 - 7)
	eq(t, r.take(), 1<<40-7)
	if r.o.Held() != 1 || r.o.Next() != 1<<40-6 {
		t.Fatalf("held %d, next %d", r.o.Held(), r.o.Next())
	}
	r.skip(1<<40-6, 6)
	eq(t, r.take(), 1<<40)
}
