package frag

import (
	"strconv"
	"testing"

	"github.com/rwanda-go/rwanda/stack"
)

// BenchmarkSplitReassemble sends parcels through a frag sender stack whose
// wire feeds a frag receiver stack directly, at a 1500-byte MTU.
func BenchmarkSplitReassemble(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10, 1 << 20} {
		b.Run(sizeName(size), func(b *testing.B) {
			pool := stack.NewPool()
			release := stack.HandlerFunc(func(p *stack.Packet) error { p.Release(); return nil })
			delivered := 0
			deliver := stack.HandlerFunc(func(p *stack.Packet) error {
				if p.Len() == size {
					delivered++
				}
				p.Release()
				return nil
			})
			mk := func() *Layer { l, _ := New(DefaultConfig()); return l }
			rx, err := stack.New(stack.Config{Layers: []stack.Layer{mk()}, Wire: release, Deliver: deliver, MTU: 1500, Pool: pool})
			if err != nil {
				b.Fatal(err)
			}
			tx, err := stack.New(stack.Config{Layers: []stack.Layer{mk()}, Wire: stack.HandlerFunc(rx.Up), Deliver: release, MTU: 1500, Pool: pool})
			if err != nil {
				b.Fatal(err)
			}
			payload := make([]byte, size)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				p := tx.NewPacket(size)
				p.Append(payload)
				if err := tx.Down(p); err != nil {
					b.Fatal(err)
				}
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

func sizeName(n int) string {
	switch {
	case n >= 1<<20:
		return strconv.Itoa(n>>20) + "MiB"
	case n >= 1<<10:
		return strconv.Itoa(n>>10) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}
