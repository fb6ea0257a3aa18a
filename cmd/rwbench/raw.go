package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"time"

	"github.com/rwanda-go/rwanda/cmd/rwbench/harness"
)

// Raw UDP carries a posting in datagrams of at most udpMax bytes (the
// Ethernet path MTU, the limit rwanda's channels use by default), each
// with an 8-byte header: sequence number (4 bytes), fragment index and
// count (2 each), so the receiver counts only postings it got whole.
const (
	udpMax = 1472
	udpHdr = 8
)

// udpSender writes raw UDP postings to one or more destinations.
type udpSender struct {
	conn *net.UDPConn
	dsts []netip.AddrPort
	loss float64 // share of datagrams not written (the loss experiment)
	rng  *rand.Rand
	seq  uint32
	buf  []byte
	// emit, when set, sends each datagram instead of the socket (to its
	// one destination).
	emit func([]byte) error
}

// newUDPSender opens a socket on 127.0.0.1 sending to dsts; multicast
// sends leave through the loopback interface only.
func newUDPSender(dsts []string, multicast bool, lossPct float64) (*udpSender, error) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	u := &udpSender{conn: conn, loss: lossPct / 100, rng: rand.New(rand.NewPCG(7, 7)), buf: make([]byte, udpMax)}
	if multicast {
		if err := multicastOnLoopback(conn); err != nil {
			conn.Close()
			return nil, fmt.Errorf("multicast on lo: %w", err)
		}
	}
	conn.SetWriteBuffer(4 << 20)
	for _, d := range dsts {
		ap, err := netip.ParseAddrPort(d)
		if err != nil {
			conn.Close()
			return nil, err
		}
		u.dsts = append(u.dsts, ap)
	}
	return u, nil
}

func (u *udpSender) close() { u.conn.Close() }

// write sends one posting of size bytes to every destination (each
// datagram dropped with the loss probability, decided once for all
// destinations).
func (u *udpSender) write(size int) error {
	u.seq++
	frags := max(1, (size+udpMax-udpHdr-1)/(udpMax-udpHdr))
	for i, left := 0, size; i < frags; i++ {
		n := min(left, udpMax-udpHdr)
		left -= n
		if u.loss > 0 && u.rng.Float64() < u.loss {
			continue
		}
		binary.LittleEndian.PutUint32(u.buf, u.seq)
		binary.LittleEndian.PutUint16(u.buf[4:], uint16(i))
		binary.LittleEndian.PutUint16(u.buf[6:], uint16(frags))
		if u.emit != nil {
			if err := u.emit(u.buf[:udpHdr+n]); err != nil {
				return err
			}
			continue
		}
		for _, d := range u.dsts {
			if _, err := u.conn.WriteToUDPAddrPort(u.buf[:udpHdr+n], d); errors.Is(err, net.ErrClosed) {
				return err
			}
			// Other errors (a full buffer) lose the datagram, as raw UDP does.
		}
	}
	return nil
}

// loop writes postings until deadline and returns how many.
func (u *udpSender) loop(size int, deadline time.Time) (int64, error) {
	var n int64
	every := int64(64)
	if size > 4<<10 {
		every = 1
	}
	for ; n%every != 0 || time.Now().Before(deadline); n++ {
		if err := u.write(size); err != nil {
			return n, err
		}
	}
	return n, nil
}

// udpThroughput sends raw UDP postings to a receiver process for d, with
// lossPct% of the datagrams dropped at the sender (no repair: raw UDP
// under the loss experiment's loss).
func (b *bench) udpThroughput(ctx context.Context, size int, d time.Duration, lossPct float64) (harness.Sample, error) {
	c, err := b.child(ctx, false, "udp-recv")
	if err != nil {
		return harness.Sample{}, err
	}
	defer c.Kill()
	u, err := newUDPSender([]string{"127.0.0.1:" + c.Ready}, false, lossPct)
	if err != nil {
		return harness.Sample{}, err
	}
	defer u.close()
	s, err := harness.Measure(ctx, []*harness.Child{c}, d, func(deadline time.Time) (int64, error) {
		return u.loop(size, deadline)
	})
	s.Settings = fmt.Sprintf("datagrams of at most %d bytes, one write (sendto) each, one read each", udpMax)
	return s, err
}

// udpAssembler counts postings whose every datagram arrived.
type udpAssembler struct {
	slots [4096]struct {
		seq   uint32
		got   uint16
		bytes int
	}
}

// add takes one datagram and returns the posting's size when it is whole.
func (a *udpAssembler) add(d []byte) (int, bool) {
	if len(d) < udpHdr {
		return 0, false
	}
	return a.addFrag(binary.LittleEndian.Uint32(d), binary.LittleEndian.Uint16(d[6:]), len(d)-udpHdr)
}

// addFrag takes one fragment of n bytes of posting seq, one of frags, and
// returns the posting's size when it is whole.
func (a *udpAssembler) addFrag(seq uint32, frags uint16, n int) (int, bool) {
	s := &a.slots[seq%uint32(len(a.slots))]
	if s.seq != seq || s.got == 0 {
		s.seq, s.got, s.bytes = seq, 0, 0
	}
	s.got++
	s.bytes += n
	if s.got == frags {
		s.got = 0
		return s.bytes, true
	}
	return 0, false
}

