package compress

import (
	"bytes"
	"testing"

	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/stack/stacktest"
)

// fuzzMax is the receivers' max in the fuzz targets: small, so a packet
// that declares it costs little, and crossed easily by the seeds.
const fuzzMax = 64 << 10

// FuzzReceive feeds arbitrary bytes to a compress receiver: it must never
// panic, deliver at most one packet of at most max bytes (or drop and count
// it), and leak nothing.
func FuzzReceive(f *testing.F) {
	text := TextLike(5000, 1)
	for _, a := range algos {
		p, _, _ := pair(f, config(a, 1))
		for _, in := range [][]byte{text, text[:100], make([]byte, 4000), Random(300, 1)} {
			if err := p.Send(in, stack.Meta{}); err != nil {
				f.Fatal(err)
			}
			for _, b := range p.Link.Queued(stacktest.AtoB) {
				f.Add(b)
			}
			p.Link.Flush()
		}
	}
	f.Add([]byte{})
	f.Add([]byte{kindStored})
	f.Add([]byte{kindS2, 0})
	f.Add([]byte{kindZstd, 0})
	f.Add([]byte{kindZstd, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add(ZstdRLEFrame(1000, 1000, 1000))
	f.Add(ZstdRLEFrame(fuzzMax, fuzzMax, fuzzMax))
	f.Add(ZstdRLEFrame(fuzzMax+1, fuzzMax+1, fuzzMax+1))
	f.Add(ZstdRLEFrame(100, 100, 1<<20))
	f.Add(S2ZeroBlock(fuzzMax, fuzzMax))
	f.Add(S2ZeroBlock(fuzzMax+1, fuzzMax+1))
	f.Add(S2ZeroBlock(100, 1<<20))
	cfg := DefaultConfig()
	cfg.Max = fuzzMax
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		c := &stacktest.Collector{}
		pool := stack.NewPool()
		rx, err := stack.New(stack.Config{Layers: []stack.Layer{l}, MTU: 1 << 20, Pool: pool,
			Wire:    stack.HandlerFunc(func(p *stack.Packet) error { p.Release(); return nil }),
			Deliver: c})
		if err != nil {
			t.Fatal(err)
		}
		rx.Up(pool.FromBytes(0, b))
		got := c.Take()
		var dropped uint64
		for _, n := range drops(rx) {
			dropped += n
		}
		switch {
		case len(got)+int(dropped) != 1:
			t.Fatalf("%d delivered, %d dropped", len(got), dropped)
		case len(got) == 1 && len(got[0].Bytes) > fuzzMax+HeaderAllowance:
			t.Fatalf("delivered %d bytes, max %d and %d of headers", len(got[0].Bytes), fuzzMax, HeaderAllowance)
		case len(got) == 1 && b[0] == kindStored && !bytes.Equal(got[0].Bytes, b[1:]):
			t.Fatal("stored payload changed")
		}
		rx.Close()
		if n := pool.Outstanding(); n != 0 {
			t.Fatalf("%d packets not released", n)
		}
	})
}

// FuzzRoundTrip sends arbitrary payloads through a sender and a receiver
// with the algorithm, level and min the input picks: each must arrive
// intact, as at most one byte more than it is.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte{}, false, uint8(1), uint16(64))
	f.Add(TextLike(3000, 2), false, uint8(1), uint16(64))
	f.Add(TextLike(3000, 2), true, uint8(3), uint16(0))
	f.Add(make([]byte, 10000), true, uint8(1), uint16(0))
	f.Add(Random(2000, 3), false, uint8(2), uint16(1))
	f.Add(bytes.Repeat([]byte("abc"), 50), true, uint8(11), uint16(10))
	f.Fuzz(func(t *testing.T, in []byte, useZstd bool, level uint8, minSize uint16) {
		cfg := DefaultConfig()
		cfg.Algo, cfg.Level, cfg.Min = S2, 1+int(level)%MaxS2Level, int(minSize)
		if useZstd {
			// Levels 1, 3, 6, 10: one of each speed.
			cfg.Algo, cfg.Level = Zstd, []int{1, 3, 6, 10}[level%4]
		}
		a, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := New(cfg)
		p, err := stacktest.NewPair(nil, []stack.Layer{a}, []stack.Layer{b}, stacktest.PairConfig{MTU: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if err := p.Send(in, stack.Meta{}); err != nil {
			t.Fatal(err)
		}
		if w := p.Link.Queued(stacktest.AtoB); len(w) != 1 || len(w[0]) > len(in)+HeaderLen {
			t.Fatalf("%d bytes became %d packets, the first %d bytes", len(in), len(w), len(w[0]))
		}
		p.Link.Flush()
		if got := p.GotB.Take(); len(got) != 1 || !bytes.Equal(got[0].Bytes, in) {
			t.Fatalf("%d bytes did not come back intact", len(in))
		}
	})
}
