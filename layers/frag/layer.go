package frag

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/rwanda-go/rwanda/stack"
)

// ErrTooLarge is returned by Down for a parcel larger than
// [Config.Largest] (Config.Max and [HeaderAllowance]).
var ErrTooLarge = errors.New("frag: parcel too large")

// Layer splits parcels larger than the room under the MTU into fragments
// and reassembles them at the receiver, delivering each parcel whole or not
// at all. Create one with [New] (or from a QoS string through the registry);
// a Layer serves one stack.
type Layer struct {
	stack.Base
	cfg     Config
	frag    int // payload bytes per fragment of a parcel without key or frame id
	whole   int // largest parcel without key or frame id sent in one packet
	next    uint32
	r       *reassembler
	timerAt time.Time

	// SetMTU's: the MTU it set (0: none), the one frag and whole were
	// last worked out for, and the MTU Bind worked them out for.
	limit   atomic.Int64
	limitAt int64
	bindMTU int
}

// New returns a frag layer with the given configuration.
func New(cfg Config) (*Layer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Layer{cfg: cfg}, nil
}

// Name returns "frag".
func (l *Layer) Name() string { return "frag" }

// Overhead is the fragment header's length.
func (l *Layer) Overhead() int { return HeaderLen }

// Capabilities declares fragmentation.
func (l *Layer) Capabilities() stack.Capabilities {
	return stack.Capabilities{Provides: []stack.Capability{stack.CapFragmentation}}
}

// Config returns the layer's configuration.
func (l *Layer) Config() Config { return l.cfg }

// FragmentSize is the payload of each fragment but the last of a parcel
// with no key and no frame id, known once the layer is bound. A parcel
// with either uses fragments [stack.RelayExtra] bytes smaller, so that
// fragment and relay metadata still fit the MTU.
func (l *Layer) FragmentSize() int { return l.frag }

// maxRelayExtra is the most relay metadata a parcel's key and frame id add
// beyond stack.RelayBase, which the channel reserves in every datagram.
const maxRelayExtra = stack.MaxRelayLen - stack.RelayBase

// sizesFor returns, once the layer is bound, the payload of each fragment
// but the last of a parcel whose metadata is m, and the largest such
// parcel sent whole. Both leave room for the relay metadata m's key and
// frame id add to every datagram (stack.RelayExtra), so that packet and
// metadata still fit the MTU. When that would leave fragments under
// [MinFragment] (possible only with less than MinFragment + 75 bytes of
// room per fragment), fragments stay MinFragment bytes and such a
// parcel's datagrams may exceed the MTU by the difference.
func (l *Layer) sizesFor(m *stack.Meta) (fragment, whole int) {
	extra := stack.RelayExtra(m)
	if extra == 0 {
		return l.frag, l.whole
	}
	fragment = max(l.frag-extra, MinFragment)
	// At least a fragment's size, so a parcel split has two fragments or
	// more.
	whole = max(l.whole-extra, fragment)
	return fragment, whole
}

// Bind works out the fragment size from the MTU and the headers below, and
// refuses an MTU that leaves less than [MinFragment] bytes per fragment.
func (l *Layer) Bind(b stack.Binding) error {
	mtu := b.MTU
	if l.cfg.MTU > 0 {
		if l.cfg.MTU > b.MTU {
			return fmt.Errorf("mtu %d exceeds the stack's MTU of %d", l.cfg.MTU, b.MTU)
		}
		mtu = l.cfg.MTU
	}
	room := mtu - b.Below - HeaderLen
	if room < MinFragment {
		return fmt.Errorf("mtu %d leaves %d bytes per fragment after %d bytes of headers below and %d of its own; at least %d are needed",
			mtu, room, b.Below, HeaderLen, MinFragment)
	}
	l.bindMTU = mtu
	l.frag = min(room, MaxFragmentSize)
	l.whole = mtu - b.Below - WholeLen
	l.limitAt = 0 // a SetMTU limit applies from the first parcel (Down)
	// The largest parcel (Max and the header allowance) with the longest
	// key and frame id must still fit in MaxFragments of the smaller
	// fragments it then uses.
	worst := max(l.frag-maxRelayExtra, MinFragment)
	if n := (l.cfg.Largest() + int64(worst) - 1) / int64(worst); n > MaxFragments {
		return fmt.Errorf("max %d (and %d bytes of headers) would need %d fragments of %d bytes (with the longest key and frame id), more than %d: raise mtu or lower max",
			l.cfg.Max, HeaderAllowance, n, worst, MaxFragments)
	}
	l.r = newReassembler(l.cfg, b.Pool, b.Memory, func(reason string, n uint64) {
		for range n {
			b.Drop(nil, reason)
		}
	})
	return l.Base.Bind(b)
}

