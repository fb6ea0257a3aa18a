package tiles

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

// BenchmarkDiffCompress: one frame of the 1920×1080 synthetic desktop
// (about 5 % of the 64×64 tiles changed) diffed against the last and its
// changed tiles compressed, per tile size; the frame's generation is not
// timed. Run it on one core: -cpu=1. Beside wall time per frame it
// reports the CPU time the encoding thread used per frame (cpu-ms/frame,
// on Linux), which a busy shared machine does not inflate.
func BenchmarkDiffCompress(b *testing.B) {
	for _, ts := range []int{32, 48, 64, 128} {
		b.Run(fmt.Sprintf("tile=%d", ts), func(b *testing.B) {
			d := NewDesktop(1920, 1080, 1)
			e, err := NewEncoder(Geometry{Width: 1920, Height: 1080, Tile: ts})
			if err != nil {
				b.Fatal(err)
			}
			var idx []int
			var buf []byte
			full := 0
			m := d.Next()
			for _, i := range e.Diff(nil, m) {
				buf = e.Compress(buf[:0], m, i)
				full += len(buf)
			}
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			b.ReportAllocs()
			b.ResetTimer()
			bytes, tiles := 0, 0
			var cpu time.Duration
			cpuOK := true
			for b.Loop() {
				b.StopTimer()
				m := d.Next()
				b.StartTimer()
				c0, ok0 := threadCPU()
				idx = e.Diff(idx[:0], m)
				for _, i := range idx {
					buf = e.Compress(buf[:0], m, i)
					bytes += len(buf)
				}
				tiles += len(idx)
				c1, ok1 := threadCPU()
				cpu += c1 - c0
				cpuOK = cpuOK && ok0 && ok1
			}
			if cpuOK {
				b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/frame")
			}
			b.ReportMetric(float64(bytes)/float64(b.N), "B/frame")
			b.ReportMetric(float64(tiles)/float64(b.N), "tiles/frame")
			b.ReportMetric(float64(full), "B/full-image")
		})
	}
}

// BenchmarkReceive: a receiver applying one frame's tile messages
// (decompressing and drawing them) and the manifest.
func BenchmarkReceive(b *testing.B) {
	d := NewDesktop(1920, 1080, 1)
	s, _ := NewSender(Config{Seed: 1, Rate: 1 << 40})
	r := NewReceiver(RecvConfig{})
	now := simEpoch
	outs, _ := s.Frame(now, d.Next())
	for _, o := range outs {
		r.Handle(now, 1, o.Body)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		now = now.Add(100e6)
		outs, _ := s.Frame(now, d.Next())
		b.StartTimer()
		for _, o := range outs {
			if err := r.Handle(now, 1, o.Body); err != nil {
				b.Fatal(err)
			}
		}
	}
}
