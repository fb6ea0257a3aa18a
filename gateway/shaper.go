package gateway

import (
	"math"
	"time"

	"github.com/rwanda-go/rwanda/posting"
)

// Item is one datagram queued for one client: the datagram (shared by
// every client it goes to, never written) and what the gateway read of its
// relay metadata.
type Item struct {
	B      []byte
	Sender uint64
	Stream uint32
	// Droppable is the relay metadata's droppable flag. A datagram that
	// is not droppable (reliable data, control) is queued, never thinned.
	Droppable bool
	Media     posting.Media
	// Left is the time left at send; HasLeft says the metadata had one.
	Left    time.Duration
	HasLeft bool
	Key     string
	Frame   uint64
	End     bool
	// Packets is the number of stack packets (DATA frames) it carries.
	Packets int
	// At is when the gateway received it.
	At time.Time
	// Stamp is the monitor send stamp of its last stack packet (Stamped:
	// it has one): what a client's monitor report echoes.
	Stamp   uint32
	Stamped bool
}

// expired reports whether it has stayed in the gateway for its time left
// (never earlier: DECISIONS §2).
func (it *Item) expired(now time.Time) bool {
	return it.HasLeft && now.Sub(it.At) >= it.Left
}

// Thin reasons, as counted in [ShaperStats] and the gateway's Stats.
const (
	ThinExpired    = "expired"
	ThinSuperseded = "superseded"
	ThinFrame      = "frame"
	ThinOverload   = "overload"
)

// ShaperConfig configures a [Shaper].
type ShaperConfig struct {
	// MaxDelay is the longest a droppable datagram is admitted to wait
	// for the client's rate (besides its own time left); default 150 ms.
	MaxDelay time.Duration
	// ReliableBytes bounds the queue of datagrams that are never thinned
	// (reliable data, control); beyond it the newest are dropped and
	// counted "reliable-overflow" (their senders' windows repair them).
	// Default 1 MiB. Queues are measured as the bucket is: each
	// datagram with its Overhead.
	ReliableBytes int
	// DroppableBytes bounds the queues of droppable datagrams together
	// (a last resort behind time left and MaxDelay); default 1 MiB.
	DroppableBytes int
	// Burst is the token bucket's depth in bytes; default 4 KiB (a few
	// datagrams: a bottleneck's queue downstream may be short), and at
	// least 5 ms at the rate.
	Burst int
	// Overhead is what each datagram costs on the client's link beyond
	// its UDP payload: the rate, the bucket and the queues' bounds count
	// it with every datagram, so that a flow of small datagrams (audio)
	// is not taken for less than it loads the link with. Default 42
	// (UDP 8, IPv4 20, Ethernet 14; the gateway sets 62 for an IPv6
	// client); negative: none.
	Overhead int
}

func (c *ShaperConfig) defaults() {
	if c.MaxDelay <= 0 {
		c.MaxDelay = 150 * time.Millisecond
	}
	if c.ReliableBytes <= 0 {
		c.ReliableBytes = 1 << 20
	}
	if c.DroppableBytes <= 0 {
		c.DroppableBytes = 1 << 20
	}
	if c.Burst <= 0 {
		c.Burst = 4 << 10
	}
	if c.Overhead == 0 {
		c.Overhead = OverheadIPv4
	} else if c.Overhead < 0 {
		c.Overhead = 0
	}
}

// What a datagram costs on an Ethernet link beyond its UDP payload: UDP
// and IP headers and the Ethernet header ([ShaperConfig.Overhead]).
const (
	OverheadIPv4 = 8 + 20 + 14
	OverheadIPv6 = 8 + 40 + 14
)

// size is what it costs on the client's link.
func (s *Shaper) size(it *Item) int { return len(it.B) + s.cfg.Overhead }