// udpNetpollLatency measures round trips of raw UDP postings to an echo
// process that sends every datagram back, both ends reading through Go's
// net package (the runtime's netpoller wakes the reading goroutine); a
// probe whose reply is not whole within 200 ms is counted as lost and the
// next one goes. udpLatency (raw_linux.go) is the same with blocking
// reads.
func (b *bench) udpNetpollLatency(ctx context.Context, size int, d time.Duration) (harness.Sample, error) {
	var s harness.Sample
	c, err := b.child(ctx, false, "udp-echo")
	if err != nil {
		return s, err
	}
	defer c.Kill()
	u, err := newUDPSender([]string{"127.0.0.1:" + c.Ready}, false, 0)
	if err != nil {
		return s, err
	}
	defer u.close()
	u.conn.SetReadBuffer(4 << 20)
	lat := make([]time.Duration, 0, 1<<16)
	var a udpAssembler
	in := make([]byte, 64<<10)
	cpu0 := harness.CPUTime()
	end := time.Now().Add(d + 100*time.Millisecond)
	hard := end.Add(10 * time.Second)
	for i := 0; (time.Now().Before(end) || len(lat) < minRoundTrips && time.Now().Before(hard)) && ctx.Err() == nil; i++ {
		t0 := time.Now()
		if err := u.write(size); err != nil {
			return s, err
		}
		u.conn.SetReadDeadline(t0.Add(200 * time.Millisecond))
		for {
			n, err := u.conn.Read(in)
			if err != nil {
				s.Lost++
				break
			}
			if binary.LittleEndian.Uint32(in) != u.seq {
				continue
			}
			if _, whole := a.add(in[:n]); whole {
				if i >= 50 && len(lat) < cap(lat) { // after the warm-up
					lat = append(lat, time.Since(t0))
				}
				break
			}
		}
	}
	s.CPU = (harness.CPUTime() - cpu0).Seconds()
	if _, err := c.Stop(ctx, 0, 5*time.Second); err != nil {
		return s, err
	}
	s.Settings = "net package reads (the netpoller wakes the reader), separate processes"
	return latencySample(s, lat, size, d)
}

func latencySample(s harness.Sample, lat []time.Duration, size int, d time.Duration) (harness.Sample, error) {
	n := int64(len(lat))
	s.Sent, s.Delivered, s.Receivers = n+s.Lost, n, 1
	s.Bytes = n * int64(size)
	s.Seconds = d.Seconds()
	if s.Lat = harness.Latencies(lat); s.Lat == nil {
		return s, errors.New("no round trip completed")
	}
	return s, nil
}

// TCP carries postings as a 4-byte little-endian length and the bytes.

// tcpThroughput streams postings through a buffered writer (64 KiB) to a
// receiver process for d.
func (b *bench) tcpThroughput(ctx context.Context, size int, d time.Duration) (harness.Sample, error) {
	c, err := b.child(ctx, false, "tcp-recv")
	if err != nil {
		return harness.Sample{}, err
	}
	defer c.Kill()
	conn, err := net.Dial("tcp4", "127.0.0.1:"+c.Ready)
	if err != nil {
		return harness.Sample{}, err
	}
	defer conn.Close()
	w := bufio.NewWriterSize(conn, 64<<10)
	body := make([]byte, size)
	var hdr [4]byte
	binary.LittleEndian.PutUint32(hdr[:], uint32(size))
	s, err := harness.MeasureReliable(ctx, []*harness.Child{c}, d, func(deadline time.Time) (int64, error) {
		var n int64
		every := int64(64)
		if size > 4<<10 {
			every = 1
		}
		for ; n%every != 0 || time.Now().Before(deadline); n++ {
			w.Write(hdr[:])
			if _, err := w.Write(body); err != nil {
				return n, err
			}
		}
		return n, w.Flush()
	})
	s.Settings = tcpSettings + "; through a 64 KiB buffered writer"
	return s, err
}

// tcpSettings is what the raw TCP rows print as their settings.
const tcpSettings = "one connection on 127.0.0.1 (loopback's MTU), Nagle off (Go's default)"

// tcpLatency measures round trips of postings to an echo process over one
// TCP connection (Nagle off, Go's default).
func (b *bench) tcpLatency(ctx context.Context, size int, d time.Duration) (harness.Sample, error) {
	var s harness.Sample
	c, err := b.child(ctx, false, "tcp-echo")
	if err != nil {
		return s, err
	}
	defer c.Kill()
	conn, err := net.Dial("tcp4", "127.0.0.1:"+c.Ready)
	if err != nil {
		return s, err
	}
	defer conn.Close()
	msg := make([]byte, 4+size)
	binary.LittleEndian.PutUint32(msg, uint32(size))
	in := make([]byte, 4+size)
	lat := make([]time.Duration, 0, 1<<16)
	cpu0 := harness.CPUTime()
	end := time.Now().Add(d + 100*time.Millisecond)
	conn.SetDeadline(end.Add(5 * time.Second))
	for i := 0; time.Now().Before(end) && ctx.Err() == nil; i++ {
		t0 := time.Now()
		if _, err := conn.Write(msg); err != nil {
			return s, err
		}
		if _, err := io.ReadFull(conn, in); err != nil {
			return s, err
		}
		if i >= 50 && len(lat) < cap(lat) {
			lat = append(lat, time.Since(t0))
		}
	}
	s.CPU = (harness.CPUTime() - cpu0).Seconds()
	if _, err := c.Stop(ctx, 0, 5*time.Second); err != nil {
		return s, err
	}
	s.Settings = tcpSettings
	return latencySample(s, lat, size, d)
}
