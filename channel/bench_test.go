package channel

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/keys"
	"github.com/rwanda-go/rwanda/posting"
)

// BenchmarkPushUnicast pushes postings over UDP on loopback to a receiver
// in the same process and reports delivered postings per second and the
// datagrams they took. The stack is "frag" (best effort): this measures
// the channel's send path, not reliability (see BenchmarkReliable).
func BenchmarkPushUnicast(b *testing.B) {
	for _, size := range []int{64, 1 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			b.ReportAllocs()
			benchPush(b, size, nil)
		})
	}
}

// benchPush pushes postings of size bytes on the "frag" stack from a
// sender to a receiver on unicast loopback (tune, if not nil, adjusts the
// sender first) and reports deliveries and datagrams per posting.
func benchPush(b *testing.B, size int, tune func(tx *Channel)) {
	var got atomic.Int64
	tx := benchPair(b, "", func(*posting.Posting) { got.Add(1) }, nil, WithQoS("frag"))
	if tune != nil {
		tune(tx)
	}
	body := make([]byte, size)
	ctx := context.Background()
	b.SetBytes(int64(size))
	for b.Loop() {
		if err := tx.Push(ctx, posting.New(body)); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	// Let the last datagrams arrive before counting.
	deadline := time.Now().Add(2 * time.Second)
	for got.Load() < int64(b.N) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // waiting on the receiving goroutine
	}
	b.ReportMetric(float64(got.Load())/float64(b.N), "delivered/op")
	b.ReportMetric(float64(tx.Stats().Sent.Datagrams)/float64(b.N), "datagrams/op")
}

// benchPair opens a receiver calling recv for each posting and a sender
// to it on unicast loopback (query: URL parameters for both; both: options
// for both; txOpts: the sender's own, besides WithBlockingPush), closed
// when the benchmark ends, and returns the sender.
func benchPair(b *testing.B, query string, recv func(*posting.Posting), both []Option, txOpts ...Option) *Channel {
	port := freePortTB(b)
	// A keyed unicast channel must name its id.
	if query == "" {
		query = "?channel=bench"
	} else {
		query += "&channel=bench"
	}
	rx, err := Open(context.Background(), fmt.Sprintf("bench://:%d%s", port, query), both...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { rx.Close() })
	rx.SubscribeFunc(recv)
	opts := append(append([]Option{WithBlockingPush()}, txOpts...), both...)
	tx, err := Open(context.Background(), fmt.Sprintf("bench://127.0.0.1:%d%s", port, query), opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { tx.Close() })
	// Both ends know each other (on a keyed channel: each has echoed the
	// other's nonce) before the clock starts.
	for deadline := time.Now().Add(10 * time.Second); len(rx.Stats().Peers) == 0 || len(tx.Stats().Peers) == 0; {
		if time.Now().After(deadline) {
			b.Fatal("the pair never met")
		}
		time.Sleep(time.Millisecond) // polling the receiving goroutines
	}
	return tx
}

// BenchmarkRoundTrip measures a ping-pong over UDP on loopback between two
// channels in one process: the echo side answers from SubscribeFunc. The
// stacks are "none" (nothing but the channel) and the default "reliable".
func BenchmarkRoundTrip(b *testing.B) {
	for _, qos := range []string{"none", "reliable"} {
		for _, size := range []int{64, 1 << 10} {
			b.Run(fmt.Sprintf("%s/%dB", qos, size), func(b *testing.B) { benchRoundTrip(b, qos, size) })
		}
	}
}

func benchRoundTrip(b *testing.B, qos string, size int) {
	port := freePortTB(b)
	echo, err := Open(context.Background(), fmt.Sprintf("bench://:%d", port), WithQoS(qos))
	if err != nil {
		b.Fatal(err)
	}
	defer echo.Close()
	echo.SubscribeFunc(func(p *posting.Posting) {
		echo.Push(context.Background(), posting.New(p.Body))
	})
	cli, err := Open(context.Background(), fmt.Sprintf("bench://127.0.0.1:%d", port), WithQoS(qos))
	if err != nil {
		b.Fatal(err)
	}
	defer cli.Close()
	back := make(chan struct{}, 1)
	cli.SubscribeFunc(func(*posting.Posting) { back <- struct{}{} })
	body := make([]byte, size)
	ctx := context.Background()
	// Warm up: the first round trip builds the stacks.
	cli.Push(ctx, posting.New(body))
	<-back
	lat := make([]time.Duration, 0, 1<<16)
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		if err := cli.Push(ctx, posting.New(body)); err != nil {
			b.Fatal(err)
		}
		select {
		case <-back:
		case <-time.After(time.Second):
			b.Fatal("lost a round trip")
		}
		if len(lat) < cap(lat) {
			lat = append(lat, time.Since(t0))
		}
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1000, "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1000, "p99-µs")
}

