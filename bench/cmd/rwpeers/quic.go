package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"strconv"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/rwanda-go/rwanda/cmd/rwbench/harness"
)

// quic-go: one connection on 127.0.0.1, TLS 1.3 with a self-signed
// certificate made for the run. Throughput goes over one stream, postings
// framed as a 4-byte little-endian length and the bytes through a 64 KiB
// buffered writer (as TCP's); round trips go in RFC 9221 datagrams, one
// posting each (a posting too large for a datagram goes over a stream
// instead). Packets are pinned to quic-go's largest, 1452 bytes of UDP
// payload (LAN-like; path MTU discovery off), and the flow-control windows
// raised as throughput users do.
var quicConfig = &quic.Config{
	InitialPacketSize:              1452,
	DisablePathMTUDiscovery:        true,
	EnableDatagrams:                true,
	MaxIdleTimeout:                 30 * time.Second,
	InitialStreamReceiveWindow:     4 << 20,
	MaxStreamReceiveWindow:         16 << 20,
	InitialConnectionReceiveWindow: 8 << 20,
	MaxConnectionReceiveWindow:     32 << 20,
}

// quicSettings is what the quic rows print as their settings.
const quicSettings = "TLS 1.3, packets of 1452 B (quic-go's largest; PMTUD off), stream windows 4–16 MiB, connection 8–32 MiB; throughput: one stream through a 64 KiB buffered writer; round trips: RFC 9221 datagrams"

const quicALPN = "rwbench"

// quicServerTLS makes a self-signed certificate for 127.0.0.1.
func quicServerTLS() (*tls.Config, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, NextProtos: []string{quicALPN}}, nil
}

func quicDial(ctx context.Context, port string) (*quic.Conn, error) {
	// The server's certificate is made for the run: nothing to verify it
	// against (the measurement is on loopback).
	tc := &tls.Config{InsecureSkipVerify: true, NextProtos: []string{quicALPN}}
	dctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	return quic.DialAddr(dctx, "127.0.0.1:"+port, tc, quicConfig)
}

// quicThroughput writes postings over one stream to a receiver process for d.
func (p *peers) quicThroughput(ctx context.Context, size int, d time.Duration) (harness.Sample, error) {
	c, err := p.child(ctx, "quic-recv")
	if err != nil {
		return harness.Sample{}, err
	}
	defer c.Kill()
	conn, err := quicDial(ctx, c.Ready)
	if err != nil {
		return harness.Sample{}, err
	}
	defer conn.CloseWithError(0, "")
	st, err := conn.OpenStreamSync(ctx)
	if err != nil {
		return harness.Sample{}, err
	}
	w := bufio.NewWriterSize(st, 64<<10)
	msg := frame(size)
	s, err := harness.MeasureReliable(ctx, []*harness.Child{c}, d, func(deadline time.Time) (int64, error) {
		st.SetWriteDeadline(deadline.Add(30 * time.Second))
		n, err := sendUntil(size, deadline, func() error {
			_, err := w.Write(msg)
			return err
		})
		if err == nil {
			err = w.Flush()
		}
		return n, err
	})
	s.Settings = quicSettings
	return s, err
}

// quicLatency measures round trips to an echo process: one datagram each
// way per probe (a stream when the posting does not fit a datagram). A
// datagram probe not answered within 200 ms is counted as lost.
func (p *peers) quicLatency(ctx context.Context, size int, d time.Duration) (harness.Sample, error) {
	c, err := p.child(ctx, "quic-echo")
	if err != nil {
		return harness.Sample{}, err
	}
	defer c.Kill()
	conn, err := quicDial(ctx, c.Ready)
	if err != nil {
		return harness.Sample{}, err
	}
	defer conn.CloseWithError(0, "")
	msg, in := frame(size), make([]byte, 4+size)
	var st *quic.Stream
	var lost, seq uint32
	var tooLarge *quic.DatagramTooLargeError
	if err := conn.SendDatagram(msg); errors.As(err, &tooLarge) {
		if st, err = conn.OpenStreamSync(ctx); err != nil {
			return harness.Sample{}, err
		}
		st.SetDeadline(time.Now().Add(d + 30*time.Second))
	} else if err != nil {
		return harness.Sample{}, err
	} else if _, err := conn.ReceiveDatagram(ctx); err != nil { // the first answer: the path works
		return harness.Sample{}, err
	}
	cpu0 := harness.CPUTime()
	lat, err := probe(ctx, d, func() error {
		if st != nil {
			if _, err := st.Write(msg); err != nil {
				return err
			}
			_, err := io.ReadFull(st, in)
			return err
		}
		seq++
		binary.LittleEndian.PutUint32(msg, seq) // the datagram's probe number in place of the length
		if err := conn.SendDatagram(msg); err != nil {
			return err
		}
		for {
			rctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			b, err := conn.ReceiveDatagram(rctx)
			cancel()
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				lost++
				return errLost
			}
			if err != nil {
				return err
			}
			if len(b) >= 4 && binary.LittleEndian.Uint32(b) == seq {
				return nil
			}
		}
	})
	if err != nil {
		return harness.Sample{}, err
	}
	cpu := harness.CPUTime() - cpu0
	if _, err := c.Stop(ctx, 0, 5*time.Second); err != nil {
		return harness.Sample{}, err
	}
	s, err := latencySample(cpu, lat, int64(lost), size, d)
	s.Settings = quicSettings
	if st != nil {
		s.Settings += fmt.Sprintf(" (%d B does not fit a datagram: a stream)", size)
	}
	return s, err
}

// childQUIC is quic-recv (counts what one stream carries) or quic-echo
// (sends every datagram back, and echoes streams).
func childQUIC(echo bool, stdin io.Reader, stdout io.Writer) error {
	tc, err := quicServerTLS()
	if err != nil {
		return err
	}
	l, err := quic.ListenAddr("127.0.0.1:0", tc, quicConfig)
	if err != nil {
		return err
	}
	defer l.Close()
	var c harness.Counter
	go func() {
		ctx := context.Background()
		conn, err := l.Accept(ctx)
		if err != nil {
			return
		}
		if echo {
			go func() {
				for {
					b, err := conn.ReceiveDatagram(ctx)
					if err != nil {
						return
					}
					conn.SendDatagram(b)
				}
			}()
		}
		for {
			st, err := conn.AcceptStream(ctx)
			if err != nil {
				return
			}
			go func() {
				r := bufio.NewReaderSize(st, 256<<10)
				var buf []byte
				for {
					var hdr [4]byte
					if _, err := io.ReadFull(r, hdr[:]); err != nil {
						return
					}
					n := int(binary.LittleEndian.Uint32(hdr[:]))
					if n > 64<<20 {
						return
					}
					if cap(buf) < 4+n {
						buf = make([]byte, 4+n)
					}
					buf = buf[:4+n]
					copy(buf, hdr[:])
					if _, err := io.ReadFull(r, buf[4:]); err != nil {
						return
					}
					if echo {
						if _, err := st.Write(buf); err != nil {
							return
						}
					} else {
						c.Add(n)
					}
				}
			}()
		}
	}()
	return harness.Serve(strconv.Itoa(l.Addr().(*net.UDPAddr).Port), &c, stdin, stdout)
}
