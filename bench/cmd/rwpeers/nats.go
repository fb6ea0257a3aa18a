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

// natsServer is an embedded nats-server listening on 127.0.0.1 (a random
// port), started once and shared by the measurements of a run.
type natsServer struct {
	srv *server.Server
	url string
}

func (p *peers) natsURL() (string, error) {
	if p.nats != nil {
		return p.nats.url, nil
	}
	srv, err := server.NewServer(&server.Options{
		Host:       "127.0.0.1",
		Port:       server.RANDOM_PORT,
		NoLog:      true,
		NoSigs:     true,
		MaxPayload: 8 << 20, // 1 MiB postings fit
	})
	if err != nil {
		return "", fmt.Errorf("nats-server: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return "", errors.New("nats-server: not ready within 10s")
	}
	p.nats = &natsServer{srv: srv, url: srv.ClientURL()}
	return p.nats.url, nil
}

func (n *natsServer) close() {
	n.srv.Shutdown()
	n.srv.WaitForShutdown()
}

// natsThroughput publishes postings to n subscriber processes through the
// embedded server for d. The sender's CPU includes the server's: it runs
// in the same process (the broker's copies are part of what a publisher
// pays for with NATS).
func (p *peers) natsThroughput(ctx context.Context, size, n int, d time.Duration) (harness.Sample, error) {
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
		k, err := sendUntil(size, deadline, func() error { return nc.Publish("rwbench.t", body) })
		if err == nil {
			err = nc.FlushTimeout(30 * time.Second)
		}
		return k, err
	})
	s.Note = "sender CPU includes the embedded nats-server (the broker)"
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
	return latencySample(cpu, lat, 0, size, d)
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
