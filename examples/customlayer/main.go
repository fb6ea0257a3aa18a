package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"log"
	"time"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/posting"
	"github.com/rwanda-go/rwanda/registry"
	"github.com/rwanda-go/rwanda/stack"
)

// stamp is the layer. stack.Base passes packets on unchanged and keeps
// the Binding; stamp writes only what it changes. A layer needs no lock
// (its stack serialises the calls) and no goroutine, and reads the time
// from its binding's clock, never time.Now.
type stamp struct {
	stack.Base
	maxAge time.Duration
}

func (*stamp) Name() string  { return "stamp" }
func (*stamp) Overhead() int { return 8 } // the bytes it adds on the way down

// Down writes the send time in front of the packet, in its headroom.
func (l *stamp) Down(p *stack.Packet) error {
	if p.Meta.Flags&(stack.FlagSkip|stack.FlagControl) != 0 {
		return l.Base.Down(p) // other layers' markers pass unchanged
	}
	binary.BigEndian.PutUint64(p.Push(8), uint64(l.Binding().Now().UnixNano()))
	return l.Base.Down(p)
}

// Up reads the send time back, counts the packet's age, and drops it
// when it is older than maxAge.
func (l *stamp) Up(p *stack.Packet) error {
	if p.Meta.Flags&(stack.FlagSkip|stack.FlagControl) != 0 {
		return l.Base.Up(p)
	}
	b, ok := p.Consume(8)
	if !ok {
		l.Binding().Drop(p, "malformed") // counted in Stats, by reason
		return nil
	}
	age := l.Binding().Now().Sub(time.Unix(0, int64(binary.BigEndian.Uint64(b))))
	if age > l.maxAge {
		l.Binding().Drop(p, "too-old")
		return nil
	}
	l.Binding().Count("stamped", 1)
	l.Binding().Count("age-us", uint64(max(age, 0)/time.Microsecond))
	return l.Base.Up(p)
}

func init() {
	// The registry checks parameters against Params before the builder
	// runs: an unknown key, or a value of the wrong kind, is an error
	// naming it. Min and Max bound what a receiver accepts when another
	// member announces the layer.
	info := registry.Info{
		Summary: "stamps packets with their send time; receivers count their age and drop stale ones",
		Params: []registry.ParamInfo{{Name: "maxage", Kind: registry.DurationParam, Default: "1s", Min: "1ms", Max: "1m",
			Doc: "packets older than this on arrival are dropped"}},
	}
	registry.Register("stamp", registry.NewBuilder(info, func(_ registry.Env, p *registry.Params) (stack.Layer, error) {
		return &stamp{maxAge: p.Duration("maxage")}, nil
	}))
}

func main() {
	if err := run("mem://customlayer-example"); err != nil {
		log.Fatal(err)
	}
}

func run(url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const qos = "stamp(maxage=500ms)/reliable"
	tx, err := channel.Open(ctx, url, channel.WithStreamQoS("timed", qos))
	if err != nil {
		return err
	}
	defer tx.Close()
	rx, err := channel.Open(ctx, url)
	if err != nil {
		return err
	}
	defer rx.Close()
	sub, err := channel.SubscribeTyped[string](rx, channel.Streams("timed"))
	if err != nil {
		return err
	}
	const n = 20
	for i := range n {
		if err := tx.Push(ctx, posting.New(fmt.Sprintf("posting %d", i), posting.WithStream("timed"))); err != nil {
			return err
		}
	}
	for range n {
		if _, _, err := sub.Next(ctx); err != nil {
			return err
		}
	}
	fmt.Printf("the stream runs %s\n", tx.QoS("timed"))
	for _, f := range rx.Stats().Flows {
		for _, l := range f.Stack.Layers {
			if l.Name == "stamp" {
				c := l.Counters
				fmt.Printf("receiver's stamp layer: %d packets, mean age %dµs, %d too old\n",
					c["stamped"], c["age-us"]/max(c["stamped"], 1), l.Drops["too-old"])
			}
		}
	}

	// Parameters are checked before anything is built.
	_, err = channel.Open(ctx, url, channel.WithQoS("stamp(maxage=12)"))
	fmt.Println("a bad parameter:", err)
	return nil
}
