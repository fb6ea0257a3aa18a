package tiles

import (
	"bytes"
	"image"
	"testing"
	"time"
)

// FuzzDecode: Decode never panics; what decodes re-encodes to the same
// bytes; a receiver fed any message never panics, and an error is counted
// as malformed.
func FuzzDecode(f *testing.F) {
	s, _ := NewSender(Config{Seed: 1})
	outs, _ := s.Frame(simEpoch, NewDesktop(320, 240, 1).Next())
	for _, o := range outs[:3] {
		f.Add(o.Body)
	}
	f.Add(appendManifest(nil, 9, []Entry{{1, 2}, {3, 4}}))
	f.Add(appendNak(nil, 5, []Entry{{6, 0}}))
	f.Add([]byte{KindJoin})
	f.Add(appendTile(nil, FlagRefresh, Geometry{Width: 64, Height: 64, Tile: 64}, 0, 1, 1, 0, []byte("not zstd")))
	small := NewDesktop(320, 240, 1).Next().SubImage(image.Rect(100, 50, 228, 114))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err == nil {
			var re []byte
			switch m.Kind {
			case KindTile:
				re = appendTile(nil, m.Flags, m.Geo, int(m.Index), m.Version, m.Frame, int(m.Left), m.Payload)
				re[19] = b[19]
			case KindManifest:
				re = appendManifest(nil, m.Frame, m.Entries)
			case KindNak:
				re = appendNak(nil, m.Target, m.Entries)
			case KindJoin:
				re = []byte{KindJoin}
			}
			if !bytes.Equal(re, b) {
				t.Fatalf("%x decodes to %+v, which encodes to %x", b, m, re)
			}
		}
		r := NewReceiver(RecvConfig{MaxPixels: 1 << 20})
		before := r.Stats().Malformed
		if err := r.Handle(simEpoch, 1, b); err != nil && r.Stats().Malformed == before {
			t.Fatalf("error %v not counted", err)
		}
		r.Poll(simEpoch.Add(time.Second))
		snd, _ := NewSender(Config{Seed: 1, Tile: 32})
		snd.Frame(simEpoch, small) // 4×2 tiles
		snd.Handle(simEpoch, 0, b)
		snd.Poll(simEpoch.Add(time.Second))
	})
}
