package stack

import (
	"encoding/binary"
	"sync/atomic"
	"time"

	"github.com/rwanda-go/rwanda/posting"
)

// Flags are per-packet bits that layers set and read inside a stack.
type Flags uint16

const (
	// FlagControl marks a packet a layer generated for its own protocol
	// (an acknowledgement, a NAK, a heartbeat) rather than application data.
	FlagControl Flags = 1 << iota
	// FlagRetransmit marks a packet sent again by a reliability layer.
	FlagRetransmit
	// FlagBestEffort asks the layers below not to retransmit the packet.
	FlagBestEffort
	// FlagSkip marks a packet a sequencing layer passes up to say that
	// the sequence numbers Meta.Seq to Meta.Seq+n−1 will never arrive
	// (their data was abandoned or is unrecoverable); see [NewSkip] and
	// [Packet.Skip]. An ordering layer releases what waits behind them and
	// consumes the marker; other layers pass it up or release it, and it
	// never reaches the application.
	FlagSkip
	// FlagOverheard marks feedback a receiver's stack gets that another
	// receiver sent to the same sender (multicast): it lets a receiver
	// suppress a NAK someone else already sent.
	FlagOverheard
	// FlagDroppable is relay metadata (see [AppendRelay]): a relay may drop
	// the packet (a semi-reliable posting with a time to live, best effort,
	// superseded). Never set on control packets.
	FlagDroppable
	// FlagFrameEnd is relay metadata: the packet carries the last posting of
	// the frame Meta.Frame() names. Only with a nonzero frame id.
	FlagFrameEnd
	// FlagLeft says Meta.Left holds the time left, stamped by
	// [Meta.StampLeft] or decoded from the wire.
	FlagLeft
	// FlagSealed says a signature covers the packet's relay metadata as it
	// is now: nothing below the signing layer may restamp Meta.Left.
	FlagSealed
	// FlagThinned, on the way up, says that the relay the packet came
	// through (a gateway) dropped droppable data of its stream sent
	// before it: a sequencing layer of a semi-reliable stream gives up at
	// once what it lacks below the packet instead of waiting for repairs
	// that will not come (the relay absorbs the NAKs).
	FlagThinned
	// FlagForSender, on the way down a receiver's stack, marks feedback
	// that only the flow's sender needs (a status, an acknowledgement).
	// Where every member hears every datagram (multicast), the channel
	// sends it so that the other receivers skip it unread; feedback
	// without it (a NAK) is passed to the others' stacks
	// ([FlagOverheard]). Layers below the one that sets it keep it.
	FlagForSender
)

// Meta is the fixed metadata a packet carries through a stack. It is plain
// struct fields, never a per-packet map. Meta is not sent on the wire: a layer
// that needs a field at the far end encodes it in its own header.
type Meta struct {
	// Deadline is when the packet's parcel becomes obsolete; zero means never.
	Deadline time.Time
	// Seq is a sequence number set by a sequencing layer: on the way down by
	// the layer that assigns it, on the way up by the layer that decodes it.
	Seq uint64
	// Peer is the remote member: on the way up, the one the packet came from;
	// on the way down, the one it is addressed to (0: everyone on the channel).
	Peer uint64
	// Media is the media class of the posting the packet carries.
	Media posting.Media
	// Flags holds per-packet bits.
	Flags Flags
	// Left is the time left at send in milliseconds, rounded up, when
	// FlagLeft is set (relay metadata).
	Left uint32
	// Tag is the latest-wins key and frame id of the posting the packet
	// carries (relay metadata); nil for neither.
	Tag *Tag
}

// Tag is what a posting names about itself in its relay metadata: its
// latest-wins key and the frame it belongs to. The packets of one posting
// (its fragments) share one Tag: it is never changed once set, and a layer
// that wants another sets a new one. It lives behind a pointer so that
// every packet's Meta stays small (most postings have neither).
type Tag struct {
	// Key is the posting's latest-wins key, "" for none.
	Key string
	// Frame is the id of the frame (say, of video) whose data the packet
	// carries; 0 for none.
	Frame uint64
}

// Key returns the latest-wins key, "" for none.
func (m *Meta) Key() string {
	if m.Tag == nil {
		return ""
	}
	return m.Tag.Key
}

// Frame returns the frame id, 0 for none.
func (m *Meta) Frame() uint64 {
	if m.Tag == nil {
		return 0
	}
	return m.Tag.Frame
}

// NewSkip returns a skip marker (see [FlagSkip]) for the n sequence numbers
// starting at first, from pool.
func NewSkip(pool *Pool, first, n uint64) *Packet {
	p := pool.get(0, binary.MaxVarintLen64, 0)
	p.Meta.Flags = FlagSkip
	p.Meta.Seq = first
	p.tail = p.head + len(binary.AppendUvarint(p.buf[p.head:p.head], n))
	return p
}

