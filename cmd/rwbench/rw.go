package main

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/cmd/rwbench/harness"
	"github.com/rwanda-go/rwanda/posting"
)

// readyTimeout bounds how long a child may take to start listening.
const readyTimeout = 10 * time.Second

// rwQoS is the QoS string of a profile for postings of size bytes, and
// whether it needs the run's key. The empty stack cannot carry a posting
// larger than a datagram: from 1 KiB up it is "frag" (fragmentation only,
// best effort), the least that carries it.
func rwQoS(profile string, size int) (qos string, keyed bool) {
	switch profile {
	case "empty":
		if size > 1024 {
			return "frag", false
		}
		return "none", false
	case "encrypt":
		return "reliable/encrypt", true
	}
	return profile, false
}

// lanMTU is the UDP payload every LAN-like row is pinned to (an Ethernet
// path's 1500-byte MTU), whatever loopback's MTU: rwanda's URLs say
// mtu=1472, raw UDP cuts its datagrams there, kcp-go and quic-go get the
// nearest size they take (DECISIONS §4).
const lanMTU = 1472

// rwSettings is what the rwanda rows print as their settings.
var rwSettings = fmt.Sprintf("mtu=%d", lanMTU)

// The unicast URLs name a channel id (keyed unicast channels must) and pin
// the MTU.
var unicastListen = fmt.Sprintf("rwbench://:0?channel=rwbench&mtu=%d", lanMTU)

func unicastPeer(port string) string {
	return fmt.Sprintf("rwbench://127.0.0.1:%s?channel=rwbench&mtu=%d", port, lanMTU)
}

// multicastURL is the URL of a multicast group on the loopback interface,
// its MTU pinned.
func multicastURL(group string) string {
	return fmt.Sprintf("rwbench://%s?iface=lo&mtu=%d", group, lanMTU)
}

// keyOpts are the channel options of a keyed profile.
func (b *bench) keyOpts(keyed bool) []channel.Option {
	if !keyed {
		return nil
	}
	k, _ := hex.DecodeString(b.key)
	return []channel.Option{channel.WithKey(k)}
}

// child starts this executable's child subcommand kind with args.
func (b *bench) child(ctx context.Context, keyed bool, kind string, args ...string) (*harness.Child, error) {
	var env []string
	if keyed {
		env = append(env, "RWBENCH_KEY="+b.key)
	}
	return harness.Start(ctx, b.self, append([]string{"child", kind}, args...), env, readyTimeout)
}

// pushLoop pushes postings of size bytes on every channel in txs, in turn,
// until deadline, at rate postings per second (0: as fast as Push
// returns), and returns how many each got.
func pushLoop(ctx context.Context, txs []*channel.Channel, size int, rate float64, deadline time.Time) (int64, error) {
	body := make([]byte, size)
	return sendLoop(size, rate, deadline, func() error {
		for _, tx := range txs {
			if err := tx.Push(ctx, posting.New(body)); err != nil {
				return fmt.Errorf("push: %w", err)
			}
		}
		return nil
	})
}

// sendLoop calls send1 until deadline: at rate calls per second
// (harness.Paced), or with rate 0 as fast as it returns, reading the clock
// every 64 calls for postings of up to 4 KiB and every call above.
func sendLoop(size int, rate float64, deadline time.Time, send1 func() error) (int64, error) {
	if rate > 0 {
		return harness.Paced(rate, deadline, send1)
	}
	var n int64
	every := int64(64)
	if size > 4<<10 {
		every = 1
	}
	for ; n%every != 0 || time.Now().Before(deadline); n++ {
		if err := send1(); err != nil {
			return n, err
		}
	}
	return n, nil
}

