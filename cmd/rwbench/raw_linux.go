package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/rwanda-go/rwanda/cmd/rwbench/harness"
)

// multicastOnLoopback makes c send multicast through the loopback
// interface (IP_MULTICAST_IF 127.0.0.1), looped back to local members,
// never out of the host's other interfaces.
func multicastOnLoopback(c *net.UDPConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInet4Addr(int(fd), syscall.IPPROTO_IP, syscall.IP_MULTICAST_IF, [4]byte{127, 0, 0, 1})
		if serr == nil {
			serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_MULTICAST_LOOP, 1)
		}
	}); err != nil {
		return err
	}
	return serr
}

// blockingUDP is a UDP socket on 127.0.0.1 in blocking mode, read and
// written with plain system calls on the calling goroutine's thread: the
// kernel wakes the reader itself, no netpoller between. It is how a
// careful user writes a latency-critical UDP loop in Go.
type blockingUDP struct {
	fd   int
	port int
}

func openBlockingUDP() (*blockingUDP, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<20)
	syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_SNDBUF, 4<<20)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		syscall.Close(fd)
		return nil, err
	}
	return &blockingUDP{fd: fd, port: sa.(*syscall.SockaddrInet4).Port}, nil
}

// setReadTimeout bounds each read (SO_RCVTIMEO); 0 blocks for ever.
func (b *blockingUDP) setReadTimeout(d time.Duration) error {
	tv := syscall.NsecToTimeval(d.Nanoseconds())
	return syscall.SetsockoptTimeval(b.fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv)
}

func (b *blockingUDP) sendTo(p []byte, to syscall.Sockaddr) error {
	for {
		err := syscall.Sendto(b.fd, p, 0, to)
		if err != syscall.EINTR {
			return err
		}
	}
}

func (b *blockingUDP) recvFrom(p []byte) (int, syscall.Sockaddr, error) {
	for {
		n, from, err := syscall.Recvfrom(b.fd, p, 0)
		if err != syscall.EINTR {
			return n, from, err
		}
	}
}

// close wakes a blocked reader (shutdown) and closes the socket.
func (b *blockingUDP) close() {
	syscall.Shutdown(b.fd, syscall.SHUT_RDWR)
	syscall.Close(b.fd)
}

// udpLatencySettings says how the raw-UDP round-trip baseline reads.
const udpLatencySettings = "blocking recvfrom on a locked OS thread at both ends, separate processes"

// udpLatency measures round trips of raw UDP postings to an echo process,
// both ends reading with blocking system calls on a thread of their own
// (see blockingUDP): the fair raw-UDP baseline. A probe whose reply is not
// whole within 200 ms is counted as lost and the next one goes.
func (b *bench) udpLatency(ctx context.Context, size int, d time.Duration) (harness.Sample, error) {
	var s harness.Sample
	c, err := b.child(ctx, false, "udp-echo", "--blocking")
	if err != nil {
		return s, err
	}
	defer c.Kill()
	port, err := strconv.Atoi(c.Ready)
	if err != nil {
		return s, fmt.Errorf("echo's port %q: %w", c.Ready, err)
	}
	sock, err := openBlockingUDP()
	if err != nil {
		return s, err
	}
	defer sock.close()
	if err := sock.setReadTimeout(200 * time.Millisecond); err != nil {
		return s, err
	}
	to := &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: port}
	u := &udpSender{buf: make([]byte, udpMax), emit: func(p []byte) error { return sock.sendTo(p, to) }}
	type result struct {
		lat  []time.Duration
		lost int64
		err  error
	}
	done := make(chan result, 1)
	cpu0 := harness.CPUTime()
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var r result
		r.lat = make([]time.Duration, 0, 1<<16)
		var a udpAssembler
		in := make([]byte, 64<<10)
		end := time.Now().Add(d + 100*time.Millisecond)
		for i := 0; time.Now().Before(end) && ctx.Err() == nil; i++ {
			t0 := time.Now()
			if r.err = u.write(size); r.err != nil {
				break
			}
			for {
				n, _, err := sock.recvFrom(in)
				if err != nil { // the read timeout: lost
					r.lost++
					break
				}
				if n < udpHdr || binary.LittleEndian.Uint32(in) != u.seq {
					continue
				}
				if _, whole := a.add(in[:n]); whole {
					if i >= 50 && len(r.lat) < cap(r.lat) { // after the warm-up
						r.lat = append(r.lat, time.Since(t0))
					}
					break
				}
			}
		}
		done <- r
	}()
	r := <-done
	if r.err != nil {
		return s, r.err
	}
	s.CPU = (harness.CPUTime() - cpu0).Seconds()
	s.Lost = r.lost
	if _, err := c.Stop(ctx, 0, 5*time.Second); err != nil {
		return s, err
	}
	s.Settings = udpLatencySettings
	return latencySample(s, r.lat, size, d)
}

// blockingEcho is the echo of udpLatency: it sends every datagram back
// from a locked OS thread blocked in recvfrom, until the socket closes.
func blockingEcho() (port int, stop func(), err error) {
	sock, err := openBlockingUDP()
	if err != nil {
		return 0, nil, err
	}
	go func() {
		runtime.LockOSThread()
		buf := make([]byte, 64<<10)
		for {
			n, from, err := sock.recvFrom(buf)
			if err != nil || n == 0 && from == nil {
				return
			}
			sock.sendTo(buf[:n], from)
		}
	}()
	return sock.port, sock.close, nil
}