// ShaperStats counts what a Shaper did.
type ShaperStats struct {
	// Sent counts the datagrams sent, SentBytes their bytes (UDP
	// payload, without Overhead).
	Sent, SentBytes  uint64
	ReliableOverflow uint64
	// Broken counts frames of which some datagrams were sent and the
	// rest thinned (expired in the queue): the client gets them
	// incomplete.
	Broken uint64
	// Thinned counts droppable datagrams dropped, by reason (ThinExpired,
	// ThinSuperseded, ThinFrame, ThinOverload).
	Thinned map[string]uint64
}

type frameKey struct {
	sender uint64
	stream uint32
	frame  uint64
}

// queue is a FIFO of items.
type queue struct {
	items []*Item
	head  int
}

func (q *queue) len() int { return len(q.items) - q.head }
func (q *queue) peek() *Item {
	if q.len() == 0 {
		return nil
	}
	return q.items[q.head]
}
func (q *queue) push(it *Item) {
	if q.head > 0 && q.head >= len(q.items)/2 {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	q.items = append(q.items, it)
}
func (q *queue) pop() *Item {
	it := q.items[q.head]
	q.items[q.head] = nil
	q.head++
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	}
	return it
}

// filter removes the items for which drop returns true.
func (q *queue) filter(drop func(*Item) bool) {
	out := q.items[:q.head]
	for _, it := range q.items[q.head:] {
		if !drop(it) {
			out = append(out, it)
		}
	}
	clear(q.items[len(out):])
	q.items = out
}

// partial is what has come of an admitted frame.
type partial struct {
	bytes int
	at    time.Time // its first datagram
}

// Classes of droppable data, in the order they are served; thinning takes
// them the other way round: video frames before other droppable data,
// audio last.
const (
	classAudio = iota
	classOther
	classVideo
	nClasses
)

func classOf(m posting.Media) int {
	switch m {
	case posting.Audio:
		return classAudio
	case posting.Video:
		return classVideo
	}
	return classOther
}

// maxFrames is how many frame decisions a Shaper remembers.
const maxFrames = 256

// A Shaper is one client's queues and token bucket. Audio is served
// first, then what is not droppable (queued, bounded, never thinned),
// then other droppable data and video; droppable datagrams are
// thinned by their relay metadata when the client's rate cannot carry
// them in time: expired (in the gateway for their time left) and
// superseded (a newer posting of the same sender, stream and latest-wins
// key queued) first; then whole video frames, decided when a frame's first
// datagram arrives, so that a frame is forwarded whole or not at all;
// other droppable data beyond its delay budget; audio only when expired.
//
// Time is an argument of every method: a Shaper keeps no clock and starts
// no goroutine. It is not safe for concurrent use.
type Shaper struct {
	cfg    ShaperConfig
	rate   float64 // bytes per second; 0: unlimited
	tokens float64
	at     time.Time

	rel      queue
	relBytes int
	q        [nClasses]queue
	qBytes   int

	// classes maps the streams that carry droppable data to its class:
	// their other datagrams (window control: heartbeats, skips) queue
	// behind that data, so nothing overtakes it within a stream.
	classes map[streamKey]int

	frames    map[frameKey]bool // admitted?
	frameRing [maxFrames]frameKey
	frameN    int
	// frameEst is the bytes per video frame: the most of the last
	// frameSizes frames admitted (a frame begun by a repair of its last
	// datagrams looks small: the most ignores it).
	frameEst   float64
	frameSizes [8]int
	frameSizeN int
	cur        map[frameKey]partial // admitted frames whose end has not come
	// started lists the last frames of which a datagram was sent (with a
	// rate limit), for Broken.
	started  [16]frameKey
	startedN int

	// coming is, while a frame is judged, what is still to come of the
	// frames admitted before it (their datagrams arrive over time).
	coming int
	// urgent estimates the rate (bytes per second) of what is served
	// before video: a decaying sum of its bytes over urgentTau.
	urgent   float64
	urgentAt time.Time
	// fastUrgent is what of it came since, with no rate limit.
	fastUrgent int

	stats ShaperStats
	// OnThin, when set, is called for every droppable datagram thinned.
	OnThin func(it *Item, reason string, now time.Time)
}

