package floor

import (
	"errors"
	"sync"
)

// ErrFenced: an action carried a fencing token older than one the resource
// has accepted.
var ErrFenced = errors.New("floor: stale fencing token")

// Fence is what a resource keeps to refuse actions of a holder whose lease
// ran out without its knowing (a process paused after checking its lease,
// a message delayed on its way to the resource): the highest fencing token
// it has accepted. A holder sends its Grant's Token with each action; the
// resource calls Admit before acting. Tokens increase with every grant, so
// once a later holder has acted, the earlier one is refused.
//
// A Fence is safe for concurrent use. Tokens increase across coordinators
// while every majority of the voters contains one that remembers the latest
// epoch: if a majority of them restarts at once, epochs (and tokens) start
// again from 1, and a resource that outlives them must be reset.
type Fence struct {
	mu  sync.Mutex
	max uint64
}

// Admit accepts token if it is at least the highest accepted so far.
func (f *Fence) Admit(token uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if token == 0 || token < f.max {
		return ErrFenced
	}
	f.max = token
	return nil
}

// Max is the highest token accepted.
func (f *Fence) Max() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.max
}
