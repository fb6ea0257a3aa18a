package playout

import (
	"math"
	"sort"
	"sync"
	"time"

	"github.com/rwanda-go/rwanda/posting"
)

// Config configures a [Group] and the streams in it. The zero value is
// usable: every field has a default.
type Config struct {
	// TargetLate is the fraction of postings allowed to arrive after
	// their playout time: the delay adapts to keep the late ratio under
	// it over any 10 s. Default 0.01.
	TargetLate float64
	// InitialDelay is the delay beyond the clock offset that a stream
	// starts at; it gives way to the estimate over the first 250
	// postings (fast start). Default 100 ms.
	InitialDelay time.Duration
	// MaxDelay caps the delay beyond the clock offset. Default 2 s.
	MaxDelay time.Duration
	// MaxSpeedup is how much faster than real time the playout clock may
	// run while the delay falls: 0.5 plays 1.5 s of media a second
	// (audio time compression, video frames shown for less). The delay
	// rises by pausing the playout clock. Default 0.5.
	MaxSpeedup float64
	// Offset, when set, returns the sender's clock offset as the channel
	// estimates it (the smallest arrival − send time lately, see
	// channel.Channel.ClockOffset); the group takes the smaller of it and
	// its own estimate from the postings pushed, so a stream that joins
	// late starts from the sender's known offset rather than from its
	// first posting's delay. Without it, the group's own estimate alone.
	Offset func() (time.Duration, bool)
	// Idle is how long a stream of a group may go without a push before
	// it stops holding the group's delay up. Default 2 s.
	Idle time.Duration
}

func (c Config) withDefaults() Config {
	if c.TargetLate <= 0 || c.TargetLate >= 1 {
		c.TargetLate = 0.01
	}
	if c.InitialDelay <= 0 {
		c.InitialDelay = 100 * time.Millisecond
	}
	if c.MaxDelay <= 0 {
		c.MaxDelay = 2 * time.Second
	}
	if c.MaxSpeedup <= 0 {
		c.MaxSpeedup = 0.5
	}
	if c.Idle <= 0 {
		c.Idle = 2 * time.Second
	}
	return c
}

// Stats are a stream's counters and state.
type Stats struct {
	Pushed  uint64 // postings pushed
	Played  uint64 // postings released by Next
	Late    uint64 // pushed after their playout time (refused)
	Refused uint64 // copies of one queued or just played, or without a send time
	// Skipped counts the sequence numbers passed over when a posting
	// was released after a gap (lost, or late and refused).
	Skipped uint64
	Queued  int // postings waiting
	// Delay is the playout delay beyond the clock offset (the shortest
	// one-way delay lately); Target is this stream's own target for it
	// (the group plays at the largest of its streams' targets).
	Delay, Target time.Duration
	// Offset is the clock offset in use: receiver clock − sender clock,
	// the shortest one-way delay included.
	Offset time.Duration
	// DriftPPM is the sender's clock rate against this receiver's, in
	// parts per million (positive: the sender's clock runs fast), fitted
	// to the floor of the delays over the last minute; 0 until known.
	DriftPPM float64
}

// Buffer is one stream's playout buffer: see the package documentation.
// Its methods are safe for concurrent use (they take the group's lock).
type Buffer struct {
	g   *Group
	cfg Config
	est *delayEstimator

	q       []*posting.Posting // by send time, then sequence number
	started bool
	// The playout clock: at time at, it reads at − T (in the sender's
	// clock); T moves toward the group's target, up by pausing, down at
	// most MaxSpeedup.
	at      time.Time
	T       time.Duration
	target  time.Duration // own target for T: offset + delay
	last    time.Time     // last push
	played  bool
	lastSeq uint64    // last released
	lastS   time.Time // its send time
	st      Stats
}

// New returns a buffer for one stream, alone in its group.
func New(cfg Config) *Buffer { return NewGroup(cfg).Stream(Config{}) }

