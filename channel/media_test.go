package channel

import (
	"context"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/filter"
	"github.com/rwanda-go/rwanda/posting"
)

// TestPerMediumStacks pushes one posting of each medium on one stream and
// finds each medium's stack from the default table in both ends' Stats,
// the audio TTL applied, and one Senders subscription recomposing them.
// The bodies are classified by content: WithSniffStacks lets that choose
// their stacks (see sniff_test.go for the default).
func TestPerMediumStacks(t *testing.T) {
	url := memURL(t)
	a, b := open(t, url, WithSniffStacks()), open(t, url)
	all, _ := b.Subscribe(Senders(a.ID()))
	none, _ := b.Subscribe(Senders(12345))
	bodies := map[posting.Media]any{
		posting.Audio: []byte("RIFF\x24\x00\x00\x00WAVEfmt "),
		posting.Video: []byte("\x00\x00\x00\x20ftypisom...."),
		posting.Text:  "good morning, class",
		posting.Image: []byte("\x89PNG\r\n\x1a\n...."),
		posting.Data:  []byte{0, 1, 2, 3},
	}
	for m := range numMedia {
		media := posting.Media(m)
		body, ok := bodies[media]
		var opts []posting.Option
		if !ok {
			body, opts = "stop", []posting.Option{posting.WithMedia(media)} // control: by the field
		}
		must(t, a.Push(context.Background(), posting.New(body, append(opts, posting.WithStream("lesson"))...)))
	}
	got := map[posting.Media]*posting.Posting{}
	for range numMedia {
		p := next(t, all)
		got[p.Media] = p
	}
	expectNone(t, none)
	if len(got) != numMedia {
		t.Fatalf("media received: %v", got)
	}
	if got[posting.Audio].TTL != 100*time.Millisecond || got[posting.Video].TTL != 0 {
		t.Fatalf("TTLs: audio %v, video %v", got[posting.Audio].TTL, got[posting.Video].TTL)
	}
	table := filter.DefaultTable()
	want := map[string]bool{}
	for m := range numMedia {
		q, err := a.resolveQoS(table[posting.Media(m)].QoS)
		if err != nil {
			t.Fatal(err)
		}
		want[q] = true
		if a.QoSFor("lesson", posting.Media(m)) != q {
			t.Errorf("%v: QoSFor %q, want %q", posting.Media(m), a.QoSFor("lesson", posting.Media(m)), q)
		}
	}
	sent := map[string]bool{}
	for _, s := range a.Stats().Streams {
		sent[s.QoS] = true
	}
	recv := map[string]bool{}
	for _, f := range b.Stats().Flows {
		recv[f.QoS] = true
	}
	for q := range want {
		if !sent[q] || !recv[q] {
			t.Errorf("stack %q: sent %v, received %v", q, sent[q], recv[q])
		}
	}
	if len(sent) != len(want) {
		t.Errorf("sender streams %v, want %v", sent, want)
	}
}

// TestMediaOverrides: WithMediaProfile beats the table, WithStreamQoS beats
// both, and WithQoS replaces the table.
func TestMediaOverrides(t *testing.T) {
	a := open(t, memURL(t), WithMediaProfile(posting.Video, filter.Profile{QoS: "frag(mtu=1000)"}), WithStreamQoS("raw", "frag"))
	if q := a.QoSFor("cam", posting.Video); q != "frag(mtu=1000)" {
		t.Errorf("video: %q", q)
	}
	if q := a.QoSFor("raw", posting.Video); q != "frag" {
		t.Errorf("video on stream raw: %q", q)
	}
	if q := a.QoSFor("cam", posting.Text); q != "compress/frag/order/window" {
		t.Errorf("text: %q", q)
	}
	b := open(t, memURL(t), WithQoS("frag"))
	for m := range numMedia {
		if q := b.QoSFor("x", posting.Media(m)); q != "frag" {
			t.Errorf("WithQoS(frag): %v gets %q", posting.Media(m), q)
		}
	}
	// One stack for all media on a channel with one QoS: order kept.
	must(t, b.Push(context.Background(), posting.New("text")))
	must(t, b.Push(context.Background(), posting.New(1)))
	if n := len(b.Stats().Streams); n != 1 {
		t.Errorf("%d streams for one QoS", n)
	}
	if _, err := Open(context.Background(), memURL(t), WithMediaProfile(posting.Audio, filter.Profile{QoS: "nosuchlayer"})); err == nil {
		t.Error("a media profile with an unknown layer was accepted")
	}
	c, _ := filter.New(filter.StreamRule("mic", posting.Audio))
	d := open(t, memURL(t), WithFilter(c))
	must(t, d.Push(context.Background(), posting.New(1, posting.WithStream("mic"))))
	if st := d.Stats().Streams; len(st) != 1 || st[0].Media != posting.Audio {
		t.Errorf("custom filter: %+v", st)
	}
}
