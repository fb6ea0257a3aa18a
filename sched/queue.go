package sched

import (
	"container/heap"
	"fmt"
	"time"
)

// Policy is a scheduling discipline.
type Policy uint8

// The policies, in the order a Queue serves their classes (last first).
const (
	None Policy = iota
	FIFO
	Priority
	EDF
	numPolicies
)

var policyNames = [numPolicies]string{"none", "fifo", "priority", "edf"}

func (p Policy) String() string {
	if p < numPolicies {
		return policyNames[p]
	}
	return fmt.Sprintf("Policy(%d)", uint8(p))
}

// ParsePolicy returns the policy named s.
func ParsePolicy(s string) (Policy, error) {
	for i, n := range policyNames {
		if n == s {
			return Policy(i), nil
		}
	}
	return 0, fmt.Errorf("sched: unknown policy %q (none, fifo, priority, edf)", s)
}

// Item is one packet waiting for the link.
type Item struct {
	Policy   Policy
	Flow     uint64    // streams take turns by Flow under None
	Priority int       // Priority: smaller goes first
	Deadline time.Time // EDF: when it becomes useless; zero: never
	Size     int       // bytes on the link
	// Parcel and Rest tie the packets of one parcel (a posting cut into
	// fragments) together for EDF: Rest is the bytes of the parcel from
	// this packet on, so a parcel that can no longer make its deadline is
	// dropped whole, not sent in part. Parcel 0 means a packet alone.
	Parcel uint64
	Rest   int
	Value  any // what to send

	seq uint64 // arrival order
}

// Queue is a send queue served at a link rate. It is not safe for
// concurrent use.
type Queue struct {
	rate  float64   // bytes per second; 0: unlimited
	free  time.Time // when the link is free again
	seq   uint64
	fifo  ring
	prio  itemHeap
	edf   itemHeap
	rr    roundRobin
	n     int
	bytes int
	// Dropped counts the items EDF dropped because they (or their parcel)
	// could no longer arrive in time.
	Dropped uint64
	// gone remembers parcels EDF gave up, so their other packets go too.
	gone map[uint64]struct{}
}

// NewQueue returns a queue served at rate bytes per second (0: as fast as
// items are popped).
func NewQueue(rate int64) *Queue {
	q := &Queue{rate: float64(rate)}
	q.prio.less = func(a, b *Item) bool {
		if a.Priority != b.Priority {
			return a.Priority < b.Priority
		}
		return a.seq < b.seq
	}
	q.edf.less = func(a, b *Item) bool {
		switch {
		case a.Deadline.Equal(b.Deadline):
			return a.seq < b.seq
		case a.Deadline.IsZero():
			return false
		case b.Deadline.IsZero():
			return true
		}
		return a.Deadline.Before(b.Deadline)
	}
	return q
}

// Len is the number of items waiting.
func (q *Queue) Len() int { return q.n }

// Bytes is the size of the items waiting.
func (q *Queue) Bytes() int { return q.bytes }

// Push queues an item.
func (q *Queue) Push(it Item) {
	q.seq++
	it.seq = q.seq
	q.n++
	q.bytes += it.Size
	switch it.Policy {
	case FIFO:
		q.fifo.push(it)
	case Priority:
		heap.Push(&q.prio, &it)
	case EDF:
		heap.Push(&q.edf, &it)
	default:
		q.rr.push(it)
	}
}

// txTime is how long size bytes occupy the link.
func (q *Queue) txTime(size int) time.Duration {
	if q.rate <= 0 {
		return 0
	}
	return time.Duration(float64(size) / q.rate * float64(time.Second))
}

// Pop returns the next item to send at now, or ok=false and the time to
// try again (zero when the queue is empty). EDF items that would finish
// after their deadline are dropped on the way (dropped is called with
// each, if not nil).
func (q *Queue) Pop(now time.Time, dropped func(Item)) (it Item, ok bool, retry time.Time) {
	if q.n == 0 {
		return Item{}, false, time.Time{}
	}
	if q.rate > 0 && now.Before(q.free) {
		return Item{}, false, q.free
	}
	for q.n > 0 {
		switch {
		case q.edf.Len() > 0:
			it = *heap.Pop(&q.edf).(*Item)
		case q.prio.Len() > 0:
			it = *heap.Pop(&q.prio).(*Item)
		case q.fifo.len() > 0:
			it = q.fifo.pop()
		default:
			it = q.rr.pop()
		}
		q.n--
		q.bytes -= it.Size
		if it.Policy == EDF && q.late(it, now) {
			q.Dropped++
			if dropped != nil {
				dropped(it)
			}
			continue
		}
		start := now
		if q.free.After(start) {
			start = q.free
		}
		q.free = start.Add(q.txTime(it.Size))
		return it, true, time.Time{}
	}
	return Item{}, false, time.Time{}
}

