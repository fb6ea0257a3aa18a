//go:build unix

package channel

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/posting"
)

// BenchmarkCPUPerPosting measures the process CPU time (user + system, both
// members are in this process) per posting delivered on the reliable
// profile, unicast on loopback, from the first push to the last delivery:
// the figure that a change of the channel's shape must not worsen. Wall
// time is noisy on a shared machine; CPU per posting is what the code
// costs.
func BenchmarkCPUPerPosting(b *testing.B) {
	for _, size := range []int{64, 64 << 10} {
		b.Run(fmt.Sprintf("reliable/%dB", size), func(b *testing.B) {
			var got atomic.Int64
			tx := benchPair(b, "", func(*posting.Posting) { got.Add(1) }, nil, WithQoS("reliable"))
			body := make([]byte, size)
			ctx := context.Background()
			cpu0 := processCPU(b)
			n := 0
			for b.Loop() {
				if err := tx.Push(ctx, posting.New(body)); err != nil {
					b.Fatal(err)
				}
				n++
			}
			for prev := int64(-1); got.Load() < int64(n) && got.Load() != prev; {
				prev = got.Load()
				time.Sleep(50 * time.Millisecond) // waiting on the receiving goroutine
			}
			cpu := processCPU(b) - cpu0
			if d := got.Load(); d < int64(n) {
				b.Fatalf("delivered %d of %d postings", d, n)
			}
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(n)/1000, "cpu-µs/posting")
		})
	}
}

// processCPU is the CPU time the process has used so far.
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
