package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/rwanda-go/rwanda/cmd/rwbench/harness"
)

// natsURL starts the NATS server on first use, in a process of its own
// (nats-server embedded in a child of rwpeers, on 127.0.0.1 and a random
// port), shared by the measurements of a run, and returns its URL.
func (p *peers) natsURL() (string, error) {
	if p.nats != nil {
		return p.nats.Ready, nil
	}
	// Not the measurement's context: the server outlives it (close ends it).
	c, err := harness.Start(context.Background(), p.self, []string{"child", "nats-server"}, nil, readyTimeout)
	if err != nil {
		return "", fmt.Errorf("nats-server: %w", err)
	}
	p.nats = c
	return c.Ready, nil
}

// natsSettings is what the NATS rows print as their settings.
const natsSettings = "nats-server in a process of its own; core NATS (at-most-once), default client options"

// childNATSServer runs nats-server until stdin closes.
func childNATSServer(stdin io.Reader, stdout io.Writer) error {
	srv, err := server.NewServer(&server.Options{
		Host:       "127.0.0.1",
		Port:       server.RANDOM_PORT,
		NoLog:      true,
		NoSigs:     true,
		MaxPayload: 8 << 20, // 1 MiB postings fit
	})
	if err != nil {
		return fmt.Errorf("nats-server: %w", err)
	}
	go srv.Start()
	defer func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	}()
	if !srv.ReadyForConnections(10 * time.Second) {
		return errors.New("nats-server: not ready within 10s")
	}
	var c harness.Counter
	return harness.Serve(srv.ClientURL(), &c, stdin, stdout)
}

// natsThroughput publishes postings to n subscriber processes through the
// server for d, at rate postings per second (0: as fast as Publish
// returns). The sender's CPU does not include the server's, a process of
// its own.
func (p *peers) natsThroughput(ctx context.Context, size, n int, rate float64, d time.Duration) (harness.Sample, error) {
	url, err := p.natsURL()
	if err != nil {
		return harness.Sample{}, err
	}
	var children []*harness.Child
	defer func() {
		for _, c := range children {
			c.Kill()
		}
	}()
	for range n {
		c, err := p.child(ctx, "nats-sub", "-url", url, "-subject", "rwbench.t")
		if err != nil {
			return harness.Sample{}, err
		}
		children = append(children, c)
	}
	nc, err := nats.Connect(url)
	if err != nil {
		return harness.Sample{}, err
	}
	defer nc.Close()
	body := make([]byte, size)
	s, err := harness.Measure(ctx, children, d, func(deadline time.Time) (int64, error) {
		publish := func() error { return nc.Publish("rwbench.t", body) }
		var k int64
		var err error
		if rate > 0 {
			k, err = harness.Paced(rate, deadline, publish)
		} else {
			k, err = sendUntil(size, deadline, publish)
		}
		if err == nil {
			err = nc.FlushTimeout(30 * time.Second)
		}
		return k, err
	})
	s.Note = "sender CPU excludes the broker (nats-server, a process of its own)"
	s.Settings = natsSettings
	return s, err
}

// natsLatency measures request/reply round trips to a responder process.
func (p *peers) natsLatency(ctx context.Context, size int, d time.Duration) (harness.Sample, error) {
	url, err := p.natsURL()
	if err != nil {
		return harness.Sample{}, err
	}
	c, err := p.child(ctx, "nats-echo", "-url", url, "-subject", "rwbench.echo")
	if err != nil {
		return harness.Sample{}, err
	}
	defer c.Kill()
	nc, err := nats.Connect(url)
	if err != nil {
		return harness.Sample{}, err
	}
	defer nc.Close()
	body := make([]byte, size)
	cpu0 := harness.CPUTime()
	lat, err := probe(ctx, d, func() error {
		_, err := nc.Request("rwbench.echo", body, 5*time.Second)
		return err
	})
	if err != nil {
		return harness.Sample{}, err
	}
	cpu := harness.CPUTime() - cpu0
	if _, err := c.Stop(ctx, 0, 5*time.Second); err != nil {
		return harness.Sample{}, err
	}
	s, err := latencySample(cpu, lat, 0, size, d)
	s.Settings = natsSettings + "; request/reply"
	return s, err
}

// childNATS subscribes (counting) or responds (echo) on subject.
func childNATS(echo bool, url, subject string, stdin io.Reader, stdout io.Writer) error {
	nc, err := nats.Connect(url)
	if err != nil {
		return err
	}
	defer nc.Close()
	var c harness.Counter
	if echo {
		_, err = nc.Subscribe(subject, func(m *nats.Msg) { m.Respond(m.Data) })
	} else {
		_, err = nc.Subscribe(subject, func(m *nats.Msg) { c.Add(len(m.Data)) })
	}
	if err != nil {
		return err
	}
	// The server knows the subscription once a flush returns.
	if err := nc.Flush(); err != nil {
		return err
	}
	return harness.Serve("", &c, stdin, stdout)
}
