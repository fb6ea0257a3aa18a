// Package stack holds the contract between protocol layers and the machinery
// that chains them into a stack: the [Layer] interface, the pooled [Packet]
// with headroom, assembly and validation ([New], [Check]), and time through
// an injectable [Clock].
//
// A stack serves one flow: a channel runs one per outgoing stream and one per
// (remote sender, stream) it receives. Its layers are listed application
// side first, as in a QoS string such as "frag(mtu=1200)/window/encrypt".
//
// # Writing a layer
//
// A layer embeds [Base] and overrides what it changes:
//
//	type stamp struct{ stack.Base }
//
//	func (*stamp) Name() string  { return "stamp" }
//	func (*stamp) Overhead() int { return 8 }
//
//	func (l *stamp) Down(p *stack.Packet) error {
//		binary.BigEndian.PutUint64(p.Push(8), uint64(l.Binding().Now().UnixNano()))
//		return l.Base.Down(p) // on to the layer below
//	}
//
//	func (l *stamp) Up(p *stack.Packet) error {
//		if _, ok := p.Consume(8); !ok {
//			l.Binding().Drop(p, "short")
//			return nil
//		}
//		return l.Base.Up(p)
//	}
//
// Both directions push: nothing reads from a layer, and no layer needs a
// goroutine. [Layer.Bind] is called once at assembly with a [Binding]: the
// neighbours as [Handler] values, the clock, the MTU and the overhead of the
// layers below ([Binding.Room] is what a packet sent down may hold), and hooks
// for timers, drop counters and events.
//
// Optional abilities are small interfaces found by type assertion:
// [TimerHandler] for layers that call [Binding.SetTimer], and [Capable] for
// layers that declare [Capabilities]: what they provide ("sequenced",
// "confidential") and what they require of the layers around them (order
// needs "sequenced" below it; compress must have nothing "confidential"
// above it). [New] checks these before binding, and its errors name both
// layers involved.
//
// A plugin author checks a layer against the contract with the conformance
// suite in package stacktest.
//
// # Packets
//
// A [Packet] is a buffer with headroom and tailroom: [Stack.NewPacket] sizes
// both from the layers' summed [Layer.Overhead], computed once at assembly,
// so on the way down each layer pushes its header in place and the payload
// never moves. Metadata ([Meta]: deadline, sequence, peer, media, flags) is
// plain fields. Packets come from a [Pool] and are reference counted; the
// rules of ownership are on [Packet].
//
// # Concurrency and time
//
// A [Stack] serialises every call into its layers (Down, Up, timers, Close)
// with one mutex, so layer code is single-threaded. Packets leaving the
// bottom go to [Config.Wire] in order under that lock; packets leaving the
// top go to [Config.Deliver] outside it, in order, so delivery code may call
// back into the stack.
//
// Layers never read the wall clock or start timers of their own: they read
// [Binding.Now] and ask for one callback with [Binding.SetTimer]. The stack
// keeps one clock timer, armed for the earliest deadline of its layers.
// Tests give the stack a [ManualClock] and advance it by hand, so loss,
// retransmission and expiry are deterministic.
//
// # Limitations
//
// A layer's overhead is fixed at assembly. Packets larger than a pooled size
// class (2 MiB) get a buffer of their own.
package stack
