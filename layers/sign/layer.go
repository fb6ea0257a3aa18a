package sign

import (
	"errors"
	"fmt"
	"time"

	"github.com/rwanda-go/rwanda/keys"
	"github.com/rwanda-go/rwanda/stack"
)

// Errors returned by Bind when a stack lacks the keys its role needs.
var (
	// ErrNoIdentity: a sender's stack has no key to sign with.
	ErrNoIdentity = errors.New("sign: the channel has no identity: use channel.WithIdentity")
	// ErrNoTrust: a receiver's stack has no set of trusted keys.
	ErrNoTrust = errors.New("sign: the channel trusts no keys: use channel.WithTrusted")
	// ErrNoMemberSalt: a sender's stack on a channel (Config.Channel set)
	// has no member salt to bind its signatures to its member id.
	ErrNoMemberSalt = errors.New("sign: a sender on a channel needs the salt its member id was derived with (Config.MemberSalt, registry.Env's MemberSalt)")
)

// Layer is the source-authentication layer. One Layer serves one stack: a
// sender's stack signs what it sends and passes feedback up; a receiver's
// stack verifies what it receives and passes feedback down.
type Layer struct {
	b       stack.Binding
	cfg     Config
	bound   bool
	closed  bool
	role    stack.Role
	channel [channelHashLen]byte // SHA-256 of Config.Channel, what signatures bind to
	flow    flowID               // the sending member and stream, what signatures bind to
	inst    uint64               // the sender stack's instance (sender: ours)
	timerAt time.Time
	msg     []byte   // scratch: the message being signed or verified
	dg      digester // computes packet digests
	snd     sender
	rcv     receiver
	n       struct{ signed, data, sigs, verified, signatures uint64 }
}

// New returns a sign layer with the given configuration.
func New(cfg Config) (*Layer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Layer{cfg: cfg, channel: channelHash(cfg.Channel)}, nil
}

// Name returns "sign".
func (l *Layer) Name() string { return "sign" }

// Config returns the layer's configuration.
func (l *Layer) Config() Config { return l.cfg }

// Overhead is the longest header the layer puts on a packet it passes
// down: a SIGNED header (batch=1) or a DATA header. SIG packets are the
// layer's own and are sized to the room below it when the stack is built.
func (l *Layer) Overhead() int {
	if l.cfg.Batch == 1 {
		return signedOverhead
	}
	return dataOverhead
}

// Capabilities: the layer provides stack.CapAuthenticated.
func (l *Layer) Capabilities() stack.Capabilities {
	return stack.Capabilities{Provides: []stack.Capability{stack.CapAuthenticated}}
}

// Bind checks that the stack has the key its role needs (an identity to
// sign with and, on a channel, the member salt; or a set of trusted keys)
// and that a batch's SIG packet fits under the MTU.
func (l *Layer) Bind(b stack.Binding) error {
	l.b = b
	l.role = b.Flow.Role
	switch l.role {
	case stack.Sender:
		if l.cfg.Identity == nil {
			return ErrNoIdentity
		}
		if l.cfg.Channel != "" && l.cfg.MemberSalt == 0 {
			return ErrNoMemberSalt
		}
		l.flow = flowID{member: b.Flow.Local, stream: b.Flow.ID}
		l.inst = b.Flow.Instance
		if l.cfg.Batch > 1 {
			if need := maxSigLen(l.cfg.Batch); need > b.Room() {
				most := (b.Room() - sigFixed - 2) / DigestLen
				hint := fmt.Sprintf("at most batch=%d here", most)
				if most < 2 {
					hint = "use batch=1 here"
				}
				return fmt.Errorf("sign: batch=%d needs SIG packets of up to %d bytes, but only %d bytes fit under the MTU below this layer: lower batch (%s)",
					l.cfg.Batch, need, b.Room(), hint)
			}
			l.snd.digests = make([]byte, 0, l.cfg.Batch*DigestLen)
		}
	default:
		if l.cfg.Trusted == nil {
			return ErrNoTrust
		}
		l.flow = flowID{member: b.Flow.Remote, stream: b.Flow.ID}
		l.rcv.init(l.cfg)
	}
	l.msg = make([]byte, 0, msgPrefixLen+max(l.cfg.Batch, 1)*DigestLen)
	l.bound = true
	return nil
}

// Down signs a packet on a sender's stack (at once with batch=1, else in
// the next SIG) and marks feedback on a receiver's stack.
func (l *Layer) Down(p *stack.Packet) error {
	if !l.bound || l.closed {
		p.Release()
		return stack.ErrClosed
	}
	if l.role == stack.Receiver {
		p.Push(feedbackOverhead)[0] = kindFeedback
		return l.b.Down.Handle(p)
	}
	if l.cfg.Batch == 1 {
		return l.sendSigned(p)
	}
	return l.sendData(p)
}

