package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/cmd/rwbench/harness"
	"github.com/rwanda-go/rwanda/natsx/bridge"
	"github.com/rwanda-go/rwanda/posting"
)

// The NATS bridge's rows (issue 28): round trips between a member at site
// A and one at site B, each site an embedded nats-server, B's a leaf node
// of A's, all in this process.
//
//	latency rwanda-nats-leaf  both members are channels over NATS
//	                          (app+nats://), on their site's server:
//	                          NATS's own path, leaf link included
//	latency rwanda-bridge     both members are on their site's in-process
//	                          hub (mem://), bridged to the same servers by a
//	                          bridge per site (natsx/bridge)
//
// A round trip crosses each bridge twice, so the bridges' added one-way
// latency is half the difference of the two rows' figures.

var bridgeSeq atomic.Int64

// bridgeLatency measures round trips: A pushes a posting of size bytes on
// stream "ping", B pushes it back on "pong".
func (p *peers) bridgeLatency(ctx context.Context, bridged bool, size int, d time.Duration) (harness.Sample, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return harness.Sample{}, err
	}
	leaf := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	srvA, err := bridge.StartServer(bridge.ServerConfig{LeafListen: "127.0.0.1:" + leaf})
	if err != nil {
		return harness.Sample{}, err
	}
	defer srvA.Close()
	srvB, err := bridge.StartServer(bridge.ServerConfig{LeafRemotes: []string{"nats-leaf://127.0.0.1:" + leaf}, LeafReconnect: 100 * time.Millisecond})
	if err != nil {
		return harness.Sample{}, err
	}
	defer srvB.Close()
	for srvA.Leafs() == 0 || srvB.Leafs() == 0 {
		if err := ctx.Err(); err != nil {
			return harness.Sample{}, err
		}
		time.Sleep(time.Millisecond) // polling the servers for the leaf link
	}
	seq := bridgeSeq.Add(1)
	subject := fmt.Sprintf("rwbench.bridge.%d", seq)
	urlA := fmt.Sprintf("rwbench+nats://%s/%s?channel=bridge%d", srvA.ClientURL()[len("nats://"):], subject, seq)
	urlB := fmt.Sprintf("rwbench+nats://%s/%s?channel=bridge%d", srvB.ClientURL()[len("nats://"):], subject, seq)
	if bridged {
		lanA := fmt.Sprintf("mem://rwbench-bridge-a-%d?channel=bridge%d", seq, seq)
		lanB := fmt.Sprintf("mem://rwbench-bridge-b-%d?channel=bridge%d", seq, seq)
		for _, s := range []struct {
			lan string
			srv *bridge.Server
		}{{lanA, srvA}, {lanB, srvB}} {
			wan, err := bridge.WANURL(s.lan, s.srv.ClientURL(), subject)
			if err != nil {
				return harness.Sample{}, err
			}
			b, err := bridge.New(ctx, bridge.Config{LAN: s.lan, WAN: wan})
			if err != nil {
				return harness.Sample{}, err
			}
			defer b.Close()
		}
		urlA, urlB = lanA, lanB
	}
	opts := []channel.Option{channel.WithBlockingPush(), channel.WithLinger(0)}
	a, err := channel.Open(ctx, urlA, opts...)
	if err != nil {
		return harness.Sample{}, err
	}
	defer a.Close()
	b, err := channel.Open(ctx, urlB, opts...)
	if err != nil {
		return harness.Sample{}, err
	}
	defer b.Close()
	pings := make(chan []byte, 1)
	pongs := make(chan struct{}, 1)
	if _, err := b.SubscribeFunc(func(p *posting.Posting) {
		if body, ok := p.Body.([]byte); ok && p.Stream == "ping" {
			pings <- body
		}
	}); err != nil {
		return harness.Sample{}, err
	}
	if _, err := a.SubscribeFunc(func(p *posting.Posting) {
		if p.Stream == "pong" {
			pongs <- struct{}{}
		}
	}); err != nil {
		return harness.Sample{}, err
	}
	echoCtx, stopEcho := context.WithCancel(ctx)
	echoed := make(chan struct{})
	go func() {
		defer close(echoed)
		for {
			select {
			case <-echoCtx.Done():
				return
			case body := <-pings:
				b.Push(echoCtx, posting.New(body, posting.WithStream("pong")))
			}
		}
	}()
	defer func() { stopEcho(); <-echoed }()
	body := make([]byte, size)
	rt := func() error {
		if err := a.Push(ctx, posting.New(body, posting.WithStream("ping"))); err != nil {
			return err
		}
		select {
		case <-pongs:
			return nil
		case <-time.After(5 * time.Second):
			return errors.New("no answer within 5 s")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	// The first round trip waits for the members to hear each other.
	for err := errors.New(""); err != nil; {
		if ctx.Err() != nil {
			return harness.Sample{}, ctx.Err()
		}
		err = rt()
	}
	cpu0 := harness.CPUTime()
	lat, err := probe(ctx, d, rt)
	if err != nil {
		return harness.Sample{}, err
	}
	s, err := latencySample(harness.CPUTime()-cpu0, lat, 0, size, d)
	s.Note = "round trips site A → site B → site A over two embedded nats-servers and a leaf node link, in one process"
	if bridged {
		s.Note += "; members on mem:// hubs, a bridge per site"
	}
	return s, err
}
