package channel

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rwanda-go/rwanda/stack"
	"github.com/rwanda-go/rwanda/transport"
)

// The outbox bundles frames into datagrams and writes them.
//
// One send syscall costs about 7 µs here, so small frames share datagrams,
// and runs of equal-size datagrams leave in one GSO call. Frames go into a
// train per destination; a datagram that ends within mtu/8 of the MTU is
// padded to the full MTU so that trains stay equal-size for GSO.
//
// Who writes: when the send path has been idle (no write ended within the
// last coalesceWindow), the goroutine that queued the frames writes them
// itself at once: the lowest latency, no hand-off. A pusher that comes
// back sooner than that is pushing in a loop; its frames queue up and the
// writer goroutine sends whatever has accumulated in one go while the
// pusher keeps encoding. Only one goroutine writes at a time, so datagrams
// leave in the order their frames were queued.
const coalesceWindow = 5 * time.Microsecond

// everyone is the destination of frames for all members.
const everyone uint64 = 0

type train struct {
	dst   uint64
	buf   []byte
	ends  []int  // end offset of each closed datagram
	open  int    // start of the open datagram in buf, or -1
	class bundle // what the open datagram holds
}

// bundle says which frames may share a datagram (DECISIONS §2): frames
// that are not droppable (the zero bundle) share with each other; a frame
// carrying a droppable packet shares only with frames of its own stream,
// frame id and latest-wins key, so a relay can drop a droppable datagram
// whole and a datagram of video holds at most one frame.
type bundle struct {
	droppable bool
	stream    uint32
	frame     uint64
	key       string
}

// bundleOf is the bundle of a packet of stream with metadata m.
func bundleOf(stream uint32, m *stack.Meta) bundle {
	if m.Flags&stack.FlagDroppable == 0 {
		return bundle{}
	}
	return bundle{droppable: true, stream: stream, frame: m.Frame(), key: m.Key()}
}

type outbox struct {
	// resolve gives the addresses of a destination (membership's);
	// send writes a run of n datagrams to one address.
	resolve func(dst uint64) []transport.Addr
	send    func(run []byte, seg int, dst transport.Addr, n int)
	mtu     int // for frames: the datagram MTU less the trailer, if any
	sender  uint64
	limit   int
	auth    *dgramAuth // keyed channels: seals each datagram

	mu        sync.Mutex
	trains    []*train // in order of first use since the last take
	spare     []*train // a taken batch's slice, back for the next trains
	byDst     map[uint64]*train
	free      []*train
	queued    int
	busy      bool
	lastEnd   time.Time
	closed    bool
	spaceWait chan struct{} // closed and replaced when room frees up, if waited on
	waiting   bool          // a pusher waits on spaceWait

	direct atomic.Int32 // goroutines inside a stack call that will flush

	// heard says a posting was delivered to the application, the first
	// of its read batch, since the last write ended (cleared at each
	// write's end): a push after it may answer it, and is no pusher in a
	// loop (flushPushed). batch counts the reader's batches, marked is
	// the last that set heard.
	heard         atomic.Bool
	batch, marked atomic.Uint64

	// noBundle puts every frame in a datagram of its own: a knob for
	// measuring what bundling is worth (benchmarks only).
	noBundle bool
	kick     chan struct{}
	done     chan struct{}
	exited   chan struct{}
}

// newOutbox starts the outbox of member sender for datagrams of mtu bytes,
// queueing at most limit bytes, sealed by auth when not nil.
func newOutbox(sender uint64, mtu int, limit int, auth *dgramAuth,
	resolve func(uint64) []transport.Addr, send func([]byte, int, transport.Addr, int)) *outbox {
	if auth != nil {
		mtu -= authLen
	}
	o := &outbox{
		resolve: resolve, send: send, mtu: mtu, sender: sender, limit: limit, auth: auth,
		byDst:     make(map[uint64]*train),
		spaceWait: make(chan struct{}),
		kick:      make(chan struct{}, 1),
		done:      make(chan struct{}),
		exited:    make(chan struct{}),
	}
	go o.writer()
	return o
}

// setMTU lowers the size of the datagrams the outbox makes from now on to
// mtu (the transport's datagram MTU). Datagrams already closed keep
// theirs; a frame larger than the new size (cut by a stack for the old
// one: a retransmission, say) still goes, alone in a datagram, which the
// transport sends in pieces.
func (o *outbox) setMTU(mtu int) {
	if o.auth != nil {
		mtu -= authLen
	}
	o.mu.Lock()
	o.mtu = mtu
	o.mu.Unlock()
}

