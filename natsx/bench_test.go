package natsx

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/posting"
)

// BenchmarkPush1KiB: 1 KiB postings on the reliable profile from one
// channel to another over the in-process embedded server, until all are
// delivered (both ends and the broker in this process). rwbench's
// "rwanda-nats" rows measure across processes; this is for profiles.
func BenchmarkPush1KiB(b *testing.B) {
	url := embeddedURL(b)
	rx := openCh(b, url)
	tx := openCh(b, url, channel.WithBlockingPush())
	var got atomic.Int64
	done := make(chan struct{})
	want := int64(b.N)
	rx.SubscribeFunc(func(*posting.Posting) {
		if got.Add(1) == want {
			close(done)
		}
	})
	body := make([]byte, 1024)
	ctx := context.Background()
	b.SetBytes(1024)
	b.ResetTimer()
	for range b.N {
		if err := tx.Push(ctx, posting.New(body)); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-done:
	case <-time.After(waitTimeout + time.Duration(b.N)*time.Millisecond):
		b.Fatalf("%d of %d delivered; receiver drops %v", got.Load(), want, rx.Stats().Drops)
	}
	st := tx.Stats()
	b.ReportMetric(float64(st.Sent.Postings)/float64(max(st.Sent.Datagrams, 1)), "postings/datagram")
}
