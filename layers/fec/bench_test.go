package fec

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
)

// BenchmarkEncodeReconstruct encodes a block of k 1 KiB fragments with m
// parity shards and rebuilds it with m data shards missing (the most it
// can), as a sender and a receiver that lost m packets would. ns/KiB is
// wall time per fragment of the block; cpu-ns/KiB (Linux) the CPU time
// of the benchmark's thread, which a loaded machine does not inflate. Figures are recorded in bench/RESULTS.md,
// never asserted.
func BenchmarkEncodeReconstruct(b *testing.B) {
	for _, c := range []struct{ k, m int }{{16, 2}, {16, 4}, {32, 4}} {
		b.Run(fmt.Sprintf("k=%d,m=%d", c.k, c.m), func(b *testing.B) {
			const size = 1024
			rng := rand.New(rand.NewPCG(1, 2))
			slab := make([]byte, (c.k+c.m)*size)
			for i := range slab {
				slab[i] = byte(rng.Uint32())
			}
			data, parity := make([][]byte, c.k), make([][]byte, c.m)
			for i := range data {
				data[i] = slab[i*size : (i+1)*size]
			}
			for i := range parity {
				parity[i] = slab[(c.k+i)*size : (c.k+i+1)*size]
			}
			shards := make([][]byte, c.k+c.m)
			spare := make([][]byte, c.m)
			for i := range spare {
				spare[i] = make([]byte, size)
			}
			b.SetBytes(int64(c.k * size))
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			cpu0, cpuOK := threadCPU()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if err := encode(data, parity); err != nil {
					b.Fatal(err)
				}
				copy(shards, data)
				copy(shards[c.k:], parity)
				for j := range c.m { // m data shards missing, at a rotating place
					shards[(i+j*3)%c.k] = spare[j][:0]
				}
				if err := reconstruct(c.k, shards); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(c.k), "ns/KiB")
			if cpu1, ok := threadCPU(); ok && cpuOK {
				b.ReportMetric(float64((cpu1-cpu0).Nanoseconds())/float64(b.N)/float64(c.k), "cpu-ns/KiB")
			}
		})
	}
}
