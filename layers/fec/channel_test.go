package fec_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/internal/testnet"
	"github.com/rwanda-go/rwanda/posting"
	"github.com/rwanda-go/rwanda/stack"
)

func layerCounter(s stack.Stats, layer, name string) uint64 {
	for _, l := range s.Layers {
		if l.Name == layer {
			return l.Counters[name]
		}
	}
	return 0
}

// The layer in a channel's QoS string, after a profile: postings of four
// fragments through 5% loss (impair, seeded) all arrive, parity is sent
// with them and rebuilds lost fragments at the receiver, and nothing is
// left running after Close.
func TestChannelMediaFec(t *testing.T) {
	testnet.CheckGoroutines(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url := fmt.Sprintf("mem://fec-%d", time.Now().UnixNano())
	const qos = "media/fec(fixed=2)/impair(loss=5%,seed=3)"
	rx, err := channel.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	tx, err := channel.Open(ctx, url, channel.WithQoS(qos), channel.WithBlockingPush())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	sub, err := rx.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	body := make([]byte, 4000)
	for i := range n {
		body[0] = byte(i)
		if err := tx.Push(ctx, posting.New(body)); err != nil {
			t.Fatal(err)
		}
	}
	for got := 0; got < n; got++ {
		if _, err := sub.Next(ctx); err != nil {
			t.Fatalf("after %d of %d postings: %v (receiver %+v)", got, n, err, rx.Stats().Flows)
		}
	}
	var parity, recovered uint64
	for _, s := range tx.Stats().Streams {
		parity += layerCounter(s.Stack, "fec", "parity-sent")
	}
	for _, f := range rx.Stats().Flows {
		recovered += layerCounter(f.Stack, "fec", "recovered")
	}
	t.Logf("parity sent %d, recovered %d", parity, recovered)
	if parity == 0 || recovered == 0 {
		t.Errorf("parity sent %d, recovered %d: want both", parity, recovered)
	}
}
