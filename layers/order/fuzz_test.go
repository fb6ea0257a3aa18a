package order

import (
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/stack/stacktest"
)

// FuzzReceive drives the ordering layer's receive path with an arbitrary
// script of what the layers below may hand it: packets with any sequence
// number and deadline (some far ahead), skip markers of any range, and the
// clock moving, under a memory budget of 4 to 12 KiB or none. Nothing may
// panic or leak, no sequence number may come out twice, what comes out
// comes out in increasing order, and what the layer holds is what it has
// reserved.
func FuzzReceive(f *testing.F) {
	f.Add([]byte{0, 1, 0, 0, 0, 2, 0, 1, 1, 3, 1, 2, 2, 9})
	f.Add([]byte{0, 5, 1, 0, 3, 0, 4, 2, 50, 0, 1})
	f.Add([]byte{1, 0, 255, 0, 200, 2, 255, 2, 255})
	f.Add([]byte{1, 0, 0, 3, 0, 5, 3, 200, 0, 2, 1, 2, 2, 9})
	f.Fuzz(func(t *testing.T, script []byte) {
		l, err := New(Config{Buffer: 200})
		if err != nil {
			t.Fatal(err)
		}
		clock := stack.NewManualClock(stack.ManualEpoch)
		pool := stack.NewPool()
		got := &stacktest.Collector{}
		caps := []stack.Capability{stack.CapSequenced}
		if len(script)%2 == 1 { // reliable below: order waits for gaps
			caps = append(caps, stack.CapReliable)
		}
		var mem *stack.Budget
		if n := len(script) / 2 % 4; n > 0 {
			mem = stack.NewBudget(int64(n) * 4096)
		}
		st, err := stack.New(stack.Config{Layers: []stack.Layer{l, &below{caps: caps}}, MTU: 1500, Clock: clock, Pool: pool, Deliver: got,
			Memory: mem, Wire: stack.HandlerFunc(func(p *stack.Packet) error { p.Release(); return nil })})
		if err != nil {
			t.Fatal(err)
		}
		var base uint64 // ops 3 move it far ahead
		for i := 0; i+1 < len(script); i += 2 {
			op, arg := script[i]%4, uint64(script[i+1])
			switch op {
			case 0: // a packet with sequence number base+arg, maybe a deadline
				p := pool.Get(0, 1, 0)
				p.Append([]byte{byte(arg)})
				p.Meta.Seq = base + arg
				if arg%4 == 0 {
					p.Meta.Deadline = clock.Now().Add(time.Duration(arg) * time.Millisecond)
				}
				st.Up(p)
			case 1: // a skip marker over arg%8 numbers (or many) from base+arg
				n := arg % 8
				if n == 7 {
					n = arg << 4
				}
				st.Up(stack.NewSkip(pool, base+arg, n))
			case 2:
				clock.Advance(time.Duration(arg) * time.Millisecond)
			case 3: // jump ahead: by arg, or by arg × 2^32
				if arg%2 == 0 {
					base += arg
				} else {
					base += arg << 32
				}
			}
			checkReserved(t, l, mem)
		}
		last := int64(-1)
		for _, d := range got.Take() {
			if int64(d.Meta.Seq) <= last {
				t.Fatalf("sequence %d delivered after %d", d.Meta.Seq, last)
			}
			last = int64(d.Meta.Seq)
		}
		st.Close()
		if n := pool.Outstanding(); n != 0 || mem.Used() != 0 {
			t.Fatalf("%d packets leaked, %d bytes still reserved", n, mem.Used())
		}
	})
}
