package stack

import (
	"math"
	"time"
)

// Acknowledger is implemented by layers that keep what they send until its
// receivers acknowledge it (a reliability window). Unacknowledged says how
// much is not acknowledged yet, and by whom, so that whoever owns the stack
// can wait for it before closing (a channel's Close and Flush). It is the
// detailed form of [Drainer].
type Acknowledger interface {
	// Unacknowledged describes, at now, the packets the layer was given
	// that its receivers have not acknowledged, counting only those
	// numbered below below (see [Unacked.End]; [AllPackets] counts all).
	// Packets past their deadline, and packets the layer gave up, are not
	// counted: nothing waits for them any more.
	Unacknowledged(now time.Time, below uint64) Unacked
}

// AllPackets, as the below argument of [Acknowledger.Unacknowledged] and
// [Stack.Unacknowledged], counts every packet.
const AllPackets = math.MaxUint64

// Unacked is what a layer holds that its receivers have not acknowledged.
type Unacked struct {
	// End is one past the number of the newest packet the layer was given
	// (packets still queued for room in the window count, with the
	// numbers they will take). Passed back as below, it restricts a later
	// call to the packets given up to now (a flush).
	End uint64
	// Held is the packets, below below, that the layer still keeps for
	// its receivers: sent or queued, not acknowledged by every receiver it
	// knows (all of them when it knows none), not given up.
	Held int
	// One: the flow has one receiver, which acknowledges (point to point,
	// ack feedback); Receivers has exactly one entry, whose ID is 0 until
	// the receiver first answered. Otherwise Receivers are the receivers
	// the layer knows now (heard from within Timeout), most recently
	// heard first.
	One       bool
	Receivers []ReceiverAcks
	// Timeout is how long a receiver may stay silent before the layer
	// forgets it (and so stops keeping packets for it); 0: never.
	Timeout time.Duration
}

// ReceiverAcks is what one receiver of a flow lacks.
type ReceiverAcks struct {
	ID    uint64    // the member id of the receiver (Meta.Peer of its feedback)
	Lacks int       // packets below below that it has not acknowledged
	Heard time.Time // when it was last heard from; zero when not tracked
}

// Unacknowledged returns the view of the first layer that implements
// [Acknowledger] (application side first), read under the stack's lock
// at the clock's reading, with the packets numbered below below; false
// when no layer does or the stack is closed.
func (s *Stack) Unacknowledged(below uint64) (Unacked, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Unacked{}, false
	}
	for _, l := range s.layers {
		if a, ok := l.(Acknowledger); ok {
			return a.Unacknowledged(s.clock.Now(), below), true
		}
	}
	return Unacked{}, false
}

// FeedbackFlusher is implemented by layers that delay the feedback they
// send a flow's sender (a window's acknowledgements and status):
// FlushFeedback sends now what would leave later, so that a receiver about
// to close tells the sender what it has before it goes.
type FeedbackFlusher interface {
	FlushFeedback(now time.Time)
}

// FlushFeedback has every layer that implements [FeedbackFlusher] send its
// delayed feedback now, and writes it out. It does nothing on a closed
// stack.
func (s *Stack) FlushFeedback() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.now = s.clock.Now()
	for _, l := range s.layers {
		if f, ok := l.(FeedbackFlusher); ok {
			f.FlushFeedback(s.now)
		}
	}
	s.unlockAndDrain()
}
