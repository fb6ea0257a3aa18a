package stack

import (
	"math/bits"
	"sync"
	"sync/atomic"
)

// Buffer size classes: 2 KiB, 4 KiB, ... 32 KiB, then four a doubling (40,
// 48, 56, 64, 80, 96 KiB ...) up to 2 MiB, so that a large parcel's buffer
// (a 64 KiB posting and its headers, say) wastes at most a quarter of its
// size rather than half: the zeroing of a fresh buffer and the memory a
// delivered posting keeps (Packet.Detach) follow the class, not the
// parcel. Larger packets get a buffer of their own that is left to the
// garbage collector.
const (
	minClassShift = 11
	// fineShift is where the classes go from one a doubling to fineSteps
	// a doubling: above 1<<fineShift bytes.
	fineShift  = 15
	fineSteps  = 4
	fineFirst  = fineShift - minClassShift + 1 // the first fine class
	maxShift   = 21
	numClasses = fineFirst + (maxShift-fineShift)*fineSteps
	maxPooled  = 1 << maxShift
)

// Pool recycles packets and their buffers by size class. It keeps count of
// the packets handed out and not yet released, which is how tests find
// leaks. A Pool is safe for concurrent use. The zero Pool is not usable; call
// [NewPool].
type Pool struct {
	classes [numClasses]sync.Pool
	// Packets handed out and released, counted apart on cache lines of
	// their own: the goroutine that makes packets (a pusher) and the one
	// that releases them (a reader, on acknowledgements) then each write
	// a line of its own instead of sharing one.
	gets  paddedCount
	puts  paddedCount
	grown atomic.Uint64
}

type paddedCount struct {
	_ [64]byte
	n atomic.Int64
	_ [56]byte
}

var defaultPool = NewPool()

// DefaultPool returns the process-wide pool used when a [Config] names none.
func DefaultPool() *Pool { return defaultPool }

// NewPool returns an empty pool.
func NewPool() *Pool { return &Pool{} }

// Get returns an empty packet with at least headroom bytes of headroom, room
// for size bytes of payload, and tailroom bytes reserved for trailers after
// it. The packet holds one reference.
func (pl *Pool) Get(headroom, size, tailroom int) *Packet {
	if headroom < 0 || size < 0 || tailroom < 0 {
		panic("stack: Pool.Get with a negative size")
	}
	return pl.get(headroom, size, tailroom)
}

// FromBytes returns a packet holding a copy of b after headroom bytes of
// headroom.
func (pl *Pool) FromBytes(headroom int, b []byte) *Packet {
	p := pl.Get(headroom, len(b), 0)
	p.tail = p.head + copy(p.buf[p.head:], b)
	return p
}

// Outstanding is the number of packets taken from the pool and not yet
// released. A stack that has been closed and drained should leave it where it
// found it.
func (pl *Pool) Outstanding() int64 {
	puts := pl.puts.n.Load() // first: a packet got and put between the reads counts as out, never below zero
	return pl.gets.n.Load() - puts
}

// Grown counts the times a packet had to move to a larger buffer because a
// layer pushed more header or trailer than the room it was given. Layers that
// declare their [Layer.Overhead] correctly keep it at zero.
func (pl *Pool) Grown() uint64 { return pl.grown.Load() }

func (pl *Pool) get(headroom, size, tailroom int) *Packet {
	need := headroom + size + tailroom
	var p *Packet
	if c := classOf(need); c >= 0 {
		if v := pl.classes[c].Get(); v != nil {
			p = v.(*Packet)
		} else {
			p = &Packet{buf: make([]byte, classSize(c)), class: int8(c)}
		}
		p.pool = pl
	} else {
		p = &Packet{buf: make([]byte, need), class: -1, pool: pl}
	}
	p.head, p.tail, p.reserve = headroom, headroom, tailroom
	// Meta is zero: new, or cleared by put.
	p.refs.Store(1)
	pl.gets.n.Add(1)
	return p
}

// buffer returns a fresh buffer of at least n bytes and its class.
func (pl *Pool) buffer(n int) ([]byte, int8) {
	if c := classOf(n); c >= 0 {
		return make([]byte, classSize(c)), int8(c)
	}
	return make([]byte, n), -1
}

func (pl *Pool) put(p *Packet) {
	pl.puts.n.Add(1)
	if p.class < 0 || p.buf == nil {
		return
	}
	p.Meta = Meta{}
	pl.classes[p.class].Put(p)
}

// classOf returns the smallest class holding n bytes, or -1 when n is larger
// than any class.
func classOf(n int) int {
	if n > maxPooled {
		return -1
	}
	if n <= 1<<minClassShift {
		return 0
	}
	e := bits.Len(uint(n-1)) - 1 // 1<<e <= n-1 < 1<<(e+1)
	if e < fineShift {
		return e + 1 - minClassShift
	}
	q := (n - 1 - 1<<e) >> (e - 2) // which quarter of the doubling n falls in
	return fineFirst + (e-fineShift)*fineSteps + q
}

// classSize is the size of class c's buffers.
func classSize(c int) int {
	if c < fineFirst {
		return 1 << (minClassShift + c)
	}
	e, q := fineShift+(c-fineFirst)/fineSteps, (c-fineFirst)%fineSteps
	return 1<<e + (q+1)<<(e-2)
}
