package fec

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/layers/frag"
	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/stack/stacktest"
)

// Target 1: point to point, i.i.d. 2% loss and 40 ms one way in both
// directions (impair, seeded), semi-reliable postings of 16 fragments with
// a 150 ms deadline, one every 20 ms, on the manual clock. Parity comes
// from the loss the receiver reports (parity=auto); what it cannot repair
// the window retransmits. The figures are the issue's: delivered whole
// before the deadline ≥ 99.9%, ≥ 95% without a retransmission (bounded
// here by counting every retransmitted packet as costing its own
// posting), overhead (parity shards and retransmitted fragments over the
// data) ≤ 15%.
func TestTargetPointToPointLoss2Percent(t *testing.T) {
	for _, seed := range []uint64{1, 2} {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			r := runPointToPoint(t, seed, "fec(parity=auto)", 3000)
			t.Logf("seed %d: %d postings, delivered whole in time %.3f%%, without retransmission ≥ %.2f%%, overhead %.2f%% (parity %.2f%%, retransmitted %.2f%%); recovered %d, parity-useless %d",
				seed, r.n, 100*r.delivered, 100*r.clean, 100*r.overhead, 100*r.parity, 100*r.retx, r.recovered, r.useless)
			if r.delivered < 0.999 {
				t.Errorf("delivered whole in time %.3f%%, want ≥ 99.9%%", 100*r.delivered)
			}
			if r.clean < 0.95 {
				t.Errorf("postings without retransmission ≥ %.2f%%, want ≥ 95%%", 100*r.clean)
			}
			if r.overhead > 0.15 {
				t.Errorf("overhead %.2f%%, want ≤ 15%%", 100*r.overhead)
			}
		})
	}
}

// The same run without fec shows what the layer changes: far more
// postings need a retransmission.
func TestTargetPointToPointWithoutFec(t *testing.T) {
	with := runPointToPoint(t, 1, "fec(parity=auto)", 1000)
	without := runPointToPoint(t, 1, "", 1000)
	t.Logf("without fec: delivered %.3f%%, without retransmission ≥ %.2f%%; with: %.3f%%, ≥ %.2f%%",
		100*without.delivered, 100*without.clean, 100*with.delivered, 100*with.clean)
	if without.clean >= with.clean {
		t.Errorf("without fec %.2f%% of postings need no retransmission, with fec %.2f%%: fec should need fewer", 100*without.clean, 100*with.clean)
	}
}

type p2pResult struct {
	n                                        int
	delivered, clean, overhead, parity, retx float64
	recovered, useless                       uint64
}

func runPointToPoint(t *testing.T, seed uint64, fecQoS string, n int) p2pResult {
	t.Helper()
	qos := func(s uint64) string {
		q := "frag/order/window(iw=128)"
		if fecQoS != "" {
			q += "/" + fecQoS
		}
		return q + fmt.Sprintf("/impair(loss=2%%,delay=40ms,seed=%d)", s)
	}
	p, err := stacktest.NewPair(t, layersOf(t, qos(seed)), layersOf(t, qos(seed+1000)),
		stacktest.PairConfig{MTU: 1200, Flow: stack.Flow{PointToPoint: true}})
	if err != nil {
		t.Fatal(err)
	}
	fs := find[*frag.Layer](p.A).FragmentSize()
	size := 16 * fs
	const every, ttl = 20 * time.Millisecond, 150 * time.Millisecond
	sentAt := make(map[uint32]time.Time)
	ok := make(map[uint32]bool)
	next := p.Clock.Now()
	collect := func() {
		for _, d := range p.GotB.Take() {
			id, good := intact(d.Bytes, size)
			if at, sent := sentAt[id]; good && sent && !p.Clock.Now().After(at.Add(ttl)) {
				ok[id] = true
			}
		}
	}
	for id := uint32(0); id < uint32(n); {
		if !p.Clock.Now().Before(next) {
			sentAt[id] = p.Clock.Now()
			if err := p.A.Down(posting(p.A, id, size, p.Clock.Now().Add(ttl))); err != nil {
				t.Fatal(err)
			}
			id++
			next = next.Add(every)
		}
		p.Link.Flush()
		collect()
		p.Clock.Advance(time.Millisecond)
	}
	for range 500 {
		p.Link.Flush()
		collect()
		p.Clock.Advance(time.Millisecond)
	}
	retx := counter(p.A, "window", "retransmits")
	parityBytes := counter(p.A, "fec", "parity-bytes")
	data := float64(n * size)
	r := p2pResult{n: n, delivered: float64(len(ok)) / float64(n), clean: 1 - float64(retx)/float64(n),
		parity: float64(parityBytes) / data, retx: float64(retx) * float64(fs) / data,
		recovered: counter(p.B, "fec", "recovered"), useless: counter(p.B, "fec", "parity-useless")}
	r.overhead = r.parity + r.retx
	return r
}

