package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/rwanda-go/rwanda/cmd/rwbench/harness"
)

// Raw UDP, batched ("udp-batch"): what a careful user of plain UDP does
// for throughput. Postings (fragments of at most udpMax−batchHdr bytes)
// are packed, many to a datagram of at most udpMax bytes, each record
// with a 10-byte header (sequence number 4 bytes, fragment index and
// count 2 each, length 2); the datagrams leave batchLen at a time in one
// sendmmsg (ipv4.PacketConn.WriteBatch) and are read batchLen at a time
// with recvmmsg (ReadBatch). Nothing repairs a loss.
const (
	batchHdr = 10
	batchLen = 64
)

// udpBatcher packs postings into datagrams and writes them in batches.
type udpBatcher struct {
	conn *net.UDPConn
	pc   *ipv4.PacketConn
	msgs []ipv4.Message
	bufs [][]byte
	lens []int
	cur  int // the datagram being filled
	seq  uint32
}

func newUDPBatcher(dst string) (*udpBatcher, error) {
	raddr, err := net.ResolveUDPAddr("udp4", dst)
	if err != nil {
		return nil, err
	}
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	conn.SetWriteBuffer(4 << 20)
	u := &udpBatcher{conn: conn, pc: ipv4.NewPacketConn(conn), msgs: make([]ipv4.Message, batchLen),
		bufs: make([][]byte, batchLen), lens: make([]int, batchLen)}
	for i := range u.msgs {
		u.bufs[i] = make([]byte, udpMax)
		u.msgs[i].Addr = raddr
		u.msgs[i].Buffers = [][]byte{nil}
	}
	return u, nil
}

func (u *udpBatcher) close() { u.conn.Close() }

// post packs one posting of size bytes.
func (u *udpBatcher) post(size int) error {
	u.seq++
	frags := max(1, (size+udpMax-batchHdr-1)/(udpMax-batchHdr))
	for i, left := 0, size; i < frags; i++ {
		n := min(left, udpMax-batchHdr)
		left -= n
		if u.lens[u.cur]+batchHdr+n > udpMax {
			if u.cur++; u.cur == batchLen {
				if err := u.flush(); err != nil {
					return err
				}
			}
		}
		b := u.bufs[u.cur][u.lens[u.cur]:]
		binary.LittleEndian.PutUint32(b, u.seq)
		binary.LittleEndian.PutUint16(b[4:], uint16(i))
		binary.LittleEndian.PutUint16(b[6:], uint16(frags))
		binary.LittleEndian.PutUint16(b[8:], uint16(n))
		u.lens[u.cur] += batchHdr + n
	}
	return nil
}

// flush writes the datagrams packed so far, in one sendmmsg when it takes
// them all.
func (u *udpBatcher) flush() error {
	k := u.cur
	if k < batchLen && u.lens[k] > 0 {
		k++
	}
	for i := range k {
		u.msgs[i].Buffers[0] = u.bufs[i][:u.lens[i]]
	}
	for done := 0; done < k; {
		n, err := u.pc.WriteBatch(u.msgs[done:k], 0)
		if errors.Is(err, net.ErrClosed) {
			return err
		}
		if err != nil { // a full buffer loses the batch's rest, as raw UDP does
			break
		}
		done += n
	}
	clear(u.lens)
	u.cur = 0
	return nil
}

// udpBatchThroughput sends batched raw UDP postings to a receiver process
// for d.
func (b *bench) udpBatchThroughput(ctx context.Context, size int, d time.Duration) (harness.Sample, error) {
	c, err := b.child(ctx, false, "udp-recv", "--batch")
	if err != nil {
		return harness.Sample{}, err
	}
	defer c.Kill()
	u, err := newUDPBatcher("127.0.0.1:" + c.Ready)
	if err != nil {
		return harness.Sample{}, err
	}
	defer u.close()
	s, err := harness.Measure(ctx, []*harness.Child{c}, d, func(deadline time.Time) (int64, error) {
		n, err := sendLoop(size, 0, deadline, func() error { return u.post(size) })
		if err == nil {
			err = u.flush()
		}
		return n, err
	})
	s.Settings = fmt.Sprintf("postings packed into datagrams of at most %d bytes, %d datagrams per sendmmsg, recvmmsg of %d", udpMax, batchLen, batchLen)
	return s, err
}

// childUDPBatchRecv is udp-batch's receiver: recvmmsg, batchLen datagrams
// at a time, counting postings that arrived whole.
func childUDPBatchRecv(stdin io.Reader, stdout io.Writer) error {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetReadBuffer(4 << 20)
	var c harness.Counter
	go func() {
		pc := ipv4.NewPacketConn(conn)
		msgs := make([]ipv4.Message, batchLen)
		for i := range msgs {
			msgs[i].Buffers = [][]byte{make([]byte, 2048)}
		}
		var a udpAssembler
		for {
			k, err := pc.ReadBatch(msgs, 0)
			if err != nil {
				return
			}
			var whole, bytes int64
			for _, m := range msgs[:k] {
				d := m.Buffers[0][:m.N]
				for len(d) >= batchHdr {
					n := int(binary.LittleEndian.Uint16(d[8:]))
					if batchHdr+n > len(d) {
						break
					}
					if size, ok := a.addFrag(binary.LittleEndian.Uint32(d), binary.LittleEndian.Uint16(d[6:]), n); ok {
						whole++
						bytes += int64(size)
					}
					d = d[batchHdr+n:]
				}
			}
			c.AddN(whole, bytes)
		}
	}()
	return harness.Serve(strconv.Itoa(conn.LocalAddr().(*net.UDPAddr).Port), &c, stdin, stdout)
}
