package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/xtaci/kcp-go/v5"

	"github.com/rwanda-go/rwanda/cmd/rwbench/harness"
)

// kcp-go is tuned for throughput as its users do (kcptun's fast3 mode):
// nodelay, a 10 ms interval, fast resend after 2 duplicate acks, no
// congestion control, and acks sent at once (SetACKNoDelay: without it
// kcp-go acks only every interval, which caps a session near 140 MB/s);
// 1024-segment windows, stream mode, segments of at most 1472 bytes of UDP
// payload (LAN-like), 4 MiB socket buffers; no encryption, no FEC.
// Postings are framed as a 4-byte little-endian length and the bytes.
func tuneKCP(s *kcp.UDPSession) {
	s.SetStreamMode(true)
	s.SetNoDelay(kcpNoDelay, kcpInterval, kcpResend, kcpNC)
	s.SetACKNoDelay(true)
	s.SetWindowSize(kcpWindow, kcpWindow)
	s.SetMtu(kcpMTU)
	s.SetWriteDelay(false)
	s.SetReadBuffer(4 << 20)
	s.SetWriteBuffer(4 << 20)
}

// kcp-go's settings (see tuneKCP).
const (
	kcpNoDelay, kcpInterval, kcpResend, kcpNC = 1, 10, 2, 1
	kcpWindow                                 = 1024
	kcpMTU                                    = 1472
)

// kcpSettings is what the kcp rows print as their settings.
var kcpSettings = fmt.Sprintf("NoDelay(%d,%d,%d,%d) ACKNoDelay(true) WindowSize(%d,%d) Mtu(%d) StreamMode(true) WriteDelay(false), 4 MiB socket buffers, no FEC, no crypt",
	kcpNoDelay, kcpInterval, kcpResend, kcpNC, kcpWindow, kcpWindow, kcpMTU)

func kcpDial(port string) (*kcp.UDPSession, error) {
	s, err := kcp.DialWithOptions("127.0.0.1:"+port, nil, 0, 0)
	if err != nil {
		return nil, err
	}
	tuneKCP(s)
	return s, nil
}

// kcpHandshake sends an empty frame and waits for the receiver's answer,
// so a measurement starts on an established session: without it, one
// session in a few took seconds to deliver its first segments.
func kcpHandshake(s *kcp.UDPSession) error {
	s.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer s.SetReadDeadline(time.Time{})
	if _, err := s.Write(make([]byte, 4)); err != nil {
		return err
	}
	var b [4]byte
	if _, err := io.ReadFull(s, b[:]); err != nil {
		return fmt.Errorf("kcp handshake: %w", err)
	}
	return nil
}

func frame(size int) []byte {
	b := make([]byte, 4+size)
	binary.LittleEndian.PutUint32(b, uint32(size))
	return b
}

// kcpThroughput writes postings to a receiver process over one kcp
// session for d.
func (p *peers) kcpThroughput(ctx context.Context, size int, d time.Duration) (harness.Sample, error) {
	c, err := p.child(ctx, "kcp-recv")
	if err != nil {
		return harness.Sample{}, err
	}
	defer c.Kill()
	s, err := kcpDial(c.Ready)
	if err != nil {
		return harness.Sample{}, err
	}
	defer s.Close()
	if err := kcpHandshake(s); err != nil {
		return harness.Sample{}, err
	}
	msg := frame(size)
	w := bufio.NewWriterSize(s, 64<<10) // as TCP's and QUIC's: small postings share writes
	smp, err := harness.MeasureReliable(ctx, []*harness.Child{c}, d, func(deadline time.Time) (int64, error) {
		s.SetWriteDeadline(deadline.Add(30 * time.Second))
		n, err := sendUntil(size, deadline, func() error {
			_, err := w.Write(msg)
			return err
		})
		if err == nil {
			err = w.Flush()
		}
		return n, err
	})
	smp.Settings = kcpSettings + "; throughput through a 64 KiB buffered writer"
	return smp, err
}

// kcpLatency measures round trips to an echo process over one kcp session.
func (p *peers) kcpLatency(ctx context.Context, size int, d time.Duration) (harness.Sample, error) {
	c, err := p.child(ctx, "kcp-echo")
	if err != nil {
		return harness.Sample{}, err
	}
	defer c.Kill()
	s, err := kcpDial(c.Ready)
	if err != nil {
		return harness.Sample{}, err
	}
	defer s.Close()
	if err := kcpHandshake(s); err != nil {
		return harness.Sample{}, err
	}
	msg, in := frame(size), make([]byte, 4+size)
	s.SetDeadline(time.Now().Add(d + 30*time.Second))
	cpu0 := harness.CPUTime()
	lat, err := probe(ctx, d, func() error {
		if _, err := s.Write(msg); err != nil {
			return err
		}
		_, err := io.ReadFull(s, in)
		return err
	})
	if err != nil {
		return harness.Sample{}, err
	}
	cpu := harness.CPUTime() - cpu0
	if _, err := c.Stop(ctx, 0, 5*time.Second); err != nil {
		return harness.Sample{}, err
	}
	smp, err := latencySample(cpu, lat, 0, size, d)
	smp.Settings = kcpSettings
	return smp, err
}

func childKCP(echo bool, stdin io.Reader, stdout io.Writer) error {
	l, err := kcp.ListenWithOptions("127.0.0.1:0", nil, 0, 0)
	if err != nil {
		return err
	}
	defer l.Close()
	l.SetReadBuffer(4 << 20)
	var c harness.Counter
	go func() {
		s, err := l.AcceptKCP()
		if err != nil {
			return
		}
		defer s.Close()
		tuneKCP(s)
		serveFramed(s, echo, &c)
	}()
	return harness.Serve(strconv.Itoa(l.Addr().(*net.UDPAddr).Port), &c, stdin, stdout)
}

// serveFramed reads length-prefixed postings (4-byte little-endian length,
// then the body) from s until it fails: an empty one is the handshake and
// is answered; the others are echoed back (echo) or counted in c.
func serveFramed(s io.ReadWriter, echo bool, c *harness.Counter) {
	r := bufio.NewReaderSize(s, 256<<10)
	var buf []byte
	for {
		if cap(buf) < 4 {
			buf = make([]byte, 4)
		}
		if _, err := io.ReadFull(r, buf[:4]); err != nil {
			return
		}
		n := int(binary.LittleEndian.Uint32(buf))
		if n > 64<<20 {
			return
		}
		if n == 0 { // the handshake: answered, not counted
			if _, err := s.Write(buf[:4]); err != nil {
				return
			}
			continue
		}
		if cap(buf) < 4+n {
			nb := make([]byte, 4+n)
			copy(nb, buf[:4])
			buf = nb
		}
		if _, err := io.ReadFull(r, buf[4:4+n]); err != nil {
			return
		}
		if echo {
			if _, err := s.Write(buf[:4+n]); err != nil {
				return
			}
		} else {
			c.Add(n)
		}
	}
}