// Up verifies packets on a receiver's stack, delivering only those whose
// signature verifies under a trusted key, and passes feedback up on a
// sender's stack. Everything else is dropped and counted.
func (l *Layer) Up(p *stack.Packet) error {
	if !l.bound || l.closed {
		p.Release()
		return stack.ErrClosed
	}
	if p.Meta.Flags&stack.FlagSkip != 0 {
		// A marker from a layer below in this stack, not from the wire.
		return l.b.Up.Handle(p)
	}
	b := p.Bytes()
	if l.role == stack.Sender {
		if len(b) == 0 || b[0] != kindFeedback {
			l.b.Drop(p, dropUnexpected)
			return nil
		}
		p.Consume(feedbackOverhead)
		return l.b.Up.Handle(p)
	}
	if len(b) == 0 {
		l.b.Drop(p, dropUnsigned)
		return nil
	}
	switch b[0] {
	case kindData:
		l.onData(p)
	case kindSig:
		l.onSig(p)
	case kindSigned:
		l.onSigned(p)
	case kindFeedback:
		if p.Meta.Flags&stack.FlagOverheard == 0 {
			// Feedback is never data: on the data path it is unsigned.
			l.b.Drop(p, dropUnsigned)
			break
		}
		// Another receiver's feedback to the sender, overheard.
		p.Consume(feedbackOverhead)
		l.rcv.out = append(l.rcv.out, p)
	default:
		if b[0]&versionMask == version1 {
			// A header of version 1 (no member salt), from a sender of
			// an older release: this layer's, but not readable here.
			l.b.Drop(p, dropMalformed)
			break
		}
		l.b.Drop(p, dropUnsigned)
	}
	l.arm()
	l.deliver()
	return nil
}

// OnTimer sends a batch's SIG when its delay is up (sender) and drops
// packets that waited too long for their signature (receiver).
func (l *Layer) OnTimer(now time.Time) {
	l.timerAt = time.Time{}
	if !l.bound || l.closed {
		return
	}
	if l.role == stack.Sender {
		if l.snd.count > 0 && !now.Before(l.snd.due) {
			l.flush()
		}
	} else {
		l.expire(now)
	}
	l.arm()
}

// arm sets the layer's timer to its next deadline.
func (l *Layer) arm() {
	var t time.Time
	if l.role == stack.Sender {
		if l.snd.count > 0 {
			t = l.snd.due
		}
	} else {
		t = l.rcv.deadline(l.cfg.Timeout)
	}
	if !t.Equal(l.timerAt) {
		l.timerAt = t
		l.b.SetTimer(t)
	}
}

// Close releases the packets held for their signature. A batch whose SIG
// was not sent yet is never signed.
func (l *Layer) Close() error {
	if l.closed {
		return nil
	}
	l.closed = true
	if l.bound && l.role == stack.Receiver {
		l.rcv.close(l.b.Memory)
	}
	return nil
}

// Counters reports the per-packet counters (stack.Counted): on a sender
// "signed" (SIGNED packets), "data" (DATA packets) and "sigs" (SIG
// packets); on a receiver "verified" (packets delivered) and "signatures"
// (signatures that verified).
func (l *Layer) Counters() map[string]uint64 {
	m := make(map[string]uint64, 3)
	for k, v := range map[string]uint64{"signed": l.n.signed, "data": l.n.data, "sigs": l.n.sigs,
		"verified": l.n.verified, "signatures": l.n.signatures} {
		if v > 0 {
			m[k] = v
		}
	}
	return m
}

// State is a snapshot of the layer, for tests and monitoring.
type State struct {
	// Sender.
	Next    uint64 // the next sequence number
	Pending int    // packets sent and waiting for their SIG
	// Receiver.
	Held       int              // packets held waiting for their signature
	HeldBytes  int64            // what they cost against Config.Hold
	Remembered int              // digests of signed packets not arrived yet
	Pinned     bool             // a signer has been verified on this flow
	Signer     keys.Fingerprint // the pinned signer
	Instance   uint64           // the sender stack's instance (sender: ours; receiver: pinned)
}

// State returns a snapshot of the layer. Call it only when no packet is in
// flight through the stack (tests on a ManualClock).
func (l *Layer) State() State {
	r := &l.rcv
	st := State{Next: l.snd.seq, Pending: l.snd.count, Held: r.count, HeldBytes: r.bytes,
		Remembered: len(r.memos), Pinned: r.pinned, Signer: r.signer, Instance: r.inst}
	if l.role == stack.Sender {
		st.Instance = l.inst
	}
	return st
}
