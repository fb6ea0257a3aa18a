package fec

import (
	"time"

	"github.com/rwanda-go/rwanda/stack"
)

// Layer is forward error correction below a window. One Layer serves one
// stack: its sending half protects what goes down, its receiving half
// repairs what comes up.
type Layer struct {
	stack.Base
	cfg     Config
	snd     sender
	rcv     receiver
	timerAt time.Time
	n       struct{ data, parity, repair, recovered, useless, parityBytes uint64 }
}

// New returns a fec layer with the given configuration.
func New(cfg Config) (*Layer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Layer{cfg: cfg}, nil
}

// Name returns "fec".
func (l *Layer) Name() string { return "fec" }

// Overhead is the parity header and the length each data packet carries
// in its shard: a parity packet is that much longer than its block's
// longest data packet.
func (l *Layer) Overhead() int { return overhead }

// Config returns the layer's configuration.
func (l *Layer) Config() Config { return l.cfg }

// Counters reports the per-packet counters (stack.Counted): "protected"
// (data packets sent in blocks), "parity-sent" (all parity shards sent),
// "parity-repair" (of those, sent to answer NAKs), "parity-bytes" (their
// shard bytes), "recovered" (data packets rebuilt from parity) and
// "parity-useless" (parity received for a block that lacked nothing).
func (l *Layer) Counters() map[string]uint64 {
	m := make(map[string]uint64, 6)
	for k, v := range map[string]uint64{"protected": l.n.data, "parity-sent": l.n.parity, "parity-repair": l.n.repair,
		"parity-bytes": l.n.parityBytes, "recovered": l.n.recovered, "parity-useless": l.n.useless} {
		if v > 0 {
			m[k] = v
		}
	}
	return m
}

// Bind sets both halves up.
func (l *Layer) Bind(b stack.Binding) error {
	if err := l.Base.Bind(b); err != nil {
		return err
	}
	l.snd.init(l)
	l.rcv.init(l)
	return nil
}

// Down protects data packets in blocks and passes anything else
// (control packets, retransmissions) with a one-byte header.
func (l *Layer) Down(p *stack.Packet) error {
	now := l.Binding().Now()
	defer l.arm()
	f := p.Meta.Flags
	if f&(stack.FlagControl|stack.FlagRetransmit) != 0 || p.Len()+lenPrefix > 1<<16-1 {
		p.Push(1)[0] = kindPass
		return l.Base.Down(p)
	}
	return l.snd.data(p, now)
}

// Up strips the header, repairs blocks, answers NAKs with parity (a
// sender's stack) and takes receivers' loss reports. Malformed packets
// are dropped and counted ("malformed").
func (l *Layer) Up(p *stack.Packet) error {
	b := l.Binding()
	if p.Meta.Flags&stack.FlagSkip != 0 {
		return l.Base.Up(p)
	}
	now := b.Now()
	defer l.arm()
	bs := p.Bytes()
	if len(bs) == 0 {
		b.Drop(p, "malformed")
		return nil
	}
	switch bs[0] {
	case kindPass:
		p.Consume(1)
		if l.cfg.Repair && p.Meta.Flags&stack.FlagOverheard == 0 {
			if p = l.snd.nak(p, now); p == nil {
				return nil
			}
		}
		return l.Base.Up(p)
	case kindReport:
		ppm, n, err := decodeReport(bs)
		if err != nil {
			b.Drop(p, "malformed")
			return nil
		}
		if p.Meta.Flags&stack.FlagOverheard == 0 {
			l.snd.report(p.Meta.Peer, ppm, n, now)
		}
		p.Release()
		return nil
	}
	h, n, err := Decode(bs)
	if err != nil {
		b.Drop(p, "malformed")
		return nil
	}
	p.Consume(n)
	if h.Kind == kindData {
		l.rcv.data(p, h, now)
	} else {
		l.rcv.parity(p, h, now)
	}
	return nil
}

// OnTimer closes blocks, releases held packets, sends reports and
// forgets old blocks.
func (l *Layer) OnTimer(now time.Time) {
	l.timerAt = time.Time{}
	l.snd.timer(now)
	l.rcv.timer(now)
	l.arm()
}

func (l *Layer) arm() {
	t := l.snd.deadline()
	if d := l.rcv.deadline(); !d.IsZero() && (t.IsZero() || d.Before(t)) {
		t = d
	}
	if !t.Equal(l.timerAt) {
		l.timerAt = t
		l.Binding().SetTimer(t)
	}
}

// Close releases held packets and kept blocks.
func (l *Layer) Close() error {
	l.snd.close()
	l.rcv.close()
	return nil
}
