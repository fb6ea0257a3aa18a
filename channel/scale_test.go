package channel

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/posting"
)

// BenchmarkScaleStreams measures the live heap one idle stream costs,
// sender and receiver together (unicast on loopback, reliable): b.N
// streams, one 64-byte posting each, every posting delivered. The target
// (issue 30) is 16 KiB per stream.
func BenchmarkScaleStreams(b *testing.B) {
	port := freePortTB(b)
	rx, err := Open(context.Background(), "scale://:"+strconv.Itoa(port), WithLimits(b.N+64, 64))
	if err != nil {
		b.Fatal(err)
	}
	defer rx.Close()
	var got atomic.Int64
	rx.SubscribeFunc(func(*posting.Posting) { got.Add(1) })
	tx, err := Open(context.Background(), "scale://127.0.0.1:"+strconv.Itoa(port), WithBlockingPush())
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Close()
	body := make([]byte, 64)
	must(b, tx.Push(context.Background(), posting.New(body, posting.WithStream("warm"))))
	for deadline := time.Now().Add(10 * time.Second); got.Load() < 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("nothing delivered")
		}
	}
	before := liveHeap()
	b.ResetTimer()
	for i := range b.N {
		must(b, tx.Push(context.Background(), posting.New(body, posting.WithStream(fmt.Sprint("s", i)))))
	}
	for deadline := time.Now().Add(60 * time.Second); got.Load() < int64(b.N)+1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d delivered; receiver drops %v", got.Load()-1, b.N, rx.Stats().Drops)
		}
	}
	b.StopTimer()
	after := liveHeap()
	b.ReportMetric(float64(after-min(after, before))/float64(b.N)/1024, "KiB/stream")
}

// BenchmarkScaleChannels measures the live heap one opened channel costs
// with its member at a listener (unicast on loopback): b.N channels each
// push one posting to one listener; once every posting is delivered and
// the sockets have been quiet for a few announce intervals (quiet readers
// give their read buffers back), the heap grown is divided by b.N. The
// target (issue 30) is 64 KiB per opened channel.
func BenchmarkScaleChannels(b *testing.B) {
	const announce = 50 * time.Millisecond
	port := freePortTB(b)
	rx, err := Open(context.Background(), "scale://:"+strconv.Itoa(port), WithLimits(max(b.N, 64)*2, max(b.N, 64)+8), WithAnnounceInterval(announce))
	if err != nil {
		b.Fatal(err)
	}
	defer rx.Close()
	var got atomic.Int64
	rx.SubscribeFunc(func(*posting.Posting) { got.Add(1) })
	before := liveHeap()
	b.ResetTimer()
	cs := make([]*Channel, b.N)
	for i := range cs {
		if cs[i], err = Open(context.Background(), "scale://127.0.0.1:"+strconv.Itoa(port), WithAnnounceInterval(announce)); err != nil {
			b.Fatal(err)
		}
		defer cs[i].Close()
		must(b, cs[i].Push(context.Background(), posting.New("x")))
	}
	for deadline := time.Now().Add(60 * time.Second); got.Load() < int64(b.N); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d delivered; listener drops %v", got.Load(), b.N, rx.Stats().Drops)
		}
	}
	b.StopTimer()
	time.Sleep(4 * announce) // quiet: readers give their buffers back at their next hello
	after := liveHeap()
	b.ReportMetric(float64(after-min(after, before))/float64(b.N)/1024, "KiB/channel")
}