// add queues one frame for dst: hdr (already encoded) then payload, in a
// datagram of its bundle.
func (o *outbox) add(dst uint64, class bundle, hdr, payload []byte) {
	n := len(hdr) + len(payload)
	o.mu.Lock()
	t := o.byDst[dst]
	if t == nil {
		t = o.newTrain(dst)
	}
	if t.open >= 0 && (o.noBundle || len(t.buf)-t.open+n > o.mtu || t.class != class) {
		o.closeDatagram(t)
	}
	if t.open < 0 {
		t.open = len(t.buf)
		t.class = class
		if o.auth != nil {
			t.buf = appendKeyedHeader(t.buf, o.sender)
		} else {
			t.buf = appendDgramHeader(t.buf, o.sender)
		}
		o.queued += dgramHeaderLen
	}
	t.buf = append(t.buf, hdr...)
	t.buf = append(t.buf, payload...)
	o.queued += n
	o.mu.Unlock()
}

// full reports whether the queue is over its limit.
func (o *outbox) full() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.queued >= o.limit
}

// waitRoom blocks until the queue is under its limit or ctx is done.
func (o *outbox) waitRoom(ctx context.Context) error {
	for {
		o.mu.Lock()
		if o.closed {
			o.mu.Unlock()
			return ErrClosed
		}
		if o.queued < o.limit {
			o.mu.Unlock()
			return nil
		}
		w := o.spaceWait
		o.waiting = true
		o.mu.Unlock()
		select {
		case <-w:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (o *outbox) newTrain(dst uint64) *train {
	var t *train
	if n := len(o.free); n > 0 {
		t, o.free = o.free[n-1], o.free[:n-1]
	} else {
		// Small: a train to a member that gets one small frame (a query,
		// an ack) must not cost a GSO train's buffer, and there may be a
		// train for each of thousands of members. Busy trains grow by
		// append and are recycled through o.free.
		t = &train{buf: make([]byte, 0, min(o.mtu+authLen, 2048))}
	}
	t.dst, t.buf, t.ends, t.open, t.class = dst, t.buf[:0], t.ends[:0], -1, bundle{}
	o.byDst[dst] = t
	o.trains = append(o.trains, t)
	return t
}

// closeDatagram ends t's open datagram, padding it to the MTU when that
// costs little, so runs of datagrams have one size for GSO.
func (o *outbox) closeDatagram(t *train) {
	if t.open < 0 {
		return
	}
	l := len(t.buf) - t.open
	if pad := o.mtu - l; pad > 0 && pad <= o.mtu/8 {
		t.buf = append(t.buf, framePad)
		t.buf = append(t.buf, make([]byte, pad-1)...)
		o.queued += pad
	}
	if o.auth != nil {
		t.buf = o.auth.seal(t.buf, t.open)
		o.queued += authLen
	}
	t.ends = append(t.ends, len(t.buf))
	t.open = -1
}

// flushNow writes what is queued: on this goroutine when the path is idle
// (no write ended within coalesceWindow) and direct is allowed, else by
// waking the writer goroutine.
func (o *outbox) flushNow(direct bool) {
	o.mu.Lock()
	if o.queued == 0 || o.busy {
		o.mu.Unlock()
		return
	}
	if !direct || o.coalesce(time.Now(), false) {
		o.mu.Unlock()
		o.wake()
		return
	}
	o.writeLocked()
}

// flushPushed is flushNow(true) for a push: written at once also when a
// write ended within coalesceWindow if since then a read batch delivered
// a posting. A push from a subscriber's callback (a round trip's reply)
// is no pusher in a loop, though the write before it may have ended a
// moment ago: a write can end late, its sender preempted in the system
// call by the receiver it woke, with the answer there when it returns.
// Only a batch's first delivery counts, so replies to a batch of requests
// still go in one write after the first; a pusher that only reads
// acknowledgements, and flushes of what the stacks queue while reading,
// keep flushNow's rule.
func (o *outbox) flushPushed() {
	o.mu.Lock()
	if o.queued == 0 || o.busy {
		o.mu.Unlock()
		return
	}
	if o.coalesce(time.Now(), true) {
		o.mu.Unlock()
		o.wake()
		return
	}
	o.writeLocked()
}

// coalesce reports whether a flush at now should leave the write to the
// writer goroutine: a write ended within coalesceWindow (a pusher in a
// loop), and, for a push (pushed), no read batch delivered a posting
// since. o.mu is held.
func (o *outbox) coalesce(now time.Time, pushed bool) bool {
	return now.Sub(o.lastEnd) < coalesceWindow && !(pushed && o.heard.Load())
}

// readBatch notes that the reader began a batch (see flushPushed).
func (o *outbox) readBatch() { o.batch.Add(1) }

// deliver notes a posting delivered to the application: the first of
// its batch sets heard (see flushPushed).
func (o *outbox) deliver() {
	if b := o.batch.Load(); o.marked.Load() != b {
		o.marked.Store(b)
		o.heard.Store(true)
	}
}

// writeLocked takes what is queued and writes it outside the lock. It is
// called with o.mu held, something queued and no write in progress, and
// returns with o.mu released.
func (o *outbox) writeLocked() {
	o.busy = true
	batch := o.takeLocked()
	o.mu.Unlock()
	o.write(batch)
	o.finish(batch)
}

// flushHook is the stacks' Flush hook: frames queued by a timer, with no
// goroutine about to flush, wake the writer.
func (o *outbox) flushHook() {
	if o.direct.Load() == 0 {
		o.wake()
	}
}

func (o *outbox) wake() {
	select {
	case o.kick <- struct{}{}:
	default:
	}
}

// takeLocked hands over the queued trains, their open datagrams closed.
func (o *outbox) takeLocked() []*train {
	batch := o.trains
	for _, t := range batch {
		o.closeDatagram(t)
		delete(o.byDst, t.dst)
	}
	o.trains, o.spare = o.spare[:0], nil
	o.queued = 0
	return batch
}

// finish recycles a written batch and lets waiting pushers in.
func (o *outbox) finish(batch []*train) {
	o.mu.Lock()
	for i, t := range batch {
		if len(o.free) < 32 && cap(t.buf) <= 4*o.limit {
			o.free = append(o.free, t)
		}
		batch[i] = nil
	}
	if o.spare == nil {
		o.spare = batch[:0]
	}
	o.busy = false
	o.lastEnd = time.Now() // a performance heuristic, not protocol time
	o.heard.Store(false)
	more := o.queued > 0
	if o.waiting {
		o.waiting = false
		close(o.spaceWait)
		o.spaceWait = make(chan struct{})
	}
	o.mu.Unlock()
	if more {
		o.wake()
	}
}

// writer is the goroutine that writes when pushers are busy.
func (o *outbox) writer() {
	defer close(o.exited)
	for {
		select {
		case <-o.kick:
		case <-o.done:
			return
		}
		for {
			o.mu.Lock()
			if o.queued == 0 || o.busy {
				o.mu.Unlock()
				break
			}
			o.writeLocked()
		}
	}
}

// write sends each train as runs of equal-size datagrams (a shorter last
// one allowed), one transport call per run and destination.
func (o *outbox) write(batch []*train) {
	for _, t := range batch {
		dsts := o.resolve(t.dst)
		start := 0
		for i := 0; i < len(t.ends); {
			seg := t.ends[i] - start
			j := i + 1
			prev := t.ends[i]
			for j < len(t.ends) {
				l := t.ends[j] - prev
				if l > seg {
					break
				}
				prev = t.ends[j]
				j++
				if l < seg {
					break
				}
			}
			run := t.buf[start:prev]
			if j-i == 1 {
				seg = 0
			}
			for _, d := range dsts {
				o.send(run, seg, d, j-i)
			}
			start, i = prev, j
		}
	}
}

// close stops the writer after writing what is queued.
func (o *outbox) close() {
	o.flushNow(true)
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return
	}
	o.closed = true
	close(o.spaceWait)
	o.spaceWait = make(chan struct{})
	o.mu.Unlock()
	close(o.done)
	<-o.exited
	// A flush may have been left to the writer just before it stopped, or
	// to a write in progress (the reader's) that finds the writer gone:
	// wait for that write, so the goodbye queued by Close is written.
	o.mu.Lock()
	if o.busy && o.queued > 0 {
		o.waiting = true
		w := o.spaceWait
		o.mu.Unlock()
		<-w
		o.mu.Lock()
	}
	if o.busy || o.queued == 0 {
		o.mu.Unlock()
		return
	}
	o.writeLocked()
}