// SetMTU lowers the largest packet the layer sends, headers below
// included, to mtu for the parcels it cuts from now on: when the path
// turns out to carry less than the stack's MTU. An mtu at or above the
// one the layer was bound with (its mtu parameter, or the stack's)
// restores that. Fragments already sent keep their size: a reliable
// layer below resends them as they were. The fragment size stays at least
// [MinFragment], and large enough that the largest parcel needs at most
// [MaxFragments]; at a smaller mtu packets exceed it. SetMTU may be called
// from any goroutine, also while the layer sends.
func (l *Layer) SetMTU(mtu int) { l.limit.Store(int64(max(mtu, 1))) }

// resize works out frag and whole for SetMTU's limit (see SetMTU), from
// what Bind worked out for the stack's MTU.
func (l *Layer) resize(limit int64, below int) {
	l.limitAt = limit
	mtu := l.bindMTU
	if limit < int64(mtu) {
		mtu = int(limit)
	}
	bindFrag := min(l.bindMTU-below-HeaderLen, MaxFragmentSize)
	// At least what Bind's check allows: the largest parcel, with the
	// longest key and frame id, in MaxFragments fragments.
	floor := int((l.cfg.Largest()+MaxFragments-1)/MaxFragments) + maxRelayExtra
	floor = min(max(floor, MinFragment), bindFrag)
	l.frag = min(max(mtu-below-HeaderLen, floor), bindFrag)
	l.whole = max(mtu-below-WholeLen, l.frag)
}

// Down sends a parcel whole when it fits, else as fragments, leaving room
// for the relay metadata of its key and frame id (see sizesFor).
// Every fragment carries the parcel's metadata.
func (l *Layer) Down(p *stack.Packet) error {
	if lim := l.limit.Load(); lim != l.limitAt {
		l.resize(lim, l.Binding().Below)
	}
	n := p.Len()
	size, whole := l.sizesFor(&p.Meta)
	if n <= whole {
		p.Push(WholeLen)[0] = kindWhole
		return l.Base.Down(p)
	}
	defer p.Release()
	if int64(n) > l.cfg.Largest() {
		l.Binding().Drop(nil, dropTooLarge)
		return fmt.Errorf("%w: %d bytes, over frag's max of %d and %d bytes of headers; raise frag(max=...) in the QoS",
			ErrTooLarge, n, l.cfg.Max, HeaderAllowance)
	}
	b := l.Binding()
	count := (n + size - 1) / size
	h := Header{Parcel: l.next, Count: uint16(count), Size: uint16(size)}
	l.next++
	data := p.Bytes()
	for i := range count {
		chunk := data[i*size : min((i+1)*size, n)]
		q := b.NewPacket(len(chunk))
		q.Meta = p.Meta
		q.Append(chunk)
		h.Index = uint16(i)
		h.put(q.Push(HeaderLen))
		if err := l.Base.Down(q); err != nil {
			return err
		}
	}
	b.Count("parcels-split", 1)
	b.Count("fragments-sent", uint64(count))
	return nil
}

// Up passes whole parcels on and reassembles fragments; malformed packets
// are dropped and counted.
func (l *Layer) Up(p *stack.Packet) error {
	b := l.Binding()
	if p.Meta.Flags&stack.FlagSkip != 0 {
		p.Release() // a skip marker no order layer consumed: nothing to reassemble
		return nil
	}
	h, whole, err := Decode(p.Bytes())
	if err != nil {
		b.Drop(p, dropMalformed)
		return nil
	}
	if whole {
		p.Consume(WholeLen)
		return l.Base.Up(p)
	}
	p.Consume(HeaderLen)
	done := l.r.add(h, p, b.Now())
	l.arm()
	if done == nil {
		return nil
	}
	b.Count("parcels-reassembled", 1)
	return l.Base.Up(done)
}

// OnTimer expires incomplete parcels.
func (l *Layer) OnTimer(now time.Time) {
	l.timerAt = time.Time{}
	l.r.expire(now)
	l.arm()
}

// arm keeps the stack timer at the oldest incomplete parcel's expiry.
func (l *Layer) arm() {
	if d := l.r.deadline(); !d.Equal(l.timerAt) {
		l.timerAt = d
		l.Binding().SetTimer(d)
	}
}

// Incomplete is the number of parcels waiting for fragments.
func (l *Layer) Incomplete() int {
	if l.r == nil {
		return 0
	}
	return len(l.r.parts)
}

// Close discards incomplete parcels and returns their memory.
func (l *Layer) Close() error {
	if l.r != nil {
		l.r.close()
	}
	return nil
}
