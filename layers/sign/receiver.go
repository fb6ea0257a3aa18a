package sign

import (
	"crypto/ed25519"
	"time"

	"github.com/rwanda-go/rwanda/keys"
	"github.com/rwanda-go/rwanda/stack"
)

// Drop reasons, counted in the stack's statistics.
const (
	dropUnsigned     = "unsigned"      // not a packet of this layer (a sender without sign), or feedback on the data path
	dropMalformed    = "malformed"     // a header of this layer that does not parse
	dropUntrusted    = "untrusted"     // signed by a key not in the trust set
	dropWrongSigner  = "wrong-signer"  // signed by a trusted key other than the one pinned on the flow
	dropWrongMember  = "wrong-member"  // signed by a trusted key that does not speak for the flow's member id
	dropBadSignature = "bad-signature" // the signature does not verify
	dropBadDigest    = "bad-digest"    // a packet whose digest is not the one its verified SIG lists
	dropReplay       = "replay"        // a sequence number delivered before, or too old to tell
	dropStale        = "stale"         // signed by an older stack of the sender than the one pinned
	dropDuplicate    = "duplicate"     // a copy of a packet already held, or a SIG with nothing new
	dropExpired      = "expired"       // held longer than the timeout without a signature
	dropEvicted      = "evicted"       // held, and pushed out by newer packets (hold or packets bound)
	dropTooLarge     = "too-large"     // a packet larger than the whole hold
	dropNoMemory     = "no-memory"     // the channel's shared memory budget refused it
	dropUnexpected   = "unexpected"    // anything but feedback arriving at a sender's stack
)

// heldOverhead is what a held packet costs besides its buffer: the packet
// and bookkeeping structs, the map entry.
const heldOverhead = 256

// maxFree bounds the recycled bookkeeping entries kept.
const maxFree = 256

// replayBits is the width of the replay window, in sequence numbers.
const replayBits = 4096

// held is a packet waiting for its signature.
type held struct {
	p    *stack.Packet // header consumed
	seq  uint64
	d    [DigestLen]byte
	at   time.Time
	cost int64
	next *held // another candidate with the same sequence number
	gone bool  // released or dropped; still queued in fifo
}

// memo is the digest of a packet whose SIG verified before it arrived.
type memo struct {
	seq  uint64
	d    [DigestLen]byte
	at   time.Time
	gone bool
}

// receiver is the verifying half.
type receiver struct {
	cfg    Config
	byseq  map[uint64]*held // candidates by sequence number
	fifo   []*held          // in arrival order, with gone entries
	fhead  int
	count  int   // live held packets
	bytes  int64 // their cost
	memos  map[uint64]*memo
	mfifo  []*memo
	mhead  int
	free   []*held
	replay replayWindow
	// The signer and the sender's stack instance, pinned by the first
	// signature that verified.
	pinned bool
	signer keys.Fingerprint
	inst   uint64
	warned bool // "untrusted-signer" reported
	// The binding of the flow's member id last checked true: this key
	// with this salt gives the member id (keys.MemberID), so later
	// packets cost a comparison, not a SHA-256.
	bound     bool
	boundKey  [ed25519.PublicKeySize]byte
	boundSalt uint64
	misbound  bool            // "wrong-member" reported
	out       []*stack.Packet // verified, to pass up at the end of the call
	spare     []*stack.Packet // out's other buffer
	scr       [DigestLen]byte // scratch digest
}

func (r *receiver) init(cfg Config) {
	r.cfg = cfg
	r.byseq = make(map[uint64]*held)
	r.memos = make(map[uint64]*memo)
}

// signerKey returns the key to verify a signature by fp, bound to the
// flow's member id with salt, with, or the reason to drop the packet.
func (l *Layer) signerKey(fp keys.Fingerprint, salt, inst uint64) (ed25519.PublicKey, string) {
	r := &l.rcv
	if r.pinned && fp != r.signer {
		return nil, dropWrongSigner
	}
	k, ok := l.cfg.Trusted.Lookup(fp)
	if !ok {
		if !r.warned {
			r.warned = true
			l.b.Emit(stack.Event{Kind: "untrusted-signer", Detail: "signer " + fp.String() + " is not trusted"})
		}
		return nil, dropUntrusted
	}
	if !l.speaksFor(k, salt) {
		if !r.misbound {
			r.misbound = true
			l.b.Emit(stack.Event{Kind: "wrong-member", Detail: "signer " + fp.String() + " does not speak for this member"})
		}
		return nil, dropWrongMember
	}
	if r.pinned && inst < r.inst {
		return nil, dropStale
	}
	return k, ""
}

