package stack

import "sync/atomic"

// Budget bounds the memory that the stacks of a channel may hold in buffers
// (reassembly, reordering, retransmission). Layers reserve bytes before they
// buffer and release them when done; a refused reservation means "drop
// something", never "grow anyway". A nil *Budget is unlimited. A Budget is
// safe for concurrent use.
type Budget struct {
	limit  int64
	used   atomic.Int64
	denied atomic.Uint64
	parent *Budget // a share's budget (see Share); nil for a root
}

// NewBudget returns a budget of limit bytes.
func NewBudget(limit int64) *Budget {
	if limit < 0 {
		limit = 0
	}
	return &Budget{limit: limit}
}

// Share returns a budget that draws on b: whatever it reserves is
// reserved from b too, and refused when b refuses, while its own Used
// counts only its own reservations. A channel gives each stack a share,
// so that it can say how much each stream and flow holds. A share of a
// nil budget has no limit but its own counting.
func (b *Budget) Share() *Budget {
	if b == nil {
		return &Budget{limit: 1<<63 - 1}
	}
	return &Budget{limit: b.limit, parent: b}
}

// Reserve takes n bytes from the budget and reports whether they were
// available. On false nothing is taken.
func (b *Budget) Reserve(n int64) bool {
	if b == nil || n <= 0 {
		return true
	}
	if b.parent != nil && !b.parent.Reserve(n) {
		b.denied.Add(1)
		return false
	}
	for {
		u := b.used.Load()
		if u+n > b.limit {
			b.denied.Add(1)
			b.parent.Release(n)
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

// Release returns n bytes taken by Reserve.
func (b *Budget) Release(n int64) {
	if b == nil || n <= 0 {
		return
	}
	if b.used.Add(-n) < 0 {
		panic("stack: Budget released more than reserved")
	}
	b.parent.Release(n)
}

// Used is the number of bytes currently reserved.
func (b *Budget) Used() int64 {
	if b == nil {
		return 0
	}
	return b.used.Load()
}

// Limit is the budget's size in bytes (-1 for a nil, unlimited budget).
func (b *Budget) Limit() int64 {
	if b == nil {
		return -1
	}
	return b.limit
}

// Denied counts the reservations refused.
func (b *Budget) Denied() uint64 {
	if b == nil {
		return 0
	}
	return b.denied.Load()
}
