package playout

import (
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/posting"
)

// BenchmarkPushNext: one posting pushed and played, the yardstick's trace
// over and over (one stream; time moves on by 120 s each lap).
func BenchmarkPushNext(b *testing.B) {
	ps := yardstick(1)
	buf := New(Config{})
	p := make([]posting.Posting, len(ps))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := i % len(ps)
		lap := time.Duration(i/len(ps)) * 120 * time.Second
		if ps[k].lost {
			continue
		}
		p[k] = posting.Posting{Seq: ps[k].seq, Sent: ps[k].sent.Add(lap)}
		arr := ps[k].arr.Add(lap)
		for {
			d, ok := buf.Due()
			if !ok || !d.Before(arr) {
				break
			}
			buf.Next(d)
		}
		buf.Push(&p[k], arr)
	}
}