// NewShaper returns a Shaper with no rate limit.
func NewShaper(cfg ShaperConfig) *Shaper {
	cfg.defaults()
	return &Shaper{cfg: cfg, frames: make(map[frameKey]bool), cur: make(map[frameKey]partial), classes: make(map[streamKey]int),
		stats: ShaperStats{Thinned: make(map[string]uint64)}}
}

// Rate is the current rate in bytes per second on the link, each
// datagram counted with its Overhead (0: unlimited).
func (s *Shaper) Rate() float64 { return s.rate }

// SetRate sets the rate in bytes per second (0: unlimited) from now on.
func (s *Shaper) SetRate(rate float64, now time.Time) {
	s.refill(now)
	s.rate = max(rate, 0)
	if s.tokens > s.burst() {
		s.tokens = s.burst()
	}
}

func (s *Shaper) burst() float64 { return max(float64(s.cfg.Burst), s.rate/200) }

func (s *Shaper) refill(now time.Time) {
	if s.at.IsZero() || now.Before(s.at) {
		if s.at.IsZero() {
			s.tokens = s.burst()
		}
		s.at = now
		return
	}
	s.tokens = min(s.burst(), s.tokens+s.rate*now.Sub(s.at).Seconds())
	s.at = now
}

// Queued is the number of datagrams queued.
func (s *Shaper) Queued() int {
	n := s.rel.len()
	for i := range s.q {
		n += s.q[i].len()
	}
	return n
}

// Stats returns a copy of the counters.
func (s *Shaper) Stats() ShaperStats {
	st := s.stats
	st.Thinned = make(map[string]uint64, len(s.stats.Thinned))
	for k, v := range s.stats.Thinned {
		st.Thinned[k] = v
	}
	return st
}

func (s *Shaper) thin(it *Item, why string, now time.Time) {
	s.stats.Thinned[why]++
	if s.OnThin != nil {
		s.OnThin(it, why, now)
	}
}

// urgentTau is the time constant of the estimate of what is served
// before video.
const urgentTau = time.Second

// addUrgent counts n bytes of what is served before video.
func (s *Shaper) addUrgent(n int, now time.Time) {
	if !s.urgentAt.IsZero() && now.After(s.urgentAt) {
		s.urgent *= math.Exp(-now.Sub(s.urgentAt).Seconds() / urgentTau.Seconds())
	}
	s.urgentAt = now
	// What came with no rate limit (pushFast, which keeps no clock)
	// counts as of now.
	s.urgent += float64(n + s.fastUrgent)
	s.fastUrgent = 0
}

// urgentRate is the rate, in bytes per second on the link, of what is
// served before video (audio, what is never thinned, other droppable
// data), as of now.
func (s *Shaper) urgentRate(now time.Time) float64 {
	s.addUrgent(0, now)
	return s.urgent / urgentTau.Seconds()
}

// wait is how long what is queued takes to leave at the rate, with n
// more bytes; for video (class c) at what the rate leaves of what is
// served before it, at least a quarter of the rate.
func (s *Shaper) wait(n int, c int) time.Duration {
	if s.rate <= 0 {
		return 0
	}
	backlog := float64(s.relBytes+s.qBytes+n+s.coming) - s.tokens
	if backlog <= 0 {
		return 0
	}
	return time.Duration(backlog / s.rateFor(c) * float64(time.Second))
}

// rateFor is the rate class c's datagrams leave at: the rate, or for
// video what the rate leaves of what is served before it, at least a
// quarter of the rate.
func (s *Shaper) rateFor(c int) float64 {
	if c == classVideo {
		return max(s.rate-s.urgent/urgentTau.Seconds(), s.rate/4)
	}
	return s.rate
}