// speaksFor reports whether key k with salt gives the flow's member id
// (keys.MemberID), so that a signer speaks only for its own member. The
// last binding found true is cached: one SHA-256 per flow, not per packet.
// Salt 0 is an unbound signature, accepted only outside a channel (doc.go,
// "Member ids bound to keys").
func (l *Layer) speaksFor(k ed25519.PublicKey, salt uint64) bool {
	r := &l.rcv
	if salt == 0 {
		return l.cfg.Channel == ""
	}
	if r.bound && salt == r.boundSalt && string(k) == string(r.boundKey[:]) {
		return true
	}
	if keys.MemberID(k, salt) != l.flow.member {
		return false
	}
	r.bound, r.boundSalt = true, salt
	copy(r.boundKey[:], k)
	return true
}

// accept records a verified signature: the first pins the flow's signer;
// a newer instance of the sender's stack starts a new sequence space.
func (l *Layer) accept(fp keys.Fingerprint, inst uint64) {
	r := &l.rcv
	l.n.signatures++
	switch {
	case !r.pinned:
		r.pinned, r.signer, r.inst = true, fp, inst
		l.b.Emit(stack.Event{Kind: "signer", Detail: "signer " + fp.String() + " verified"})
	case inst > r.inst:
		r.inst = inst
		r.replay = replayWindow{}
		for _, m := range r.memos {
			m.gone = true
		}
		clear(r.memos)
	}
}

// onSigned verifies a SIGNED packet and delivers it.
func (l *Layer) onSigned(p *stack.Packet) {
	r := &l.rcv
	h, ok := decodeSigned(p.Bytes())
	if !ok {
		l.b.Drop(p, dropMalformed)
		return
	}
	key, why := l.signerKey(h.fp, h.salt, h.inst)
	if why != "" {
		l.b.Drop(p, why)
		return
	}
	if r.pinned && h.inst == r.inst && r.replay.seen(h.first) {
		l.b.Drop(p, dropReplay)
		return
	}
	d := l.dg.digest(&p.Meta, p.Bytes()[h.n:])
	l.msg = appendMessage(l.msg[:0], &l.channel, l.flow, h.salt, h.fp, h.inst, h.first, 1, d[:])
	if !ed25519.Verify(key, l.msg, h.sig) {
		l.b.Drop(p, dropBadSignature)
		return
	}
	l.accept(h.fp, h.inst)
	r.replay.mark(h.first)
	p.Consume(h.n)
	l.n.verified++
	r.out = append(r.out, p)
}

// onData delivers a DATA packet whose SIG has verified already, or holds
// it until its SIG comes.
func (l *Layer) onData(p *stack.Packet) {
	r := &l.rcv
	seq, n, ok := decodeData(p.Bytes())
	if !ok {
		l.b.Drop(p, dropMalformed)
		return
	}
	if r.pinned && r.replay.seen(seq) {
		l.b.Drop(p, dropReplay)
		return
	}
	p.Consume(n)
	d := l.dg.digest(&p.Meta, p.Bytes())
	if m := r.memos[seq]; m != nil {
		if m.d != d {
			l.b.Drop(p, dropBadDigest)
			return
		}
		m.gone = true
		delete(r.memos, seq)
		l.dropCandidates(seq, nil, dropBadDigest)
		r.replay.mark(seq)
		l.n.verified++
		r.out = append(r.out, p)
		return
	}
	for c := r.byseq[seq]; c != nil; c = c.next {
		if c.d == d {
			l.b.Drop(p, dropDuplicate)
			return
		}
	}
	cost := int64(p.Headroom()+p.Len()+p.Tailroom()) + heldOverhead
	if cost > r.cfg.Hold {
		l.b.Drop(p, dropTooLarge)
		return
	}
	for r.count > 0 && (r.count >= r.cfg.Packets || r.bytes+cost > r.cfg.Hold) {
		l.evictOldest()
	}
	for !l.b.Memory.Reserve(cost) {
		if r.count == 0 {
			l.b.Drop(p, dropNoMemory)
			return
		}
		l.evictOldest()
	}
	var e *held
	if k := len(r.free); k > 0 {
		e, r.free = r.free[k-1], r.free[:k-1]
	} else {
		e = new(held)
	}
	*e = held{p: p, seq: seq, d: d, at: l.b.Now(), cost: cost, next: r.byseq[seq]}
	r.byseq[seq] = e
	r.fifo = append(r.fifo, e)
	r.count++
	r.bytes += cost
}

