package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"slices"
	"sync/atomic"
	"time"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/playout"
	"github.com/rwanda-go/rwanda/posting"
)

const (
	audioPeriod = 20 * time.Millisecond
	videoPeriod = 33 * time.Millisecond
)

func main() {
	url := flag.String("url", "av://239.7.7.8:7402?iface=lo", "channel URL")
	demo := flag.Bool("demo", false, "run a sender and a receiver in this process and exit")
	send := flag.Bool("send", false, "send audio and video")
	play := flag.Bool("play", false, "play what is sent")
	dur := flag.Duration("for", 8*time.Second, "how long to send or play (-demo, -send, -play)")
	impair := flag.String("impair", "delay=30ms,jitter=25ms,loss=2%", "the network the sender's stack imitates (impair layer parameters)")
	flag.Parse()
	var err error
	switch {
	case *demo:
		err = runDemo(*url, *dur, *impair, true)
	case *send:
		err = runSender(*url, *dur, *impair)
	case *play:
		_, err = runPlayer(*url, *dur, true)
	default:
		flag.Usage()
		return
	}
	if err != nil {
		log.Fatal(err)
	}
}

// runDemo plays a sender and a receiver on one group for dur and returns
// the receiver's summary.
func runDemo(url string, dur time.Duration, impair string, verbose bool) error {
	res := make(chan error, 1)
	var sum summary
	go func() {
		var err error
		sum, err = runPlayer(url, dur+time.Second, verbose)
		res <- err
	}()
	time.Sleep(200 * time.Millisecond) // the receiver joins first
	if err := runSender(url, dur, impair); err != nil {
		return err
	}
	if err := <-res; err != nil {
		return err
	}
	if sum.audio.Played == 0 || sum.video.Played == 0 {
		return fmt.Errorf("nothing played: %+v", sum)
	}
	return nil
}

// runSender pushes audio every 20 ms and video every 33 ms for dur.
func runSender(url string, dur time.Duration, impair string) error {
	ctx := context.Background()
	ch, err := channel.Open(ctx, url,
		channel.WithStreamQoS("audio", fmt.Sprintf("impair(%s,seed=1)", impair)),
		channel.WithStreamQoS("video", fmt.Sprintf("frag/impair(%s,seed=2)", impair)))
	if err != nil {
		return err
	}
	defer ch.Close()
	at, vt := time.NewTicker(audioPeriod), time.NewTicker(videoPeriod)
	defer at.Stop()
	defer vt.Stop()
	end := time.After(dur)
	for {
		var p *posting.Posting
		select {
		case <-at.C:
			p = posting.New(make([]byte, 160), posting.WithStream("audio"), posting.WithMedia(posting.Audio), posting.WithTTL(time.Second))
		case <-vt.C:
			p = posting.New(make([]byte, 3000), posting.WithStream("video"), posting.WithMedia(posting.Video), posting.WithTTL(time.Second))
		case <-end:
			return nil
		}
		if err := ch.Push(ctx, p); err != nil {
			return err
		}
	}
}

// summary is what the receiver saw.
type summary struct {
	audio, video playout.Stats
	skews        []time.Duration // video playout instant − its sound's (positive: sound early)
}

// runPlayer plays the first sender's audio and video heard on url for dur.
func runPlayer(url string, dur time.Duration, verbose bool) (summary, error) {
	ctx := context.Background()
	ch, err := channel.Open(ctx, url)
	if err != nil {
		return summary{}, err
	}
	defer ch.Close()
	// One group per source: its streams play against one clock. The
	// channel's estimate of the sender's clock offset is the group's.
	var sender atomic.Uint64
	g := playout.NewGroup(playout.Config{Offset: func() (time.Duration, bool) { return ch.ClockOffset(sender.Load()) }})
	audio, video := g.Stream(playout.Config{}), g.Stream(playout.Config{})
	wake := make(chan struct{}, 1)
	sub, err := ch.SubscribeFunc(func(p *posting.Posting) {
		if !sender.CompareAndSwap(0, p.Sender) && sender.Load() != p.Sender {
			return // another source: it would get a group of its own
		}
		switch p.Stream {
		case "audio":
			audio.Push(p, time.Now())
		case "video":
			video.Push(p, time.Now())
		}
		select {
		case wake <- struct{}{}:
		default:
		}
	}, channel.Streams("audio", "video"))
	if err != nil {
		return summary{}, err
	}
	defer sub.Close()

	// The player: sleep until the next posting is due or a push comes,
	// then play what is due. A real player would hand audio to the sound
	// card and video to the screen here; this one notes when each played.
	var lastAudio struct{ sent, at time.Time }
	var sum, second summary
	timer := time.NewTimer(time.Hour)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	end := time.After(dur)
	for {
		now := time.Now()
		for p := g.Next(now); p != nil; p = g.Next(now) {
			switch p.Stream {
			case "audio":
				lastAudio.sent, lastAudio.at = p.Sent, now
			case "video":
				// The sound of the frame's capture instant plays
				// in the last audio posting played, which holds
				// 20 ms from its own playout instant.
				if off := p.Sent.Sub(lastAudio.sent); !lastAudio.at.IsZero() && off >= 0 && off < audioPeriod {
					second.skews = append(second.skews, now.Sub(lastAudio.at.Add(off)))
				}
			}
		}
		wait := time.Hour
		if due, ok := g.Due(); ok {
			wait = time.Until(due)
		}
		timer.Reset(wait)
		select {
		case <-wake:
		case <-timer.C:
		case <-tick.C:
			if verbose {
				a, v := audio.Stats(), video.Stats()
				lo, hi := spread(second.skews)
				fmt.Printf("delay %5.1f ms (audio target %5.1f, video %5.1f)  played audio %4d video %4d  late %2d %2d  skew %+5.1f…%+5.1f ms\n",
					ms(a.Delay), ms(a.Target), ms(v.Target), a.Played, v.Played, a.Late, v.Late, ms(lo), ms(hi))
			}
			sum.skews = append(sum.skews, second.skews...)
			second.skews = second.skews[:0]
		case <-end:
			sum.skews = append(sum.skews, second.skews...)
			sum.audio, sum.video = audio.Stats(), video.Stats()
			if verbose {
				lo, hi := spread(sum.skews)
				fmt.Printf("played audio %d (late %d, lost or skipped %d), video %d (late %d, lost or skipped %d); skew of %d frames %+.1f…%+.1f ms (ITU-R BT.1359: −125…+45); clock offset %v, drift %.0f ppm\n",
					sum.audio.Played, sum.audio.Late, sum.audio.Skipped, sum.video.Played, sum.video.Late, sum.video.Skipped,
					len(sum.skews), ms(lo), ms(hi), sum.audio.Offset, sum.audio.DriftPPM)
			}
			return sum, nil
		}
	}
}

// spread returns the smallest and largest skew.
func spread(s []time.Duration) (lo, hi time.Duration) {
	if len(s) == 0 {
		return 0, 0
	}
	return slices.Min(s), slices.Max(s)
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }
