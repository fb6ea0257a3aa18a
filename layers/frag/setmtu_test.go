package frag

import (
	"bytes"
	"testing"

	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/stack/stacktest"
)

// TestSetMTU: after SetMTU, parcels are cut for the lower MTU (the packet
// before it, and a parcel that fits whole under the old MTU but not the
// new one, included); the receiver, which reads each parcel's fragment
// size from its header, reassembles both sizes; a larger MTU than the
// stack's restores the stack's; and the floor keeps the largest parcel
// within MaxFragments.
func TestSetMTU(t *testing.T) {
	p, a, _ := newPair(t, DefaultConfig(), stacktest.PairConfig{MTU: 1400})
	send := func(size, mtu, packets int) {
		t.Helper()
		if err := p.Send(data(size, byte(size)), stack.Meta{}); err != nil {
			t.Fatal(err)
		}
		q := p.Link.Queued(stacktest.AtoB)
		if len(q) != packets {
			t.Fatalf("%d bytes at MTU %d: %d packets, want %d", size, mtu, len(q), packets)
		}
		for _, b := range q {
			if len(b) > mtu {
				t.Fatalf("%d bytes: a packet of %d over the MTU %d", size, len(b), mtu)
			}
		}
		p.Link.Flush()
		if got := p.GotB.Take(); len(got) != 1 || !bytes.Equal(got[0].Bytes, data(size, byte(size))) {
			t.Fatalf("%d bytes at MTU %d: delivered %d parcels, or not the one sent", size, mtu, len(got))
		}
	}
	send(4000, 1400, 3)
	send(1300, 1400, 1)
	a.SetMTU(1000)
	send(4000, 1000, 5)
	send(1300, 1000, 2) // fitted whole before
	if a.FragmentSize() != 1000-HeaderLen {
		t.Fatalf("fragment size %d, want %d", a.FragmentSize(), 1000-HeaderLen)
	}
	a.SetMTU(9000) // above the stack's: back to it
	send(4000, 1400, 3)
	if a.FragmentSize() != 1400-HeaderLen {
		t.Fatalf("fragment size %d after restoring, want %d", a.FragmentSize(), 1400-HeaderLen)
	}
	// The largest parcel (16 MiB and the header allowance) with the
	// longest key and frame id must fit in MaxFragments fragments: the
	// fragment size does not go below what that needs.
	a.SetMTU(100)
	send(10, 100, 1)
	floor := int((DefaultConfig().Largest()+MaxFragments-1)/MaxFragments) + maxRelayExtra
	if a.FragmentSize() != floor {
		t.Fatalf("fragment size %d at MTU 100, want the floor %d", a.FragmentSize(), floor)
	}
}
