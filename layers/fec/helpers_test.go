package fec

import (
	"encoding/binary"
	"testing"
	"time"

	_ "github.com/rwanda-go/rwanda/layers/frag"
	_ "github.com/rwanda-go/rwanda/layers/impair"
	_ "github.com/rwanda-go/rwanda/layers/order"
	"github.com/rwanda-go/rwanda/registry"
	"github.com/rwanda-go/rwanda/stack"
)

// build returns the layers of a QoS string or fails the test.
func layersOf(t testing.TB, qos string) []stack.Layer {
	t.Helper()
	ls, err := registry.Build(qos, registry.Env{})
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

// find returns the first layer of type T in s.
func find[T stack.Layer](s *stack.Stack) T {
	for _, l := range s.Layers() {
		if x, ok := l.(T); ok {
			return x
		}
	}
	var zero T
	return zero
}

// counter reads a layer counter from a stack's stats.
func counter(s *stack.Stack, layer, name string) uint64 {
	for _, ls := range s.Stats().Layers {
		if ls.Name == layer {
			return ls.Counters[name]
		}
	}
	return 0
}

// drops reads a layer's drop count for reason.
func drops(s *stack.Stack, layer, reason string) uint64 {
	for _, ls := range s.Stats().Layers {
		if ls.Name == layer {
			return ls.Drops[reason]
		}
	}
	return 0
}

// posting makes a packet of n bytes whose first 4 are id.
func posting(s *stack.Stack, id uint32, n int, deadline time.Time) *stack.Packet {
	p := s.NewPacket(n)
	b := p.Extend(n)
	binary.BigEndian.PutUint32(b, id)
	for i := 4; i < n; i++ {
		b[i] = byte(id) + byte(i)
	}
	p.Meta.Deadline = deadline
	return p
}

// intact reports whether b is posting id of n bytes.
func intact(b []byte, n int) (uint32, bool) {
	if len(b) != n || n < 4 {
		return 0, false
	}
	id := binary.BigEndian.Uint32(b)
	for i := 4; i < n; i++ {
		if b[i] != byte(id)+byte(i) {
			return id, false
		}
	}
	return id, true
}

// wireHeader decodes the fec header of a packet on the wire (below fec and
// impair, which adds none); ok is false for PASS and reports.
func wireHeader(b []byte) (Header, bool) {
	h, _, err := Decode(b)
	return h, err == nil
}
