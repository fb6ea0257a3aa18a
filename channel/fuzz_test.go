package channel

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rwanda-go/rwanda/keys"
	"github.com/rwanda-go/rwanda/posting"
	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/transport"
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
	b = appendDataHeader(b, 0, 1, &stack.Meta{}, len(payload))
	return append(b, payload...)
}

// batchDatagram is validDatagram with a batch of postings, one per body,
// in its DATA frame.
func batchDatagram(t testing.TB, sender uint64, bodies ...string) []byte {
	b := appendDgramHeader(nil, sender)
	b = appendHello(b, helloServes, time.Unix(1, 0))
	b = appendAnnounce(b, announcement{stream: 1, name: "s", qos: "frag"})
	var entries [][]byte
	for _, s := range bodies {
		entries = append(entries, encoded(t, s))
	}
	payload := append([]byte{0}, batchOf(t, entries...)...) // frag's "whole parcel" header
	b = appendDataHeader(b, 0, 1, &stack.Meta{}, len(payload))
	return append(b, payload...)
}

// FuzzReceive feeds the datagram demultiplexer arbitrary bytes: it must
// never panic, and every posting it delivers must have come through a
// stream's stack.
func FuzzReceive(f *testing.F) {
	f.Add(validDatagram(7, "hello"))
	f.Add(appendQuery(appendDgramHeader(nil, 9), 9, 0))
	f.Add(append(appendDgramHeader(nil, 3), framePad, 0, 0))
	f.Add([]byte{wireMagic, wireVersion << 4})
	f.Add(v1Hello(4))
	f.Add(append(appendFeedbackHeader(validDatagram(5, "x"), 1, 1, 3, false), 1, 2, 3))
	f.Add(append(appendFeedbackHeader(validDatagram(5, "x"), 1, 1, 3, true), 1, 2, 3))
	f.Add(appendFrameHeader(validDatagram(6, "y"), 0x99, []byte("unknown"), 0))
	relay := stack.Meta{Media: posting.Video, Flags: stack.FlagDroppable | stack.FlagLeft | stack.FlagFrameEnd, Left: 20, Tag: &stack.Tag{Frame: 3, Key: "k"}}
	f.Add(append(appendDataHeader(appendDgramHeader(nil, 8), 0, 1, &relay, 2), 0, 0))
	f.Add(batchDatagram(f, 10, "a", "b")) // a batch of two postings
	c, err := Open(context.Background(), "mem://fuzz-receive", WithLimits(64, 64))
	if err != nil {
		f.Fatal(err)
	}
	defer c.Close()
	sub, _ := c.Subscribe(Queue(16, DropOldest))
	from := transport.IPAddr(netip.MustParseAddrPort("192.0.2.9:9"))
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
		np := c.members.len()
		c.in.mu.Lock()
		nf := len(c.in.flows)
		c.in.mu.Unlock()
		if np > 64 || nf > 64 {
			t.Fatalf("limits broken: %d peers, %d flows", np, nf)
		}
	})
}

func TestReceiveValidDatagram(t *testing.T) {
	c := open(t, memURL(t))
	sub, _ := c.Subscribe()
	c.receive(validDatagram(7, "hello"), transport.IPAddr(netip.MustParseAddrPort("192.0.2.9:9")))
	p := next(t, sub)
	if p.Body.(string) != "hello" || p.Sender != 7 || p.Stream != "s" {
		t.Fatalf("got %v", p)
	}
	// Garbage is counted, not delivered.
	for _, d := range [][]byte{{1, 2, 3}, append(appendDgramHeader(nil, 7), 99), appendDgramHeader(nil, 0)} {
		c.receive(d, transport.IPAddr(netip.MustParseAddrPort("192.0.2.9:9")))
	}
	if n := c.Stats().Drops["malformed"]; n != 3 {
		t.Fatalf("malformed drops %d, want 3", n)
	}
	// Data on a stream not announced yet is held (and a query goes out);
	// the announcement releases it.
	from := transport.IPAddr(netip.MustParseAddrPort("192.0.2.10:9"))
	enc, _ := posting.New("early").MarshalBinary()
	payload := append([]byte{0}, enc...)
	b := appendDgramHeader(nil, 8)
	b = appendDataHeader(b, 0, 5, &stack.Meta{}, len(payload))
	c.receive(append(b, payload...), from)
	if st := c.Stats(); st.Held != 1 || st.Received.Postings != 1 {
		t.Fatalf("held %d, received %d", st.Held, st.Received.Postings)
	}
	c.receive(appendAnnounce(appendDgramHeader(nil, 8), announcement{stream: 5, name: "late", qos: "frag"}), from)
	if p := next(t, sub); p.Body.(string) != "early" || p.Stream != "late" {
		t.Fatalf("released %v", p)
	}
	// Held frames whose announcement never comes expire, counted.
	c.receive(append(appendDataHeader(appendDgramHeader(nil, 8), 0, 6, &stack.Meta{}, 1), 0), from)
	c.in.mu.Lock()
	c.in.senders[8].held[0].at = c.in.senders[8].held[0].at.Add(-time.Hour)
	c.in.mu.Unlock()
	c.maintain(c.clock.Now())
	if n := c.Stats().Drops["unannounced"]; n != 1 {
		t.Fatalf("unannounced drops %d", n)
	}
}

