package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/posting"
)

// Stroke is a piece of a stroke on the board (a posting's text on stream
// "board"): points in board units (0..1000 × 0..600), the first the
// previous piece's last, so each piece draws on its own. N numbers the
// sender's pieces from 1, so a receiver can see a gap.
type Stroke struct {
	ID    string   `json:"id"`
	N     uint64   `json:"n"`
	Color string   `json:"c"`
	Width float64  `json:"w"`
	Pts   [][2]int `json:"pts"`
	Name  string   `json:"name"`
}

// Pointer is a participant's pointer (stream "pointer"; key "p", or
// "p/NAME" for a bot).
type Pointer struct {
	Name string `json:"name"`
	X    int    `json:"x"`
	Y    int    `json:"y"`
}

// ChatLine is a line of chat (stream "chat").
type ChatLine struct {
	Name string `json:"name"`
	Text string `json:"text"`
}

// bots are the synthetic participants of a process: each says hello
// under its own name, moves its own pointer (a latest-wins key of its
// own), draws and chats. They share one member of the channel, so that a
// machine can run dozens without each receiving what all the others send.
type bots struct {
	ch      *channel.Channel
	cfg     Config
	names   []string
	strokes atomic.Uint64 // stroke pieces pushed (numbered 1, 2, ... in N)
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

var botColors = []string{"#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#9a6324"}

func startBots(ctx context.Context, cfg Config) (*bots, error) {
	ch, err := channel.Open(ctx, cfg.URL, channel.WithLinger(500*time.Millisecond), channel.WithBlockingPush(),
		channel.WithStreamQoS(streamPointer, pointerQoS))
	if err != nil {
		return nil, err
	}
	b := &bots{ch: ch, cfg: cfg}
	for i := range cfg.Bots {
		b.names = append(b.names, fmt.Sprintf("%s-bot%d", cfg.Name, i+1))
	}
	ctx, b.cancel = context.WithCancel(context.Background())
	b.wg.Add(1)
	go b.run(ctx)
	return b, nil
}

func (b *bots) close() {
	b.cancel()
	b.wg.Wait()
	for _, n := range b.names {
		pushHello(b.ch, Hello{Name: n, Bot: true, Bye: true})
	}
	b.ch.Close()
}

func (b *bots) push(ctx context.Context, stream string, v any, opts ...posting.Option) error {
	body, _ := json.Marshal(v)
	return b.ch.Push(ctx, posting.New(string(body), append(opts, posting.WithStream(stream))...))
}

func every(hz float64) *time.Ticker {
	if hz <= 0 {
		t := time.NewTicker(time.Hour)
		t.Stop()
		return t
	}
	return time.NewTicker(time.Duration(float64(time.Second) / hz))
}

// pen is where bot i's pen is at t seconds: a Lissajous figure of its own.
func pen(i int, t float64) [2]int {
	fi := float64(i)
	return [2]int{int(500 + 420*math.Sin(0.7*t+fi)), int(300 + 250*math.Sin(1.1*t+2*fi))}
}

func (b *bots) run(ctx context.Context) {
	defer b.wg.Done()
	hb, ptr, draw := time.NewTicker(b.cfg.Heartbeat), every(b.cfg.BotHz), every(b.cfg.BotStroke)
	defer hb.Stop()
	defer ptr.Stop()
	defer draw.Stop()
	chat := every(0)
	if b.cfg.BotChat > 0 {
		chat = time.NewTicker(b.cfg.BotChat)
	}
	defer chat.Stop()
	hello := func() {
		for _, n := range b.names {
			pushHello(b.ch, Hello{Name: n, Bot: true})
		}
	}
	hello()
	start := time.Now()
	var n, turn uint64 // pieces pushed; draw ticks (a stroke is ten of a bot's pieces)
	last := make([][2]int, len(b.names))
	for i := range last {
		last[i] = pen(i, 0)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-hb.C:
			hello()
		case <-ptr.C:
			t := time.Since(start).Seconds()
			for i, name := range b.names {
				p := pen(i, t)
				b.push(ctx, streamPointer, Pointer{Name: name, X: p[0], Y: p[1]},
					posting.WithKey("p/"+name), posting.WithTTL(pointerTTL), posting.WithMedia(posting.Data))
			}
		case <-draw.C:
			turn++
			t := time.Since(start).Seconds()
			for i, name := range b.names {
				pts := [][2]int{last[i]}
				for k := 1; k <= 4; k++ {
					pts = append(pts, pen(i, t+float64(k)*0.05))
				}
				last[i] = pts[len(pts)-1]
				s := Stroke{ID: fmt.Sprintf("%s/%d", name, (turn-1)/10), N: n + 1, Color: botColors[i%len(botColors)], Width: 2, Pts: pts, Name: name}
				if b.push(ctx, streamBoard, s, posting.WithMedia(posting.Data)) != nil {
					return // the channel is closing
				}
				n++
				b.strokes.Store(n)
			}
		case <-chat.C:
			for _, name := range b.names {
				b.push(ctx, streamChat, ChatLine{Name: name, Text: fmt.Sprintf("hello from %s at %s", name, time.Now().Format("15:04:05"))},
					posting.WithMedia(posting.Text))
			}
		}
	}
}