// Skip returns the range a skip marker covers: its first sequence number
// and how many. ok is false when p is not a well-formed skip marker.
func (p *Packet) Skip() (first, n uint64, ok bool) {
	if p.Meta.Flags&FlagSkip == 0 {
		return 0, 0, false
	}
	n, k := binary.Uvarint(p.Bytes())
	if k <= 0 || k != p.Len() || n == 0 {
		return 0, 0, false
	}
	return p.Meta.Seq, n, true
}

// Mark is a saved view of a packet's bytes, see [Packet.Mark].
type Mark struct{ head, tail int }

// Packet is a pooled buffer holding one packet's bytes between a headroom and
// a tailroom, plus its [Meta]. On the way down each layer pushes its header
// into the headroom in place ([Packet.Push]) and may append a trailer
// ([Packet.Extend]); on the way up it consumes them ([Packet.Consume],
// [Packet.Trim]). The payload is never moved when the headroom suffices.
//
// # Ownership
//
// A packet has a reference count that starts at one. Whoever holds a packet
// owns one reference: passing a packet to a [Handler] or to [Stack.Down] and
// [Stack.Up] passes that reference, even when the call returns an error. A
// holder that is done with a packet calls [Packet.Release]. A layer that keeps
// a packet while also passing it on (a retransmission buffer) calls
// [Packet.Retain] first, and may later [Packet.Restore] a [Mark] taken before
// sending to send the same bytes again. A layer that rewrites bytes it did not
// add itself (encryption in place) must first call [Packet.Writable], which
// copies a shared packet.
//
// A Packet is not safe for concurrent use; the reference count is, so a packet
// may be released from any goroutine.
type Packet struct {
	Meta

	buf     []byte
	head    int // start of the packet's bytes in buf
	tail    int // end of the packet's bytes in buf
	reserve int // bytes at the end of buf kept free for trailers
	refs    atomic.Int32
	pool    *Pool
	class   int8 // pool size class; -1 when not pooled
}

// Len is the number of bytes in the packet.
func (p *Packet) Len() int { return p.tail - p.head }

// Bytes returns the packet's bytes. The slice aliases the packet's buffer and
// is valid until the packet is changed or released.
func (p *Packet) Bytes() []byte { return p.buf[p.head:p.tail:p.tail] }

// Headroom is the number of bytes that can be pushed in front without
// moving the payload.
func (p *Packet) Headroom() int { return p.head }

// Tailroom is the number of bytes that can be appended without moving the
// payload.
func (p *Packet) Tailroom() int { return len(p.buf) - p.tail }

// Push prepends n bytes and returns them for the caller to fill in. When the
// headroom is too small the packet is moved to a larger buffer (and the pool
// counts it in [Pool.Grown]): layers that declare their [Layer.Overhead]
// correctly never cause this.
func (p *Packet) Push(n int) []byte {
	if n < 0 {
		panic("stack: Packet.Push with negative length")
	}
	if n > p.head {
		p.regrow(n-p.head+defaultSlack, 0)
	}
	p.head -= n
	return p.buf[p.head : p.head+n : p.head+n]
}

// Consume removes the first n bytes and returns them. It reports false and
// leaves the packet unchanged when the packet is shorter than n.
func (p *Packet) Consume(n int) ([]byte, bool) {
	if n < 0 || n > p.tail-p.head {
		return nil, false
	}
	b := p.buf[p.head : p.head+n : p.head+n]
	p.head += n
	return b, true
}

// Peek returns the first n bytes without removing them, or false when the
// packet is shorter than n.
func (p *Packet) Peek(n int) ([]byte, bool) {
	if n < 0 || n > p.tail-p.head {
		return nil, false
	}
	return p.buf[p.head : p.head+n : p.head+n], true
}

// Extend appends n bytes at the end and returns them for the caller to fill
// in. It may use the space reserved for trailers and grows the buffer when
// even that is too small.
func (p *Packet) Extend(n int) []byte {
	if n < 0 {
		panic("stack: Packet.Extend with negative length")
	}
	if n > len(p.buf)-p.tail {
		p.regrow(0, n-(len(p.buf)-p.tail)+defaultSlack)
	}
	b := p.buf[p.tail : p.tail+n : p.tail+n]
	p.tail += n
	return b
}

// Trim removes the last n bytes. It reports false and leaves the packet
// unchanged when the packet is shorter than n.
func (p *Packet) Trim(n int) bool {
	if n < 0 || n > p.tail-p.head {
		return false
	}
	p.tail -= n
	return true
}

// Truncate shortens the packet to n bytes. It reports false when n is
// negative or larger than the packet.
func (p *Packet) Truncate(n int) bool {
	if n < 0 || n > p.tail-p.head {
		return false
	}
	p.tail = p.head + n
	return true
}

// Append appends b to the packet's payload, keeping the space reserved for
// trailers free (growing the buffer if needed).
func (p *Packet) Append(b []byte) {
	if len(b) > len(p.buf)-p.reserve-p.tail {
		p.regrow(0, len(b)-(len(p.buf)-p.reserve-p.tail)+p.reserve)
	}
	p.tail += copy(p.buf[p.tail:], b)
}

