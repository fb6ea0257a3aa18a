package udpio

import (
	"fmt"
	"testing"
	"time"
)

// benchCases calls f for each implementation, datagram size and GSO
// setting (GSO only where the implementation has it).
func benchCases(b *testing.B, f func(b *testing.B, impl implKind, size int, gso bool)) {
	for _, impl := range testImpls() {
		for _, size := range []int{64, 1400} {
			for _, gso := range []bool{true, false} {
				if gso && (impl != implFast || !haveFast) {
					continue
				}
				b.Run(fmt.Sprintf("impl=%v/size=%d/gso=%v", impl, size, gso), func(b *testing.B) { f(b, impl, size, gso) })
			}
		}
	}
}

// BenchmarkWriteReadTrain measures one WriteTo of a train of 32 datagrams
// over loopback followed by ReadBatch calls until all 32 arrived, with and
// without GSO on the sender (the receiver has GRO when the kernel offers
// it; GRO only coalesces GSO trains on loopback). One op = 32 datagrams.
func BenchmarkWriteReadTrain(b *testing.B) {
	const trainLen = 32
	benchCases(b, func(b *testing.B, impl implKind, size int, gso bool) {
		snd, rcv := listenLoopback(b, impl, false), listenLoopback(b, impl, false)
		snd.SetGSO(gso)
		if gso && !snd.GSO() {
			b.Skip("GSO not supported")
		}
		buf := train(trainLen, size, 0)
		msgs := make([]Message, trainLen)
		for i := range msgs {
			msgs[i].Buf = make([]byte, 64<<10)
		}
		b.ReportAllocs()
		b.SetBytes(int64(len(buf)))
		start := time.Now()
		for b.Loop() {
			roundTrip(b, snd, rcv, buf, size, trainLen, msgs)
		}
		elapsed := time.Since(start)
		b.ReportMetric(float64(b.N*trainLen)/elapsed.Seconds(), "datagrams/s")
		b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N*trainLen), "ns/datagram")
	})
}

// BenchmarkWriteOnly measures the send side alone (32-datagram trains to a
// socket nobody reads; the kernel drops what overflows its buffer, which
// does not slow the sender). One op = 32 datagrams.
func BenchmarkWriteOnly(b *testing.B) {
	const trainLen = 32
	benchCases(b, func(b *testing.B, impl implKind, size int, gso bool) {
		snd, rcv := listenLoopback(b, impl, false), listenLoopback(b, impl, false)
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
