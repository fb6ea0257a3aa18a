package stack

import (
	"fmt"
	"slices"
)

// Capability names something a layer does for the layers above it. Layers
// declare what they provide and what they need through [Capable]; [New]
// checks the declarations before wiring a stack.
type Capability string

// The capabilities of the built-in layers. Plugins may declare their own.
const (
	// CapFragmentation: splits packets larger than the MTU and reassembles
	// them whole (frag).
	CapFragmentation Capability = "fragmentation"
	// CapSequenced: numbers the packets of a flow and sets Meta.Seq on the
	// way up (window).
	CapSequenced Capability = "sequenced"
	// CapReliable: retransmits lost packets (window).
	CapReliable Capability = "reliable"
	// CapTimed: gives every packet a deadline and stops retransmitting it
	// when the deadline passes (window with a ttl): semi-reliable, so a
	// channel marks its packets droppable for relays.
	CapTimed Capability = "timed"
	// CapOrdered: delivers in sequence order (order).
	CapOrdered Capability = "ordered"
	// CapConfidential: encrypts payloads (encrypt).
	CapConfidential Capability = "confidential"
	// CapAuthenticated: rejects packets not from a key holder (encrypt, sign).
	CapAuthenticated Capability = "authenticated"
	// CapCompressed: compresses payloads (compress).
	CapCompressed Capability = "compressed"
	// CapScheduled: schedules sends across pushers (fifo, priority, edf).
	CapScheduled Capability = "scheduled"
	// CapRateLimited: paces sends to a rate (ratelimit).
	CapRateLimited Capability = "rate-limited"
	// CapMonitored: measures rate, loss, RTT and jitter (monitor).
	CapMonitored Capability = "monitored"
	// CapImpaired: deliberately damages traffic, for tests (impair).
	CapImpaired Capability = "impaired"
)

// Where says where, relative to the declaring layer, a [Requirement] wants
// (or forbids) a provider of a capability.
type Where uint8

const (
	// Below: some layer below must provide the capability.
	Below Where = iota
	// Above: some layer above must provide the capability.
	Above
	// NoneBelow: no layer below may provide the capability.
	NoneBelow
	// NoneAbove: no layer above may provide the capability.
	NoneAbove
)

func (w Where) String() string {
	switch w {
	case Below:
		return "below"
	case Above:
		return "above"
	case NoneBelow:
		return "none below"
	case NoneAbove:
		return "none above"
	}
	return fmt.Sprintf("Where(%d)", w)
}

// Requirement is a constraint a layer puts on the rest of its stack.
type Requirement struct {
	Cap   Capability
	Where Where
	// Why is a short reason shown in the error when the requirement fails,
	// e.g. "ordering needs sequence numbers".
	Why string
}

// Capabilities is what a layer declares about itself.
type Capabilities struct {
	Provides []Capability
	Requires []Requirement
}

// Has reports whether c is among the provided capabilities.
func (c Capabilities) Has(cap Capability) bool { return slices.Contains(c.Provides, cap) }

// Capable is implemented by layers that declare capabilities.
type Capable interface {
	Capabilities() Capabilities
}

// CapabilitiesOf returns what l declares, or nothing when it is not [Capable].
func CapabilitiesOf(l Layer) Capabilities {
	if c, ok := l.(Capable); ok {
		return c.Capabilities()
	}
	return Capabilities{}
}

// Check verifies the requirements declared by layers (application side
// first) against the capabilities of the others. It returns a *[StackError]
// naming the layer whose requirement failed and, where there is one, the
// layer it conflicts with.
func Check(layers []Layer) error {
	caps := make([]Capabilities, len(layers))
	for i, l := range layers {
		caps[i] = CapabilitiesOf(l)
	}
	providers := func(c Capability, from, to int) int { // first index in [from,to) providing c, or -1
		for j := from; j < to; j++ {
			if caps[j].Has(c) {
				return j
			}
		}
		return -1
	}
	for i, l := range layers {
		for _, r := range caps[i].Requires {
			var j int
			var msg string
			switch r.Where {
			case Below:
				if providers(r.Cap, i+1, len(layers)) >= 0 {
					continue
				}
				if j = providers(r.Cap, 0, i); j >= 0 {
					msg = fmt.Sprintf("needs %s below it, but %s provides it from above", r.Cap, describe(layers, j))
				} else {
					msg = fmt.Sprintf("needs a layer below it that provides %s; none does", r.Cap)
				}
			case Above:
				if providers(r.Cap, 0, i) >= 0 {
					continue
				}
				if j = providers(r.Cap, i+1, len(layers)); j >= 0 {
					msg = fmt.Sprintf("needs %s above it, but %s provides it from below", r.Cap, describe(layers, j))
				} else {
					msg = fmt.Sprintf("needs a layer above it that provides %s; none does", r.Cap)
				}
			case NoneBelow:
				if j = providers(r.Cap, i+1, len(layers)); j < 0 {
					continue
				}
				msg = fmt.Sprintf("must not be above %s, which provides %s", describe(layers, j), r.Cap)
			case NoneAbove:
				if j = providers(r.Cap, 0, i); j < 0 {
					continue
				}
				msg = fmt.Sprintf("must not be below %s, which provides %s", describe(layers, j), r.Cap)
			default:
				msg = fmt.Sprintf("declares an unknown requirement position %d", r.Where)
				j = -1
			}
			if r.Why != "" {
				msg += " (" + r.Why + ")"
			}
			e := &StackError{Layer: l.Name(), Index: i, Other: "", OtherIndex: -1, Reason: msg, Err: ErrRequirement}
			if j >= 0 {
				e.Other, e.OtherIndex = layers[j].Name(), j
			}
			return e
		}
	}
	return nil
}

func describe(layers []Layer, i int) string {
	return fmt.Sprintf("%s (layer %d)", layers[i].Name(), i)
}
