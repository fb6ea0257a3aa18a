package fec

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/rwanda-go/rwanda/stack"
)

// FuzzDecode feeds packets made of arbitrary bytes to both halves of a
// fec layer (as a receiver's and as a sender's stack get them from
// below), with the clock moving between them: malformed packets must be
// dropped and counted, nothing may panic, and once the stacks are closed
// every packet is back in the pool and every byte in the memory budget. The input is a sequence of packets,
// each a length byte and that many bytes.
func FuzzDecode(f *testing.F) {
	data := func(block uint32, idx, parity byte, payload string) []byte {
		b := make([]byte, DataLen)
		Header{Kind: kindData, Block: block, Index: idx, Parity: parity}.put(b)
		return append(b, payload...)
	}
	par := func(block uint32, idx, k, parity byte, shard []byte) []byte {
		b := make([]byte, ParityLen)
		Header{Kind: kindParity, Block: block, Index: idx, K: k, Parity: parity}.put(b)
		return append(b, shard...)
	}
	seq := func(pkts ...[]byte) []byte {
		var out []byte
		for _, p := range pkts {
			out = append(out, byte(len(p)))
			out = append(out, p...)
		}
		return out
	}
	// A block of two, its first packet lost, rebuilt from its parity.
	d0, d1 := []byte("\x00\x03abc"), []byte("\x00\x02de\x00")
	ps := [][]byte{make([]byte, len(d0))}
	if err := encode([][]byte{d0, d1}, ps); err != nil {
		f.Fatal(err)
	}
	shard := ps[0]
	f.Add(seq(data(0, 1, 1, "de"), par(0, 0, 2, 1, shard)))
	f.Add(seq(data(0, 0, 0, "abc"), data(0, 2, 0, "x"), par(0, 3, 3, 0, []byte("\x00\x01zz"))))
	f.Add(seq([]byte{kindPass, 4, 1, 0, 0, 0, 1, 0, 0, 0, 5}, []byte{kindReport, 1, 1}))
	f.Add(seq(par(7, 200, 100, 2, []byte{0, 0, 0}), data(7, 254, 3, "q")))
	f.Fuzz(func(t *testing.T, in []byte) {
		pool := stack.NewPool()
		budget := stack.NewBudget(1 << 20)
		clock := stack.NewManualClock(time.Time{})
		var stacks []*stack.Stack
		for _, role := range []stack.Role{stack.Receiver, stack.Sender} {
			l, err := New(DefaultConfig())
			if err != nil {
				t.Fatal(err)
			}
			s, err := stack.New(stack.Config{Layers: []stack.Layer{l}, MTU: 1500, Clock: clock, Pool: pool, Memory: budget,
				Flow:    stack.Flow{Role: role, Multicast: true},
				Wire:    stack.HandlerFunc(func(p *stack.Packet) error { p.Release(); return nil }),
				Deliver: stack.HandlerFunc(func(p *stack.Packet) error { p.Release(); return nil })})
			if err != nil {
				t.Fatal(err)
			}
			stacks = append(stacks, s)
		}
		for len(in) > 0 {
			n := min(int(in[0]), len(in)-1)
			b := in[1 : 1+n]
			in = in[1+n:]
			for _, s := range stacks {
				p := pool.FromBytes(0, b)
				p.Meta.Peer = uint64(n % 3)
				s.Up(p)
			}
			if n%5 == 0 {
				clock.Advance(time.Duration(binary.BigEndian.Uint16(append(b, 0, 0))) * time.Microsecond * 100)
			}
		}
		clock.Advance(5 * time.Second)
		for _, s := range stacks {
			s.Close()
		}
		if n := pool.Outstanding(); n != 0 {
			t.Fatalf("%d packets not released", n)
		}
		if n := budget.Used(); n != 0 {
			t.Fatalf("%d bytes of the memory budget not given back", n)
		}
	})
}
