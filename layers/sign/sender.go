package sign

import (
	"encoding/binary"
	"time"

	"github.com/rwanda-go/rwanda/internal/varint"
	"github.com/rwanda-go/rwanda/posting"
	"github.com/rwanda-go/rwanda/stack"
)

// sender is the signing half: the sequence numbers and the batch waiting
// for its SIG.
type sender struct {
	seq     uint64 // the next sequence number
	first   uint64 // the batch's first sequence number
	count   int    // packets in the batch
	digests []byte // their digests, in order
	due     time.Time
	// What the batch's packets have in common, for the SIG: the member
	// they are all addressed to (0: not all the same one), and the latest
	// deadline when every packet has one.
	peer       uint64
	deadline   time.Time
	noDeadline bool
}

// seal stamps p's time left as of now and marks its relay metadata sealed
// (stack.FlagSealed: nothing below may restamp it), then returns its
// digest, which covers that metadata and the payload. A packet sent again
// (a retransmission from a layer above) is restamped and signed anew.
func (l *Layer) seal(p *stack.Packet, now time.Time) [DigestLen]byte {
	p.Meta.StampLeft(now)
	p.Meta.Flags |= stack.FlagSealed
	return l.dg.digest(&p.Meta, p.Bytes())
}

// sendSigned sends p as a SIGNED packet: its header carries the signature
// of the packet's digest.
func (l *Layer) sendSigned(p *stack.Packet) error {
	id, s := l.cfg.Identity, &l.snd
	fp, seq := id.Fingerprint(), s.seq
	d := l.seal(p, l.b.Now())
	salt := l.cfg.MemberSalt
	l.msg = appendMessage(l.msg[:0], &l.channel, l.flow, salt, fp, l.inst, seq, 1, d[:])
	sig := id.Sign(l.msg)
	h := p.Push(1 + fpLen + saltLen + varint.Len(l.inst) + varint.Len(seq) + SignatureLen)
	h[0] = kindSigned
	binary.BigEndian.PutUint64(h[1:], uint64(fp))
	binary.BigEndian.PutUint64(h[1+fpLen:], salt)
	off := 1 + fpLen + saltLen
	off += binary.PutUvarint(h[off:], l.inst)
	off += binary.PutUvarint(h[off:], seq)
	copy(h[off:], sig)
	s.seq++
	l.n.signed++
	return l.b.Down.Handle(p)
}

// sendData sends p at once as a DATA packet and keeps its digest for the
// batch's SIG, which goes out after Batch packets or Delay.
func (l *Layer) sendData(p *stack.Packet) error {
	s := &l.snd
	now := l.b.Now()
	d := l.seal(p, now)
	if s.count == 0 {
		s.first = s.seq
		s.due = now.Add(l.cfg.Delay)
		s.peer, s.deadline, s.noDeadline = p.Meta.Peer, p.Meta.Deadline, p.Meta.Deadline.IsZero()
	} else {
		if p.Meta.Peer != s.peer {
			s.peer = 0
		}
		if p.Meta.Deadline.IsZero() {
			s.noDeadline = true
		} else if p.Meta.Deadline.After(s.deadline) {
			s.deadline = p.Meta.Deadline
		}
	}
	s.digests = append(s.digests, d[:]...)
	s.count++
	seq := s.seq
	s.seq++
	h := p.Push(1 + varint.Len(seq))
	h[0] = kindData
	binary.PutUvarint(h[1:], seq)
	l.n.data++
	err := l.b.Down.Handle(p)
	if s.count >= l.cfg.Batch {
		l.flush()
	}
	l.arm()
	return err
}

// flush signs the batch and sends its SIG.
func (l *Layer) flush() {
	s := &l.snd
	if s.count == 0 {
		return
	}
	id := l.cfg.Identity
	fp, salt := id.Fingerprint(), l.cfg.MemberSalt
	l.msg = appendMessage(l.msg[:0], &l.channel, l.flow, salt, fp, l.inst, s.first, s.count, s.digests)
	sig := id.Sign(l.msg)

	var hb [1 + fpLen + saltLen + 3*maxUvarint]byte
	h := append(hb[:0], kindSig)
	h = binary.BigEndian.AppendUint64(h, uint64(fp))
	h = binary.BigEndian.AppendUint64(h, salt)
	h = binary.AppendUvarint(h, l.inst)
	h = binary.AppendUvarint(h, s.first)
	h = binary.AppendUvarint(h, uint64(s.count))
	q := l.b.NewPacket(sigLen(l.inst, s.first, s.count))
	q.Append(h)
	q.Append(s.digests)
	q.Append(sig)
	// A SIG's own relay metadata is fixed (media data, not droppable, no
	// key, no frame) and not sealed: the channel stamps its time left.
	// Its signature is a statement about the batch's digests, not about
	// the SIG's metadata; a relay that changes it can at most get the SIG
	// dropped, as it could drop the packet itself (doc.go).
	q.Meta.Flags = stack.FlagControl
	q.Meta.Media = posting.Data
	q.Meta.Peer = s.peer
	if !s.noDeadline {
		q.Meta.Deadline = s.deadline
	}
	s.count, s.digests = 0, s.digests[:0]
	s.peer, s.deadline = 0, time.Time{}
	l.n.sigs++
	l.b.Down.Handle(q) // a SIG that cannot be sent leaves its batch unverified, as a lost one would
}
