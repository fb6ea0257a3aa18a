package floor

import (
	"fmt"
	"slices"

	"github.com/rwanda-go/rwanda/posting"
)

// Kind is a message's kind.
type Kind uint8

// Message kinds. Requester and holder to coordinator: Request, Withdraw,
// Renew, Release. Coordinator to holder: Grant, Taken. Coordinator to all:
// Heartbeat, Handoff. Elections: VoteRequest (to all), Vote (to the
// candidate), Abdicate (to all). Voter to coordinator: Ack.
const (
	KindRequest Kind = iota + 1
	KindWithdraw
	KindRenew
	KindRelease
	KindGrant
	KindTaken
	KindHeartbeat
	KindAck
	KindVoteRequest
	KindVote
	KindHandoff
	KindAbdicate
)

var kindNames = [...]string{"", "request", "withdraw", "renew", "release", "grant", "taken",
	"heartbeat", "ack", "vote-request", "vote", "handoff", "abdicate"}

func (k Kind) String() string {
	if int(k) < len(kindNames) && k != 0 {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", k)
}

// Member is one incarnation of a named member: Inc is drawn anew each time
// a member starts (the channel adapter uses the channel's member id), so
// messages meant for an earlier incarnation are not taken by a later one.
type Member struct {
	Name string `msgpack:"n"`
	Inc  uint64 `msgpack:"i"`
}

// IsZero reports whether m names nobody.
func (m Member) IsZero() bool { return m.Name == "" }

func (m Member) String() string {
	if m.IsZero() {
		return "-"
	}
	return fmt.Sprintf("%s/%04x", m.Name, m.Inc&0xffff)
}

// Entry is a request waiting in the queue.
type Entry struct {
	Member   Member `msgpack:"m"`
	Priority int    `msgpack:"p,omitempty"`
	// Ticket orders requests: the coordinator numbers them as they arrive
	// and a requester that has to request again keeps its ticket.
	Ticket uint64 `msgpack:"t"`
	// TS is the requester's clock when it last sent its request: the
	// coordinator echoes it in a Grant.
	TS int64 `msgpack:"ts,omitempty"`
}

// State is a floor's replicated state: the coordinator sends it in every
// heartbeat, voters return the freshest they know in their votes, and a new
// coordinator starts from the freshest of those, which is how the queue
// survives the coordinator. States are ordered by (Epoch, Version).
type State struct {
	Epoch       uint64 `msgpack:"e"`
	Version     uint64 `msgpack:"v"`
	Coordinator Member `msgpack:"c"`
	// Holder is the member the floor was last granted to (zero: free). A
	// holder's lease is its own to count; State says who, not until when.
	Holder         Member  `msgpack:"h"`
	HolderPriority int     `msgpack:"hp,omitempty"`
	HolderTicket   uint64  `msgpack:"ht,omitempty"`
	Token          uint64  `msgpack:"tk,omitempty"`
	Queue          []Entry `msgpack:"q,omitempty"`
	NextTicket     uint64  `msgpack:"nt,omitempty"`
}

func (s *State) newer(o *State) bool {
	return s.Epoch > o.Epoch || s.Epoch == o.Epoch && s.Version > o.Version
}

func (s *State) clone() State {
	c := *s
	c.Queue = slices.Clone(s.Queue)
	return c
}

func (s *State) find(name string) int {
	for i, e := range s.Queue {
		if e.Member.Name == name {
			return i
		}
	}
	return -1
}

// Message is what members of a floor send each other, as the body of a
// posting on the floor's stream (registered as "rwanda/floor.Message").
// Times are the sender's own clock in nanoseconds from its start, only
// ever echoed back to it; no member compares another's clock with its own.
type Message struct {
	Kind     Kind   `msgpack:"k"`
	Resource string `msgpack:"r,omitempty"`
	From     Member `msgpack:"f"`
	// To addresses Grant, Taken, Ack and Vote; the others go to everyone.
	To    Member `msgpack:"to,omitempty"`
	Epoch uint64 `msgpack:"e,omitempty"`
	Token uint64 `msgpack:"tk,omitempty"`
	// TS is the sender's clock; Echo returns the TS of the message answered.
	TS   int64 `msgpack:"ts,omitempty"`
	Echo int64 `msgpack:"ec,omitempty"`
	// Lease is a duration in nanoseconds: a Grant's lease, a Taken's grace,
	// a refusing Vote's remaining promise, a Handoff's holder lease left.
	Lease    int64  `msgpack:"l,omitempty"`
	Priority int    `msgpack:"p,omitempty"`
	Ticket   uint64 `msgpack:"t,omitempty"`
	Version  uint64 `msgpack:"v,omitempty"`
	// Next is a Handoff's successor.
	Next Member `msgpack:"nx,omitempty"`
	// No marks a refused vote.
	No    bool   `msgpack:"no,omitempty"`
	State *State `msgpack:"s,omitempty"`
}

func (m *Message) String() string {
	s := fmt.Sprintf("%v %v", m.Kind, m.From)
	if !m.To.IsZero() {
		s += fmt.Sprintf("→%v", m.To)
	}
	s += fmt.Sprintf(" e%d", m.Epoch)
	if m.Token != 0 {
		s += fmt.Sprintf(" tk%x", m.Token)
	}
	if m.Lease != 0 {
		s += fmt.Sprintf(" l%dms", m.Lease/1e6)
	}
	if m.No {
		s += " no"
	}
	if !m.Next.IsZero() {
		s += fmt.Sprintf(" next=%v", m.Next)
	}
	if m.State != nil {
		s += fmt.Sprintf(" [v%d.%d h=%v q=%d]", m.State.Epoch, m.State.Version, m.State.Holder, len(m.State.Queue))
	}
	return s
}

func init() { posting.Register[Message]("rwanda/floor.Message") }
