package monitor

import (
	"fmt"
	"sync"
	"time"

	"github.com/rwanda-go/rwanda/stack"
)

// Layer is the monitor. One Layer serves one stack: in a sender's stack it
// stamps the data going down and takes the receivers' reports coming up;
// in a receiver's stack it measures the data coming up and sends reports
// down. Create one with [New] (or from a QoS string through the registry).
//
// [Layer.Report], [Layer.Receivers] and [Layer.Measure] may be called from
// any goroutine.
type Layer struct {
	stack.Base
	cfg     Config
	role    stack.Role
	reports bool // receivers send reports (no sequencing layer below)
	bound   bool
	timerAt time.Time

	mu  sync.Mutex // guards what follows, for Report from other goroutines
	snd sender
	rcv receiver
}

// sender is the sending half: stamping and the receivers' reports.
type sender struct {
	seq     uint64
	packets uint64
	bytes   uint64
	rate    rateWindow
	peers   map[uint64]*peer
	reports uint64 // reports taken
	foreign uint64 // reports from other receivers overheard, or reaching a receiver's stack
	active  bool   // something was sent or heard since the last tick
	tickAt  time.Time
}

// peer is what a sender knows of one receiver.
type peer struct {
	id     uint64
	heard  time.Time
	rep    report
	srtt   time.Duration
	hasRTT bool
}

// receiver is the receiving half: measuring stamped data, and reporting.
type receiver struct {
	packets    uint64
	bytes      uint64
	rate       rateWindow
	seqs       tracker
	jitter     float64 // µs, RFC 3550 §6.4.1
	transit    int64   // of the previous packet, µs (arrival stamp − send stamp)
	hasTransit bool
	echo       uint32    // the send stamp of the packet that arrived last
	echoAt     time.Time // when it arrived
	fresh      bool      // data arrived since the last report
	reportAt   time.Time
	reports    uint64 // reports sent
}

// New returns a monitor layer with the given configuration.
func New(cfg Config) (*Layer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	l := &Layer{cfg: cfg}
	l.snd.rate = newRateWindow(cfg.K)
	l.snd.peers = make(map[uint64]*peer)
	l.rcv.rate = newRateWindow(cfg.K)
	l.rcv.seqs = newTracker(cfg.K, cfg.Reorder)
	return l, nil
}

// Name returns "monitor".
func (l *Layer) Name() string { return "monitor" }

// Overhead is the longest data header, [MaxDataHeader] bytes.
func (l *Layer) Overhead() int { return MaxDataHeader }

// Capabilities declares that the layer measures its flow.
func (l *Layer) Capabilities() stack.Capabilities {
	return stack.Capabilities{Provides: []stack.Capability{stack.CapMonitored}}
}

// Config returns the layer's configuration.
func (l *Layer) Config() Config { return l.cfg }

// Bind takes the flow's role and checks that a report fits under the MTU.
// Above a sequencing layer (a window) receivers send no reports: the
// window would take them for data of its own.
func (l *Layer) Bind(b stack.Binding) error {
	if err := l.Base.Bind(b); err != nil {
		return err
	}
	if b.Room() < MaxReportLen {
		return fmt.Errorf("monitor: %d bytes of room under the MTU is too little for a report (%d)", b.Room(), MaxReportLen)
	}
	l.role = b.Flow.Role
	l.reports = l.cfg.Report > 0 && !b.HasBelow(stack.CapSequenced)
	if l.cfg.Report > 0 && !l.reports && l.role == stack.Receiver {
		b.Logger.Debug("monitor: above a sequencing layer, receivers send no reports (no RTT, no receiver figures at the sender)")
	}
	l.mu.Lock()
	l.bound = true
	l.mu.Unlock()
	return nil
}