// budget is how long it may wait: MaxDelay, or less if its time left is.
func (s *Shaper) budget(it *Item) time.Duration {
	if it.HasLeft {
		return min(s.cfg.MaxDelay, it.Left)
	}
	return s.cfg.MaxDelay
}

func (s *Shaper) remember(k frameKey, admit bool) {
	if _, ok := s.frames[k]; !ok {
		old := s.frameRing[s.frameN%maxFrames]
		if s.frameN >= maxFrames {
			delete(s.frames, old)
			delete(s.cur, old)
		}
		s.frameRing[s.frameN%maxFrames] = k
		s.frameN++
	}
	s.frames[k] = admit
}

// Push queues it (arrived at it.At, which is at most now) or thins it.
func (s *Shaper) Push(it *Item, now time.Time) {
	if s.rate <= 0 && !it.expired(now) {
		// No limit: nothing to judge; queued in order for Pop.
		s.pushFast(it)
		return
	}
	s.refill(now)
	sk := streamKey{it.Sender, it.Stream}
	if it.Media != posting.Video {
		s.addUrgent(s.size(it), now)
	}
	if !it.Droppable {
		if s.relBytes+s.size(it) > s.cfg.ReliableBytes {
			s.stats.ReliableOverflow++
			return
		}
		s.relBytes += s.size(it)
		if c, ok := s.classes[sk]; ok && it.Stream != 0 {
			s.q[c].push(it) // in order with its stream's droppable data
			return
		}
		s.rel.push(it)
		return
	}
	if _, ok := s.classes[sk]; !ok {
		if len(s.classes) >= maxFrames {
			clear(s.classes)
		}
		s.classes[sk] = classOf(it.Media)
	}
	if it.expired(now) {
		s.thin(it, ThinExpired, now)
		return
	}
	c := classOf(it.Media)
	if it.Key != "" {
		s.supersede(it, now)
	}
	if it.Frame != 0 {
		k := frameKey{it.Sender, it.Stream, it.Frame}
		admit, known := s.frames[k]
		if !known {
			s.coming = s.toCome(now)
			// A frame's fate is decided once, at its first datagram:
			// whole or not at all.
			// Admitted if it starts within MaxDelay and all of it (as
			// large as frames have been) leaves within three quarters
			// of its time left, at what the rate leaves of what is
			// served before video (wait).
			admit = c == classAudio || s.wait(s.size(it), c) <= s.cfg.MaxDelay &&
				(!it.HasLeft || s.wait(max(int(s.frameEst), s.size(it)), c) <= it.Left*3/4)
			s.remember(k, admit)
			s.coming = 0
		}
		if !admit {
			s.thin(it, ThinFrame, now)
			return
		}
		pt := s.cur[k]
		if pt.at.IsZero() {
			pt.at = it.At
		}
		pt.bytes += s.size(it)
		s.cur[k] = pt
		if it.End {
			s.frameSizes[s.frameSizeN%len(s.frameSizes)] = pt.bytes
			s.frameSizeN++
			est := 0
			for _, n := range s.frameSizes {
				est = max(est, n)
			}
			s.frameEst = float64(est)
			delete(s.cur, k)
		}
	} else if c != classAudio && s.wait(s.size(it), c) > s.budget(it) {
		s.thin(it, ThinOverload, now)
		return
	}
	for s.qBytes+s.size(it) > s.cfg.DroppableBytes && s.dropOldest(now) {
	}
	s.q[c].push(it)
	s.qBytes += s.size(it)
}

// toCome estimates what is still to come of the admitted frames whose
// end has not come (as large as frames have been), for a frame's time to
// live at most.
func (s *Shaper) toCome(now time.Time) int {
	n := 0
	for k, pt := range s.cur {
		if now.Sub(pt.at) > time.Second {
			delete(s.cur, k)
			continue
		}
		n += max(int(s.frameEst)-pt.bytes, 0)
	}
	return n
}

