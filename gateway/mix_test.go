package gateway

import (
	"context"
	"encoding/binary"
	"sync"
	"time"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/filter"
	"github.com/rwanda-go/rwanda/posting"
)

// The stream mix of issue 24: audio 50 postings/s of 160 B (best
// effort, 100 ms to live), video 25 frames/s of about 10 KB, each frame 4
// postings with a frame id and an end marker (semi-reliable, 200 ms), and
// whiteboard strokes 20/s of 200 B on a reliable stream. Every stack has
// the monitor layer at its wire side, whose receiver reports the gateway
// reads.
const (
	audioHz      = 50
	audioSize    = 160
	videoHz      = 25
	videoParts   = 4
	videoPart    = 2500
	strokeHz     = 20
	strokeSize   = 200
	frameTTL     = 400 * time.Millisecond
	audioTTL     = 100 * time.Millisecond
	kindAudio    = 'a'
	kindVideo    = 'v'
	kindStroke   = 's'
	mixReportDur = "250ms"
)

// mixOptions are the channel options of every member of a mix test: a
// short announce interval (members meet sooner) unless slow.
func mixOptions(slow ...bool) []channel.Option {
	announce := 250 * time.Millisecond
	if len(slow) > 0 && slow[0] {
		announce = time.Second
	}
	mon := "/monitor(report=" + mixReportDur + ")"
	return []channel.Option{
		channel.WithMediaProfile(posting.Audio, filter.Profile{QoS: "frag(mtu=600)/order/window(mode=besteffort)" + mon, TTL: audioTTL}),
		channel.WithMediaProfile(posting.Video, filter.Profile{QoS: "frag/order/window(ttl=400ms)" + mon, TTL: frameTTL}),
		channel.WithMediaProfile(posting.Data, filter.Profile{QoS: "frag/order/window" + mon}),
		channel.WithBlockingPush(),
		channel.WithAnnounceInterval(announce),
	}
}

// body is a mix posting's body: kind, sequence number (a posting's, or a
// frame's), part and parts, then padding to size.
func body(kind byte, seq uint32, part, parts byte, size int) []byte {
	b := make([]byte, size)
	b[0] = kind
	binary.BigEndian.PutUint32(b[1:], seq)
	b[5], b[6] = part, parts
	return b
}

// pushMix sends the mix on ch for d and returns how many of each it
// offered (audio postings, frames, strokes). With slack, each audio
// posting and video frame lives that much longer than its profile says
// (DECISIONS §4: the scheduling delay measured so far, added to the
// configured time to live).
func pushMix(ctx context.Context, ch *channel.Channel, d time.Duration, slack ...func() time.Duration) (audio, frames, strokes int, err error) {
	extra := func() time.Duration { return 0 }
	if len(slack) > 0 {
		extra = slack[0]
	}
	start := time.Now()
	tick := time.NewTicker(time.Second / audioHz) // 20 ms: the mix's least common period
	defer tick.Stop()
	for n := 0; ; n++ {
		if time.Since(start) >= d {
			return
		}
		if err = ch.Push(ctx, posting.New(body(kindAudio, uint32(audio), 0, 1, audioSize), posting.WithStream("audio"), posting.WithMedia(posting.Audio), posting.WithTTL(audioTTL+extra()))); err != nil {
			return
		}
		audio++
		if n%(audioHz/videoHz) == 0 {
			frames++
			ttl := frameTTL + extra()
			for i := range videoParts {
				p := posting.New(body(kindVideo, uint32(frames), byte(i), videoParts, videoPart),
					posting.WithStream("video"), posting.WithMedia(posting.Video), posting.WithFrame(uint64(frames), i == videoParts-1), posting.WithTTL(ttl))
				if err = ch.Push(ctx, p); err != nil {
					return
				}
			}
		}
		if n%5 == 0 || n%5 == 2 { // 20 a second: 2 per 5 ticks of 20 ms
			if err = ch.Push(ctx, posting.New(body(kindStroke, uint32(strokes), 0, 1, strokeSize), posting.WithStream("wb"), posting.WithMedia(posting.Data))); err != nil {
				return
			}
			strokes++
		}
		select {
		case <-ctx.Done():
			return audio, frames, strokes, ctx.Err()
		case <-tick.C:
		}
	}
}