// AppendWith lets an append-style encoder (such as
// [posting.Posting.AppendBinary]) write straight into the packet: f receives
// the packet's bytes with the free capacity after them (less the space
// reserved for trailers) and returns the extended slice. When the encoder
// outgrows that capacity, its result is copied into a larger buffer. An error
// from f leaves the packet as it was.
func (p *Packet) AppendWith(f func(b []byte) ([]byte, error)) error {
	limit := len(p.buf) - p.reserve
	if limit < p.tail {
		limit = p.tail
	}
	cur := p.buf[p.head:p.tail:limit]
	out, err := f(cur)
	if err != nil {
		return err
	}
	if len(out) < len(cur) {
		panic("stack: Packet.AppendWith: f shortened the packet")
	}
	if len(out) <= cap(cur) && (len(out) == 0 || &out[0] == &p.buf[p.head]) {
		p.tail = p.head + len(out)
		return nil
	}
	// The encoder reallocated: copy its extra bytes in.
	extra := out[len(cur):]
	p.Append(extra)
	return nil
}

// Reset empties the packet and clears its metadata, keeping its buffer with
// the given headroom (clamped to the buffer).
func (p *Packet) Reset(headroom int) {
	if headroom < 0 {
		headroom = 0
	}
	if headroom > len(p.buf)-p.reserve {
		headroom = max(len(p.buf)-p.reserve, 0)
	}
	p.head, p.tail = headroom, headroom
	p.Meta = Meta{}
}

// Mark saves the current view of the packet's bytes, to be restored with
// [Packet.Restore].
func (p *Packet) Mark() Mark { return Mark{p.head, p.tail} }

// Restore returns the packet to a view saved by [Packet.Mark]. Bytes written
// into the headroom since are forgotten; bytes of the saved view must not
// have been rewritten in between (see [Packet.Writable]).
func (p *Packet) Restore(m Mark) {
	if m.head < 0 || m.tail < m.head || m.tail > len(p.buf) {
		panic("stack: Packet.Restore with a mark from another buffer")
	}
	p.head, p.tail = m.head, m.tail
}

// Retain adds a reference: the packet stays valid until one more
// [Packet.Release].
func (p *Packet) Retain() { p.refs.Add(1) }

// Shared reports whether more than one reference is held.
func (p *Packet) Shared() bool { return p.refs.Load() > 1 }

// Release drops a reference; the last one returns the buffer to its pool.
// Releasing more often than retaining panics, as it would corrupt the pool.
func (p *Packet) Release() {
	n := p.refs.Add(-1)
	if n > 0 {
		return
	}
	if n < 0 {
		panic("stack: Packet released more often than retained")
	}
	if p.pool != nil {
		p.pool.put(p)
	}
}

// Writable returns a packet whose bytes the caller may rewrite in place: p
// itself when the caller holds its only reference, otherwise a private copy,
// in which case the caller's reference to p is released.
func (p *Packet) Writable() *Packet {
	if !p.Shared() {
		return p
	}
	c := p.Clone()
	p.Release()
	return c
}

// Clone returns a private copy of the packet (bytes, headroom, tailroom and
// metadata) with a reference count of one.
func (p *Packet) Clone() *Packet {
	pool := p.pool
	if pool == nil {
		pool = defaultPool
	}
	c := pool.get(p.head, p.Len(), len(p.buf)-p.tail)
	c.Meta = p.Meta
	c.reserve = p.reserve
	c.tail = c.head + copy(c.buf[c.head:], p.Bytes())
	return c
}

// Detach hands over the packet's payload as a slice the caller keeps: the
// buffer is not returned to the pool. The packet holds no buffer afterwards
// and must still be released. Detach is for handing large payloads to
// application code without a copy; it panics on a shared packet.
func (p *Packet) Detach() []byte {
	if p.Shared() {
		panic("stack: Packet.Detach on a shared packet")
	}
	b := p.buf[p.head:p.tail:p.tail]
	p.buf, p.head, p.tail, p.reserve = nil, 0, 0, 0
	p.class = -1
	return b
}

const defaultSlack = 64

// regrow moves the packet to a buffer with at least extraHead more bytes of
// headroom and extraTail more bytes of tailroom.
func (p *Packet) regrow(extraHead, extraTail int) {
	pool := p.pool
	if pool == nil {
		pool = defaultPool
	}
	pool.grown.Add(1)
	newHead := p.head + extraHead
	need := newHead + p.Len() + (len(p.buf) - p.tail) + extraTail
	buf, class := pool.buffer(need)
	n := copy(buf[newHead:], p.buf[p.head:p.tail])
	// The old buffer is left to the garbage collector: this is the slow path
	// of a layer that under-declared its overhead, and it is counted.
	p.buf, p.class = buf, class
	p.head, p.tail = newHead, newHead+n
}