// pushFast queues it with no judgement (no rate limit). Its stream's
// control still queues behind its data.
func (s *Shaper) pushFast(it *Item) {
	if !it.Droppable {
		s.fastUrgent += s.size(it)
		s.relBytes += s.size(it)
		if c, ok := s.classes[streamKey{it.Sender, it.Stream}]; ok && it.Stream != 0 {
			s.q[c].push(it)
		} else {
			s.rel.push(it)
		}
		return
	}
	c := classOf(it.Media)
	if it.Media != posting.Video {
		s.fastUrgent += s.size(it)
	}
	if len(s.classes) < maxFrames {
		if _, ok := s.classes[streamKey{it.Sender, it.Stream}]; !ok {
			s.classes[streamKey{it.Sender, it.Stream}] = c
		}
	}
	s.q[c].push(it)
	s.qBytes += s.size(it)
}

// supersede thins the queued droppable datagrams that it supersedes: of
// the same sender, stream and key, of another posting (another frame, or
// both in no frame).
func (s *Shaper) supersede(it *Item, now time.Time) {
	for c := range s.q {
		s.q[c].filter(func(o *Item) bool {
			if !o.Droppable || o.Key != it.Key || o.Sender != it.Sender || o.Stream != it.Stream || (o.Frame == it.Frame && o.Frame != 0) {
				return false
			}
			if o.Frame == 0 && it.Frame == 0 && o.At.Equal(it.At) {
				return false // one arrival: fragments of one posting
			}
			s.qBytes -= s.size(o)
			s.thin(o, ThinSuperseded, now)
			return true
		})
	}
}

// dropOldest thins the oldest queued datagram of the class thinned first
// that has one.
func (s *Shaper) dropOldest(now time.Time) bool {
	for c := nClasses - 1; c >= 0; c-- {
		var victim *Item
		s.q[c].filter(func(o *Item) bool {
			if victim != nil || !o.Droppable {
				return false
			}
			victim = o
			return true
		})
		if victim != nil {
			s.qBytes -= s.size(victim)
			s.dropFrame(victim, ThinOverload, now)
			return true
		}
	}
	return false
}

// dropFrame thins it and, if it belongs to a frame, the frame's other
// queued datagrams and those still to come.
func (s *Shaper) dropFrame(it *Item, why string, now time.Time) {
	s.thin(it, why, now)
	if it.Frame == 0 {
		return
	}
	k := frameKey{it.Sender, it.Stream, it.Frame}
	for _, o := range s.started {
		if o == k {
			s.stats.Broken++
			break
		}
	}
	s.remember(k, false)
	delete(s.cur, k)
	for c := range s.q {
		s.q[c].filter(func(o *Item) bool {
			if !o.Droppable || o.Frame != it.Frame || o.Sender != it.Sender || o.Stream != it.Stream {
				return false
			}
			s.qBytes -= s.size(o)
			s.thin(o, why, now)
			return true
		})
	}
}

