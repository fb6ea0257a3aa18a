//go:build linux

package udpio

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkWriteReadTrain measures one WriteTo of a train of 32 datagrams
// over loopback followed by ReadBatch calls until all 32 arrived, with and
// without GSO on the sender (the receiver has GRO when the kernel offers
// it; GRO only coalesces GSO trains on loopback). One op = 32 datagrams.
func BenchmarkWriteReadTrain(b *testing.B) {
	const trainLen = 32
	for _, size := range []int{64, 1400} {
		for _, gso := range []bool{true, false} {
			b.Run(fmt.Sprintf("size=%d/gso=%v", size, gso), func(b *testing.B) {
				snd, rcv := listenLoopback(b, false), listenLoopback(b, false)
				snd.SetGSO(gso)
				if gso && !snd.GSO() {
					b.Skip("GSO not supported")
				}
				buf := train(trainLen, size, 0)
				msgs := make([]Message, trainLen)
				for i := range msgs {
					msgs[i].Buf = make([]byte, 64<<10)
				}
				dst := rcv.LocalAddr()
				b.ReportAllocs()
				b.SetBytes(int64(len(buf)))
				start := time.Now()
				for b.Loop() {
					if err := snd.WriteTo(buf, size, dst); err != nil {
						b.Fatal(err)
					}
					for got := 0; got < trainLen; {
						n, err := rcv.ReadBatch(msgs)
						if err != nil {
							b.Fatal(err)
						}
						for i := range n {
							for range msgs[i].Datagrams {
								got++
							}
						}
					}
				}
				elapsed := time.Since(start)
				b.ReportMetric(float64(b.N*trainLen)/elapsed.Seconds(), "datagrams/s")
				b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N*trainLen), "ns/datagram")
			})
		}
	}
}

// BenchmarkWriteOnly measures the send side alone (32-datagram trains to a
// socket nobody reads; the kernel drops what overflows its buffer, which
// does not slow the sender). One op = 32 datagrams.
func BenchmarkWriteOnly(b *testing.B) {
	const trainLen = 32
	for _, size := range []int{64, 1400} {
		for _, gso := range []bool{true, false} {
			b.Run(fmt.Sprintf("size=%d/gso=%v", size, gso), func(b *testing.B) {
				snd, rcv := listenLoopback(b, false), listenLoopback(b, false)
				snd.SetGSO(gso)
				if gso && !snd.GSO() {
					b.Skip("GSO not supported")
				}
				buf := train(trainLen, size, 0)
				dst := rcv.LocalAddr()
				b.ReportAllocs()
				b.SetBytes(int64(len(buf)))
				start := time.Now()
				for b.Loop() {
					if err := snd.WriteTo(buf, size, dst); err != nil {
						b.Fatal(err)
					}
				}
				elapsed := time.Since(start)
				b.ReportMetric(float64(b.N*trainLen)/elapsed.Seconds(), "datagrams/s")
			})
		}
	}
}
