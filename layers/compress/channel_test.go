package compress_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/internal/testnet"
	"github.com/rwanda-go/rwanda/layers/compress"
	"github.com/rwanda-go/rwanda/posting"
	"github.com/rwanda-go/rwanda/stack"
)

const nPostings = 1000

var hubSeq atomic.Int64

// text is posting i's body: text-like, 100 bytes to about 6 KiB, so some
// postings are fragmented even compressed.
func text(i int) string {
	return fmt.Sprintf("posting %d: %s", i, compress.TextLike(100+(i*37)%6000, uint64(i)))
}

// exchange opens a sender and a receiver on url with qos, pushes
// nPostings postings of text from one to the other, and checks that every
// one arrives intact, once, in order. It returns the sender's stream
// statistics.
func exchange(t *testing.T, urlA, urlB, qos string) channel.StreamStats {
	t.Helper()
	checkGoroutines(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	open := func(url string) *channel.Channel {
		c, err := channel.Open(ctx, url, channel.WithQoS(qos), channel.WithBlockingPush())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	a, b := open(urlA), open(urlB)
	sub, err := b.Subscribe(channel.Streams("chat"))
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		for i := range nPostings {
			if err := a.Push(ctx, posting.New(text(i), posting.WithStream("chat"), posting.WithMedia(posting.Text))); err != nil {
				errc <- fmt.Errorf("push %d: %w", i, err)
				return
			}
		}
		errc <- nil
	}()
	for i := range nPostings {
		p, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("posting %d: %v (push: %v)", i, err, pushErr(errc))
		}
		if s, ok := p.Body.(string); !ok || s != text(i) {
			got := fmt.Sprint(p.Body)
			t.Fatalf("posting %d arrived as %.40q… (%d bytes), want %.40q… (%d bytes)", i, got, len(got), text(i), len(text(i)))
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	// The receiver decompressed, and dropped nothing.
	for _, f := range b.Stats().Flows {
		if f.Stream == "chat" {
			if ls := layerStats(t, f.Stack); ls.Counters["decompressed"] == 0 || len(ls.Drops) != 0 {
				t.Fatalf("receiver's compress layer: counters %v, drops %v", ls.Counters, ls.Drops)
			}
		}
	}
	for _, s := range a.Stats().Streams {
		if s.Name == "chat" {
			if !strings.Contains(s.QoS, "compress") {
				t.Fatalf("stream QoS %q", s.QoS)
			}
			return s
		}
	}
	t.Fatal("no stream chat in the sender's statistics")
	return channel.StreamStats{}
}

// checkGoroutines fails t if goroutines started during the test outlive
// it (and its channels, closed by cleanups registered later).
var checkGoroutines = testnet.CheckGoroutines

func pushErr(errc chan error) error {
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

// layerStats returns the compress layer's statistics in st.
func layerStats(t *testing.T, st stack.Stats) stack.LayerStats {
	t.Helper()
	for _, ls := range st.Layers {
		if ls.Name == "compress" {
			return ls
		}
	}
	t.Fatalf("no compress layer in %+v", st)
	return stack.LayerStats{}
}

func checkCompressed(t *testing.T, s channel.StreamStats) {
	t.Helper()
	ls := layerStats(t, s.Stack)
	c := ls.Counters
	if c["compressed"] == 0 || c["raw-bytes"] <= c["sent-bytes"] || len(ls.Drops) != 0 {
		t.Fatalf("compress layer: counters %v, drops %v", c, ls.Drops)
	}
	t.Logf("%s: %d postings, %d compressed, %d stored; %d bytes → %d (%.2f×)", s.QoS, s.Postings,
		c["compressed"], c["stored"], c["raw-bytes"], c["sent-bytes"], float64(c["raw-bytes"])/float64(c["sent-bytes"]))
}

func TestChannelMem(t *testing.T) {
	// The last puts compress below window, whose acknowledgements and
	// NAKs then cross it as control packets.
	for _, qos := range []string{"compress/reliable", "compress(algo=zstd)/reliable", "reliable/compress(min=0B)"} {
		t.Run(qos, func(t *testing.T) {
			url := fmt.Sprintf("mem://compress-%d", hubSeq.Add(1))
			checkCompressed(t, exchange(t, url, url, qos))
		})
	}
}

// freePort returns a UDP port on 127.0.0.1 that was free a moment ago.
var freePort = testnet.FreePort

func TestChannelUDP(t *testing.T) {
	pa, pb := freePort(t), freePort(t)
	s := exchange(t,
		fmt.Sprintf("udp://127.0.0.1:%d?listen=127.0.0.1:%d", pb, pa),
		fmt.Sprintf("udp://127.0.0.1:%d?listen=127.0.0.1:%d", pa, pb),
		"compress(algo=zstd,level=3)/reliable")
	checkCompressed(t, s)
}