// Pop hands emit what the rate allows now, most urgent first: audio,
// what is not droppable, other droppable data, video. Expired
// datagrams met on the way are thinned (with the rest of their frame).
func (s *Shaper) Pop(now time.Time, emit func(*Item)) {
	s.refill(now)
	for {
		var it *Item
		var from *queue
		// Audio first (small and urgent), then what is not droppable,
		// then other droppable data and video.
		s.dropExpired(classAudio, now)
		if it = s.q[classAudio].peek(); it != nil {
			from = &s.q[classAudio]
		} else if h := s.q[classVideo].peek(); s.rate > 0 && h != nil && h.Frame != 0 && !h.expired(now) && s.begun(h) {
			// The rest of a frame begun goes before what is not
			// droppable: a rate lowered since it began, or a burst of
			// repairs, would otherwise leave it to expire in part.
			// (With no limit everything leaves in this call: no scan.)
			it, from = h, &s.q[classVideo]
		} else if it = s.rel.peek(); it != nil {
			from = &s.rel
		} else {
			for c := range s.q {
				for {
					h := s.q[c].peek()
					if h == nil || !h.expired(now) {
						break
					}
					s.q[c].pop()
					s.qBytes -= s.size(h)
					s.dropFrame(h, ThinExpired, now)
				}
				if h := s.q[c].peek(); h != nil {
					it, from = h, &s.q[c]
					break
				}
			}
		}
		if it == nil {
			return
		}
		if it.Frame != 0 && it.Droppable && s.rate > 0 && from != &s.q[classAudio] && !s.begun(it) && !s.canFinish(it, now) {
			// A frame not begun that would not all leave in its time
			// left: none of it goes (never part of a frame).
			from.pop()
			s.qBytes -= s.size(it)
			s.dropFrame(it, ThinFrame, now)
			continue
		}
		n := float64(s.size(it))
		if s.rate > 0 {
			if s.tokens < n {
				return
			}
			s.tokens -= n
		}
		from.pop()
		if !it.Droppable {
			s.relBytes -= s.size(it)
		} else {
			s.qBytes -= s.size(it)
		}
		s.stats.Sent++
		s.stats.SentBytes += uint64(len(it.B))
		if it.Frame != 0 {
			if k := (frameKey{it.Sender, it.Stream, it.Frame}); s.started[s.startedN%len(s.started)] != k {
				s.startedN++
				s.started[s.startedN%len(s.started)] = k
			}
		}
		emit(it)
	}
}

// begun reports whether a datagram of its frame has been sent.
func (s *Shaper) begun(it *Item) bool {
	k := frameKey{it.Sender, it.Stream, it.Frame}
	for _, o := range s.started {
		if o == k {
			return true
		}
	}
	return false
}

// canFinish reports whether all of its frame (what is queued of it, and
// as much again as frames have been if its end has not come) would leave
// before it expires, at what the rate leaves of what is served before
// video: judged when its first datagram is about to go.
func (s *Shaper) canFinish(it *Item, now time.Time) bool {
	if !it.HasLeft {
		return true
	}
	n, end := 0, false
	for _, o := range s.q[classOf(it.Media)].items[s.q[classOf(it.Media)].head:] {
		if o.Frame == it.Frame && o.Sender == it.Sender && o.Stream == it.Stream {
			n += s.size(o)
			end = end || o.End
		}
	}
	if !end {
		if pt, ok := s.cur[frameKey{it.Sender, it.Stream, it.Frame}]; ok {
			n += max(int(s.frameEst)-pt.bytes, 0)
		}
	}
	need := time.Duration(max(float64(n)-s.tokens, 0) / s.rateFor(classOf(it.Media)) * float64(time.Second))
	return !now.Add(need).After(it.At.Add(it.Left))
}

// dropExpired thins the expired datagrams at the head of class c's queue.
func (s *Shaper) dropExpired(c int, now time.Time) {
	for {
		h := s.q[c].peek()
		if h == nil || !h.Droppable || !h.expired(now) {
			return
		}
		s.q[c].pop()
		s.qBytes -= s.size(h)
		s.dropFrame(h, ThinExpired, now)
	}
}

// Next is when Pop may next have something to send: zero if nothing is
// queued, now if tokens allow at once.
func (s *Shaper) Next(now time.Time) time.Time {
	var n int
	if h := s.rel.peek(); h != nil {
		n = s.size(h)
	} else {
		for c := range s.q {
			if h := s.q[c].peek(); h != nil {
				n = s.size(h)
				break
			}
		}
	}
	if n == 0 {
		return time.Time{}
	}
	if s.rate <= 0 {
		return now
	}
	s.refill(now)
	if s.tokens >= float64(n) {
		return now
	}
	return now.Add(time.Duration((float64(n) - s.tokens) / s.rate * float64(time.Second)))
}
