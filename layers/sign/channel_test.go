package sign_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/channel"
	"github.com/rwanda-go/rwanda/internal/testnet"
	"github.com/rwanda-go/rwanda/posting"
	"github.com/rwanda-go/rwanda/stack"
)

var hubSeq atomic.Int64

func openChannel(t *testing.T, url string, opts ...channel.Option) *channel.Channel {
	t.Helper()
	c, err := channel.Open(context.Background(), url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// signStats returns the sign layer's statistics of the flow from sender
// in c, and whether there is such a flow.
func signStats(c *channel.Channel, sender uint64) (stack.LayerStats, bool) {
	for _, f := range c.Stats().Flows {
		if f.Sender != sender {
			continue
		}
		for _, ls := range f.Stack.Layers {
			if ls.Name == "sign" {
				return ls, true
			}
		}
	}
	return stack.LayerStats{}, false
}

// receiveInts checks that sub delivers the ints 0..n-1 in order.
func receiveInts(t *testing.T, sub *channel.Subscription, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range n {
		p, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("after %d postings: %v", i, err)
		}
		if v, ok := p.Body.(int); !ok || v != i {
			t.Fatalf("posting %d is %v", i, p.Body)
		}
	}
}

// Over mem://, a signed stream reaches the member that trusts its signer
// whole and in order, and nothing of it reaches a member that trusts
// another key, which counts what it dropped.
func TestChannelSigned(t *testing.T) {
	const n = 1000
	signer, other := ident(t, 1), ident(t, 2)
	url := fmt.Sprintf("mem://sign-%d", hubSeq.Add(1))
	qos := channel.WithQoS("reliable/sign")
	requireSign := channel.WithReceivePolicy(channel.Policy{Require: []string{"sign"}})
	good := openChannel(t, url, qos, channel.WithTrusted(trust(t, signer)), requireSign)
	bad := openChannel(t, url, qos, channel.WithTrusted(trust(t, other)), requireSign)
	tx := openChannel(t, url, qos, channel.WithIdentity(signer), channel.WithBlockingPush())
	gsub, err := good.Subscribe(channel.Queue(n+16, channel.FailSlow))
	if err != nil {
		t.Fatal(err)
	}
	bsub, err := bad.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range n {
		if err := tx.Push(ctx, posting.New(i, posting.WithStream("signed"))); err != nil {
			t.Fatal(err)
		}
	}
	receiveInts(t, gsub, n)
	ls, ok := signStats(good, tx.ID())
	if !ok || ls.Counters["verified"] == 0 || ls.Counters["signatures"] == 0 {
		t.Fatalf("trusting member's sign stats %+v", ls)
	}
	if ls.Drops["untrusted"]+ls.Drops["bad-signature"]+ls.Drops["unsigned"] != 0 {
		t.Fatalf("trusting member dropped %v", ls.Drops)
	}
	t.Logf("trusting member: %v, drops %v", ls.Counters, ls.Drops)

	// The member trusting another key: it built the flow, and drops.
	deadline := time.Now().Add(10 * time.Second)
	for {
		ls, ok = signStats(bad, tx.ID())
		if ok && ls.Drops["untrusted"] > 0 && ls.Drops["expired"]+ls.Drops["evicted"] > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the untrusting member's flow: %v %+v", ok, ls)
		}
		time.Sleep(10 * time.Millisecond) // polling for the receiver's goroutine to count, not waiting for time to pass
	}
	t.Logf("untrusting member: drops %v", ls.Drops)
	if ls.Counters["verified"] != 0 {
		t.Fatalf("untrusting member verified %d packets", ls.Counters["verified"])
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if p, err := bsub.Next(short); err == nil {
		t.Fatalf("untrusting member received %v", p)
	}
	if st := bad.Stats(); st.Received.Postings != 0 {
		t.Fatalf("untrusting member received %d postings", st.Received.Postings)
	}
}

// A member that pushes on a signed stream without an identity is told
// which option it lacks.
func TestChannelNoIdentity(t *testing.T) {
	url := fmt.Sprintf("mem://sign-%d", hubSeq.Add(1))
	c := openChannel(t, url, channel.WithQoS("reliable/sign"))
	err := c.Push(context.Background(), posting.New("x"))
	if err == nil || !strings.Contains(err.Error(), "channel.WithIdentity") {
		t.Fatalf("push without an identity: %v", err)
	}
}

// One round over real UDP on the loopback: two unicast peers, postings
// small and fragmented, signed in batches of 8.
func TestChannelSignedUDP(t *testing.T) {
	if testing.Short() {
		t.Skip("uses UDP sockets")
	}
	signer := ident(t, 1)
	pa, pb := freePort(t), freePort(t)
	qos := channel.WithQoS("reliable/sign(batch=8)")
	rx := openChannel(t, fmt.Sprintf("test://127.0.0.1:%d?listen=127.0.0.1:%d", pa, pb), qos,
		channel.WithTrusted(trust(t, signer)), channel.WithReceivePolicy(channel.Policy{Require: []string{"sign"}}))
	tx := openChannel(t, fmt.Sprintf("test://127.0.0.1:%d?listen=127.0.0.1:%d", pb, pa), qos,
		channel.WithIdentity(signer), channel.WithBlockingPush())
	sub, err := rx.Subscribe(channel.Queue(1024, channel.FailSlow))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	big := bytes.Repeat([]byte("signed!"), 30000) // 210 KB: about 150 fragments
	const n = 200
	for i := range n {
		var p *posting.Posting
		if i%50 == 49 {
			p = posting.New(append([]byte{byte(i)}, big...))
		} else {
			p = posting.New(i)
		}
		if err := tx.Push(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for i := range n {
		p, err := sub.Next(wctx)
		if err != nil {
			t.Fatalf("after %d postings: %v", i, err)
		}
		if i%50 == 49 {
			if b, ok := p.Body.([]byte); !ok || len(b) != len(big)+1 || b[0] != byte(i) || !bytes.Equal(b[1:], big) {
				t.Fatalf("posting %d: not the big one", i)
			}
		} else if p.Body.(int) != i {
			t.Fatalf("posting %d is %v", i, p.Body)
		}
	}
	ls, _ := signStats(rx, tx.ID())
	t.Logf("over UDP: %v, drops %v", ls.Counters, ls.Drops)
}

// freePort returns a UDP port on 127.0.0.1 that was free a moment ago.
var freePort = testnet.FreePort
