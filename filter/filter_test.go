package filter

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/rwanda-go/rwanda/posting"
)

type voice struct{ Samples []int16 }

func (voice) Medium() posting.Media { return posting.Audio }

type frame struct{ Pixels []byte }

type note struct{ Text string }

func TestSniff(t *testing.T) {
	pad := func(s string) []byte { return append([]byte(s), make([]byte, 64)...) }
	ts := make([]byte, 400)
	ts[0], ts[188], ts[376] = 0x47, 0x47, 0x47
	cases := []struct {
		name string
		b    []byte
		want posting.Media
	}{
		{"png", pad("\x89PNG\r\n\x1a\n"), posting.Image},
		{"jpeg", pad("\xff\xd8\xff\xe0"), posting.Image},
		{"gif", pad("GIF89a"), posting.Image},
		{"webp", pad("RIFF\x00\x00\x00\x00WEBPVP8 "), posting.Image},
		{"bmp", pad("BM\x36\x00\x0c\x00\x00\x00\x00\x00\x36\x00\x00\x00"), posting.Image},
		{"tiff", pad("II*\x00"), posting.Image},
		{"wav", pad("RIFF\x24\x00\x00\x00WAVEfmt "), posting.Audio},
		{"flac", pad("fLaC"), posting.Audio},
		{"mp3-id3", pad("ID3\x04"), posting.Audio},
		{"mp3-frame", pad("\xff\xfb\x90\x64"), posting.Audio},
		{"aac-adts", pad("\xff\xf1\x50\x80"), posting.Audio},
		{"ogg", pad("OggS\x00\x02"), posting.Audio},
		{"mp4", pad("\x00\x00\x00\x20ftypisom"), posting.Video},
		{"webm", pad("\x1a\x45\xdf\xa3"), posting.Video},
		{"avi", pad("RIFF\x00\x00\x00\x00AVI LIST"), posting.Video},
		{"h264", pad("\x00\x00\x00\x01\x67\x42"), posting.Video},
		{"mpeg-ts", ts, posting.Video},
		{"ascii", []byte("hello, world\n"), posting.Text},
		{"utf8", []byte("¡hola, señor! 你好"), posting.Text},
		{"long text cut mid-rune", append(bytes.Repeat([]byte("a"), SniffLen-1), "é and more"...), posting.Text},
	}
	for _, c := range cases {
		got, ok := Sniff(c.b)
		if !ok || got != c.want {
			t.Errorf("%s: Sniff = %v, %v; want %v", c.name, got, ok, c.want)
		}
	}
	for _, b := range [][]byte{nil, {0, 1, 2, 3}, []byte("BM but text\x00"), {0xc3}, bytes.Repeat([]byte{0}, 100), []byte("bell\x07")} {
		if m, ok := Sniff(b); ok {
			t.Errorf("Sniff(%q) = %v; want no answer", b, m)
		}
	}
	if m, ok := Sniff([]byte("BM is a band")); !ok || m != posting.Text {
		t.Errorf("text starting with BM: %v %v", m, ok)
	}
}

// TestClassifyEachRule: every medium, decided by every kind of rule.
func TestClassifyEachRule(t *testing.T) {
	c, err := New(
		StreamRule("mic", posting.Audio),
		StreamRule("cam/*", posting.Video),
		StreamRule("board", posting.Image),
		StreamRule("ctl", posting.Control),
		TypeRule[frame](posting.Video),
		TypeRule[note](posting.Text),
		TypeRule[[]int16](posting.Audio),
		SniffRule(),
		StreamRule("*", posting.Control), // after sniffing: what is left
	)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		p      *posting.Posting
		want   posting.Media
		reason Reason
	}{
		{"field wins over everything", posting.New([]byte("text"), posting.WithMedia(posting.Image), posting.WithStream("mic")), posting.Image, ByField},
		{"body declares", posting.New(voice{}, posting.WithStream("cam/1")), posting.Audio, ByBody},
		{"stream audio", posting.New(42, posting.WithStream("mic")), posting.Audio, ByStream},
		{"stream video pattern", posting.New(42, posting.WithStream("cam/front")), posting.Video, ByStream},
		{"stream image", posting.New(42, posting.WithStream("board")), posting.Image, ByStream},
		{"stream control", posting.New(42, posting.WithStream("ctl")), posting.Control, ByStream},
		{"type video", posting.New(frame{}), posting.Video, ByType},
		{"type video pointer", posting.New(&frame{}), posting.Video, ByType},
		{"type text", posting.New(note{}), posting.Text, ByType},
		{"type audio", posting.New([]int16{1}), posting.Audio, ByType},
		{"content image", posting.New([]byte("\x89PNG\r\n\x1a\n....")), posting.Image, ByContent},
		{"content audio", posting.New([]byte("fLaC....")), posting.Audio, ByContent},
		{"content video", posting.New([]byte("\x1a\x45\xdf\xa3....")), posting.Video, ByContent},
		{"content text string", posting.New("bonjour"), posting.Text, ByContent},
		{"later rule", posting.New(3.5), posting.Control, ByStream},
	}
	for _, k := range cases {
		m, r := c.Classify(k.p)
		if m != k.want || r != k.reason {
			t.Errorf("%s: %v by %v; want %v by %v", k.name, m, r, k.want, k.reason)
		}
	}
	if m, r := Default().Classify(posting.New(3.5)); m != posting.Data || r != ByDefault {
		t.Errorf("default: %v by %v", m, r)
	}
}