// Down stamps a data packet of a sender's stack with a sequence number and
// its send time; anything else (control packets, skip markers, what a
// receiver's stack sends) passes with a kind byte only.
func (l *Layer) Down(p *stack.Packet) error {
	if l.role != stack.Sender || p.Meta.Flags&(stack.FlagControl|stack.FlagSkip) != 0 || !l.bound {
		p.Push(1)[0] = kindPass
		return l.Base.Down(p)
	}
	b := l.Binding()
	now := b.Now()
	l.mu.Lock()
	s := &l.snd
	seq := s.seq
	s.seq++
	s.packets++
	s.bytes += uint64(p.Len())
	s.rate.add(now, p.Len())
	s.active = true
	l.mu.Unlock()
	if l.cfg.Report > 0 && s.tickAt.IsZero() {
		s.tickAt = now.Add(l.cfg.Report)
		l.arm()
	}
	var scratch [MaxDataHeader]byte
	h := appendData(scratch[:0], seq, stamp(now))
	copy(p.Push(len(h)), h)
	return l.Base.Down(p)
}

// Up measures stamped data and passes it up without its header, takes a
// receiver's report (in a sender's stack), and passes up what came down
// the other side unstamped. Skip markers from below pass untouched.
func (l *Layer) Up(p *stack.Packet) error {
	if p.Meta.Flags&stack.FlagSkip != 0 {
		return l.Base.Up(p)
	}
	b := l.Binding()
	k, ok := p.Peek(1)
	if !ok {
		b.Drop(p, "malformed")
		return nil
	}
	switch k[0] {
	case kindPass:
		p.Consume(1)
		return l.Base.Up(p)
	case kindData:
		seq, sent, n, err := decodeData(p.Bytes())
		if err != nil {
			b.Drop(p, "malformed")
			return nil
		}
		p.Consume(n)
		l.onData(seq, sent, p.Len(), b.Now())
		return l.Base.Up(p)
	case kindReport:
		if l.role != stack.Sender || p.Meta.Flags&stack.FlagOverheard != 0 {
			// Another receiver's report, overheard on a multicast group:
			// not ours to take.
			l.mu.Lock()
			l.snd.foreign++
			l.mu.Unlock()
			p.Release()
			return nil
		}
		var r report
		if err := decodeReport(p.Bytes(), &r); err != nil {
			b.Drop(p, "malformed")
			return nil
		}
		peer := p.Meta.Peer
		p.Release()
		l.onReport(peer, &r, b.Now())
		return nil
	}
	b.Drop(p, "malformed")
	return nil
}

// onData measures a stamped packet of n payload bytes.
func (l *Layer) onData(seq uint64, sent uint32, n int, now time.Time) {
	l.mu.Lock()
	r := &l.rcv
	r.packets++
	r.bytes += uint64(n)
	arr := r.seqs.add(seq)
	if arr != arrProbe {
		r.rate.add(now, n)
		// Interarrival jitter, RFC 3550 §6.4.1: the difference of the
		// relative transit times of consecutive arrivals, smoothed by 1/16.
		transit := since(sent, stamp(now))
		if r.hasTransit {
			d := float64(transit - r.transit)
			if d < 0 {
				d = -d
			}
			r.jitter += (d - r.jitter) / 16
		}
		r.transit, r.hasTransit = transit, true
		if arr == arrRestart {
			r.jitter, r.hasTransit = 0, false
		}
		r.echo, r.echoAt = sent, now
		r.fresh = true
	}
	l.mu.Unlock()
	if l.role == stack.Receiver && l.cfg.Report > 0 && r.reportAt.IsZero() && r.fresh {
		r.reportAt = now.Add(l.cfg.Report)
		l.arm()
	}
}

// onReport takes a receiver's report.
func (l *Layer) onReport(id uint64, r *report, now time.Time) {
	l.mu.Lock()
	s := &l.snd
	s.reports++
	s.active = true
	p := s.peers[id]
	if p == nil {
		if len(s.peers) >= l.cfg.Receivers {
			s.evictOldest()
		}
		p = &peer{id: id}
		s.peers[id] = p
	}
	p.heard, p.rep = now, *r
	// RTT as RTCP's: now − the echoed send time − how long the receiver
	// held it. A negative one (a forged or garbled report) is ignored.
	if rtt := since(r.echo, stamp(now)) - int64(min(r.hold, 1<<40)); rtt >= 0 {
		sample := time.Duration(rtt) * time.Microsecond
		if !p.hasRTT {
			p.srtt, p.hasRTT = sample, true
		} else {
			p.srtt += (sample - p.srtt) / 8
		}
	}
	l.mu.Unlock()
	if l.cfg.Report > 0 && s.tickAt.IsZero() {
		s.tickAt = now.Add(l.cfg.Report)
		l.arm()
	}
}