// Push adds a posting received at arrival (this receiver's clock). It
// reports false when the posting is refused: it came after its playout
// time (late), it is a copy of one queued or of the last played, or it has
// no send time.
func (b *Buffer) Push(p *posting.Posting, arrival time.Time) bool {
	g := b.g
	g.mu.Lock()
	defer g.mu.Unlock()
	arrival = g.monotonic(arrival)
	b.st.Pushed++
	if p.Sent.IsZero() {
		b.st.Refused++
		return false
	}
	i := sort.Search(len(b.q), func(i int) bool { return !before(b.q[i], p) })
	if i < len(b.q) && b.q[i].Seq == p.Seq && b.q[i].Sent.Equal(p.Sent) ||
		b.played && p.Seq == b.lastSeq && p.Sent.Equal(b.lastS) {
		b.st.Refused++ // a copy: it says nothing new of the delay
		return false
	}
	off := arrival.Sub(p.Sent)
	g.own.add(arrival, off)
	g.drift.add(arrival, off)
	base := g.offset()
	g.advance(arrival)
	b.last = arrival
	late := b.started && b.isLate(p, arrival)
	b.est.add(arrival, off-base, late)
	b.target = base + b.est.delay()
	if !b.started {
		b.started = true
		b.T, b.at = b.target, arrival
	}
	g.retarget(arrival)
	if late {
		b.st.Late++
		return false
	}
	b.q = append(b.q, nil)
	copy(b.q[i+1:], b.q[i:])
	b.q[i] = p
	return true
}

func before(a, b *posting.Posting) bool {
	if !a.Sent.Equal(b.Sent) {
		return a.Sent.Before(b.Sent)
	}
	return a.Seq < b.Seq
}

// isLate says whether p's playout time has passed at now: its send time is
// behind the playout clock, or it is not after the last posting released.
// Sequence numbers only order postings sent at the same instant: a stream
// the sender reopens (after it idled) starts again from 1.
func (b *Buffer) isLate(p *posting.Posting, now time.Time) bool {
	if b.played && (p.Sent.Before(b.lastS) || p.Sent.Equal(b.lastS) && p.Seq <= b.lastSeq) {
		return true
	}
	return p.Sent.Before(b.media(now))
}

// media returns the playout clock's reading (in the sender's clock) at now.
func (b *Buffer) media(now time.Time) time.Time {
	return now.Add(-b.tAt(now))
}

// tAt returns T at now: from T at b.at, toward the group's target, up at
// rate 1 (the clock stands still), down at rate MaxSpeedup.
func (b *Buffer) tAt(now time.Time) time.Duration {
	G, T := b.g.target, b.T
	d := max(now.Sub(b.at), 0)
	if T < G {
		return min(G, T+d)
	}
	// Round the fall up, and due's time down, so a posting is never
	// due before the clock reaches it.
	return max(G, T-time.Duration(math.Ceil(float64(d)*b.g.cfg.MaxSpeedup)))
}

// due returns when a posting sent at s plays, as things stand.
func (b *Buffer) due(s time.Time) time.Time {
	G := b.g.target
	m := b.at.Add(-b.T)
	if !s.After(m) {
		return b.at
	}
	t := s.Add(G)
	if b.T > G {
		// Speeding up: the clock runs at 1+MaxSpeedup until T reaches G.
		if t1 := b.at.Add(time.Duration(math.Ceil(float64(s.Sub(m)) / (1 + b.g.cfg.MaxSpeedup)))); t1.After(t) {
			t = t1
		}
	}
	return t
}

// Due returns when the next posting is due, and false when none is queued.
// A push may bring it forward.
func (b *Buffer) Due() (time.Time, bool) {
	b.g.mu.Lock()
	defer b.g.mu.Unlock()
	return b.headDue()
}

func (b *Buffer) headDue() (time.Time, bool) {
	if len(b.q) == 0 {
		return time.Time{}, false
	}
	return b.due(b.q[0].Sent), true
}

// Next releases the next posting if it is due at now, and returns nil
// otherwise. A posting missing from the sequence is never waited for: the
// next one present is released at its own playout time, and the missing one
// is late if it comes.
func (b *Buffer) Next(now time.Time) *posting.Posting {
	b.g.mu.Lock()
	defer b.g.mu.Unlock()
	return b.next(b.g.monotonic(now))
}

func (b *Buffer) next(now time.Time) *posting.Posting {
	if len(b.q) == 0 || b.q[0].Sent.After(b.media(now)) {
		return nil
	}
	p := b.q[0]
	b.q[0] = nil
	b.q = b.q[1:]
	if b.played && p.Seq > b.lastSeq+1 {
		b.st.Skipped += p.Seq - b.lastSeq - 1
	}
	b.played, b.lastSeq, b.lastS = true, p.Seq, p.Sent
	b.st.Played++
	return p
}

