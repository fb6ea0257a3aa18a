package channel

import (
	"sync"
	"time"

	"github.com/rwanda-go/rwanda/posting"
)

// follow holds a replacing flow's postings until the flow it replaces has
// handed up the postings sent on it before the switch, so that a
// reconfigured stream's postings arrive in order, none twice.
type follow struct {
	prev     uint32
	count    uint64
	until    time.Time // give up waiting then (moved on while the old flow progresses)
	mu       sync.Mutex
	ready    bool
	released bool
	draining bool
	held     []*posting.Posting
	bytes    int
}

// maxFollowHeld and maxFollowBytes bound what a replacing flow holds for
// the flow it replaces; beyond them, it stops waiting.
const (
	maxFollowHeld  = 1 << 14
	maxFollowBytes = 64 << 20
)

// handedUp counts a parcel the flow's stack handed up and releases the
// flow that replaces this one once this one has handed up its share.
func (fl *inFlow) handedUp() {
	n := fl.done.Add(1)
	next := fl.next.Load()
	if next == nil {
		return
	}
	if n >= next.follow.count {
		if next.follow.setReady() {
			next.release()
		}
		return
	}
	// The old flow is making progress: its successor waits longer.
	f := next.follow
	f.mu.Lock()
	f.until = fl.in.clock.Now().Add(fl.in.followWait())
	f.mu.Unlock()
}

// followWait is how long a replacing flow waits for the flow it replaces
// to make progress before it stops waiting.
func (in *incoming) followWait() time.Duration { return max(3*in.cfg.announce, time.Second) }

// overdue says whether the wait has run out at now.
func (f *follow) overdue(now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.ready && now.After(f.until)
}

// hold keeps p (n bytes encoded) while the flow waits for the one it
// replaces, and reports whether it did (false: deliver p now) and whether
// the wait must end because the flow holds too much.
func (f *follow) hold(p *posting.Posting, n int) (held, full bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.released {
		return false, false
	}
	f.held = append(f.held, p)
	f.bytes += n
	if !f.ready && (len(f.held) >= maxFollowHeld || f.bytes >= maxFollowBytes) {
		f.ready = true
		return true, true
	}
	return true, false
}

// setReady marks the wait over; it reports whether it was not already.
func (f *follow) setReady() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ready {
		return false
	}
	f.ready = true
	return true
}

// release delivers what the flow held, in order, then lets its postings
// through. Postings that arrive while it delivers join the end of the line.
func (fl *inFlow) release() {
	f := fl.follow
	for {
		f.mu.Lock()
		if f.released || f.draining || !f.ready {
			f.mu.Unlock()
			return
		}
		batch := f.held
		f.held = nil
		if len(batch) == 0 {
			f.released = true
			f.mu.Unlock()
			return
		}
		f.draining = true
		f.mu.Unlock()
		for _, p := range batch {
			fl.in.deliver(p)
		}
		f.mu.Lock()
		f.draining = false
		f.mu.Unlock()
	}
}