// FuzzReceiveKeyed feeds a keyed channel arbitrary datagrams, seeded with
// authentic ones (sealed under the channel's key by made-up members): it
// must never panic, and nothing but the seeds' own postings may come out,
// each at most once (a second copy is a replay).
func FuzzReceiveKeyed(f *testing.F) {
	ring, _ := keys.NewRing(1, testKey)
	const url = "mem://fuzz-receive-keyed"
	addr, _ := ParseURL(url)
	for i, body := range []string{"one", "two"} {
		member := uint64(100 + i)
		auth := newDgramAuth(ring, addr.Identity(), member, 4)
		b := appendKeyedHeader(nil, member)
		b = appendHello(b, helloServes, time.Unix(1, 0))
		b = appendAnnounce(b, announcement{stream: 1, name: "s", qos: "frag"}) // refused: no encrypt
		f.Add(auth.seal(b, 0))
		f.Add(auth.seal(appendQuery(appendKeyedHeader(nil, member), 9, 0), 0))
		f.Add(auth.seal(validDatagram(member, body), 0)) // unkeyed header, keyed trailer
		f.Add(auth.seal(appendNonce(appendKeyedHeader(nil, member), 0, 5, nonceAsk), 0))
	}
	f.Add(validDatagram(7, "plain"))
	c, err := Open(context.Background(), url, WithKeyRing(ring), WithLimits(64, 64))
	if err != nil {
		f.Fatal(err)
	}
	defer c.Close()
	sub, _ := c.Subscribe(Queue(16, DropOldest))
	from := transport.IPAddr(netip.MustParseAddrPort("192.0.2.9:9"))
	f.Fuzz(func(t *testing.T, d []byte) {
		c.receive(d, from)
		select {
		case p := <-sub.Postings():
			// Every seed announces a stack without encrypt, which a keyed
			// channel refuses: nothing can be delivered at all.
			t.Fatalf("delivered %v from %x", p.Body, p.Sender)
		default:
		}
		c.auth.mu.Lock()
		n := len(c.auth.peers)
		c.auth.mu.Unlock()
		if n > 64 {
			t.Fatalf("%d senders kept", n)
		}
	})
}

// FuzzFrames decodes arbitrary frames: it must never panic, and what it
// decodes must re-encode to frames that decode the same (the encoding of
// every known frame, relay metadata included, is canonical).
func FuzzFrames(f *testing.F) {
	relay := stack.Meta{Media: posting.Audio, Flags: stack.FlagDroppable | stack.FlagLeft, Left: 1 << 20, Tag: &stack.Tag{Key: "cursor"}}
	f.Add(validDatagram(1, "x")[dgramHeaderLen:])
	f.Add(appendDataHeader(nil, 7, 2, &relay, 0))
	f.Add(appendFeedbackHeader(nil, 7, 2, 0, false))
	f.Add(appendFeedbackHeader(nil, 7, 2, 0, true))
	f.Add(appendAnnounce(nil, announcement{stream: 3, epoch: 1, target: 5, name: "n", qos: "frag", prev: 2, count: 9}))
	f.Add(appendFrameHeader(appendQuery(nil, 1, 0), 0x42, []byte{1, 2}, 0))
	f.Add(appendCookie(appendCookie(nil, frameChallenge, 0x0123456789abcdef), frameEcho, 1))
	f.Add(appendSeen(appendNonce(nil, 0, 0x0123456789abcdef, nonceAsk), 7, 9))
	f.Add(appendRefuse(nil, 7, 3, "too many streams"))
	f.Fuzz(func(t *testing.T, b []byte) {
		first, _ := readFrames(b) // the frames before any error
		var again []byte
		for _, fr := range first {
			again = appendFrame(again, fr)
		}
		second, err := readFrames(again)
		if err != nil {
			t.Fatalf("re-encoded frames do not decode: %v", err)
		}
		if d := cmp.Diff(first, second, frameCmp...); d != "" {
			t.Fatalf("re-encoded frames differ (-first +second):\n%s", d)
		}
	})
}

// appendFrame encodes a decoded frame again.
func appendFrame(b []byte, f frame) []byte {
	switch f.typ {
	case frameData:
		return append(appendDataHeader(b, 0, f.stream, &f.relay, len(f.payload)), f.payload...)
	case frameDataTo:
		return append(appendDataHeader(b, f.target, f.stream, &f.relay, len(f.payload)), f.payload...)
	case frameFeedback, frameFeedbackTo:
		return append(appendFeedbackHeader(b, f.target, f.stream, len(f.payload), f.typ == frameFeedbackTo), f.payload...)
	case frameAnnounce:
		a := announcement{stream: f.stream, epoch: f.epoch, name: string(f.name), qos: string(f.qos), prev: f.prev, count: f.count}
		if f.flags&announceAddressed != 0 {
			a.target = f.target
		}
		return appendAnnounce(b, a)
	case frameQuery:
		return appendQuery(b, f.target, f.stream)
	case frameHello:
		return appendHello(b, f.flags, time.Unix(0, f.clock))
	case frameChallenge, frameEcho:
		return appendCookie(b, f.typ, f.cookie)
	case frameNonce:
		return appendNonce(b, f.target, f.nonce, f.flags)
	case frameSeen:
		return appendSeen(b, f.target, f.nonce)
	case frameRefuse:
		return appendRefuse(b, f.target, f.stream, string(f.payload))
	}
	panic("unknown frame type")
}
