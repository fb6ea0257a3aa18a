package gateway

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/internal/testnet"
	"github.com/rwanda-go/rwanda/posting"
)

// TestTimingThinning: the mix from a multicast sender to one unicast
// client whose rate the gateway caps at about a fifth of the channel's
// (Adapt.Max), on loopback. After the first 2 s the client's
// application gets ≥ 99 % of the audio, every stroke, and whole frames,
// few discarded incomplete; the gateway thinned whole frames; and the
// sender repaired nothing on the droppable streams (the client's NAKs for
// what the gateway thinned were absorbed, and the THINNED notices let its
// window give the gaps up at once).
// Bounds: the run's length, plus the reliable strokes' repair time.
func TestTimingThinning(t *testing.T) {
	const run, warm = 6 * time.Second, 2 * time.Second
	url := groupURL("thin")
	g, err := New(Config{URL: url, Listen: "127.0.0.1:0", Adapt: AdaptConfig{Max: 55000, Min: 55000}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	m := open(t, url, mixOptions()...)
	c := open(t, fmt.Sprintf("gwtest://%s?channel=thin", g.Addr()), mixOptions()...)
	r, err := newMixReceiver(c)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	waitFor(t, 10*time.Second, "client and sender meet", func() bool {
		for _, ch := range []*channel.Channel{m, c} {
			if err := ch.Push(ctx, posting.New("hi", posting.WithStream("hello"))); err != nil {
				t.Fatal(err)
			}
		}
		return knows(m, c) && knows(c, m)
	})
	before := retransmits(m)
	probe := testnet.StartSchedProbe()
	audio, frames, strokes, err := pushMix(ctx, m, run)
	late := probe.Stop()
	if err != nil {
		t.Fatal(err)
	}
	warmAudio, warmFrames, warmStrokes := uint32(warm/time.Second*audioHz), uint32(warm/time.Second*videoHz), uint32(warm/time.Second*strokeHz)
	waitFor(t, 10*time.Second, "every stroke", func() bool {
		return r.counts(0, 0, 0).Strokes == strokes
	})
	waitFor(t, 2*frameTTL+late, "the last frames settle", func() bool { return r.pending() == 0 })
	got := r.counts(warmAudio, warmFrames, warmStrokes)
	st := g.Stats()
	t.Logf("offered audio %d frames %d strokes %d; got %+v; gateway %+v; clients %+v", audio, frames, strokes, got, st, g.Clients())
	if got.Strokes != strokes-int(warmStrokes) {
		t.Errorf("strokes: %d of %d", got.Strokes, strokes-int(warmStrokes))
	}
	if raceEnabled {
		// The race detector slows the gateway, sender and client (one
		// process) past the mix's deadlines: audio (100 ms to live) and
		// frames expire for that, and loopback sockets overflow.
		t.Log("under the race detector only the strokes are judged")
		return
	}
	if want := audio - int(warmAudio); got.Audio*100 < want*99 {
		t.Errorf("audio: %d of %d", got.Audio, want)
	}
	// Frames are admitted with a quarter of their time to live to spare
	// (100 ms): a gateway or receiver scheduled later than that can have
	// a frame's datagram outstay it, and a loaded loopback can lose
	// packets the sender then rightly repairs. Those figures are judged
	// only when the scheduling delay measured stayed within the margin.
	if margin := frameTTL / 4; late > margin {
		t.Logf("scheduling delay up to %v, beyond the frames' %v margin: frames and repairs not judged", late, margin)
		return
	}
	// The application is handed whole frames only (the receiver discards
	// the incomplete at their deadline and counts them); the gateway
	// forwards frames whole, so few are: only those of which a datagram
	// outstayed its time left in the gateway's queue.
	if got.Incomplete*4 > got.Frames {
		t.Errorf("%d incomplete frames beside %d whole", got.Incomplete, got.Frames)
	}
	if got.Frames == 0 || st.Thinned[ThinFrame] == 0 {
		t.Errorf("frames: %d whole, %d datagrams thinned: want some of each", got.Frames, st.Thinned[ThinFrame])
	}
	if n := retransmits(m); n["video"] != before["video"] || n["audio"] != before["audio"] {
		t.Errorf("the sender repaired droppable streams: retransmits %v, %v before", n, before)
	}
	// The client's NAKs of what the gateway thinned were absorbed: none
	// on a droppable stream went on to the sender (the path, loopback,
	// lost nothing of what was sent).
	if cl := g.Clients(); len(cl) != 1 || cl[0].NAKs != 0 || st.Absorbed == 0 {
		t.Errorf("NAKs of droppable data forwarded: %+v; absorbed %d", cl, st.Absorbed)
	}
}