// late says whether an EDF item is to be dropped at now: its parcel was
// given up, or what is left of it cannot leave the link by its deadline.
func (q *Queue) late(it Item, now time.Time) bool {
	if it.Parcel != 0 {
		if _, ok := q.gone[it.Parcel]; ok {
			if it.Rest <= it.Size { // its last packet: forget the parcel
				delete(q.gone, it.Parcel)
			}
			return true
		}
	}
	if it.Deadline.IsZero() {
		return false
	}
	start := now
	if q.free.After(start) {
		start = q.free
	}
	if !start.Add(q.txTime(max(it.Rest, it.Size))).After(it.Deadline) {
		return false
	}
	if it.Parcel != 0 && it.Rest > it.Size {
		if q.gone == nil {
			q.gone = make(map[uint64]struct{})
		}
		if len(q.gone) >= 1<<16 { // bounded: forget the oldest... any
			for k := range q.gone {
				delete(q.gone, k)
				break
			}
		}
		q.gone[it.Parcel] = struct{}{}
	}
	return true
}

// Free is when the link will have finished sending what was popped.
func (q *Queue) Free() time.Time { return q.free }

type itemHeap struct {
	items []*Item
	less  func(a, b *Item) bool
}

func (h *itemHeap) Len() int           { return len(h.items) }
func (h *itemHeap) Less(i, j int) bool { return h.less(h.items[i], h.items[j]) }
func (h *itemHeap) Swap(i, j int)      { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *itemHeap) Push(x any)         { h.items = append(h.items, x.(*Item)) }
func (h *itemHeap) Pop() any {
	n := len(h.items) - 1
	it := h.items[n]
	h.items[n] = nil
	h.items = h.items[:n]
	return it
}

// ring is a FIFO of items.
type ring struct {
	items []Item
	head  int
}

func (r *ring) len() int { return len(r.items) - r.head }
func (r *ring) push(it Item) {
	if r.head > 0 && r.head == len(r.items) {
		r.items, r.head = r.items[:0], 0
	}
	r.items = append(r.items, it)
}
func (r *ring) pop() Item {
	it := r.items[r.head]
	r.items[r.head] = Item{}
	r.head++
	return it
}

// roundRobin serves flows in turn, one item each.
type roundRobin struct {
	flows map[uint64]*ring
	order []uint64 // flows with items, in turn order
	next  int
}

func (rr *roundRobin) push(it Item) {
	if rr.flows == nil {
		rr.flows = make(map[uint64]*ring)
	}
	r := rr.flows[it.Flow]
	if r == nil {
		r = &ring{}
		rr.flows[it.Flow] = r
	}
	if r.len() == 0 {
		rr.order = append(rr.order, it.Flow)
	}
	r.push(it)
}

func (rr *roundRobin) pop() Item {
	if rr.next >= len(rr.order) {
		rr.next = 0
	}
	f := rr.order[rr.next]
	r := rr.flows[f]
	it := r.pop()
	if r.len() == 0 {
		rr.order = append(rr.order[:rr.next], rr.order[rr.next+1:]...)
		delete(rr.flows, f)
	} else {
		rr.next++
	}
	return it
}

// Summary says in a line what the policy does, for the layers' registry
// entries.
func (p Policy) Summary() string {
	switch p {
	case FIFO:
		return "sends the stream's packets first come, first served in the channel's send queue"
	case Priority:
		return "sends the stream's packets by media class (control, audio, video, text, image, data) in the channel's send queue"
	case EDF:
		return "sends the stream's packets earliest deadline first in the channel's send queue, dropping those that can no longer arrive in time"
	}
	return "no scheduling: streams take turns packet by packet"
}