// windowCounts adds up the window layers' data packets and repairs
// (retransmissions) on the channels' outgoing streams.
func windowCounts(txs []*channel.Channel) (packets, repairs int64) {
	for _, tx := range txs {
		for _, st := range tx.Stats().Streams {
			for _, l := range st.Stack.Layers {
				if l.Name == "window" {
					packets += int64(l.Counters["sent"])
					repairs += int64(l.Counters["retransmits"])
				}
			}
		}
	}
	return packets, repairs
}

// measureRw is harness.Measure of pushes on txs, with the settings and the
// window's packets and repairs of the measured part added.
func measureRw(ctx context.Context, children []*harness.Child, txs []*channel.Channel, size int, rate float64, d time.Duration, reliable bool) (harness.Sample, error) {
	var p0, r0 int64
	warm := true
	measure := harness.Measure
	if reliable {
		measure = harness.MeasureReliable
	}
	s, err := measure(ctx, children, d, func(deadline time.Time) (int64, error) {
		if !warm {
			p0, r0 = windowCounts(txs)
		}
		warm = false
		return pushLoop(ctx, txs, size, rate, deadline)
	})
	p, r := windowCounts(txs)
	s.Packets, s.Repairs, s.Settings = p-p0, r-r0, rwSettings
	return s, err
}

// rwThroughput pushes postings of one size through a profile's stack to a
// receiver process for d.
func (b *bench) rwThroughput(ctx context.Context, profile string, size int, d time.Duration) (harness.Sample, error) {
	qos, keyed := rwQoS(profile, size)
	return b.rwSend(ctx, qos, keyed, size, d)
}

// rwLoss is rwThroughput of the reliable profile with loss% of its packets
// dropped by the impair layer (seed 7, so runs repeat).
func (b *bench) rwLoss(ctx context.Context, size int, loss float64, d time.Duration) (harness.Sample, error) {
	qos := "reliable"
	if loss > 0 {
		qos = fmt.Sprintf("reliable/impair(loss=%g%%,seed=7)", loss)
	}
	return b.rwSend(ctx, qos, false, size, d)
}

func (b *bench) rwSend(ctx context.Context, qos string, keyed bool, size int, d time.Duration) (harness.Sample, error) {
	c, err := b.child(ctx, keyed, "rw-recv", "--url", unicastListen)
	if err != nil {
		return harness.Sample{}, err
	}
	defer c.Kill()
	opts := append([]channel.Option{channel.WithQoS(qos), channel.WithBlockingPush()}, b.keyOpts(keyed)...)
	tx, err := channel.Open(ctx, unicastPeer(c.Ready), opts...)
	if err != nil {
		return harness.Sample{}, err
	}
	defer tx.Close()
	return measureRw(ctx, []*harness.Child{c}, []*channel.Channel{tx}, size, 0, d, strings.HasPrefix(qos, "reliable"))
}

