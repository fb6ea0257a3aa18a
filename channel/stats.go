package channel

import (
	"maps"
	"net/netip"
	"slices"
	"time"

	"github.com/rwanda-go/rwanda/posting"
	"github.com/rwanda-go/rwanda/stack"
)

// Stats is a snapshot of a channel's counters.
type Stats struct {
	Member   uint64            // this member's id
	Sent     Traffic           // what this member sent
	Received Traffic           // what it received (datagrams and bytes before any check)
	Drops    map[string]uint64 // datagrams, frames and postings dropped, by reason
	Held     uint64            // data frames held until their stream's late announcement
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

// StreamStats describes one outgoing stream.
type StreamStats struct {
	Name     string
	Media    posting.Media // the media class that opened it (classes with the same QoS share a stream)
	Target   uint64        // the member it is addressed to, or 0 for everyone
	ID       uint32
	QoS      string // canonical QoS string of its stack
	Postings uint64
	Bytes    uint64 // encoded posting bytes pushed into the stack
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
	Stack    stack.Stats
}

// PeerInfo describes a member heard from.
type PeerInfo struct {
	ID       uint64
	Addr     netip.AddrPort
	Serves   bool
	LastSeen time.Time
}

// Stats returns a snapshot of the channel's counters.
func (c *Channel) Stats() Stats {
	st := Stats{
		Member:   c.id,
		Sent:     Traffic{c.sent.datagrams.Load(), c.sent.bytes.Load(), c.sent.postings.Load()},
		Received: Traffic{c.recvd.datagrams.Load(), c.recvd.bytes.Load(), c.recvd.postings.Load()},
		Subs:     len(*c.subs.Load()),
		Held:     c.held.Load(),
	}
	c.dropsMu.Lock()
	st.Drops = maps.Clone(c.drops)
	st.Events = maps.Clone(c.events)
	c.dropsMu.Unlock()
	c.mu.Lock()
	streams := slices.Collect(maps.Values(c.streams))
	flows := slices.Collect(maps.Values(c.flows))
	for _, p := range c.peers {
		st.Peers = append(st.Peers, PeerInfo{ID: p.id, Addr: p.addr, Serves: p.serves, LastSeen: p.lastSeen})
	}
	c.mu.Unlock()
	for _, os := range streams {
		st.Streams = append(st.Streams, StreamStats{Name: os.key.name, Media: os.media, Target: os.key.target, ID: os.id, QoS: os.qos,
			Postings: os.postings.Load(), Bytes: os.bytes.Load(), Stack: os.st.Stats()})
	}
	for _, fl := range flows {
		st.Flows = append(st.Flows, FlowStats{Sender: fl.sender, Stream: fl.name, ID: fl.id, QoS: fl.qos,
			Postings: fl.postings.Load(), Bytes: fl.bytes.Load(), Stack: fl.st.Stats()})
	}
	slices.SortFunc(st.Streams, func(a, b StreamStats) int { return int(a.ID) - int(b.ID) })
	slices.SortFunc(st.Flows, func(a, b FlowStats) int {
		if a.Sender != b.Sender {
			if a.Sender < b.Sender {
				return -1
			}
			return 1
		}
		return int(a.ID) - int(b.ID)
	})
	slices.SortFunc(st.Peers, func(a, b PeerInfo) int {
		if a.ID < b.ID {
			return -1
		} else if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return st
}
