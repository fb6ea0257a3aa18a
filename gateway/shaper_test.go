package gateway

import (
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/posting"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func mk(n int, media posting.Media, droppable bool, at time.Time) *Item {
	return &Item{B: make([]byte, n), Sender: 1, Stream: 1, Media: media, Droppable: droppable, At: at, Packets: 1,
		HasLeft: droppable, Left: 100 * time.Millisecond}
}

func popAll(s *Shaper, now time.Time) (out []*Item) {
	s.Pop(now, func(it *Item) { out = append(out, it) })
	return out
}

// TestShaperUnlimited: with no rate, everything leaves at once, in
// order of urgency, and nothing overtakes droppable data of its own
// stream.
func TestShaperUnlimited(t *testing.T) {
	s := NewShaper(ShaperConfig{Overhead: -1})
	v := mk(1000, posting.Video, true, t0)
	a := mk(100, posting.Audio, true, t0)
	a.Stream = 2
	r := mk(200, posting.Data, false, t0)
	r.Stream = 3
	ctl := mk(20, posting.Data, false, t0) // the video stream's control: behind its data
	for _, it := range []*Item{v, a, r, ctl} {
		s.Push(it, t0)
	}
	got := popAll(s, t0)
	if len(got) != 4 || got[0] != a || got[1] != r || got[2] != v || got[3] != ctl {
		t.Fatalf("order %v", got)
	}
}

// TestShaperOverhead: each datagram costs its Overhead besides its
// bytes, as on the client's link: at 10 kB/s, 58 B datagrams with 42 B
// of headers go 100 a second, not 172.
func TestShaperOverhead(t *testing.T) {
	s := NewShaper(ShaperConfig{Burst: 1000, ReliableBytes: 1 << 30})
	s.SetRate(10000, t0)
	for range 300 {
		s.Push(mk(58, posting.Data, false, t0), t0)
	}
	sent := len(popAll(s, t0))
	if sent != 10 {
		t.Fatalf("burst: %d datagrams, want 10 (1000 B of bucket, 100 B each with the default overhead)", sent)
	}
	now := t0
	for range 100 {
		now = now.Add(10 * time.Millisecond)
		sent += len(popAll(s, now))
	}
	if sent != 110 {
		t.Fatalf("after 1 s: %d datagrams, want 110", sent)
	}
	if st := s.Stats(); st.SentBytes != 110*58 {
		t.Fatalf("SentBytes %d, want the datagrams' own bytes, %d", st.SentBytes, 110*58)
	}
}

// TestShaperRate: the token bucket lets the rate through, no more.
func TestShaperRate(t *testing.T) {
	s := NewShaper(ShaperConfig{Overhead: -1, Burst: 1000, ReliableBytes: 1 << 30})
	s.SetRate(10000, t0) // 10 kB/s
	for range 100 {
		s.Push(mk(100, posting.Data, false, t0), t0) // 10 kB, reliable
	}
	sent := len(popAll(s, t0))
	if sent != 10 {
		t.Fatalf("burst: %d datagrams, want 10", sent)
	}
	now := t0
	for range 50 {
		now = now.Add(10 * time.Millisecond)
		sent += len(popAll(s, now))
	}
	// 10 burst + 0.5 s × 10 kB/s / 100 B = 60.
	if sent != 60 {
		t.Fatalf("after 0.5 s: %d datagrams, want 60", sent)
	}
	if st := s.Stats(); len(st.Thinned) != 0 || st.ReliableOverflow != 0 {
		t.Fatalf("reliable data thinned: %+v", st)
	}
}

// TestShaperReliableNeverThinned: however slow the rate, reliable data
// is queued (up to its bound), never thinned; beyond the bound it is
// counted as overflow.
func TestShaperReliableNeverThinned(t *testing.T) {
	s := NewShaper(ShaperConfig{Overhead: -1, ReliableBytes: 5000, Burst: 1})
	s.SetRate(1, t0)
	for range 60 {
		s.Push(mk(100, posting.Data, false, t0), t0)
	}
	now := t0.Add(time.Hour)
	s.Pop(now, func(*Item) {})
	st := s.Stats()
	if st.ReliableOverflow != 10 || len(st.Thinned) != 0 {
		t.Fatalf("%+v, want 10 over the bound and none thinned", st)
	}
}

