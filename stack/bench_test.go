package stack

import "testing"

type noop struct {
	Base
	name string
}

func (l *noop) Name() string { return l.name }

// hdr pushes and consumes a 4-byte header: a no-op that still touches the
// packet the way real layers do.
type hdr struct{ Base }

func (l *hdr) Name() string  { return "hdr" }
func (l *hdr) Overhead() int { return 4 }
func (l *hdr) Down(p *Packet) error {
	copy(p.Push(4), "HDR!")
	return l.Base.Down(p)
}
func (l *hdr) Up(p *Packet) error {
	if _, ok := p.Consume(4); !ok {
		l.Binding().Drop(p, "short")
		return nil
	}
	return l.Base.Up(p)
}

// BenchmarkStack3 sends a 64-byte packet down and back up a three-layer
// stack. Target: zero allocations per packet in steady state.
func BenchmarkStack3(b *testing.B) {
	for _, c := range []struct {
		name   string
		layers func() []Layer
	}{
		{"noop", func() []Layer { return []Layer{&noop{name: "a"}, &noop{name: "b"}, &noop{name: "c"}} }},
		{"headers", func() []Layer { return []Layer{&hdr{}, &hdr{}, &hdr{}} }},
	} {
		b.Run(c.name, func(b *testing.B) {
			pool := NewPool()
			release := HandlerFunc(func(p *Packet) error { p.Release(); return nil })
			var up *Stack
			loop := HandlerFunc(func(p *Packet) error { return up.Up(p) })
			down, err := New(Config{Layers: c.layers(), Wire: loop, Deliver: release, MTU: 1500, Pool: pool})
			if err != nil {
				b.Fatal(err)
			}
			up, err = New(Config{Layers: c.layers(), Wire: release, Deliver: release, MTU: 1500, Pool: pool})
			if err != nil {
				b.Fatal(err)
			}
			payload := make([]byte, 64)
			b.ReportAllocs()
			b.SetBytes(64)
			for b.Loop() {
				p := down.NewPacket(64)
				p.Append(payload)
				if err := down.Down(p); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if st := up.Stats(); st.Delivered != st.Up {
				b.Fatalf("delivered %d of %d", st.Delivered, st.Up)
			}
		})
	}
}
