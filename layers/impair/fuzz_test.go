package impair

import (
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/stack/stacktest"
)

// FuzzReceive drives the impairment layer's receive path with an arbitrary
// configuration (from the first bytes) and an arbitrary script of packets
// and clock steps: nothing may panic or leak, and no more packets come out
// than went in times two (duplication makes at most one extra copy).
func FuzzReceive(f *testing.F) {
	f.Add([]byte{10, 20, 30, 40, 5, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte{255, 255, 255, 255, 255, 0, 0, 0, 0})
	f.Add([]byte{0, 0, 0, 0, 0, 200, 100})
	f.Fuzz(func(t *testing.T, script []byte) {
		if len(script) < 5 {
			return
		}
		cfg := DefaultConfig()
		cfg.Dir = DirUp
		cfg.Loss = float64(script[0]) / 256
		cfg.Reorder = float64(script[1]) / 256
		cfg.Dup = float64(script[2]) / 256
		cfg.Corrupt = float64(script[3]) / 256
		cfg.Burst = 1 + float64(script[4]%8)
		cfg.Delay = time.Duration(script[4]%4) * time.Millisecond
		cfg.Seed = int64(len(script))
		l, err := New(cfg)
		if err != nil {
			return // a configuration Validate refuses
		}
		clock := stack.NewManualClock(stack.ManualEpoch)
		pool := stack.NewPool()
		got := &stacktest.Collector{}
		st, err := stack.New(stack.Config{Layers: []stack.Layer{l}, MTU: 1500, Clock: clock, Pool: pool, Deliver: got,
			Wire: stack.HandlerFunc(func(p *stack.Packet) error { p.Release(); return nil })})
		if err != nil {
			t.Fatal(err)
		}
		in := 0
		for _, b := range script[5:] {
			if b%5 == 0 {
				clock.Advance(time.Duration(b) * time.Millisecond)
				continue
			}
			st.Up(pool.FromBytes(0, []byte{b, b, b}))
			in++
		}
		clock.Advance(time.Second)
		if n := got.Len(); n > 2*in {
			t.Fatalf("%d packets in, %d out", in, n)
		}
		st.Close()
		if n := pool.Outstanding(); n != 0 {
			t.Fatalf("%d packets leaked", n)
		}
	})
}
