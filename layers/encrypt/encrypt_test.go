package encrypt_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/rwanda-go/rwanda/keys"
	"github.com/rwanda-go/rwanda/layers/encrypt"
	"github.com/rwanda-go/rwanda/registry"
	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/stack/stacktest"
)

const chanID = "app://239.1.2.3:7000"

var flow = stack.Flow{Stream: "s", Local: 0x1111, Remote: 0x1111, ID: 3}

func ring(t testing.TB, id uint8, fill byte) *keys.Ring {
	t.Helper()
	r, err := keys.NewRing(id, bytes.Repeat([]byte{fill}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func layer(t testing.TB, r *keys.Ring, suite string) *encrypt.Layer {
	t.Helper()
	s, err := encrypt.SuiteByName(suite)
	if err != nil {
		t.Fatal(err)
	}
	l, err := encrypt.New(encrypt.Config{Suite: s, Keys: r, Channel: chanID})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// pair joins a sender stack (A) and a receiver stack (B), each with one
// encrypt layer.
func pair(t testing.TB, ra, rb *keys.Ring, suite string) *stacktest.Pair {
	t.Helper()
	p, err := stacktest.NewPair(t, []stack.Layer{layer(t, ra, suite)}, []stack.Layer{layer(t, rb, suite)},
		stacktest.PairConfig{Flow: flow})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func drops(st *stack.Stack, reason string) uint64 {
	for _, l := range st.Stats().Layers {
		if l.Name == "encrypt" {
			return l.Drops[reason]
		}
	}
	return 0
}

func send(t testing.TB, p *stacktest.Pair, b []byte) {
	t.Helper()
	if err := p.Send(b, stack.Meta{}); err != nil {
		t.Fatal(err)
	}
}

func TestConformance(t *testing.T) {
	r := ring(t, 1, 7)
	for _, s := range encrypt.Suites {
		t.Run(s.Name, func(t *testing.T) {
			stacktest.TestLayer(t, func() (stack.Layer, error) {
				return encrypt.New(encrypt.Config{Suite: s, Keys: r, Channel: chanID})
			}, stacktest.Options{Sizes: []int{0, 1, 100, 1500 - encrypt.Overhead}})
		})
	}
}

func TestConformanceFromRegistry(t *testing.T) {
	r := ring(t, 1, 7)
	stacktest.TestLayer(t, func() (stack.Layer, error) {
		ls, err := registry.Build("encrypt(suite=chacha20-poly1305,replay=128)", registry.Env{Keys: r, Channel: chanID})
		if err != nil {
			return nil, err
		}
		return ls[0], nil
	}, stacktest.Options{Sizes: []int{0, 1, 100, 1500 - encrypt.Overhead}})
}

func TestNoKey(t *testing.T) {
	_, err := registry.Build("encrypt", registry.Env{Channel: chanID})
	if !errors.Is(err, encrypt.ErrNoKeys) || !bytes.Contains([]byte(err.Error()), []byte("WithKey")) {
		t.Fatalf("got %v", err)
	}
	if _, err := registry.Build("encrypt(suite=rot13)", registry.Env{Keys: ring(t, 1, 1)}); err == nil {
		t.Fatal("unknown suite accepted")
	}
}

func TestRoundTripAndCiphertext(t *testing.T) {
	for _, s := range encrypt.Suites {
		t.Run(s.Name, func(t *testing.T) {
			r := ring(t, 1, 9)
			p := pair(t, r, r, s.Name)
			msg := []byte("attack at dawn, attack at dawn, attack at dawn")
			send(t, p, msg)
			send(t, p, msg)
			q := p.Link.Queued(stacktest.AtoB)
			if len(q) != 2 {
				t.Fatalf("%d packets on the wire", len(q))
			}
			for _, w := range q {
				if bytes.Contains(w, msg[:10]) {
					t.Fatalf("plaintext on the wire: %x", w)
				}
			}
			if bytes.Equal(q[0][len(q[0])-len(msg)-16:], q[1][len(q[1])-len(msg)-16:]) {
				t.Fatal("the same plaintext sealed twice gave the same ciphertext")
			}
			p.Link.Flush()
			got := p.GotB.Take()
			if len(got) != 2 || !bytes.Equal(got[0].Bytes, msg) || !bytes.Equal(got[1].Bytes, msg) {
				t.Fatalf("got %v", got)
			}
		})
	}
}

// TestTamperAnyByte flips every bit position of a sealed packet in turn:
// none is delivered, each is counted.
func TestTamperAnyByte(t *testing.T) {
	r := ring(t, 1, 9)
	p := pair(t, r, r, "aes128-gcm")
	send(t, p, []byte("a posting of some length that we will tamper with"))
	orig := p.Link.Queued(stacktest.AtoB)[0]
	p.Link.Flush()
	p.GotB.Take()
	for i := range orig {
		for _, bit := range []byte{1, 0x80} {
			b := bytes.Clone(orig)
			b[i] ^= bit
			p.B.Up(p.Pool.FromBytes(0, b))
		}
	}
	if got := p.GotB.Take(); len(got) != 0 {
		t.Fatalf("%d tampered packets delivered", len(got))
	}
	var total uint64
	for _, reason := range []string{"forged", "malformed", "replayed", "unknown-key", "direction", "spoofed"} {
		total += drops(p.B, reason)
	}
	if total != uint64(2*len(orig)) {
		t.Fatalf("%d drops counted for %d tampered packets", total, 2*len(orig))
	}
}

func TestReplayWindow(t *testing.T) {
	r := ring(t, 1, 9)
	p := pair(t, r, r, "aes128-gcm")
	for i := range 200 {
		send(t, p, fmt.Appendf(nil, "posting %d", i))
	}
	q := p.Link.Queued(stacktest.AtoB)
	// Delivered in reverse, all 200 are inside the default window (1024)
	// and accepted.
	for i := len(q) - 1; i >= 0; i-- {
		p.Link.DeliverAt(stacktest.AtoB, i)
	}
	if got := p.GotB.Take(); len(got) != 200 {
		t.Fatalf("reordered inside the window: %d of 200 delivered", len(got))
	}
	// Replays of any of them are refused.
	for _, b := range q {
		p.B.Up(p.Pool.FromBytes(0, b))
	}
	if got := p.GotB.Take(); len(got) != 0 || drops(p.B, "replayed") != 200 {
		t.Fatalf("replays: %d delivered, %d counted", len(got), drops(p.B, "replayed"))
	}
}

func TestReplayTooOld(t *testing.T) {
	r := ring(t, 1, 9)
	sa, _ := encrypt.SuiteByName("aes128-gcm")
	a, _ := encrypt.New(encrypt.Config{Suite: sa, Keys: r, Channel: chanID})
	b, _ := encrypt.New(encrypt.Config{Suite: sa, Keys: r, Channel: chanID, Replay: 64})
	p, err := stacktest.NewPair(t, []stack.Layer{a}, []stack.Layer{b}, stacktest.PairConfig{Flow: flow})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		send(t, p, fmt.Appendf(nil, "posting %d", i))
	}
	q := p.Link.Queued(stacktest.AtoB)
	p.Link.DeliverAt(stacktest.AtoB, len(q)-1) // the newest first
	p.Link.Flush()                             // then the rest, oldest first
	got := p.GotB.Take()
	old := drops(p.B, "replayed")
	if len(got)+int(old) != 300 || old < 100 || len(got) < 64 {
		t.Fatalf("%d delivered, %d refused as too old", len(got), old)
	}
}

func TestWrongKeyAndUnknownKeyID(t *testing.T) {
	p := pair(t, ring(t, 1, 1), ring(t, 1, 2), "aes128-gcm")
	send(t, p, []byte("x"))
	p.Link.Flush()
	if p.GotB.Len() != 0 || drops(p.B, "forged") != 1 {
		t.Fatalf("wrong key: %d delivered, %d forged", p.GotB.Len(), drops(p.B, "forged"))
	}
	p = pair(t, ring(t, 1, 1), ring(t, 2, 1), "aes128-gcm")
	send(t, p, []byte("x"))
	p.Link.Flush()
	if p.GotB.Len() != 0 || drops(p.B, "unknown-key") != 1 {
		t.Fatalf("unknown key id: %d delivered, %d counted", p.GotB.Len(), drops(p.B, "unknown-key"))
	}
}

// TestRotation switches keys while packets are in flight: everything sent
// before the old key is removed arrives, in order.
func TestRotation(t *testing.T) {
	ra, rb := ring(t, 1, 1), ring(t, 1, 1)
	p := pair(t, ra, rb, "aes128-gcm")
	next := bytes.Repeat([]byte{2}, 32)
	n := 0
	sendSome := func(k int) {
		for range k {
			send(t, p, fmt.Appendf(nil, "p%d", n))
			n++
		}
	}
	sendSome(10)
	if err := rb.Add(2, next); err != nil { // receivers first
		t.Fatal(err)
	}
	if err := ra.Add(2, next); err != nil {
		t.Fatal(err)
	}
	sendSome(10)
	if err := ra.Use(2); err != nil { // then the sender
		t.Fatal(err)
	}
	sendSome(10)
	p.Link.Flush() // the overlap: packets under both keys
	if err := ra.Remove(1); err != nil {
		t.Fatal(err)
	}
	if err := rb.Use(2); err != nil {
		t.Fatal(err)
	}
	if err := rb.Remove(1); err != nil {
		t.Fatal(err)
	}
	sendSome(10)
	p.Link.Flush()
	got := p.GotB.Take()
	if len(got) != n {
		t.Fatalf("%d of %d delivered across the rotation", len(got), n)
	}
	for i, d := range got {
		if string(d.Bytes) != fmt.Sprintf("p%d", i) {
			t.Fatalf("delivery %d is %q", i, d.Bytes)
		}
	}
	// A packet under the removed key is refused.
	ra2 := ring(t, 1, 1)
	old := pair(t, ra2, rb, "aes128-gcm")
	send(t, old, []byte("late"))
	old.Link.Flush()
	if old.GotB.Len() != 0 || drops(old.B, "unknown-key") != 1 {
		t.Fatalf("removed key: %d delivered", old.GotB.Len())
	}
}

// TestFeedbackDirection sends feedback from the receiver stack to the
// sender, and checks that a feedback packet claiming another originator
// than the member it came from, and data sent at a sender, are refused.
func TestFeedbackDirection(t *testing.T) {
	r := ring(t, 1, 3)
	p := pair(t, r, r, "aes128-gcm")
	fb := p.B.NewPacket(3)
	fb.Append([]byte("ack"))
	if err := p.B.Down(fb); err != nil {
		t.Fatal(err)
	}
	q := p.Link.Queued(stacktest.BtoA)
	p.Link.Flush()
	if got := p.GotA.Take(); len(got) != 1 || string(got[0].Bytes) != "ack" {
		t.Fatalf("feedback: %v", got)
	}
	// The same bytes said to come from member 9: spoofed.
	pk := p.Pool.FromBytes(0, q[0])
	pk.Meta.Peer = 9
	p.A.Up(pk)
	if p.GotA.Len() != 0 || drops(p.A, "spoofed") != 1 {
		t.Fatalf("spoofed feedback: %d delivered, %d counted", p.GotA.Len(), drops(p.A, "spoofed"))
	}
	// Data (as sealed by the sender) fed to the sender: refused.
	send(t, p, []byte("data"))
	d := p.Link.Queued(stacktest.AtoB)
	p.A.Up(p.Pool.FromBytes(0, d[0]))
	if p.GotA.Len() != 0 || drops(p.A, "direction") != 1 {
		t.Fatalf("data at the sender: %d delivered", p.GotA.Len())
	}
}

// TestRetainedPacketsUntouched: a layer above that keeps a packet for
// retransmission must find it unchanged after encrypt sealed it.
func TestRetainedPacketsUntouched(t *testing.T) {
	r := ring(t, 1, 3)
	k := &keeper{}
	p, err := stacktest.NewPair(t, []stack.Layer{k, layer(t, r, "aes128-gcm")}, []stack.Layer{layer(t, r, "aes128-gcm")},
		stacktest.PairConfig{Flow: flow})
	if err != nil {
		t.Fatal(err)
	}
	send(t, p, []byte("keep me"))
	if string(k.kept.Bytes()) != "keep me" {
		t.Fatalf("retained packet changed to %q", k.kept.Bytes())
	}
	// Sending it again seals it under a new nonce, and both arrive.
	k.kept.Retain()
	p.A.Layers()[1].Down(k.kept)
	p.Link.Flush()
	if got := p.GotB.Take(); len(got) != 2 || string(got[1].Bytes) != "keep me" {
		t.Fatalf("got %v", got)
	}
	k.kept.Release()
}

type keeper struct {
	stack.Base
	kept *stack.Packet
}

func (k *keeper) Name() string  { return "keeper" }
func (k *keeper) Overhead() int { return 0 }
func (k *keeper) Down(p *stack.Packet) error {
	p.Retain()
	k.kept = p
	return k.Binding().Down.Handle(p)
}

// TestPeersBounded: authentic packets from many stack instances keep at
// most peers keys and windows.
func TestPeersBounded(t *testing.T) {
	r := ring(t, 1, 3)
	s, _ := encrypt.SuiteByName("aes128-gcm")
	rcv, _ := encrypt.New(encrypt.Config{Suite: s, Keys: r, Channel: chanID, Peers: 8})
	var wire [][]byte
	for i := range 50 {
		snd := layer(t, r, "aes128-gcm")
		p, err := stacktest.NewPair(t, []stack.Layer{snd}, []stack.Layer{layer(t, r, "aes128-gcm")}, stacktest.PairConfig{Flow: flow})
		if err != nil {
			t.Fatal(err)
		}
		send(t, p, fmt.Appendf(nil, "from instance %d", i))
		wire = append(wire, p.Link.Queued(stacktest.AtoB)...)
	}
	p, err := stacktest.NewPair(t, []stack.Layer{layer(t, r, "aes128-gcm")}, []stack.Layer{rcv}, stacktest.PairConfig{Flow: flow})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range wire {
		p.B.Up(p.Pool.FromBytes(0, b))
	}
	if got := p.GotB.Take(); len(got) != 50 {
		t.Fatalf("%d of 50 delivered", len(got))
	}
	var evicted uint64
	for _, l := range p.B.Stats().Layers {
		if l.Name == "encrypt" {
			evicted = l.Counters["evicted"]
		}
	}
	if evicted != 42 {
		t.Fatalf("evicted %d, want 42 (50 instances, 8 kept)", evicted)
	}
}