// onSig verifies a SIG and releases, in sequence order, the held packets
// whose digests it lists; it remembers the digests of those not arrived.
func (l *Layer) onSig(p *stack.Packet) {
	r := &l.rcv
	h, ok := decodeSig(p.Bytes())
	if !ok {
		l.b.Drop(p, dropMalformed)
		return
	}
	key, why := l.signerKey(h.fp, h.salt, h.inst)
	if why != "" {
		l.b.Drop(p, why)
		return
	}
	if r.pinned && h.inst == r.inst && l.nothingNew(&h) {
		l.b.Drop(p, dropDuplicate)
		return
	}
	l.msg = appendMessage(l.msg[:0], &l.channel, l.flow, h.salt, h.fp, h.inst, h.first, h.count, h.digests)
	if !ed25519.Verify(key, l.msg, h.sig) {
		l.b.Drop(p, dropBadSignature)
		return
	}
	l.accept(h.fp, h.inst)
	now := l.b.Now()
	for i := range h.count {
		seq := h.first + uint64(i)
		copy(r.scr[:], h.digests[i*DigestLen:])
		if r.replay.seen(seq) {
			l.dropCandidates(seq, nil, dropReplay)
			continue
		}
		var match *held
		for c := r.byseq[seq]; c != nil; c = c.next {
			if c.d == r.scr {
				match = c
				break
			}
		}
		if match == nil {
			l.dropCandidates(seq, nil, dropBadDigest)
			l.remember(seq, r.scr, now)
			continue
		}
		q := match.p
		l.dropCandidates(seq, match, dropBadDigest)
		l.unhold(match)
		r.replay.mark(seq)
		l.n.verified++
		r.out = append(r.out, q)
	}
	p.Release()
}

// nothingNew reports whether every packet a SIG covers was delivered or
// has its digest remembered already: a repeated SIG, not worth verifying.
func (l *Layer) nothingNew(h *sigHeader) bool {
	r := &l.rcv
	for i := range h.count {
		seq := h.first + uint64(i)
		if r.replay.seen(seq) {
			continue
		}
		m := r.memos[seq]
		if m == nil || string(m.d[:]) != string(h.digests[i*DigestLen:(i+1)*DigestLen]) {
			return false
		}
	}
	return true
}

// dropCandidates drops the held packets with sequence number seq, but
// keep, for reason.
func (l *Layer) dropCandidates(seq uint64, keep *held, reason string) {
	r := &l.rcv
	for c := r.byseq[seq]; c != nil; {
		next := c.next
		if c != keep {
			p := c.p
			l.unhold(c)
			l.b.Drop(p, reason)
		}
		c = next
	}
}

// unhold takes e out of the hold (its packet is the caller's).
func (l *Layer) unhold(e *held) {
	r := &l.rcv
	if head := r.byseq[e.seq]; head == e {
		if e.next == nil {
			delete(r.byseq, e.seq)
		} else {
			r.byseq[e.seq] = e.next
		}
	} else {
		for c := head; c != nil; c = c.next {
			if c.next == e {
				c.next = e.next
				break
			}
		}
	}
	l.b.Memory.Release(e.cost)
	r.count--
	r.bytes -= e.cost
	e.p, e.next, e.gone = nil, nil, true
	r.compact()
}

// front returns the oldest live held packet, recycling the gone entries
// before it, or nil.
func (r *receiver) front() *held {
	for r.fhead < len(r.fifo) {
		e := r.fifo[r.fhead]
		if !e.gone {
			return e
		}
		r.fifo[r.fhead] = nil
		r.fhead++
		if len(r.free) < maxFree {
			r.free = append(r.free, e)
		}
	}
	r.fifo, r.fhead = r.fifo[:0], 0
	return nil
}

// compact removes gone entries from the queues when they outnumber the
// live ones, so that a packet held long does not pin the memory of all
// those resolved after it.
func (r *receiver) compact() {
	if n := len(r.fifo) - r.fhead; n > 64 && n > 4*r.count {
		kept := r.fifo[:0]
		for _, e := range r.fifo[r.fhead:] {
			if e.gone {
				if len(r.free) < maxFree {
					r.free = append(r.free, e)
				}
			} else {
				kept = append(kept, e)
			}
		}
		clear(r.fifo[len(kept):])
		r.fifo, r.fhead = kept, 0
	}
	if n := len(r.mfifo) - r.mhead; n > 64 && n > 4*len(r.memos) {
		kept := r.mfifo[:0]
		for _, m := range r.mfifo[r.mhead:] {
			if !m.gone {
				kept = append(kept, m)
			}
		}
		clear(r.mfifo[len(kept):])
		r.mfifo, r.mhead = kept, 0
	}
}