// TestShaperExpiredFirst: droppable data that has been in the gateway for
// its time left is dropped, never earlier.
func TestShaperExpiredFirst(t *testing.T) {
	s := NewShaper(ShaperConfig{Overhead: -1, MaxDelay: time.Second, Burst: 100})
	s.SetRate(1000, t0)
	a := mk(100, posting.Audio, true, t0)
	b := mk(100, posting.Audio, true, t0)
	s.Push(a, t0)
	s.Push(b, t0)
	if got := popAll(s, t0); len(got) != 1 || got[0] != a {
		t.Fatalf("first pop %v", got)
	}
	// At 99 ms b has 1 ms left: not dropped (but no tokens yet either).
	s.Pop(t0.Add(99*time.Millisecond), func(*Item) {})
	if s.Stats().Thinned[ThinExpired] != 0 {
		t.Fatal("dropped before its time left")
	}
	s.Pop(t0.Add(100*time.Millisecond), func(it *Item) { t.Fatalf("expired datagram sent") })
	if n := s.Stats().Thinned[ThinExpired]; n != 1 {
		t.Fatalf("expired: %d", n)
	}
}

// TestShaperSuperseded: a newer posting of the same key thins the queued
// older one.
func TestShaperSuperseded(t *testing.T) {
	s := NewShaper(ShaperConfig{Overhead: -1, Burst: 1})
	s.SetRate(1000, t0)
	old := mk(50, posting.Image, true, t0)
	old.Key, old.Left = "cursor", time.Hour
	nw := mk(50, posting.Image, true, t0.Add(time.Millisecond))
	nw.Key, nw.Left = "cursor", time.Hour
	s.Push(old, t0)
	s.Push(nw, nw.At)
	if n := s.Stats().Thinned[ThinSuperseded]; n != 1 || s.Queued() != 1 {
		t.Fatalf("superseded %d, queued %d", n, s.Queued())
	}
}

// TestShaperWholeFrames: at a rate that carries a third of the video, a
// frame is sent whole or not at all, and audio is not thinned.
func TestShaperWholeFrames(t *testing.T) {
	s := NewShaper(ShaperConfig{Overhead: -1, MaxDelay: 100 * time.Millisecond, Burst: 2000})
	// Video: 25 frames/s of 8 × 1250 B = 250 kB/s; audio 50 × 160 B = 8 kB/s.
	s.SetRate(90000, t0)
	sent := map[uint64]int{}
	var thinnedAudio, audioSent int
	s.OnThin = func(it *Item, why string, now time.Time) {
		if it.Media == posting.Audio {
			thinnedAudio++
		}
	}
	now := t0
	frame := uint64(0)
	for ms := range 4000 {
		now = t0.Add(time.Duration(ms) * time.Millisecond)
		if ms%40 == 0 {
			frame++
			for i := range 8 {
				it := mk(1250, posting.Video, true, now)
				it.Frame, it.End, it.Left = frame, i == 7, 200*time.Millisecond
				s.Push(it, now)
			}
		}
		if ms%20 == 0 {
			s.Push(mk(160, posting.Audio, true, now), now)
		}
		s.Pop(now, func(it *Item) {
			if it.Media == posting.Audio {
				audioSent++
			} else {
				sent[it.Frame]++
			}
		})
	}
	for f, n := range sent {
		if n != 8 && f < frame-3 {
			t.Fatalf("frame %d: %d of 8 datagrams sent", f, n)
		}
	}
	if thinnedAudio != 0 || audioSent < 199 {
		t.Fatalf("audio: %d thinned, %d sent of 200", thinnedAudio, audioSent)
	}
	if len(sent) < 20 || len(sent) > 40 {
		t.Fatalf("%d of %d frames sent, want about a third", len(sent), frame)
	}
	t.Logf("%d of %d frames sent whole; %+v", len(sent), frame, s.Stats())
}

// TestShaperFrameNotBegunUnlessItFinishes: a frame admitted at one rate
// whose first datagram is about to go when the rate has fallen so far
// that the rest would expire in the queue is thinned whole, not begun
// (before, its first datagrams went and the rest expired: ShaperStats
// .Broken, an incomplete frame at the client); one that can finish goes
// whole.
func TestShaperFrameNotBegunUnlessItFinishes(t *testing.T) {
	for _, c := range []struct {
		left time.Duration
		sent int
	}{{100 * time.Millisecond, 0}, {time.Second, 4}} {
		s := NewShaper(ShaperConfig{Overhead: -1, Burst: 1000})
		s.SetRate(100000, t0)
		for i := range 4 {
			it := mk(1000, posting.Video, true, t0)
			it.Frame, it.End, it.Left = 7, i == 3, c.left
			s.Push(it, t0)
		}
		s.SetRate(10000, t0) // 4 kB: 400 ms at the rate
		sent := 0
		for now := t0; now.Before(t0.Add(2 * time.Second)); now = now.Add(5 * time.Millisecond) {
			sent += len(popAll(s, now))
		}
		st := s.Stats()
		if sent != c.sent || st.Broken != 0 {
			t.Errorf("time left %v: %d of the frame's 4 datagrams sent, %d broken (%v thinned); want %d, 0", c.left, sent, st.Broken, st.Thinned, c.sent)
		}
	}
}
