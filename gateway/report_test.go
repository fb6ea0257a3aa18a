package gateway

import (
	"log/slog"
	"net/netip"
	"testing"
	"time"
)

// testGateway is a Gateway with no sockets, for its per-client logic
// (reports, adaptation, absorption) with time as input.
func testGateway() *Gateway {
	cfg := Config{MaxClients: 16}
	cfg.Absorb = 200 * time.Millisecond
	cfg.Shaper.defaults()
	cfg.Adapt.defaults()
	return &Gateway{cfg: cfg, log: slog.Default(), clients: map[netip.AddrPort]*client{}, members: map[uint64]*client{},
		streams: map[streamKey]bool{}, up: map[streamKey]*upFlow{}, drops: map[string]uint64{}, thinned: map[string]uint64{}}
}

// limitedClient is a validated client of g limited to rate bytes per
// second at now.
func limitedClient(g *Gateway, rate float64, now time.Time) *client {
	c := g.newClient(netip.MustParseAddrPort("10.0.0.1:9"), now)
	c.validated = true
	c.ad.rate = rate
	c.sh.SetRate(rate, now)
	return c
}

// TestReportThinnedFlow: a limited client's flow the gateway thins
// heavily (whole frames) reports a low received rate (the monitor
// measures it over its last packets, spread over the gaps) and some real
// loss. The rate is lowered from what the gateway sends at, by the loss
// among what it sent (the thinned packets left out): not to the
// under-read received rate, and the loss is not diluted by the thinned
// packets either.
func TestReportThinnedFlow(t *testing.T) {
	g := testGateway()
	now := t0
	c := g.newClient(netip.MustParseAddrPort("10.0.0.1:9"), now)
	c.validated = true
	const rate = 50000.0
	c.ad.rate = rate
	c.sh.SetRate(rate, now)
	c.adapt(now, g.log)
	k := streamKey{1, 2}
	g.streams[k] = true
	f := g.flowOf(c, k)
	f.thinned = 790
	g.report(c, k, f, mreport{expected: 1000, lost: 790, rate: 8000, mpps: 20000}, now)
	// The next 500 ms: 100 packets thinned, 20 sent (25 kB, at the
	// rate: a frame and audio), 6 of them lost on the way.
	now = now.Add(500 * time.Millisecond)
	f.thinned += 100
	c.sentBytes = 25000
	g.report(c, k, f, mreport{expected: 1120, lost: 896, rate: 8000, mpps: 20000}, now)
	c.adapt(now, g.log)
	j := c.ad.Last()
	t.Logf("judged %+v; rate %.0f → %.0f", j, rate, c.ad.Rate())
	if j.Packets != 20 || j.Lost != 6 {
		t.Errorf("judged %d packets, %d lost: want the 20 sent, 6 lost", j.Packets, j.Lost)
	}
	// 30 % lost of what left at the rate: 0.7 × 50 000 × Backoff.
	if want := rate * 0.7 * g.cfg.Adapt.Backoff; c.ad.Rate() < want*0.99 || c.ad.Rate() > want*1.01 {
		t.Errorf("rate %.0f after the loss, want %.0f (not the received rate the report under-reads: %d B/s)", c.ad.Rate(), want, 8000)
	}
}

// TestReportUpstreamLoss: what never reached the gateway (a gap in the
// group flow's monitor sequence as the gateway received it) is no
// client's loss: it does not lower a client's rate.
func TestReportUpstreamLoss(t *testing.T) {
	g := testGateway()
	now := t0
	c := limitedClient(g, 50000, now)
	c.adapt(now, g.log)
	k := streamKey{1, 2}
	g.streams[k] = true
	f := g.flowOf(c, k)
	g.upstream(k, 100, 1)
	g.report(c, k, f, mreport{expected: 100, lost: 0}, now)
	// 100 more numbers, 20 of which the gateway never got.
	g.upstream(k, 150, 1)
	g.upstream(k, 200, 1) // a gap of 49 ...
	for s := uint64(151); s < 180; s++ {
		g.upstream(k, s, 1) // ... 29 of them late: 20 never came
	}
	now = now.Add(500 * time.Millisecond)
	c.sentBytes = 25000
	g.report(c, k, f, mreport{expected: 200, lost: 20}, now)
	c.adapt(now, g.log)
	if j := c.ad.Last(); j.Lost != 0 || c.ad.Rate() < 50000 {
		t.Errorf("judged %+v, rate %.0f: the gateway's own loss counted as the client's", j, c.ad.Rate())
	}
}

// TestReportEchoOnce: a report that echoes the same packet as the flow's
// last timed one (nothing newer reached the client: a flow thinned for a
// while) adds no delay sample; the queue that packet met was observed
// once, when it was new.
func TestReportEchoOnce(t *testing.T) {
	g := testGateway()
	now := t0
	c := limitedClient(g, 50000, now)
	k := streamKey{1, 2}
	g.streams[k] = true
	f := g.flowOf(c, k)
	sent := now.UnixMicro()
	f.sent[f.sentN%sentRing] = sentStamp{stamp: 7, at: sent}
	f.sentN++
	f.sent[f.sentN%sentRing] = sentStamp{stamp: 8, at: sent}
	f.sentN++
	// Stamp 7 came back at once (the path's base), stamp 8 after 80 ms
	// of queue; then two more reports echo 8 again, held longer.
	g.report(c, k, f, mreport{expected: 10, echo: 7, timed: true}, now.Add(2*time.Millisecond))
	g.report(c, k, f, mreport{expected: 20, echo: 8, hold: 0, timed: true}, now.Add(82*time.Millisecond))
	g.report(c, k, f, mreport{expected: 20, echo: 8, hold: 250000, timed: true}, now.Add(332*time.Millisecond))
	g.report(c, k, f, mreport{expected: 20, echo: 8, hold: 500000, timed: true}, now.Add(582*time.Millisecond))
	if c.ad.delays != 2 || c.ad.delayPeak != 1 {
		t.Errorf("%d delay samples, %d of them peaks: want 2 (stamps 7 and 8, once each), 1", c.ad.delays, c.ad.delayPeak)
	}
}