// BenchmarkSendPath measures what bundling small postings into shared
// datagrams and sending runs of datagrams with GSO are worth: each on and
// off, 64-byte and 1 KiB postings, unicast on loopback.
func BenchmarkSendPath(b *testing.B) {
	for _, size := range []int{64, 1 << 10} {
		for _, mode := range []struct {
			name        string
			bundle, gso bool
		}{{"bundle+gso", true, true}, {"bundle", true, false}, {"gso", false, true}, {"neither", false, false}} {
			b.Run(fmt.Sprintf("%dB/%s", size, mode.name), func(b *testing.B) {
				benchPush(b, size, func(tx *Channel) {
					tx.out.noBundle = !mode.bundle
					tx.tr.(*udpTransport).conn.SetGSO(mode.gso)
				})
			})
		}
	}
}

// BenchmarkRoundTripRawUDP is the baseline for BenchmarkRoundTrip: the same
// ping-pong with plain net.UDPConn sockets, the echo on its own goroutine.
func BenchmarkRoundTripRawUDP(b *testing.B) {
	for _, size := range []int{64, 1 << 10} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			srv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Close()
			cli, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				b.Fatal(err)
			}
			defer cli.Close()
			go func() {
				buf := make([]byte, 64<<10)
				for {
					n, from, err := srv.ReadFromUDPAddrPort(buf)
					if err != nil {
						return
					}
					srv.WriteToUDPAddrPort(buf[:n], from)
				}
			}()
			to := srv.LocalAddr().(*net.UDPAddr).AddrPort()
			body := make([]byte, size)
			in := make([]byte, 64<<10)
			lat := make([]time.Duration, 0, 1<<16)
			for b.Loop() {
				t0 := time.Now()
				cli.WriteToUDPAddrPort(body, to)
				cli.SetReadDeadline(time.Now().Add(time.Second))
				if _, _, err := cli.ReadFromUDPAddrPort(in); err != nil {
					b.Fatal(err)
				}
				if len(lat) < cap(lat) {
					lat = append(lat, time.Since(t0))
				}
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1000, "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1000, "p99-µs")
		})
	}
}

// BenchmarkReliable measures goodput — postings delivered per second, end
// to end, tail included — of the reliable profile at 0%, 1% and 5% loss
// (impair in the stack, seeded), side by side with the empty stack in the
// same run (none for 1 KiB; frag, the least that carries 64 KiB), and the
// retransmission overhead: packets the window sent again per packet it
// sent (impair drops them inside the stack, so the wire never sees the
// lost copies), and bytes on the wire per byte delivered.
func BenchmarkReliable(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10} {
		empty := "none"
		if size > 1400 {
			empty = "frag"
		}
		for _, c := range []struct{ name, qos string }{
			{"empty", empty},
			{"reliable", "reliable"},
			{"reliable-1pct", "reliable/impair(loss=1%,seed=1)"},
			{"reliable-5pct", "reliable/impair(loss=5%,seed=1)"},
		} {
			b.Run(fmt.Sprintf("%dKiB/%s", size>>10, c.name), func(b *testing.B) {
				benchGoodput(b, size, c.qos)
			})
		}
	}
}

func benchGoodput(b *testing.B, size int, qos string) { benchGoodputMTU(b, size, qos, 0) }

