package compress

import (
	"fmt"
	"testing"

	"github.com/rwanda-go/rwanda/stack"
)

// benchCases are the payloads of the benchmarks: text-like and random, of
// 1 KiB and 64 KiB, for each algorithm at level 1.
func benchCases() []struct {
	name    string
	algo    Algo
	payload []byte
} {
	var cs []struct {
		name    string
		algo    Algo
		payload []byte
	}
	for _, a := range algos {
		for _, size := range []int{1 << 10, 64 << 10} {
			for _, kind := range []string{"text", "random"} {
				p := TextLike(size, 1)
				if kind == "random" {
					p = Random(size, 1)
				}
				cs = append(cs, struct {
					name    string
					algo    Algo
					payload []byte
				}{fmt.Sprintf("%v/%s/%dKiB", a, kind, size>>10), a, p})
			}
		}
	}
	return cs
}

// benchStack is a stack of one compress layer whose wire hands every packet
// to wire and whose top hands every packet to deliver.
func benchStack(b *testing.B, a Algo, pool *stack.Pool, wire, deliver stack.HandlerFunc) *stack.Stack {
	b.Helper()
	l, err := New(config(a, 1))
	if err != nil {
		b.Fatal(err)
	}
	s, err := stack.New(stack.Config{Layers: []stack.Layer{l}, Wire: wire, Deliver: deliver, MTU: 1 << 20, Pool: pool})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkCompress sends payloads down a compress stack. MB/s are of
// payload; ratio is payload bytes per byte sent.
func BenchmarkCompress(b *testing.B) {
	for _, c := range benchCases() {
		b.Run(c.name, func(b *testing.B) {
			pool := stack.NewPool()
			var sent int
			release := stack.HandlerFunc(func(p *stack.Packet) error { p.Release(); return nil })
			wire := stack.HandlerFunc(func(p *stack.Packet) error { sent += p.Len(); p.Release(); return nil })
			tx := benchStack(b, c.algo, pool, wire, release)
			n := len(c.payload)
			b.ReportAllocs()
			b.SetBytes(int64(n))
			for b.Loop() {
				p := tx.NewPacket(n)
				p.Append(c.payload)
				if err := tx.Down(p); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/float64(sent), "ratio")
		})
	}
}

// BenchmarkDecompress passes packets compressed beforehand up a compress
// stack. MB/s are of decoded payload.
func BenchmarkDecompress(b *testing.B) {
	for _, c := range benchCases() {
		b.Run(c.name, func(b *testing.B) {
			pool := stack.NewPool()
			var wire []byte
			release := stack.HandlerFunc(func(p *stack.Packet) error { p.Release(); return nil })
			keep := stack.HandlerFunc(func(p *stack.Packet) error { wire = append([]byte(nil), p.Bytes()...); p.Release(); return nil })
			tx := benchStack(b, c.algo, pool, keep, release)
			p := tx.NewPacket(len(c.payload))
			p.Append(c.payload)
			if err := tx.Down(p); err != nil {
				b.Fatal(err)
			}
			delivered := 0
			deliver := stack.HandlerFunc(func(p *stack.Packet) error {
				if p.Len() == len(c.payload) {
					delivered++
				}
				p.Release()
				return nil
			})
			rx := benchStack(b, c.algo, pool, release, deliver)
			b.ReportAllocs()
			b.SetBytes(int64(len(c.payload)))
			for b.Loop() {
				if err := rx.Up(pool.FromBytes(0, wire)); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if delivered != b.N {
				b.Fatalf("delivered %d of %d", delivered, b.N)
			}
			b.ReportMetric(float64(len(c.payload))/float64(len(wire)), "ratio")
		})
	}
}
