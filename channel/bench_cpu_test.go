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

// BenchmarkCPUPerPosting measures the process CPU time (both members are
// in this process) per posting delivered on the reliable profile, from the
// first push to the last delivery: the figure that a change of the
// channel's shape must not worsen. Wall time is noisy on a shared machine;
// CPU per posting is what the code costs. "udp" is unicast on loopback
// (user and kernel time: sys includes the sockets); "mem" is the in-process
// hub, where all the time is the library's own.
func BenchmarkCPUPerPosting(b *testing.B) {
	for _, tr := range []string{"udp", "mem"} {
		for _, size := range []int{64, 64 << 10} {
			b.Run(fmt.Sprintf("%s/reliable/%dB", tr, size), func(b *testing.B) {
				var got atomic.Int64
				recv := func(*posting.Posting) { got.Add(1) }
				var tx *Channel
				if tr == "udp" {
					tx = benchPair(b, "", recv, nil, WithQoS("reliable"))
				} else {
					tx = benchMemPair(b, recv, WithQoS("reliable"))
				}
				body := make([]byte, size)
				user0, sys0 := processCPU(b)
				n := pushLoop(b, tx, body)
				waitDeliveries(&got, n)
				user, sys := processCPU(b)
				if d := got.Load(); d < int64(n) {
					b.Fatalf("delivered %d of %d postings", d, n)
				}
				per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(n) / 1000 }
				b.ReportMetric(per(user-user0+sys-sys0), "cpu-µs/posting")
				b.ReportMetric(per(user-user0), "user-µs/posting")
			})
		}
	}
}

// benchMemPair opens a receiver calling recv for each posting and a
// blocking sender on a fresh mem:// hub, closed when the benchmark ends,
// and returns the sender.
func benchMemPair(b *testing.B, recv func(*posting.Posting), txOpts ...Option) *Channel {
	url := fmt.Sprintf("mem://bench-cpu-%d", time.Now().UnixNano())
	rx, err := Open(context.Background(), url, txOpts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { rx.Close() })
	rx.SubscribeFunc(recv)
	tx, err := Open(context.Background(), url, append([]Option{WithBlockingPush()}, txOpts...)...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { tx.Close() })
	return tx
}

// processCPU is the user and system CPU time the process has used so far.
func processCPU(tb testing.TB) (user, sys time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}