// evictOldest forgets the receiver heard from least recently.
func (s *sender) evictOldest() {
	var old *peer
	for _, p := range s.peers {
		if old == nil || p.heard.Before(old.heard) || p.heard.Equal(old.heard) && p.id < old.id {
			old = p
		}
	}
	if old != nil {
		delete(s.peers, old.id)
	}
}

// forgetAfter is how long a silent receiver is kept.
func (l *Layer) forgetAfter() time.Duration { return 10 * max(l.cfg.Report, time.Second) }

// OnTimer sends a receiver's report, or a sender's event, when it is due.
func (l *Layer) OnTimer(now time.Time) {
	l.timerAt = time.Time{}
	if !l.bound {
		return
	}
	if r := &l.rcv; !r.reportAt.IsZero() && !now.Before(r.reportAt) {
		l.receiverTick(now)
	}
	if s := &l.snd; !s.tickAt.IsZero() && !now.Before(s.tickAt) {
		l.senderTick(now)
	}
	l.arm()
}

// receiverTick reports what arrived, if anything did since the last
// report; otherwise reporting stops until data comes again.
func (l *Layer) receiverTick(now time.Time) {
	r := &l.rcv
	l.mu.Lock()
	if !r.fresh {
		r.reportAt = time.Time{}
		l.mu.Unlock()
		return
	}
	r.fresh = false
	r.reportAt = now.Add(l.cfg.Report)
	var rep report
	l.fillReport(&rep, now)
	if l.reports {
		r.reports++
	}
	fig := l.reportLocked(now)
	l.mu.Unlock()
	b := l.Binding()
	if l.reports {
		var scratch [MaxReportLen]byte
		buf := appendReport(scratch[:0], &rep)
		pk := b.NewPacket(len(buf))
		pk.Append(buf)
		pk.Meta.Flags = stack.FlagControl | stack.FlagForSender // for the sender (and a gateway on the way), not other receivers
		l.Base.Down(pk)
	}
	b.Emit(stack.Event{Kind: EventKind, Seq: rep.highest, Detail: fig.detail()})
}

// fillReport fills in a receiver report from the receiving half.
func (l *Layer) fillReport(rep *report, now time.Time) {
	r := &l.rcv
	rep.highest, rep.expected, rep.lost = r.seqs.high, r.seqs.expected(), r.seqs.lost
	if lost, of := r.seqs.recent(l.cfg.K); of > 0 {
		rep.lossPPM = (lost*1e6 + of/2) / of
	}
	rep.jitter = uint64(r.jitter + 0.5)
	bps, pps := r.rate.rates(now)
	rep.rate, rep.mpps = uint64(bps+0.5), uint64(pps*1000+0.5)
	rep.echo = r.echo
	rep.hold = uint64(max(now.Sub(r.echoAt), 0) / time.Microsecond)
}

// senderTick emits the sender's event when something was sent or heard
// since the last tick; otherwise the ticks stop until something is.
func (l *Layer) senderTick(now time.Time) {
	s := &l.snd
	l.mu.Lock()
	if !s.active {
		s.tickAt = time.Time{}
		l.mu.Unlock()
		return
	}
	s.active = false
	s.tickAt = now.Add(l.cfg.Report)
	for id, p := range s.peers {
		if now.Sub(p.heard) > l.forgetAfter() {
			delete(s.peers, id)
		}
	}
	fig := l.reportLocked(now)
	l.mu.Unlock()
	l.Binding().Emit(stack.Event{Kind: EventKind, Seq: s.seq, Detail: fig.detail()})
}

// arm keeps the stack timer at the next report or tick.
func (l *Layer) arm() {
	t := l.rcv.reportAt
	if s := l.snd.tickAt; !s.IsZero() && (t.IsZero() || s.Before(t)) {
		t = s
	}
	if !t.Equal(l.timerAt) {
		l.timerAt = t
		l.Binding().SetTimer(t)
	}
}

// Close forgets the receivers; the layer holds no packets.
func (l *Layer) Close() error {
	l.mu.Lock()
	l.bound = false
	clear(l.snd.peers)
	l.mu.Unlock()
	return nil
}
