package channel

import (
	"time"

	"github.com/rwanda-go/rwanda/posting"
	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/transport"
)

// Stats is a snapshot of a channel's counters.
type Stats struct {
	Member   uint64            // this member's id
	Sent     Traffic           // what this member sent
	Received Traffic           // what it received (datagrams and bytes before any check)
	Drops    map[string]uint64 // datagrams, frames and postings dropped, by reason (with what the transport dropped itself: transport.DropCounter)
	Held     uint64            // data frames held until their stream's late announcement
	Keys     KeyUpdates        // keyed channels: automatic datagram key updates
	Memory   int64             // bytes the stacks and held frames have reserved from the memory budget (WithMemory)
	MemLimit int64             // the memory budget
	Events   map[string]uint64 // the stacks' events, by kind (see WithEvents)
	Streams  []StreamStats     // outgoing streams
	Flows    []FlowStats       // incoming (sender, stream) flows
	Peers    []PeerInfo        // members heard from
	Subs     int               // live subscriptions
}

// Traffic counts datagrams, bytes and postings.
type Traffic struct {
	Datagrams uint64
	Bytes     uint64
	Postings  uint64
}

// KeyUpdates counts a keyed channel's automatic datagram key updates (the
// AEAD usage limits of RFC 9001 §6.6; see [WithKeyRing]): Sent, the times
// this member's datagram key moved on to its next phase; Received, the
// times another member's datagrams were first authenticated in a later
// phase than before under the same key id.
type KeyUpdates struct {
	Sent     uint64
	Received uint64
}

// StreamStats describes one outgoing stream.
type StreamStats struct {
	Name     string
	Media    posting.Media // the media class that opened it (classes with the same QoS share a stream)
	Target   uint64        // the member it is addressed to, or 0 for everyone
	ID       uint32
	QoS      string // canonical QoS string of its stack
	Postings uint64
	Bytes    uint64 // encoded posting bytes pushed into the stack
	Memory   int64  // bytes its stack has reserved from the channel's memory budget (retransmission slots, queued parcels)
	Stack    stack.Stats
}

// FlowStats describes one incoming flow: a remote sender's stream.
type FlowStats struct {
	Sender   uint64
	Stream   string
	ID       uint32
	QoS      string
	Postings uint64 // postings delivered
	Bytes    uint64 // payload bytes received into the stack
	Memory   int64  // bytes its stack has reserved from the channel's memory budget (reassembly, reordering)
	Stack    stack.Stats
}

// PeerInfo describes a member heard from.
type PeerInfo struct {
	ID       uint64
	Addr     transport.Addr
	Serves   bool
	LastSeen time.Time
}

// Stats returns a snapshot of the channel's counters.
func (c *Channel) Stats() Stats {
	k := c.cnt
	st := Stats{
		Member:   c.id,
		Sent:     Traffic{k.sent.datagrams.Load(), k.sent.bytes.Load(), k.sent.postings.Load()},
		Received: Traffic{k.recvd.datagrams.Load(), k.recvd.bytes.Load(), k.recvd.postings.Load()},
		Subs:     c.subs.len(),
		Held:     k.held.Load(),
		Streams:  c.og.stats(),
		Flows:    c.in.stats(),
		Peers:    c.members.list(),
		Memory:   c.mem.Used(),
		MemLimit: c.mem.Limit(),
	}
	if a := c.auth; a != nil {
		st.Keys = KeyUpdates{Sent: a.updatesSent.Load(), Received: a.updatesSeen.Load()}
	}
	st.Drops, st.Events = k.snapshot()
	if dc, ok := c.tr.(transport.DropCounter); ok { // what the transport dropped itself
		for reason, n := range dc.Drops() {
			if n == 0 {
				continue
			}
			if st.Drops == nil {
				st.Drops = make(map[string]uint64)
			}
			st.Drops[reason] += n
		}
	}
	return st
}