// evictOldest drops the oldest held packet.
func (l *Layer) evictOldest() {
	if e := l.rcv.front(); e != nil {
		p := e.p
		l.unhold(e)
		l.b.Drop(p, dropEvicted)
	}
}

// remember keeps the digest of a signed packet not arrived yet.
func (l *Layer) remember(seq uint64, d [DigestLen]byte, now time.Time) {
	r := &l.rcv
	if m := r.memos[seq]; m != nil {
		m.d, m.at = d, now
		return
	}
	for len(r.memos) >= r.cfg.Packets {
		m := r.mfront()
		if m == nil {
			break
		}
		l.forget(m)
	}
	m := &memo{seq: seq, d: d, at: now}
	r.memos[seq] = m
	r.mfifo = append(r.mfifo, m)
}

// mfront returns the oldest remembered digest, or nil.
func (r *receiver) mfront() *memo {
	for r.mhead < len(r.mfifo) {
		m := r.mfifo[r.mhead]
		if !m.gone {
			return m
		}
		r.mfifo[r.mhead] = nil
		r.mhead++
	}
	r.mfifo, r.mhead = r.mfifo[:0], 0
	return nil
}

// forget drops a remembered digest whose packet never came (lost, or sent
// to another member).
func (l *Layer) forget(m *memo) {
	m.gone = true
	delete(l.rcv.memos, m.seq)
	l.b.Count("unclaimed", 1)
}

// expire drops the packets held, and forgets the digests kept, for longer
// than the timeout.
func (l *Layer) expire(now time.Time) {
	r := &l.rcv
	limit := now.Add(-r.cfg.Timeout)
	for e := r.front(); e != nil && !e.at.After(limit); e = r.front() {
		p := e.p
		l.unhold(e)
		l.b.Drop(p, dropExpired)
	}
	for m := r.mfront(); m != nil && !m.at.After(limit); m = r.mfront() {
		l.forget(m)
	}
	r.compact()
}

// deadline is when the oldest held packet or remembered digest expires.
func (r *receiver) deadline(timeout time.Duration) time.Time {
	var t time.Time
	if e := r.front(); e != nil {
		t = e.at.Add(timeout)
	}
	if m := r.mfront(); m != nil {
		if mt := m.at.Add(timeout); t.IsZero() || mt.Before(t) {
			t = mt
		}
	}
	return t
}

// deliver passes the verified packets up, in the order they were
// verified.
func (l *Layer) deliver() {
	r := &l.rcv
	if len(r.out) == 0 {
		return
	}
	out := r.out
	r.out = r.spare[:0]
	for i, p := range out {
		l.b.Up.Handle(p)
		out[i] = nil
	}
	r.spare = out[:0]
}

// close releases every held packet.
func (r *receiver) close(mem *stack.Budget) {
	for _, e := range r.fifo[r.fhead:] {
		if !e.gone {
			mem.Release(e.cost)
			e.p.Release()
			e.p, e.gone = nil, true
		}
	}
	for _, p := range r.out {
		p.Release()
	}
	r.fifo, r.fhead, r.byseq, r.count, r.bytes = nil, 0, nil, 0, 0
	r.out, r.free, r.memos, r.mfifo, r.mhead = nil, nil, nil, nil, 0
}

// replayWindow remembers which of the last replayBits sequence numbers
// were delivered; anything older counts as delivered.
type replayWindow struct {
	any  bool
	top  uint64
	bits [replayBits / 64]uint64
}

func (w *replayWindow) seen(seq uint64) bool {
	if !w.any || seq > w.top {
		return false
	}
	if w.top-seq >= replayBits {
		return true
	}
	return w.bits[seq/64%(replayBits/64)]&(1<<(seq%64)) != 0
}

func (w *replayWindow) mark(seq uint64) {
	switch {
	case !w.any:
		w.any, w.top, w.bits = true, seq, [replayBits / 64]uint64{}
	case seq > w.top:
		if seq-w.top >= replayBits {
			w.bits = [replayBits / 64]uint64{}
		} else {
			for s := w.top + 1; s <= seq; s++ {
				w.bits[s/64%(replayBits/64)] &^= 1 << (s % 64)
			}
		}
		w.top = seq
	case w.top-seq >= replayBits:
		return
	}
	w.bits[seq/64%(replayBits/64)] |= 1 << (seq % 64)
}
