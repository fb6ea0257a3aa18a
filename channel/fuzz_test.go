package channel

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/posting"
)

// validDatagram builds a datagram from sender with a hello, an announcement
// of stream 1 (QoS "frag") and one DATA frame carrying a whole posting.
func validDatagram(sender uint64, body string) []byte {
	b := appendDgramHeader(nil, sender)
	b = appendHello(b, helloServes, time.Unix(1, 0))
	b = appendAnnounce(b, announcement{stream: 1, name: "s", qos: "frag"})
	p := posting.New(body)
	enc, _ := p.MarshalBinary()
	payload := append([]byte{0}, enc...) // frag's "whole parcel" header
	b = appendDataHeader(b, frameData, 0, 1, len(payload))
	return append(b, payload...)
}

// FuzzReceive feeds the datagram demultiplexer arbitrary bytes: it must
// never panic, and every posting it delivers must have come through a
// stream's stack.
func FuzzReceive(f *testing.F) {
	f.Add(validDatagram(7, "hello"))
	f.Add(appendQuery(appendDgramHeader(nil, 9), 9, 0))
	f.Add(append(appendDgramHeader(nil, 3), framePad, 0, 0))
	f.Add([]byte{wireMagic, 0x10})
	f.Add(append(validDatagram(5, "x"), frameFeedback, 0, 0, 0, 0, 0, 0, 0, 1, 1, 3, 1, 2, 3))
	c, err := Open(context.Background(), "mem://fuzz-receive", WithLimits(64, 64))
	if err != nil {
		f.Fatal(err)
	}
	defer c.Close()
	sub, _ := c.Subscribe(Queue(16, DropOldest))
	from := netip.MustParseAddrPort("192.0.2.9:9")
	f.Fuzz(func(t *testing.T, d []byte) {
		c.receive(d, from)
		for {
			select {
			case p := <-sub.Postings():
				if p.Sender == 0 || p.Sender == c.ID() {
					t.Fatalf("delivered a posting from sender %x", p.Sender)
				}
				continue
			default:
			}
			break
		}
		c.mu.Lock()
		np, nf := len(c.peers), len(c.flows)
		c.mu.Unlock()
		if np > 64 || nf > 64 {
			t.Fatalf("limits broken: %d peers, %d flows", np, nf)
		}
	})
}

func TestReceiveValidDatagram(t *testing.T) {
	c := open(t, memURL(t))
	sub, _ := c.Subscribe()
	c.receive(validDatagram(7, "hello"), netip.MustParseAddrPort("192.0.2.9:9"))
	p := next(t, sub)
	if p.Body.(string) != "hello" || p.Sender != 7 || p.Stream != "s" {
		t.Fatalf("got %v", p)
	}
	// Garbage is counted, not delivered.
	for _, d := range [][]byte{{1, 2, 3}, append(appendDgramHeader(nil, 7), 99), appendDgramHeader(nil, 0)} {
		c.receive(d, netip.MustParseAddrPort("192.0.2.9:9"))
	}
	if n := c.Stats().Drops["malformed"]; n != 3 {
		t.Fatalf("malformed drops %d, want 3", n)
	}
	// Data on a stream not announced yet is held (and a query goes out);
	// the announcement releases it.
	from := netip.MustParseAddrPort("192.0.2.10:9")
	enc, _ := posting.New("early").MarshalBinary()
	payload := append([]byte{0}, enc...)
	b := appendDgramHeader(nil, 8)
	b = appendDataHeader(b, frameData, 0, 5, len(payload))
	c.receive(append(b, payload...), from)
	if st := c.Stats(); st.Held != 1 || st.Received.Postings != 1 {
		t.Fatalf("held %d, received %d", st.Held, st.Received.Postings)
	}
	c.receive(appendAnnounce(appendDgramHeader(nil, 8), announcement{stream: 5, name: "late", qos: "frag"}), from)
	if p := next(t, sub); p.Body.(string) != "early" || p.Stream != "late" {
		t.Fatalf("released %v", p)
	}
	// Held frames whose announcement never comes expire, counted.
	c.receive(append(appendDataHeader(appendDgramHeader(nil, 8), frameData, 0, 6, 1), 0), from)
	c.mu.Lock()
	c.peers[8].held[0].at = c.peers[8].held[0].at.Add(-time.Hour)
	c.mu.Unlock()
	c.maintain()
	if n := c.Stats().Drops["unannounced"]; n != 1 {
		t.Fatalf("unannounced drops %d", n)
	}
}