// PlayoutTime returns when a posting sent at sent (the sender's clock)
// plays, as things stand: later pushes may move it.
func (b *Buffer) PlayoutTime(sent time.Time) time.Time {
	b.g.mu.Lock()
	defer b.g.mu.Unlock()
	if !b.started {
		return sent.Add(b.g.target)
	}
	return b.due(sent)
}

// Stats returns the stream's counters and state.
func (b *Buffer) Stats() Stats {
	g := b.g
	g.mu.Lock()
	defer g.mu.Unlock()
	st := b.st
	st.Queued = len(b.q)
	st.Offset = g.offset()
	if b.started {
		st.Delay = b.tAt(g.now) - st.Offset
		st.Target = b.target - st.Offset
	}
	st.DriftPPM = g.drift.ppm
	return st
}

// Group is one source's streams played against one virtual observer's
// clock: see the package documentation. Its methods are safe for
// concurrent use.
type Group struct {
	cfg     Config
	mu      sync.Mutex
	streams []*Buffer
	own     minOffset
	drift   driftFit
	now     time.Time     // the latest time seen
	target  time.Duration // the largest own target of the active streams
}

// NewGroup returns an empty group. cfg's Offset, MaxSpeedup and Idle are
// the group's; its other fields are the defaults of the group's streams.
func NewGroup(cfg Config) *Group { return &Group{cfg: cfg.withDefaults()} }

// Stream adds a stream to the group. cfg's TargetLate, InitialDelay and
// MaxDelay are the stream's; those left zero are the group's.
func (g *Group) Stream(cfg Config) *Buffer {
	if cfg.TargetLate == 0 {
		cfg.TargetLate = g.cfg.TargetLate
	}
	if cfg.InitialDelay == 0 {
		cfg.InitialDelay = g.cfg.InitialDelay
	}
	if cfg.MaxDelay == 0 {
		cfg.MaxDelay = g.cfg.MaxDelay
	}
	cfg = cfg.withDefaults()
	b := &Buffer{g: g, cfg: cfg, est: newDelayEstimator(cfg)}
	g.mu.Lock()
	g.streams = append(g.streams, b)
	g.mu.Unlock()
	return b
}

// Due returns when the next posting of any stream is due, and false when
// none is queued.
func (g *Group) Due() (time.Time, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var first time.Time
	var ok bool
	for _, b := range g.streams {
		if d, has := b.headDue(); has && (!ok || d.Before(first)) {
			first, ok = d, true
		}
	}
	return first, ok
}

// Next releases the posting due first among the group's streams if it is
// due at now, and returns nil otherwise; its Stream field names its stream.
func (g *Group) Next(now time.Time) *posting.Posting {
	g.mu.Lock()
	defer g.mu.Unlock()
	now = g.monotonic(now)
	var first *Buffer
	var at time.Time
	for _, b := range g.streams {
		if d, has := b.headDue(); has && (first == nil || d.Before(at)) {
			first, at = b, d
		}
	}
	if first == nil {
		return nil
	}
	return first.next(now)
}

// monotonic keeps the group's time from running backwards (pushes from
// several goroutines may read the clock in one order and lock in another).
func (g *Group) monotonic(t time.Time) time.Time {
	if t.Before(g.now) {
		return g.now
	}
	g.now = t
	return t
}

// offset is the sender's clock offset: the smaller of the channel's
// estimate and the group's own.
func (g *Group) offset() time.Duration {
	off, have := g.own.get()
	if g.cfg.Offset != nil {
		if c, ok := g.cfg.Offset(); ok && (!have || c < off) {
			off = c
		}
	}
	return off
}

// advance brings every stream's playout clock up to now under the current
// group target, before the target moves.
func (g *Group) advance(now time.Time) {
	for _, b := range g.streams {
		if b.started {
			b.T, b.at = b.tAt(now), now
		}
	}
}

// retarget sets the group's target to the largest own target of the
// streams pushed to within Idle (every stream was advanced to now).
func (g *Group) retarget(now time.Time) {
	first := true
	for _, b := range g.streams {
		if !b.started || now.Sub(b.last) > g.cfg.Idle {
			continue
		}
		if first || b.target > g.target {
			g.target, first = b.target, false
		}
	}
}