// Target 2: multicast to 8 receivers, each losing 2% of what the sender
// sends independently (seeded), 40 ms one way both ways (impair), reliable
// postings of 16 fragments. Parity only answers NAKs (parity=off). Repair
// (parity and retransmitted packets) must be at most 1.2× the lower
// bound — the sum over blocks of the most data packets any one receiver
// lost of the block — and at most half of what retransmitting each
// receiver's losses would send.
func TestTargetMulticastRepair(t *testing.T) {
	for _, seed := range []uint64{1, 2} {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			const receivers, n = 8, 600
			g, err := stacktest.NewGroup(t, receivers, func() []stack.Layer {
				return layersOf(t, "frag/order/window/fec(parity=off,k=32)/impair(delay=40ms)")
			}, stacktest.GroupConfig{MTU: 1200})
			if err != nil {
				t.Fatal(err)
			}
			lost := make([]map[uint32]int, receivers) // per receiver: data packets lost per block
			for i := range receivers {
				lost[i] = make(map[uint32]int)
				rng := rand.New(rand.NewPCG(seed, uint64(i)))
				g.SetFilter(i, func(_ stacktest.Direction, _ int, b []byte) int {
					if rng.Float64() >= 0.02 {
						return 1
					}
					if h, ok := wireHeader(b); ok && h.Kind == kindData {
						lost[i][h.Block]++
					}
					return 0
				})
			}
			fs := find[*frag.Layer](g.Sender).FragmentSize()
			size := 16 * fs
			got := make([]map[uint32]bool, receivers)
			for i := range got {
				got[i] = make(map[uint32]bool)
			}
			collect := func() {
				for i, c := range g.Got {
					for _, d := range c.Take() {
						if id, ok := intact(d.Bytes, size); ok {
							got[i][id] = true
						}
					}
				}
			}
			for id := uint32(0); id < n; id++ {
				if err := g.Sender.Down(posting(g.Sender, id, size, time.Time{})); err != nil {
					t.Fatal(err)
				}
				for range 20 {
					g.Flush()
					collect()
					g.Clock.Advance(time.Millisecond)
				}
			}
			for range 3000 {
				g.Flush()
				collect()
				g.Clock.Advance(time.Millisecond)
			}
			for i := range receivers {
				if len(got[i]) != n {
					t.Fatalf("receiver %d got %d of %d postings", i, len(got[i]), n)
				}
			}
			var bound, perReceiver int
			blocks := map[uint32]int{}
			for i := range receivers {
				for b, c := range lost[i] {
					perReceiver += c
					blocks[b] = max(blocks[b], c)
				}
			}
			for _, c := range blocks {
				bound += c
			}
			parity := counter(g.Sender, "fec", "parity-sent")
			retx := counter(g.Sender, "window", "retransmits")
			if bound == 0 || parity == 0 {
				t.Fatalf("lower bound %d, parity %d: the filter is broken", bound, parity)
			}
			// In bytes: every data packet below the window is the same
			// size, and a shard is that and its 2-byte length.
			shard := float64(counter(g.Sender, "fec", "parity-bytes")) / float64(parity)
			pkt := shard - lenPrefix
			repair := float64(parity)*shard + float64(retx)*pkt
			lower, unicast := float64(bound)*pkt, float64(perReceiver)*pkt
			t.Logf("seed %d: repair %.0f bytes (%d parity shards of %.0f, %d retransmitted packets of %.0f); lower bound %.0f (%d packets; repair %.3f×); per-receiver retransmission %.0f (%d packets; repair %.3f×); nak-answered %d, nak-suppressed %d",
				seed, repair, parity, shard, retx, pkt, lower, bound, repair/lower, unicast, perReceiver, repair/unicast,
				counter(g.Sender, "fec", "nak-answered"), counter(g.Sender, "fec", "nak-suppressed"))
			if n := drops(g.Sender, "window", "malformed"); n != 0 {
				t.Errorf("the sender's window dropped %d malformed packets", n)
			}
			if repair > 1.2*lower {
				t.Errorf("repair is %.3f× the lower bound, want ≤ 1.2×", repair/lower)
			}
			if repair > 0.5*unicast {
				t.Errorf("repair is %.3f× per-receiver retransmission, want ≤ 0.5×", repair/unicast)
			}
		})
	}
}