func TestBadRules(t *testing.T) {
	for _, rules := range [][]Rule{
		{StreamRule("[", posting.Audio)},
		{{}},
		{StreamRule("x", posting.Media(99))},
	} {
		if _, err := New(rules...); !errors.Is(err, ErrRule) {
			t.Errorf("%v: %v", rules, err)
		}
	}
}

func TestDefaultTable(t *testing.T) {
	tab := DefaultTable()
	for m := posting.Data; m <= posting.Control; m++ {
		if tab[m].QoS == "" {
			t.Errorf("no profile for %v", m)
		}
	}
	if tab[posting.Audio].TTL == 0 || !strings.Contains(tab[posting.Audio].QoS, "besteffort") {
		t.Errorf("audio: %+v", tab[posting.Audio])
	}
}

func FuzzSniff(f *testing.F) {
	f.Add([]byte("\x89PNG\r\n\x1a\n"))
	f.Add([]byte("héllo"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, ok := Sniff(b)
		if ok && !m.Valid() {
			t.Fatalf("invalid media %d", m)
		}
		if m2, ok2 := sniffString(string(b)); m2 != m || ok2 != ok {
			t.Fatalf("string and bytes disagree: %v %v / %v %v", m, ok, m2, ok2)
		}
	})
}

func BenchmarkClassify(b *testing.B) {
	for _, c := range []struct {
		name string
		p    *posting.Posting
	}{
		{"field", posting.New([]byte{1}, posting.WithMedia(posting.Video))},
		{"bytes-64KiB-binary", posting.New(make([]byte, 64<<10))},
		{"bytes-1KiB-text", posting.New(bytes.Repeat([]byte("text "), 200))},
		{"struct", posting.New(note{})},
		{"string-1KiB-text", posting.New(strings.Repeat("text ", 200))},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Default().Classify(c.p)
			}
		})
	}
}

// TestSniffSignatureIndex: Sniff, which tries only the signatures that
// begin with a body's first byte, answers as trying every signature in
// order does, for bodies that start with each signature (whole, cut
// short, and followed by each other one at offset 4) and for random ones.
func TestSniffSignatureIndex(t *testing.T) {
	all := func(b []byte) (posting.Media, bool) {
		if len(b) > SniffLen {
			b = b[:SniffLen]
		}
		for _, m := range magics {
			if len(b) >= m.off+len(m.sig) && string(b[m.off:m.off+len(m.sig)]) == m.sig {
				if m.sig == "BM" && (len(b) < 14 || b[6]|b[7]|b[8]|b[9] != 0) {
					continue
				}
				return m.media, true
			}
		}
		return 0, false
	}
	var bodies [][]byte
	for _, m := range magics {
		sig := append(make([]byte, m.off), m.sig...)
		bodies = append(bodies, sig, sig[:len(sig)-1], append(append([]byte(nil), sig...), make([]byte, 20)...))
		for _, o := range magics {
			if o.off == 4 && len(sig) >= 4 {
				bodies = append(bodies, append(append([]byte(nil), sig[:4]...), o.sig...))
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		b := make([]byte, 1+rng.IntN(40))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		b[0] = magics[rng.IntN(len(magics))].sig[0]
		bodies = append(bodies, b)
	}
	for _, b := range bodies {
		wm, wok := all(b)
		if wok {
			if gm, gok := Sniff(b); !gok || gm != wm {
				t.Fatalf("Sniff(%q) = %v, %v; trying every signature: %v", b, gm, gok, wm)
			}
		} else if gm, gok := Sniff(b); gok && gm != posting.Text && gm != posting.Video && gm != posting.Audio {
			t.Fatalf("Sniff(%q) = %v by a signature no signature matches", b, gm)
		}
	}
}
