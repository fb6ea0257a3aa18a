package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/cmd/rwbench/harness"
	"github.com/rwanda-go/rwanda/posting"
)

// childMain is the hidden subcommand "child KIND": the far end of a
// measurement, in a process of its own (see package harness for the
// protocol). Kinds: rw-recv, rw-echo (rwanda channels), rw-members (the
// senders of scale's members measurement, see childMembers), udp-recv
// (--batch: udp-batch's receiver), udp-echo (--blocking: blocking reads),
// tcp-recv, tcp-echo. A keyed channel reads its key from
// RWBENCH_KEY (hex).
func childMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "rwbench child: want a kind")
		return 2
	}
	kind := args[0]
	fs := flag.NewFlagSet("rwbench child "+kind, flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "", "channel URL")
	qos := fs.String("qos", "", "QoS of the echo's replies")
	group := fs.String("group", "", "multicast group:port to join on lo (udp-recv)")
	members := fs.Int("m", 1, "sender channels to open (rw-members)")
	announce := fs.Duration("announce", time.Second, "announce interval of the channels (rw-members)")
	blocking := fs.Bool("blocking", false, "udp-echo: blocking reads on a locked OS thread, not the net package")
	batch := fs.Bool("batch", false, "udp-recv: batched datagrams read with recvmmsg (udp-batch)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	var err error
	switch kind {
	case "rw-recv", "rw-echo":
		err = childRwanda(kind, *url, *qos, stdin, stdout)
	case "rw-members":
		err = childMembers(*url, *members, *announce, stdin, stdout)
	case "udp-recv":
		if *batch {
			err = childUDPBatchRecv(stdin, stdout)
		} else {
			err = childUDPRecv(*group, stdin, stdout)
		}
	case "udp-echo":
		if *blocking {
			err = childUDPBlockingEcho(stdin, stdout)
		} else {
			err = childUDPEcho(stdin, stdout)
		}
	case "tcp-recv", "tcp-echo":
		err = childTCP(kind == "tcp-echo", stdin, stdout)
	default:
		err = fmt.Errorf("unknown kind %q", kind)
	}
	if err != nil && !errors.Is(err, harness.ErrParentGone) {
		fmt.Fprintf(stderr, "rwbench child %s: %v\n", kind, err)
		return 1
	}
	return 0
}

func childRwanda(kind, url, qos string, stdin io.Reader, stdout io.Writer) error {
	ctx := context.Background()
	var opts []channel.Option
	if k := os.Getenv("RWBENCH_KEY"); k != "" {
		key, err := hex.DecodeString(k)
		if err != nil {
			return fmt.Errorf("RWBENCH_KEY: %w", err)
		}
		opts = append(opts, channel.WithKey(key))
	}
	if qos != "" {
		opts = append(opts, channel.WithQoS(qos))
	}
	ch, err := openListening(ctx, url, opts)
	if err != nil {
		return err
	}
	defer ch.Close()
	var c harness.Counter
	if kind == "rw-echo" {
		// NoRetain, as a user after speed would: Push has encoded the
		// body before it returns, so echoing the borrowed body is safe.
		_, err = ch.SubscribeFunc(func(p *posting.Posting) {
			c.Add(0)
			echo := posting.Posting{Body: p.Body}
			ch.Push(ctx, &echo)
		}, channel.NoRetain())
	} else {
		_, err = ch.SubscribeFunc(func(p *posting.Posting) {
			if b, ok := p.Body.([]byte); ok {
				c.Add(len(b))
			}
		}, channel.NoRetain())
	}
	if err != nil {
		return err
	}
	ready := ""
	if a := ch.LocalAddr(); a.IsValid() && !ch.Address().IsMulticast() {
		ready = strconv.Itoa(int(a.Port()))
	}
	return harness.Serve(ready, &c, stdin, stdout)
}

// openListening opens url; a listening URL with port 0 ("rwbench://:0")
// gets a port that was free a moment ago (channels want a port number),
// tried again if another process took it meanwhile.
func openListening(ctx context.Context, url string, opts []channel.Option) (*channel.Channel, error) {
	base, query, _ := strings.Cut(url, "?")
	if !strings.HasSuffix(base, "://:0") {
		return channel.Open(ctx, url, opts...)
	}
	if query != "" {
		query = "?" + query
	}
	var err error
	for range 10 {
		var l *net.UDPConn
		if l, err = net.ListenUDP("udp4", &net.UDPAddr{}); err != nil {
			return nil, err
		}
		port := l.LocalAddr().(*net.UDPAddr).Port
		l.Close()
		var ch *channel.Channel
		if ch, err = channel.Open(ctx, strings.TrimSuffix(base, "0")+strconv.Itoa(port)+query, opts...); err == nil {
			return ch, nil
		}
	}
	return nil, err
}

func childUDPRecv(group string, stdin io.Reader, stdout io.Writer) error {
	var conn *net.UDPConn
	var err error
	if group != "" {
		lo, err := net.InterfaceByName("lo")
		if err != nil {
			return err
		}
		g, err := net.ResolveUDPAddr("udp4", group)
		if err != nil {
			return err
		}
		conn, err = net.ListenMulticastUDP("udp4", lo, g)
		if err != nil {
			return err
		}
	} else if conn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
		return err
	}
	defer conn.Close()
	conn.SetReadBuffer(4 << 20)
	var c harness.Counter
	go func() {
		var a udpAssembler
		buf := make([]byte, 64<<10)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			if size, whole := a.add(buf[:n]); whole {
				c.Add(size)
			}
		}
	}()
	return harness.Serve(strconv.Itoa(conn.LocalAddr().(*net.UDPAddr).Port), &c, stdin, stdout)
}

func childUDPEcho(stdin io.Reader, stdout io.Writer) error {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetReadBuffer(4 << 20)
	var c harness.Counter
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			conn.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	return harness.Serve(strconv.Itoa(conn.LocalAddr().(*net.UDPAddr).Port), &c, stdin, stdout)
}

func childUDPBlockingEcho(stdin io.Reader, stdout io.Writer) error {
	port, stop, err := blockingEcho()
	if err != nil {
		return err
	}
	defer stop()
	var c harness.Counter
	return harness.Serve(strconv.Itoa(port), &c, stdin, stdout)
}

func childTCP(echo bool, stdin io.Reader, stdout io.Writer) error {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer l.Close()
	var c harness.Counter
	go func() {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		r := bufio.NewReaderSize(conn, 256<<10)
		var hdr [4]byte
		var buf []byte
		for {
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
				if _, err := conn.Write(buf); err != nil {
					return
				}
			} else {
				c.Add(n)
			}
		}
	}()
	return harness.Serve(strconv.Itoa(l.Addr().(*net.TCPAddr).Port), &c, stdin, stdout)
}
