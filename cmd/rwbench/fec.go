package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/cmd/rwbench/harness"
	"github.com/rwanda-go/rwanda/posting"
)

// The fec subcommand (issue 23): round trips of 16 KiB postings to an
// echo process through a path that loses 2% of the packets, independently,
// and delays every packet 40 ms each way: rwanda's media profile without
// and with the fec layer (the impair layer at the bottom of both ends'
// stacks, seed 7), beside kcp-go without and with its FEC (the same loss
// and delay applied by a wrapper of its sockets, seed 7; see rwpeers).
const (
	fecLossPct = 2
	fecDelay   = 40 * time.Millisecond
	fecWarm    = 10 // round trips left out at the start: the loss reports that turn parity on come every 250 ms
)

func fecImpair() string {
	return fmt.Sprintf("impair(loss=%d%%,delay=%v,seed=7)", fecLossPct, fecDelay)
}

// fecJobs lists the fec rows, each system named for what it runs.
func (b *bench) fecJobs(d time.Duration) []*job {
	var jobs []*job
	for _, size := range b.cfg.sizes {
		for _, r := range []struct{ system, qos string }{
			{"rwanda-media+loss", "media/" + fecImpair()},
			{"rwanda-media-fec+loss", "media/fec/" + fecImpair()},
		} {
			jobs = append(jobs, &job{test: "fec", system: r.system, size: size, loss: fecLossPct,
				run: func(ctx context.Context) (harness.Sample, error) { return b.fecLatency(ctx, r.qos, size, d) }})
		}
		if b.peers != nil {
			for _, s := range b.peers.hello.Systems["fec"] {
				jobs = append(jobs, &job{test: "fec", system: s + "+loss", size: size, loss: fecLossPct,
					run: func(ctx context.Context) (harness.Sample, error) {
						return b.peers.do(ctx, harness.Request{Op: "fec", System: s, Size: size, Duration: harness.Duration(d)})
					}})
			}
		}
	}
	return jobs
}

// fecLatency is rwLatency with a QoS string of its own and a short
// warm-up, and a note of what the client's stream sent besides the data:
// parity (fec's parity-bytes) and retransmitted packets (window's
// retransmits), per posting.
func (b *bench) fecLatency(ctx context.Context, qos string, size int, d time.Duration) (harness.Sample, error) {
	c, err := b.child(ctx, false, "rw-echo", "--url", unicastListen, "--qos", qos)
	if err != nil {
		return harness.Sample{}, err
	}
	defer c.Kill()
	cli, err := channel.Open(ctx, unicastPeer(c.Ready), channel.WithQoS(qos), channel.WithLinger(0))
	if err != nil {
		return harness.Sample{}, err
	}
	defer cli.Close()
	if err := waitPeer(ctx, cli); err != nil {
		return harness.Sample{}, err
	}
	warm := fecWarm
	if d < 2*time.Second {
		warm = 0 // a short run (a test's) keeps every round trip
	}
	p := &pinger{size: max(size, 8), warm: warm, done: make(chan struct{}), lat: make([]time.Duration, 0, 1<<16)}
	p.send = func(body []byte) error { return cli.Push(ctx, posting.New(body)) }
	if _, err := cli.SubscribeFunc(func(q *posting.Posting) {
		if body, ok := q.Body.([]byte); ok {
			p.reply(body)
		}
	}); err != nil {
		return harness.Sample{}, err
	}
	s, err := p.run(ctx, c, d)
	if err != nil {
		return s, err
	}
	var postings, parity, retx, fragments uint64
	for _, st := range cli.Stats().Streams {
		postings += st.Postings
		for _, l := range st.Stack.Layers {
			switch l.Name {
			case "fec":
				parity += l.Counters["parity-bytes"]
			case "window":
				retx += l.Counters["retransmits"]
			case "frag":
				fragments += l.Counters["fragments-sent"]
			}
		}
	}
	s.Settings = fmt.Sprintf("%s; stack %s", rwSettings, cli.QoS(""))
	if postings > 0 {
		s.Note = fmt.Sprintf("%d%% loss and %v each way (impair, seed 7); lost: no reply within 200 ms (the probe is sent again); client stream: %.0f parity bytes and %.2f retransmitted packets per posting (%.1f fragments)",
			fecLossPct, fecDelay, float64(parity)/float64(postings), float64(retx)/float64(postings), float64(fragments)/float64(postings))
	}
	return s, nil
}

// writeFecRows prints the fec table: round trips as the latency table
// has them, at the path's loss and delay.
func writeFecRows(w io.Writer, tw *tabwriter.Writer, rows []Row) {
	fmt.Fprintf(w, "fec: round trip to an echo process, µs, through %d%% loss and %v each way\n", fecLossPct, fecDelay)
	fmt.Fprintln(tw, "system\tsize\tp50 [min–max]\tp99\tp99.9\tlost")
	for _, r := range rows {
		if r.P50 == nil {
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\n", r.System, sizeName(r.Size), rangeOf(*r.P50, sig), sig(r.P99.Median), sig(r.P999.Median), r.Sent-r.Delivered)
	}
}
