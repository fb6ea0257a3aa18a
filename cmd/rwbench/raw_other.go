//go:build !linux

package main

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/rwanda-go/rwanda/cmd/rwbench/harness"
)

// multicastOnLoopback is only implemented on Linux: elsewhere raw UDP
// multicast is not measured rather than sent out of an unknown interface.
func multicastOnLoopback(*net.UDPConn) error {
	return errors.New("raw multicast is only measured on Linux")
}

// udpLatencySettings says how the raw-UDP round-trip baseline reads.
const udpLatencySettings = "net package reads (blocking reads are only measured on Linux), separate processes"

// udpLatency is udpNetpollLatency where blocking reads are not measured.
func (b *bench) udpLatency(ctx context.Context, size int, d time.Duration) (harness.Sample, error) {
	s, err := b.udpNetpollLatency(ctx, size, d)
	s.Settings = udpLatencySettings
	return s, err
}

// blockingEcho is only implemented on Linux.
func blockingEcho() (int, func(), error) {
	return 0, nil, errors.New("blocking reads are only measured on Linux")
}