func benchGoodputMTU(b *testing.B, size int, qos string, mtu int, opts ...Option) {
	q := ""
	if mtu > 0 {
		q = fmt.Sprintf("?mtu=%d", mtu)
	}
	var got, last atomic.Int64
	tx := benchPair(b, q, func(*posting.Posting) {
		got.Add(1)
		last.Store(time.Now().UnixNano())
	}, opts, WithQoS(qos))
	body := make([]byte, size)
	start := time.Now()
	n := pushLoop(b, tx, body)
	// Wait for the last delivery: all of them, or (best effort) until
	// deliveries stop. The measurement ends at the last one.
	waitDeliveries(&got, n)
	delivered := got.Load()
	elapsed := time.Unix(0, last.Load()).Sub(start)
	st := tx.Stats()
	var sent, retx uint64
	for _, s := range st.Streams {
		for _, l := range s.Stack.Layers {
			if l.Name == "window" {
				sent, retx = l.Counters["sent"], l.Counters["retransmits"]
			}
		}
	}
	b.ReportMetric(float64(delivered)/elapsed.Seconds(), "postings/s")
	b.ReportMetric(float64(delivered)*float64(size)/elapsed.Seconds()/1e6, "MB/s")
	b.ReportMetric(float64(delivered)/float64(n), "delivered")
	if sent > 0 {
		b.ReportMetric(float64(retx)/float64(sent), "retx/packet")
	}
	b.ReportMetric(float64(st.Sent.Bytes)/(float64(delivered)*float64(size)), "wire/delivered")
}

// pushLoop pushes postings of body on tx for the benchmark's loop and
// returns how many.
func pushLoop(b *testing.B, tx *Channel, body []byte) int {
	ctx := context.Background()
	n := 0
	for b.Loop() {
		if err := tx.Push(ctx, posting.New(body)); err != nil {
			b.Fatal(err)
		}
		n++
	}
	return n
}

// waitDeliveries waits until got reaches n, or stops growing for 50 ms
// (best effort: the rest was lost).
func waitDeliveries(got *atomic.Int64, n int) {
	for prev := int64(-1); got.Load() < int64(n) && got.Load() != prev; {
		prev = got.Load()
		time.Sleep(50 * time.Millisecond) // waiting on the receiving goroutine
	}
}

// BenchmarkReliableJumbo is BenchmarkReliable's 64 KiB case on a path with
// a larger MTU (jumbo frames, or loopback), where a parcel takes fewer,
// larger datagrams.
func BenchmarkReliableJumbo(b *testing.B) {
	for _, mtu := range []int{9000, 65000} {
		for _, c := range []struct{ name, qos string }{{"empty", "frag"}, {"reliable", "reliable"}} {
			b.Run(fmt.Sprintf("64KiB/mtu%d/%s", mtu, c.name), func(b *testing.B) {
				benchGoodputMTU(b, 64<<10, c.qos, mtu)
			})
		}
	}
}

// BenchmarkSecure measures what security costs: goodput of the reliable
// profile plain, and on a keyed channel (every datagram authenticated and
// every stream encrypted, AES-128-GCM by default, ChaCha20-Poly1305 for
// CPUs without AES instructions), and signed with Ed25519 over batches of
// packets (each side both sending and verifying), side by side in one run.
func BenchmarkSecure(b *testing.B) {
	key := WithKey([]byte("0123456789abcdef0123456789abcdef"))
	id, err := keys.GenerateIdentity()
	if err != nil {
		b.Fatal(err)
	}
	trust, err := keys.NewTrust(id.Public())
	if err != nil {
		b.Fatal(err)
	}
	signed := []Option{WithIdentity(id), WithTrusted(trust)}
	for _, size := range []int{1 << 10, 64 << 10} {
		for _, c := range []struct {
			name, qos string
			opts      []Option
		}{
			{"reliable", "reliable", nil},
			{"keyed-aes128gcm", "reliable", []Option{key}},
			{"keyed-chacha20", "reliable/encrypt(suite=chacha20-poly1305)", []Option{key}},
			{"signed-batch16", "reliable/sign", signed},
			{"signed-batch80", "reliable/sign(batch=80)", signed},
			{"keyed+signed", "reliable/sign(batch=64)", append([]Option{key}, signed...)}, // 80 does not fit under a keyed MTU
		} {
			b.Run(fmt.Sprintf("%dKiB/%s", size>>10, c.name), func(b *testing.B) {
				benchGoodputMTU(b, size, c.qos, 0, c.opts...)
			})
		}
	}
}
