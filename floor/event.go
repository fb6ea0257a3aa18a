package floor

import (
	"fmt"
	"time"
)

// EventKind is what an Event reports.
type EventKind uint8

const (
	// Granted: this member holds the floor with a valid lease, under
	// Event.Token (a new token, or the same one again after a lapse).
	Granted EventKind = iota + 1
	// Lapsed: this member is still the holder, but its lease ran out before
	// a renewal came (the coordinator is gone or unreachable); it must stop
	// acting on the floor until Granted again.
	Lapsed
	// Lost: this member no longer holds the floor (Event.Reason says why).
	Lost
	// Preempted: under DelayedPreemptive a request of higher priority came;
	// the floor goes when released or after Event.Grace.
	Preempted
	// Changed: the state seen here (holder, queue, coordinator) changed.
	Changed
	// Coordinating: this member became the coordinator (Event.Epoch).
	Coordinating
	// Resigned: this member stopped being the coordinator.
	Resigned
)

var eventNames = [...]string{"", "granted", "lapsed", "lost", "preempted", "changed", "coordinating", "resigned"}

func (k EventKind) String() string {
	if int(k) < len(eventNames) && k != 0 {
		return eventNames[k]
	}
	return fmt.Sprintf("EventKind(%d)", k)
}

// Reason is why a floor was Lost.
type Reason uint8

const (
	// ReasonNone: no reason (the zero value; events other than Lost).
	ReasonNone Reason = iota
	// ReasonReleased: the application released it (or withdrew).
	ReasonReleased
	// ReasonTaken: preempted by a request of higher priority.
	ReasonTaken
	// ReasonDropped: the coordinator gave the floor to someone else after
	// this member's lease ran out.
	ReasonDropped
	// ReasonRegranted: a new coordinator granted this member the floor again
	// under a new token; a Granted event with the new token follows.
	ReasonRegranted
	// ReasonClosed: the member left.
	ReasonClosed
)

var reasonNames = [...]string{"", "released", "taken", "dropped", "regranted", "closed"}

func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return fmt.Sprintf("Reason(%d)", r)
}

// Event is something that happened to this member's floor.
type Event struct {
	Kind   EventKind
	Token  uint64        // Granted, Lapsed, Lost, Preempted
	Until  time.Time     // Granted: the lease's end on this member's clock
	Reason Reason        // Lost
	Grace  time.Duration // Preempted
	Epoch  uint64        // Coordinating, Resigned
	At     time.Time
}

func (e Event) String() string {
	switch e.Kind {
	case Granted, Lapsed:
		return fmt.Sprintf("%v token %x", e.Kind, e.Token)
	case Lost:
		return fmt.Sprintf("lost token %x (%v)", e.Token, e.Reason)
	case Preempted:
		return fmt.Sprintf("preempted token %x, grace %v", e.Token, e.Grace)
	case Coordinating, Resigned:
		return fmt.Sprintf("%v epoch %d", e.Kind, e.Epoch)
	}
	return e.Kind.String()
}
