package tiles

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/draw"
	"testing"
	"time"
)

// TestEncodeRoundTrip: every tile of a frame, edge tiles cut to the image
// included, decodes to its pixels; an image of another type is converted;
// Diff finds a one-pixel change in exactly its tile.
func TestEncodeRoundTrip(t *testing.T) {
	g := Geometry{Width: 650, Height: 250, Tile: 64} // 11×4 tiles, the last column 10 wide, the last row 58 high
	src := NewDesktop(650, 250, 3).Next()
	nrgba := image.NewNRGBA(src.Rect)
	draw.Draw(nrgba, nrgba.Rect, src, image.Point{}, draw.Src)
	e, err := NewEncoder(g)
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.RGBA(nrgba)
	if err != nil {
		t.Fatal(err)
	}
	idx := e.Diff(nil, m)
	if len(idx) != g.Tiles() {
		t.Fatalf("first frame: %d tiles changed, want all %d", len(idx), g.Tiles())
	}
	out := image.NewRGBA(src.Rect)
	buf := make([]byte, 0, g.Tile*g.Tile*3)
	for _, i := range idx {
		if err := decodeTile(out, g, i, e.Compress(nil, m, i), buf); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(out.Pix, src.Pix) {
		t.Fatal("decoded image differs")
	}
	m.Set(643, 249, color.RGBA{1, 2, 3, 255})
	if got := e.Diff(nil, m); len(got) != 1 || got[0] != g.Tiles()-1 {
		t.Fatalf("one pixel changed in the last tile: Diff says %v", got)
	}
	if got := e.Diff(nil, m); len(got) != 0 {
		t.Fatalf("nothing changed: Diff says %v", got)
	}
	if _, err := e.RGBA(image.NewRGBA(image.Rect(0, 0, 10, 10))); !errors.Is(err, ErrSize) {
		t.Fatalf("a frame of another size: %v", err)
	}
	// A payload that decompresses to the wrong size is refused.
	if err := decodeTile(out, g, 0, e.Compress(nil, m, g.Tiles()-1), buf); !errors.Is(err, ErrMalformed) {
		t.Fatalf("the last tile's payload as tile 0: %v", err)
	}
}

// TestDesktop: the same seed gives the same frames, another seed others;
// at 1920×1080 in 64×64 tiles, 4 to 6 % of the tiles change per frame on
// average over 30 s.
func TestDesktop(t *testing.T) {
	a, b, c := NewDesktop(320, 240, 1), NewDesktop(320, 240, 1), NewDesktop(320, 240, 2)
	for range 3 {
		fa, fb, fc := a.Next(), b.Next(), c.Next()
		if !bytes.Equal(fa.Pix, fb.Pix) || bytes.Equal(fa.Pix, fc.Pix) {
			t.Fatal("frames do not follow the seed")
		}
	}
	// Each frame is the desktop's base with the moving window on top
	// (the generator redraws only what changed).
	w := NewDesktop(640, 480, 4)
	for range 60 {
		f := w.Next()
		ref := image.NewRGBA(w.base.Rect)
		copy(ref.Pix, w.base.Pix)
		draw.Draw(ref, w.win, w.winContent, image.Point{}, draw.Src)
		if !bytes.Equal(f.Pix, ref.Pix) {
			t.Fatalf("frame %d is not the base with the window on top", w.n)
		}
	}
	d := NewDesktop(1920, 1080, 1)
	e, _ := NewEncoder(Geometry{Width: 1920, Height: 1080, Tile: 64})
	e.Diff(nil, d.Next())
	const frames = 300
	changed := 0
	var idx []int
	for range frames {
		idx = e.Diff(idx[:0], d.Next())
		changed += len(idx)
	}
	frac := float64(changed) / frames / float64(e.g.Tiles())
	t.Logf("%.2f %% of %d tiles changed per frame on average", 100*frac, e.g.Tiles())
	if frac < 0.04 || frac > 0.06 {
		t.Errorf("%.2f %% of tiles changed per frame, want about 5 %%", 100*frac)
	}
}

// TestSenderNak: a NAK for the current version is repaired once, however
// many receivers send it within the hold; a NAK for a superseded version
// is not (the newer one went out); a NAK for a tile queued is not either.
func TestSenderNak(t *testing.T) {
	s, _ := NewSender(Config{Seed: 1})
	now := simEpoch
	d := NewDesktop(320, 240, 1)
	if _, err := s.Frame(now, d.Next()); err != nil {
		t.Fatal(err)
	}
	for n := s.Next(); !n.IsZero() && n.Before(simEpoch.Add(time.Second)); n = s.Next() {
		now = n
		s.Poll(now) // the frame's tiles and its manifest, twice
	}
	now = now.Add(time.Second)
	v := s.Version(0)
	nak := appendNak(nil, 7, []Entry{{Index: 0, Version: v}})
	for range 3 { // three receivers
		if err := s.Handle(now, 7, nak); err != nil {
			t.Fatal(err)
		}
	}
	outs := s.Poll(now)
	if len(outs) != 1 || outs[0].Index != 0 || outs[0].Flags != FlagRepair || outs[0].Version != v {
		t.Fatalf("repairs: %+v", outs)
	}
	s.Handle(now.Add(time.Millisecond), 7, nak) // within the hold
	if outs := s.Poll(now.Add(time.Millisecond)); len(outs) != 0 {
		t.Fatalf("NAK within the hold: %+v", outs)
	}
	s.versions[0]++ // as if the tile changed
	s.Handle(now.Add(time.Second), 7, nak)
	if outs := s.Poll(now.Add(time.Second)); len(outs) != 0 {
		t.Fatalf("NAK of a superseded version: %+v", outs)
	}
	s.Handle(now.Add(time.Second), 8, appendNak(nil, 9, []Entry{{Index: 1}})) // for another sender
	if outs := s.Poll(now.Add(time.Second)); len(outs) != 0 {
		t.Fatalf("NAK for another sender: %+v", outs)
	}
	st := s.Stats()
	if st.Repairs != 1 || st.NakSuperseded != 1 || st.NakHeld != 3 {
		t.Fatalf("stats %+v", st)
	}
}

// TestReceiverStale: a tile named newer by a manifest, one never
// received, and one not heard of for twice the refresh period are stale.
func TestReceiverStale(t *testing.T) {
	s, _ := NewSender(Config{Seed: 1, Tile: 64})
	r := NewReceiver(RecvConfig{})
	now := simEpoch
	outs, _ := s.Frame(now, NewDesktop(320, 240, 1).Next()) // 5×4 tiles
	for _, o := range outs {
		if o.Index != 3 { // tile 3 lost
			if err := r.Handle(now, 1, o.Body); err != nil {
				t.Fatal(err)
			}
		}
	}
	r.Handle(now, 1, appendManifest(nil, 2, []Entry{{Index: 5, Version: 2}}))
	if got := r.Stale(nil, now); len(got) != 2 || got[0] != 3 || got[1] != 5 {
		t.Fatalf("stale %v, want [3 5]", got)
	}
	if r.Complete() {
		t.Fatal("complete without tile 3")
	}
	later := now.Add(2*DefaultRefresh + time.Second)
	if got := r.Stale(nil, later); len(got) != 20 {
		t.Fatalf("%d stale after two silent refresh periods, want 20", len(got))
	}
	// The NAK names tile 5 at version 2 first, then tile 3 (version 0:
	// whatever is current) after the join wait, with tile 5 again.
	var naks []Message
	for _, b := range r.Poll(now.Add(DefaultNakDelay)) {
		m, _ := Decode(b)
		naks = append(naks, m)
	}
	if len(naks) != 1 || len(naks[0].Entries) != 1 || naks[0].Entries[0] != (Entry{5, 2}) || naks[0].Target != 1 {
		t.Fatalf("NAKs %+v", naks)
	}
	naks = naks[:0]
	for _, b := range r.Poll(now.Add(DefaultJoinWait)) {
		m, _ := Decode(b)
		naks = append(naks, m)
	}
	if len(naks) != 1 || len(naks[0].Entries) != 2 || naks[0].Entries[0] != (Entry{3, 0}) || naks[0].Entries[1] != (Entry{5, 2}) {
		t.Fatalf("NAKs %+v, want tile 3 (any version) and tile 5 again", naks)
	}
}
