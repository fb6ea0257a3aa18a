package ratelimit_test

import (
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/layers/ratelimit"
	"github.com/rwanda-go/rwanda/stack"
)

func benchStack(b *testing.B, layers []stack.Layer, clock stack.Clock) *stack.Stack {
	release := stack.HandlerFunc(func(p *stack.Packet) error { p.Release(); return nil })
	s, err := stack.New(stack.Config{Layers: layers, Wire: release, Deliver: release, MTU: 1500, Clock: clock, Pool: stack.NewPool()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkPassThrough is the cost of a packet that the bucket lets
// through at once, against an empty stack ("none").
func BenchmarkPassThrough(b *testing.B) {
	clock := stack.NewManualClock(time.Time{})
	for _, tc := range []struct {
		name   string
		layers func() []stack.Layer
	}{
		{"none", func() []stack.Layer { return nil }},
		{"ratelimit", func() []stack.Layer {
			l, _ := ratelimit.New(ratelimit.Config{Rate: ratelimit.MaxRate})
			return []stack.Layer{l}
		}},
		{"ratelimit-peak", func() []stack.Layer {
			l, _ := ratelimit.New(ratelimit.Config{Rate: ratelimit.MaxRate, Peak: ratelimit.MaxRate})
			return []stack.Layer{l}
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s := benchStack(b, tc.layers(), clock)
			payload := make([]byte, 1200)
			b.ReportAllocs()
			b.SetBytes(int64(len(payload)))
			for b.Loop() {
				p := s.NewPacket(len(payload))
				p.Append(payload)
				clock.Advance(time.Microsecond)
				if err := s.Down(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPaced is the cost of a packet that waits in the queue and is
// released by the timer: each is sent as the previous one's tokens run out.
func BenchmarkPaced(b *testing.B) {
	clock := stack.NewManualClock(time.Time{})
	l, _ := ratelimit.New(ratelimit.Config{Rate: 1.2e9, Bucket: 1200})
	s := benchStack(b, []stack.Layer{l}, clock)
	payload := make([]byte, 1200)
	b.ReportAllocs()
	b.SetBytes(2 * int64(len(payload)))
	for b.Loop() {
		for range 2 {
			p := s.NewPacket(len(payload))
			p.Append(payload)
			s.Down(p)
		}
		clock.Advance(2 * time.Microsecond) // 2400 bytes at 1.2 GB/s
	}
	b.StopTimer()
	if l.Pending() > 2 {
		b.Fatalf("%d pending: the queue grows", l.Pending())
	}
}