// fanout sends postings of size bytes to n receiver processes for d, at
// rate postings per second to each.
func (b *bench) fanout(ctx context.Context, system string, size, n int, rate float64, d time.Duration) (harness.Sample, error) {
	var (
		kind  string
		args  []string
		group string
	)
	switch system {
	case "rwanda-multicast":
		g, err := pickGroup()
		if err != nil {
			return harness.Sample{}, err
		}
		group = multicastURL(g)
		kind, args = "rw-recv", []string{"--url", group}
	case "rwanda-unicast":
		kind, args = "rw-recv", []string{"--url", unicastListen}
	case "udp-multicast":
		g, err := pickGroup()
		if err != nil {
			return harness.Sample{}, err
		}
		group = g
		kind, args = "udp-recv", []string{"--group", g}
	case "udp-unicast":
		kind = "udp-recv"
	default:
		return harness.Sample{}, fmt.Errorf("unknown fan-out system %q", system)
	}
	var children []*harness.Child
	defer func() {
		for _, c := range children {
			c.Kill()
		}
	}()
	for range n {
		c, err := b.child(ctx, false, kind, args...)
		if err != nil {
			return harness.Sample{}, err
		}
		children = append(children, c)
	}
	var s harness.Sample
	var err error
	switch system {
	case "rwanda-multicast", "rwanda-unicast":
		urls := []string{group}
		if system == "rwanda-unicast" {
			urls = urls[:0]
			for _, c := range children {
				urls = append(urls, unicastPeer(c.Ready))
			}
		}
		var txs []*channel.Channel
		defer func() {
			for _, tx := range txs {
				tx.Close()
			}
		}()
		for _, u := range urls {
			// WithLinger(0): once measured, what is still unacknowledged
			// does not matter; Close need not wait for receivers that may
			// have stopped reading.
			tx, err := channel.Open(ctx, u, channel.WithQoS("reliable"), channel.WithBlockingPush(), channel.WithLinger(0))
			if err != nil {
				return s, err
			}
			txs = append(txs, tx)
		}
		s, err = measureRw(ctx, children, txs, size, rate, d, true)
	default:
		var dsts []string
		if group != "" {
			dsts = []string{group}
		} else {
			for _, c := range children {
				dsts = append(dsts, "127.0.0.1:"+c.Ready)
			}
		}
		tx, err2 := newUDPSender(dsts, group != "", 0)
		if err2 != nil {
			return s, err2
		}
		defer tx.close()
		s, err = harness.Measure(ctx, children, d, func(deadline time.Time) (int64, error) {
			return harness.Paced(rate, deadline, func() error { return tx.write(size) })
		})
		s.Settings = fmt.Sprintf("datagrams of at most %d bytes, one write each", udpMax)
	}
	if err != nil {
		return s, err
	}
	return s, nil
}

// pickGroup picks a multicast group (239.77.x.y, organisation-local) and a
// port free on this host, at random, so concurrent runs and tests do not
// hear each other.
func pickGroup() (string, error) {
	for range 20 {
		port := 20000 + rand.IntN(40000)
		l, err := net.ListenUDP("udp4", &net.UDPAddr{Port: port})
		if err != nil {
			continue
		}
		l.Close()
		return fmt.Sprintf("239.77.%d.%d:%d", rand.IntN(256), 1+rand.IntN(254), port), nil
	}
	return "", errors.New("no free UDP port for a multicast group")
}

// rwLatency measures round trips through a profile's stack to an echo
// process. The client pushes the next probe from its SubscribeFunc
// callback, so no goroutine hand-off stands between a reply and the next
// probe (the echo does the same). A probe lost on a best-effort stack is
// resent after 200 ms and counted as lost.
func (b *bench) rwLatency(ctx context.Context, profile string, size int, d time.Duration) (harness.Sample, error) {
	qos, keyed := rwQoS(profile, size)
	c, err := b.child(ctx, keyed, "rw-echo", "--url", unicastListen, "--qos", qos)
	if err != nil {
		return harness.Sample{}, err
	}
	defer c.Kill()
	cli, err := channel.Open(ctx, unicastPeer(c.Ready), append([]channel.Option{channel.WithQoS(qos)}, b.keyOpts(keyed)...)...)
	if err != nil {
		return harness.Sample{}, err
	}
	defer cli.Close()
	if err := waitPeer(ctx, cli); err != nil {
		return harness.Sample{}, err
	}
	p := &pinger{size: max(size, 8), warm: 50, done: make(chan struct{}), lat: make([]time.Duration, 0, 1<<16)}
	p.send = func(body []byte) error { return cli.Push(ctx, posting.New(body)) }
	if _, err := cli.SubscribeFunc(func(q *posting.Posting) {
		if body, ok := q.Body.([]byte); ok {
			p.reply(body) // reads the body's sequence number, keeps nothing
		}
	}, channel.NoRetain()); err != nil {
		return harness.Sample{}, err
	}
	s, err := p.run(ctx, c, d)
	s.Settings = rwSettings
	return s, err
}

