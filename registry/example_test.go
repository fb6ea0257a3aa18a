package registry_test

import (
	"encoding/binary"
	"fmt"

	"github.com/rwanda-go/rwanda/layers/frag"
	"github.com/rwanda-go/rwanda/registry"
	"github.com/rwanda-go/rwanda/stack"
)

// stamp is a plugin layer: it puts a 4-byte counter in front of each packet.
type stamp struct {
	stack.Base
	n uint32
}

func (*stamp) Name() string  { return "stamp" }
func (*stamp) Overhead() int { return 4 }
func (l *stamp) Down(p *stack.Packet) error {
	l.n++
	binary.BigEndian.PutUint32(p.Push(4), l.n)
	return l.Base.Down(p)
}

// Assemble a stack from a QoS string and print its layers in order,
// application side first, with the room each has.
func Example() {
	r := &registry.Registry{} // programs use registry.Default()
	r.Register("frag", frag.Builder())
	r.Register("stamp", registry.NewBuilder(registry.Info{Summary: "numbers packets"},
		func(registry.Env, *registry.Params) (stack.Layer, error) { return &stamp{}, nil }))

	spec, err := r.Resolve(" frag( mtu = 1200 ) / stamp ")
	if err != nil {
		panic(err)
	}
	fmt.Println("canonical:", spec)

	var sizes []int
	wire := stack.HandlerFunc(func(p *stack.Packet) error { sizes = append(sizes, p.Len()); p.Release(); return nil })
	drop := stack.HandlerFunc(func(p *stack.Packet) error { p.Release(); return nil })
	s, err := r.NewStack(spec.String(), registry.Env{}, stack.Config{Wire: wire, Deliver: drop, MTU: 1500})
	if err != nil {
		panic(err)
	}
	defer s.Close()
	for i, l := range s.Layers() {
		fmt.Printf("%d %s: overhead %d\n", i, l.Name(), l.Overhead())
	}
	fmt.Println("headroom:", s.Overhead())

	p := s.NewPacket(3000)
	p.Append(make([]byte, 3000))
	if err := s.Down(p); err != nil {
		panic(err)
	}
	fmt.Println("3000 bytes left as packets of", sizes)

	_, err = r.Resolve("frag(mtu=1200ms)")
	fmt.Println(err)
	// Output:
	// canonical: frag(mtu=1200)/stamp
	// 0 frag: overhead 11
	// 1 stamp: overhead 4
	// headroom: 15
	// 3000 bytes left as packets of [1200 1200 645]
	// qos "frag(mtu=1200ms)": offset 5: layer frag: parameter mtu: want a size such as 1200 or 64KiB, got duration 1.2s
}
