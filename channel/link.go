package channel

import (
	"sync"
	"time"

	"github.com/rwanda-go/rwanda/posting"
	"github.com/rwanda-go/rwanda/sched"
	"github.com/rwanda-go/rwanda/stack"
)

// linkQueue paces a channel's frames at its link rate (WithLinkRate),
// ordered by each stream's scheduling policy (package sched).
type linkQueue struct {
	clock stack.Clock
	out   *outbox
	mu    sync.Mutex
	q     *sched.Queue
	timer stack.Timer
	at    time.Time // when the timer fires; zero: not armed
	late  func(sched.Item)
}

type linkFrame struct {
	dst   uint64
	class bundle
	frame []byte
}

// mediaRank orders media classes for the priority policy.
var mediaRank = [numMedia]int{posting.Control: 0, posting.Audio: 1, posting.Video: 2, posting.Text: 3, posting.Image: 4, posting.Data: 5}

func newLinkQueue(clock stack.Clock, out *outbox, cnt *counters, rate int64) *linkQueue {
	return &linkQueue{clock: clock, out: out, q: sched.NewQueue(rate), late: func(sched.Item) { cnt.drop("late") }}
}

// push queues one frame of os (header and the packet's bytes, copied) and
// sends what the link allows now.
func (l *linkQueue) push(os *outStream, dst uint64, hdr []byte, pk *stack.Packet) {
	frame := make([]byte, 0, len(hdr)+pk.Len())
	frame = append(append(frame, hdr...), pk.Bytes()...)
	it := sched.Item{Policy: os.policy, Flow: uint64(os.id), Deadline: pk.Meta.Deadline, Size: len(frame),
		Value: linkFrame{dst, bundleOf(os.id, &pk.Meta), frame}}
	if m := pk.Meta.Media; m.Valid() {
		it.Priority = mediaRank[m]
	}
	if pk.Meta.Flags&stack.FlagControl != 0 {
		it.Priority, it.Deadline = -1, time.Time{} // feedback and control first, never dropped
	}
	pk.Release()
	l.mu.Lock()
	l.q.Push(it)
	l.mu.Unlock()
	l.drain()
}

// drain writes what the link allows now and arms the timer for the rest.
func (l *linkQueue) drain() {
	now := l.clock.Now()
	l.mu.Lock()
	sent := 0
	var retry time.Time
	for {
		it, ok, r := l.q.Pop(now, l.late)
		if !ok {
			retry = r
			break
		}
		f := it.Value.(linkFrame)
		l.out.add(f.dst, f.class, f.frame, nil)
		sent++
	}
	if !retry.IsZero() && (l.at.IsZero() || retry.Before(l.at)) {
		if l.timer != nil {
			l.timer.Stop()
		}
		l.at = retry
		l.timer = l.clock.AfterFunc(retry.Sub(now), func() {
			l.mu.Lock()
			l.at = time.Time{}
			l.mu.Unlock()
			l.drain()
		})
	}
	l.mu.Unlock()
	if sent > 0 {
		l.out.flushNow(true)
	}
}

// stop cancels the timer.
func (l *linkQueue) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.timer != nil {
		l.timer.Stop()
	}
}