// waitPeer waits (at most readyTimeout) until ch lists a member: on a
// keyed channel, until that member has echoed ch's nonce, so that what ch
// sends next is accepted (a probe sent before would be dropped as
// unfresh and only its retransmission would count).
func waitPeer(ctx context.Context, ch *channel.Channel) error {
	deadline := time.Now().Add(readyTimeout)
	for len(ch.Stats().Peers) == 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("the echo never answered %v's hello (drops %v)", ch.Address().Raw, ch.Stats().Drops)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond): // polling the channel's reader
		}
	}
	return nil
}

// pinger runs one probe at a time, each sent when the previous one's reply
// arrives; a probe carries its sequence number in its first 8 bytes.
type pinger struct {
	size     int
	send     func([]byte) error
	mu       sync.Mutex
	seq      uint64
	t0       time.Time
	warm     int
	lat      []time.Duration
	deadline time.Time
	finished bool
	err      error
	lost     int64
	done     chan struct{}
	replies  atomic.Int64
}

// probe sends the next probe; p.mu is held.
func (p *pinger) probe() {
	p.seq++
	body := make([]byte, p.size)
	binary.LittleEndian.PutUint64(body, p.seq)
	p.t0 = time.Now()
	if err := p.send(body); err != nil && !p.finished {
		p.err, p.finished = err, true
		close(p.done)
	}
}

// reply handles a reply: it records the round trip and sends the next
// probe.
func (p *pinger) reply(body []byte) {
	now := time.Now()
	if len(body) < 8 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.finished || binary.LittleEndian.Uint64(body) != p.seq {
		return
	}
	p.replies.Add(1)
	if p.warm > 0 {
		p.warm--
	} else if len(p.lat) < cap(p.lat) {
		p.lat = append(p.lat, now.Sub(p.t0))
	}
	if now.After(p.deadline) && len(p.lat) >= minRoundTrips {
		p.finished = true
		close(p.done)
		return
	}
	p.probe()
}

// minRoundTrips is how many round trips a latency run measures at least,
// however short its duration: on a loaded machine the warm-up alone can
// outlast a short run, and a median of nothing is no figure. The
// watchdog's hard limit still ends a run whose round trips stall.
const minRoundTrips = 20

// run probes for d after the warm-up and stops the echo child.
func (p *pinger) run(ctx context.Context, c *harness.Child, d time.Duration) (harness.Sample, error) {
	var s harness.Sample
	cpu0 := harness.CPUTime()
	p.mu.Lock()
	p.deadline = time.Now().Add(d + 100*time.Millisecond) // the warm-up's share
	p.probe()
	p.mu.Unlock()
	tick := time.NewTicker(50 * time.Millisecond) // the watchdog's period
	defer tick.Stop()
	last, since := int64(0), time.Now()
	hard := time.Now().Add(d + 10*time.Second)
wait:
	for {
		select {
		case <-p.done:
			break wait
		case <-ctx.Done():
			return s, ctx.Err()
		case now := <-tick.C:
			if r := p.replies.Load(); r != last {
				last, since = r, now
				continue
			}
			if now.After(hard) {
				return s, errors.New("round trips stalled")
			}
			if now.Sub(since) >= 200*time.Millisecond {
				p.mu.Lock()
				if !p.finished {
					p.lost++
					p.probe()
				}
				p.mu.Unlock()
				since = now
			}
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return s, p.err
	}
	s.CPU = (harness.CPUTime() - cpu0).Seconds()
	if _, err := c.Stop(ctx, 0, 5*time.Second); err != nil {
		return s, err
	}
	n := int64(len(p.lat))
	s.Sent, s.Delivered, s.Receivers, s.Lost = n+p.lost, n, 1, p.lost
	s.Bytes = n * int64(p.size)
	s.Seconds = d.Seconds()
	s.Lat = harness.Latencies(p.lat)
	if s.Lat == nil {
		return s, errors.New("no round trip completed")
	}
	return s, nil
}