// mixCounts is what a mix receiver's application got from one sender.
type mixCounts struct {
	// Audio and Strokes are the distinct postings received with a
	// sequence number at or past from (counted from 0).
	Audio, Strokes int
	// Frames are the frames received whole, Incomplete those discarded
	// at their deadline with parts missing (both past fromFrame).
	Frames, Incomplete int
}

// mixReceiver assembles what a channel receives of the mix.
type mixReceiver struct {
	mu        sync.Mutex
	audio     map[uint32]bool
	strokes   map[uint32]bool
	parts     map[uint32]*frameParts
	done      map[uint32]bool
	incomp    map[uint32]bool
	fromAudio uint32
	fromFrame uint32
	fromStrok uint32
}

type frameParts struct {
	got   map[byte]bool
	parts byte
	first time.Time
}

func newMixReceiver(ch *channel.Channel) (*mixReceiver, error) {
	r := &mixReceiver{audio: map[uint32]bool{}, strokes: map[uint32]bool{}, parts: map[uint32]*frameParts{},
		done: map[uint32]bool{}, incomp: map[uint32]bool{}}
	_, err := ch.SubscribeFunc(r.add)
	return r, err
}

func (r *mixReceiver) add(p *posting.Posting) {
	b, ok := p.Body.([]byte)
	if !ok || len(b) < 7 {
		return
	}
	seq := binary.BigEndian.Uint32(b[1:])
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.expireLocked(now)
	switch b[0] {
	case kindAudio:
		r.audio[seq] = true
	case kindStroke:
		r.strokes[seq] = true
	case kindVideo:
		if r.done[seq] || r.incomp[seq] {
			return
		}
		f := r.parts[seq]
		if f == nil {
			f = &frameParts{got: map[byte]bool{}, parts: b[6], first: now}
			r.parts[seq] = f
		}
		f.got[b[5]] = true
		if len(f.got) == int(f.parts) {
			r.done[seq] = true
			delete(r.parts, seq)
		}
	}
}

// expireLocked discards the frames whose deadline (a frame's time to live
// after its first part arrived, which is after it was sent) has passed
// with parts missing, and counts them.
func (r *mixReceiver) expireLocked(now time.Time) {
	for seq, f := range r.parts {
		if now.Sub(f.first) > frameTTL {
			r.incomp[seq] = true
			delete(r.parts, seq)
		}
	}
}

// pending is the number of frames partly received and not yet past their
// deadline.
func (r *mixReceiver) pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.expireLocked(time.Now())
	return len(r.parts)
}

// counts returns what arrived with sequence numbers past the given ones
// (audio postings, frames, strokes), all frames now settled.
func (r *mixReceiver) counts(audioFrom, frameFrom, strokeFrom uint32) mixCounts {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.expireLocked(time.Now().Add(time.Hour))
	var c mixCounts
	for s := range r.audio {
		if s >= audioFrom {
			c.Audio++
		}
	}
	for s := range r.strokes {
		if s >= strokeFrom {
			c.Strokes++
		}
	}
	for s := range r.done {
		if s > frameFrom {
			c.Frames++
		}
	}
	for s := range r.incomp {
		if s > frameFrom {
			c.Incomplete++
		}
	}
	return c
}

// retransmits is how many packets ch's window layers sent again, by
// outgoing stream.
func retransmits(ch *channel.Channel) map[string]uint64 {
	n := map[string]uint64{}
	for _, s := range ch.Stats().Streams {
		for _, l := range s.Stack.Layers {
			if r := l.Counters["retransmits"]; r > 0 {
				n[s.Name] += r
			}
		}
	}
	return n
}
