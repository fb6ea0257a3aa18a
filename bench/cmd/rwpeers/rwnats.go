package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/cmd/rwbench/harness"
	_ "github.com/rwanda-go/rwanda/natsx" // app+nats:// (issue 27)
	"github.com/rwanda-go/rwanda/posting"
)

// rwNATSQoS is the stack of the "rwanda-nats" rows: the channel's default,
// reliable profile, as a user who only changes the URL gets it.
const rwNATSQoS = "reliable"

// rwNATSSeq numbers the subjects of the runs, so that no run's receivers
// hear another's.
var rwNATSSeq atomic.Int64

// rwNATSURL is the channel URL of a run over the server at url
// (nats://127.0.0.1:PORT).
func rwNATSURL(url string) string {
	return fmt.Sprintf("rwbench+nats://%s/rwbench.channel.%d", strings.TrimPrefix(url, "nats://"), rwNATSSeq.Add(1))
}

// rwNATSThroughput pushes postings through a channel over NATS to n
// receiver processes (channels on the same subject) for d, through the
// same nats-server as the plain NATS rows (a process of its own, so the
// sender's CPU excludes the broker's, as there).
func (p *peers) rwNATSThroughput(ctx context.Context, size, n int, d time.Duration) (harness.Sample, error) {
	url, err := p.natsURL()
	if err != nil {
		return harness.Sample{}, err
	}
	chURL := rwNATSURL(url)
	var children []*harness.Child
	defer func() {
		for _, c := range children {
			c.Kill()
		}
	}()
	for range n {
		c, err := p.child(ctx, "rwnats-recv", "-url", chURL)
		if err != nil {
			return harness.Sample{}, err
		}
		children = append(children, c)
	}
	// WithLinger(0): once measured, what is unacknowledged does not matter.
	tx, err := channel.Open(ctx, chURL, channel.WithQoS(rwNATSQoS), channel.WithBlockingPush(), channel.WithLinger(0))
	if err != nil {
		return harness.Sample{}, err
	}
	defer tx.Close()
	body := make([]byte, size)
	s, err := harness.Measure(ctx, children, d, func(deadline time.Time) (int64, error) {
		return sendUntil(size, deadline, func() error { return tx.Push(ctx, posting.New(body)) })
	})
	s.Note = "the plain NATS rows' nats-server (a process of its own); stack " + tx.QoS("")
	return s, err
}

// childRwNATS is a receiving channel over NATS: it counts the bodies of
// what arrives.
func childRwNATS(url string, stdin io.Reader, stdout io.Writer) error {
	ch, err := channel.Open(context.Background(), url)
	if err != nil {
		return err
	}
	defer ch.Close()
	var c harness.Counter
	if _, err := ch.SubscribeFunc(func(p *posting.Posting) {
		if b, ok := p.Body.([]byte); ok {
			c.Add(len(b))
		}
	}, channel.NoRetain()); err != nil { // it keeps nothing: receiving allocates nothing
		return err
	}
	return harness.Serve("", &c, stdin, stdout)
}
