package bridge

import (
	"bytes"
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/internal/testnet"
	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/transport"
)

// TestBridgeHold: with a far bridge (played by the test) silent, the bridge
// holds what its site sends, in a bounded queue: a datagram whose time
// left runs out while held is dropped ("expired"), what does not fit is
// dropped ("hold-full"), and the rest crosses in order once the far
// bridge's heartbeats return. One process, an in-process nats-server.
func TestBridgeHold(t *testing.T) {
	testnet.CheckGoroutines(t)
	tag := strconv.FormatInt(time.Now().UnixNano(), 36)
	lan := "mem://hold-" + tag + "?channel=hold"
	wan := "rwanda+nats:///hold" + tag
	cost := holdCost(append(dgram(7, false, stack.Meta{}), framePad, 0)) // the datagrams below
	b, err := New(context.Background(), Config{LAN: lan, WAN: wan, Heartbeat: 10 * time.Millisecond, Silence: 50 * time.Millisecond, HoldBytes: 3 * cost})
	must(t, err)
	defer b.Close()
	far, err := openSide(context.Background(), wan, true)
	must(t, err)
	defer far.Close()
	got := make(chan []byte, 64)
	go far.Serve(func(d []byte, _ transport.Addr) {
		if _, _, _, d, ok := parseEnvelope(d); ok {
			got <- bytes.Clone(d)
		}
	}, func() {})
	site, err := openSide(context.Background(), lan, false)
	must(t, err)
	defer site.Close()
	beat := func() { must(t, far.Send(appendHeartbeat(nil, 99, false, time.Now()), 0, transport.Addr{})) }

	beat()
	waitFor(t, "far bridge heard", waitTimeout, func() bool { st := b.Stats(); return st.Peers == 1 && st.Reachable })
	waitFor(t, "far bridge silent", waitTimeout, func() bool { return !b.Stats().Reachable })

	ttl := dgram(8, false, stack.Meta{Flags: stack.FlagDroppable | stack.FlagLeft, Left: 1})
	must(t, site.Send(ttl, 0, transport.Addr{}))
	waitFor(t, "the TTL datagram expires while held", waitTimeout, func() bool { return b.Stats().Drops[DropExpired] == 1 })
	var sent [][]byte
	for i := range 4 {
		d := dgram(7, false, stack.Meta{})
		d = append(d, framePad, byte(i)) // padding: a distinct datagram each
		sent = append(sent, d)
		must(t, site.Send(d, 0, transport.Addr{}))
	}
	waitFor(t, "three held, one refused", waitTimeout, func() bool {
		st := b.Stats()
		return st.Holding == 3 && st.Drops[DropHoldFull] == 1
	})
	// The far bridge is back: it beats again, for as long as the test reads.
	stop := make(chan struct{})
	beating := make(chan struct{})
	go func() {
		defer close(beating)
		t := time.NewTicker(10 * time.Millisecond) // the far bridge's heartbeat interval
		defer t.Stop()
		for {
			far.Send(appendHeartbeat(nil, 99, false, time.Now()), 0, transport.Addr{})
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	defer func() { close(stop); <-beating }()
	for i := range 3 {
		select {
		case d := <-got:
			if !bytes.Equal(d, sent[i]) {
				t.Fatalf("datagram %d released: % x, want % x", i, d, sent[i])
			}
		case <-time.After(waitTimeout):
			t.Fatalf("datagram %d not released within %v", i, waitTimeout)
		}
	}
	if st := b.Stats(); st.Holding != 0 || st.Held != 4 || !st.Reachable {
		// Held counts the expired one too.
		t.Errorf("stats %+v", st)
	}
}
