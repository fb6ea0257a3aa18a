package sign_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/registry"
	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/stack/stacktest"
)

// BenchmarkPosting sends postings through a stacktest Pair (sender stack,
// in-memory link, receiver stack) at a 1500-byte MTU: frag alone, and frag
// over sign signing each fragment or batches of 16. The figures include
// the harness's own copies (the link copies every packet, the collector
// every delivered posting), the same in every row.
func BenchmarkPosting(b *testing.B) {
	id := ident(b, 1)
	env := registry.Env{Identity: id, Trusted: trust(b, id)}
	for _, size := range []int{1 << 10, 64 << 10} {
		for _, m := range []struct{ name, qos string }{
			{"nosign", "frag"},
			{"batch=1", "frag/sign(batch=1)"},
			{"batch=16", "frag/sign(batch=16)"},
		} {
			b.Run(sizeName(size)+"/"+m.name, func(b *testing.B) {
				la, err := registry.Build(m.qos, env)
				if err != nil {
					b.Fatal(err)
				}
				lb, err := registry.Build(m.qos, env)
				if err != nil {
					b.Fatal(err)
				}
				p, err := stacktest.NewPair(b, la, lb, stacktest.PairConfig{MTU: 1500, Flow: testFlow})
				if err != nil {
					b.Fatal(err)
				}
				data := payload(size, 1)
				delivered := 0
				b.ReportAllocs()
				b.SetBytes(int64(size))
				for b.Loop() {
					if err := p.Send(data, stack.Meta{}); err != nil {
						b.Fatal(err)
					}
					p.Link.Flush()
					delivered += len(p.GotB.Take())
				}
				b.StopTimer()
				p.Clock.Advance(2 * time.Millisecond) // the last batch's SIG
				p.Link.Flush()
				delivered += len(p.GotB.Take())
				if delivered != b.N {
					b.Fatalf("delivered %d of %d", delivered, b.N)
				}
			})
		}
	}
}

func sizeName(n int) string {
	if n >= 1<<10 {
		return strconv.Itoa(n>>10) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}
