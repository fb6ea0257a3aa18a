package monitor_test

import (
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/layers/monitor"
	"github.com/rwanda-go/rwanda/stack"
)

// BenchmarkPerPacket sends packets down a sender's stack whose wire feeds a
// receiver's stack directly, with and without a monitor in each, on a
// manual clock that moves 10µs a packet (so reports go out as well).
func BenchmarkPerPacket(b *testing.B) {
	for _, tc := range []struct {
		name string
		mk   func() []stack.Layer
	}{
		{"none", func() []stack.Layer { return nil }},
		{"monitor", func() []stack.Layer { return []stack.Layer{mustNew(b, monitor.DefaultConfig())} }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			clock := stack.NewManualClock(time.Time{})
			pool := stack.NewPool()
			var tx *stack.Stack
			delivered := 0
			rx, err := stack.New(stack.Config{Layers: tc.mk(), MTU: 1500, Clock: clock, Pool: pool, Flow: stack.Flow{Role: stack.Receiver},
				Wire:    stack.HandlerFunc(func(p *stack.Packet) error { return tx.Up(p) }),
				Deliver: stack.HandlerFunc(func(p *stack.Packet) error { delivered++; p.Release(); return nil })})
			if err != nil {
				b.Fatal(err)
			}
			tx, err = stack.New(stack.Config{Layers: tc.mk(), MTU: 1500, Clock: clock, Pool: pool,
				Wire:    stack.HandlerFunc(func(p *stack.Packet) error { return rx.Up(p) }),
				Deliver: stack.HandlerFunc(func(p *stack.Packet) error { p.Release(); return nil })})
			if err != nil {
				b.Fatal(err)
			}
			payload := make([]byte, 1200)
			b.ReportAllocs()
			b.SetBytes(int64(len(payload)))
			for b.Loop() {
				p := tx.NewPacket(len(payload))
				p.Append(payload)
				if err := tx.Down(p); err != nil {
					b.Fatal(err)
				}
				clock.Advance(10 * time.Microsecond)
			}
			b.StopTimer()
			if delivered != b.N {
				b.Fatalf("delivered %d of %d", delivered, b.N)
			}
			tx.Close()
			rx.Close()
		})
	}
}
