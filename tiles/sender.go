package tiles

import (
	"fmt"
	"image"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"
)

// Defaults of [Config].
const (
	DefaultTile       = 32
	DefaultRefresh    = 60 * time.Second
	DefaultGather     = 50 * time.Millisecond
	DefaultRate       = 8 << 20 // bytes a second
	DefaultTick       = 10 * time.Millisecond
	DefaultRepairHold = 20 * time.Millisecond
	DefaultManifest   = 2
)

// Config configures a [Sender]. The zero value of each field means its
// default.
type Config struct {
	// Tile is the side of a tile in pixels (DefaultTile, 32): 8 to 512 in
	// steps of 8.
	Tile int
	// Refresh is the refresh period: every tile is sent again at a random
	// time between Refresh/2 and 3·Refresh/2 after it was last sent, for
	// whatever reason (DefaultRefresh, 60 s).
	Refresh time.Duration
	// Gather is how long a snapshot waits after the first join request
	// for others, which it then serves too (DefaultGather, 50 ms).
	Gather time.Duration
	// Rate paces what the sender sends, in bytes a second (DefaultRate,
	// 8 MiB/s), at most Rate·Tick bytes a tick: a frame's tiles and its
	// manifest first, then repairs and the snapshot pass taking turns,
	// then refreshes.
	Rate int64
	// Tick is the pacing interval (DefaultTick, 10 ms).
	Tick time.Duration
	// RepairHold: NAKs for a tile sent less than RepairHold ago are
	// ignored, so that the NAKs of several receivers cost one repair
	// (DefaultRepairHold, 20 ms).
	RepairHold time.Duration
	// Manifest is how many frames' changes each manifest repeats, so that a
	// lost manifest costs little (DefaultManifest, 2). Each manifest is
	// also sent twice, a Tick apart.
	Manifest int
	// Seed seeds the refresh times; 0 means random.
	Seed uint64
}

func (c Config) withDefaults() Config {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if c.Tile == 0 {
		c.Tile = DefaultTile
	}
	def(&c.Refresh, DefaultRefresh)
	def(&c.Gather, DefaultGather)
	def(&c.Tick, DefaultTick)
	def(&c.RepairHold, DefaultRepairHold)
	if c.Rate <= 0 {
		c.Rate = DefaultRate
	}
	if c.Manifest <= 0 {
		c.Manifest = DefaultManifest
	}
	if c.Seed == 0 {
		c.Seed = rand.Uint64()
	}
	return c
}

// Out is a message to send: a posting body, with its latest-wins key
// (tile messages: one key per tile) and what it carries.
type Out struct {
	Body    []byte // the message, owned by the caller
	Key     string // the tile's latest-wins key; "" for a manifest
	Index   int    // the tile; -1 for a manifest
	Version uint32 // the tile's version
	Flags   byte   // FlagRefresh, FlagSnapshot, FlagRepair; 0 for a frame's update
}

// SenderStats counts what a [Sender] did.
type SenderStats struct {
	Frames        uint64 // frames taken
	Changed       uint64 // tiles changed in them
	Updates       uint64 // tile messages sent for changes
	UpdateBytes   uint64
	Manifests     uint64
	ManifestBytes uint64
	Refreshes     uint64 // tiles sent again by the periodic refresh
	RefreshBytes  uint64
	Snapshots     uint64 // snapshot passes started
	SnapshotTiles uint64
	SnapshotBytes uint64
	Joins         uint64 // join requests taken
	JoinsShared   uint64 // of which served by a pass already gathering or under way
	JoinsEarly    uint64 // of which came before the first frame (the first frame serves them)
	Repairs       uint64 // tiles sent again for NAKs
	RepairBytes   uint64
	NakSuperseded uint64 // NAKed versions already superseded: not sent again (the newer one was sent)
	NakHeld       uint64 // NAKed tiles sent less than RepairHold ago, or already queued
	Malformed     uint64 // control messages that did not decode
}

// Sender is the sending side of the protocol, without I/O: it takes
// frames and control messages (joins, NAKs) with the time, and says what to
// send and when to call it next. It is not safe for concurrent use.
type Sender struct {
	cfg  Config
	enc  *Encoder
	g    Geometry
	rng  *rand.Rand
	keys []string

	frame    uint32
	tiles    [][]byte // each tile's current message (flags and left zero)
	versions []uint32
	lastSent []time.Time
	due      []time.Time // refresh times
	minDue   time.Time   // no due time is before it
	queued   []byte      // flags of a tile queued in the main queue (0: not queued)
	queue    []int       // tiles, and -1 for the manifest, in order
	manif    []byte      // the manifest queued (nil: none)
	recent   [][]int     // the changed tiles of the last frames, newest last
	repairQ  []int       // tiles NAKed, to send again
	inRepQ   []bool
	repTurn  bool // repairs and the snapshot pass take turns
	refreshQ []int
	inRefQ   []bool

	// The snapshot pass: gathering until gatherAt, then sending from
	// cursor; left tiles to go.
	gatherAt time.Time
	cursor   int
	left     int

	repeat   []byte // the last manifest, sent again at repeatAt
	repeatAt time.Time

	tokens   float64
	lastFill time.Time
	idx      []int
	stats    SenderStats
}

// NewSender returns a sender.
func NewSender(cfg Config) (*Sender, error) {
	cfg = cfg.withDefaults()
	if err := (Geometry{Width: 1, Height: 1, Tile: cfg.Tile}).Valid(); err != nil {
		return nil, err
	}
	return &Sender{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 0x711e5))}, nil
}

// Config returns the sender's configuration, defaults filled in.
func (s *Sender) Config() Config { return s.cfg }

// Stats returns the counters.
func (s *Sender) Stats() SenderStats { return s.stats }

// Geometry returns the image's geometry; zero before the first frame.
func (s *Sender) Geometry() Geometry { return s.g }

// Version returns tile i's current version (0 before the first frame).
func (s *Sender) Version(i int) uint32 {
	if i < 0 || i >= len(s.versions) {
		return 0
	}
	return s.versions[i]
}

// FullSize is the size of one full image: the tile messages of every
// tile's current version.
func (s *Sender) FullSize() int {
	n := 0
	for _, t := range s.tiles {
		n += len(t)
	}
	return n
}

// Key returns the latest-wins key of tile i.
func (s *Sender) Key(i int) string { return s.keys[i] }

// Frame takes the next frame at now: it diffs it against the last, sends
// the changed tiles (those queued and not yet sent are replaced, never sent
// twice) and a manifest, and returns what may leave now (see
// [Sender.Poll]). The first frame sets the geometry; later frames must
// have the same size (else [ErrSize]). An *image.RGBA is used as is, any
// other image converted once into a buffer of the sender's.
func (s *Sender) Frame(now time.Time, img image.Image) ([]Out, error) {
	if s.enc == nil {
		b := img.Bounds()
		g := Geometry{Width: b.Dx(), Height: b.Dy(), Tile: s.cfg.Tile}
		enc, err := NewEncoder(g)
		if err != nil {
			return nil, err
		}
		n := g.Tiles()
		s.enc, s.g = enc, g
		s.tiles, s.versions = make([][]byte, n), make([]uint32, n)
		s.lastSent, s.due = make([]time.Time, n), make([]time.Time, n)
		s.queued, s.inRefQ, s.inRepQ = make([]byte, n), make([]bool, n), make([]bool, n)
		s.keys = make([]string, n)
		for i := range s.keys {
			s.keys[i] = "t" + strconv.Itoa(i)
		}
		s.lastFill = now
		s.tokens = s.burst()
	}
	m, err := s.enc.RGBA(img)
	if err != nil {
		return nil, err
	}
	s.frame++
	s.stats.Frames++
	s.idx = s.enc.Diff(s.idx[:0], m)
	s.stats.Changed += uint64(len(s.idx))
	var payload []byte
	for _, i := range s.idx {
		payload = s.enc.Compress(payload[:0], m, i)
		s.versions[i]++
		s.tiles[i] = appendTile(make([]byte, 0, TileHeaderLen+len(payload)), 0, s.g, i, s.versions[i], s.frame, 0, payload)
		s.enqueue(i, flagUpdate)
	}
	// The manifest: this frame's changes and those of the last frames.
	if len(s.recent) == s.cfg.Manifest {
		copy(s.recent, s.recent[1:])
		s.recent = s.recent[:len(s.recent)-1]
	}
	s.recent = append(s.recent, append([]int(nil), s.idx...))
	var es []Entry
	seen := map[int]bool{}
	for k := len(s.recent) - 1; k >= 0; k-- {
		for _, i := range s.recent[k] {
			if !seen[i] && len(es) < maxEntries {
				seen[i] = true
				es = append(es, Entry{Index: uint16(i), Version: s.versions[i]})
			}
		}
	}
	if len(es) > 0 {
		// At most one manifest waits: a newer one replaces it (it repeats
		// the frames the older named), and leaves after this frame's tiles.
		if s.manif != nil {
			s.queue = slices.DeleteFunc(s.queue, func(q int) bool { return q < 0 })
		}
		s.manif = appendManifest(nil, s.frame, es)
		s.queue = append(s.queue, -1)
	}
	return s.Poll(now), nil
}

// flagUpdate marks a tile queued as a frame's update (a zero flags byte
// would read "not queued").
const flagUpdate = 0x80

func (s *Sender) enqueue(i int, flags byte) {
	if s.queued[i] == 0 {
		s.queue = append(s.queue, i)
	}
	s.queued[i] |= flags
}

// Handle takes a control message from member from: a join request or a
// NAK (for target self, or 0). Other messages are ignored; one that does
// not decode is counted and its error returned.
func (s *Sender) Handle(now time.Time, self uint64, b []byte) error {
	m, err := Decode(b)
	if err != nil {
		s.stats.Malformed++
		return err
	}
	switch m.Kind {
	case KindJoin:
		s.stats.Joins++
		switch {
		case s.enc == nil:
			s.stats.JoinsEarly++
		case !s.gatherAt.IsZero():
			s.stats.JoinsShared++
		case s.left > 0:
			// A pass is under way: it goes on for a full turn from here,
			// so this joiner gets every tile too, at the cost of the
			// tiles the pass had sent before it came.
			s.stats.JoinsShared++
			s.left = len(s.tiles)
		default:
			s.gatherAt = now.Add(s.cfg.Gather)
		}
	case KindNak:
		if m.Target != self && m.Target != 0 || s.enc == nil {
			return nil
		}
		for _, e := range m.Entries {
			i := int(e.Index)
			if i >= len(s.tiles) {
				s.stats.Malformed++
				return fmt.Errorf("%w: NAK for tile %d of %d", ErrMalformed, i, len(s.tiles))
			}
			switch {
			case e.Version != 0 && e.Version < s.versions[i]:
				s.stats.NakSuperseded++ // the newer version went out: its loss is NAKed of its own
			case e.Version > s.versions[i]:
				// A version not yet made: a confused or hostile receiver.
			case s.queued[i] != 0 || s.inRepQ[i] || now.Sub(s.lastSent[i]) < s.cfg.RepairHold:
				s.stats.NakHeld++
			default:
				s.inRepQ[i] = true
				s.repairQ = append(s.repairQ, i)
			}
		}
	}
	return nil
}

// Next returns when to call [Sender.Poll] next; the zero time if only a
// frame or a control message can make anything to send.
func (s *Sender) Next() time.Time {
	if s.enc == nil {
		return time.Time{}
	}
	var t time.Time
	earlier := func(u time.Time) {
		if !u.IsZero() && (t.IsZero() || u.Before(t)) {
			t = u
		}
	}
	if len(s.queue) > 0 || len(s.repairQ) > 0 || len(s.refreshQ) > 0 || s.left > 0 {
		earlier(s.lastFill.Add(s.cfg.Tick))
	}
	earlier(s.gatherAt)
	earlier(s.minDue)
	earlier(s.repeatAt)
	return t
}

func (s *Sender) burst() float64 { return float64(s.cfg.Rate) * s.cfg.Tick.Seconds() }

// Poll returns what may leave at now: queued tiles and manifests, the
// snapshot pass, refreshes that fell due — within the pacing budget.
func (s *Sender) Poll(now time.Time) []Out {
	if s.enc == nil {
		return nil
	}
	if el := now.Sub(s.lastFill); el > 0 {
		s.tokens = min(s.burst(), s.tokens+el.Seconds()*float64(s.cfg.Rate))
		s.lastFill = now
	}
	if !s.gatherAt.IsZero() && !now.Before(s.gatherAt) {
		s.gatherAt = time.Time{}
		s.stats.Snapshots++
		s.left = len(s.tiles)
	}
	if !s.minDue.IsZero() && !now.Before(s.minDue) {
		s.minDue = time.Time{}
		for i, d := range s.due {
			if d.IsZero() {
				continue
			}
			if !now.Before(d) {
				s.due[i] = time.Time{}
				if !s.inRefQ[i] {
					s.inRefQ[i] = true
					s.refreshQ = append(s.refreshQ, i)
				}
				continue
			}
			if s.minDue.IsZero() || d.Before(s.minDue) {
				s.minDue = d
			}
		}
	}
	var outs []Out
	if !s.repeatAt.IsZero() && !now.Before(s.repeatAt) {
		b := s.repeat
		s.repeat, s.repeatAt = nil, time.Time{}
		s.stats.Manifests++
		s.stats.ManifestBytes += uint64(len(b))
		s.tokens -= float64(len(b))
		outs = append(outs, Out{Body: b, Index: -1})
	}
	// A message leaves when the budget is positive; it may take it below
	// zero (a large tile is never stuck), and the debt is paid first.
	for s.tokens > 0 {
		switch {
		case len(s.queue) > 0:
			q := s.queue[0]
			s.queue = s.queue[1:]
			if q < 0 {
				b := s.manif
				s.manif = nil
				s.stats.Manifests++
				s.stats.ManifestBytes += uint64(len(b))
				s.tokens -= float64(len(b))
				outs = append(outs, Out{Body: b, Index: -1})
				s.repeat, s.repeatAt = b, now.Add(s.cfg.Tick)
				continue
			}
			fl := s.queued[q]
			s.queued[q] = 0
			if fl&flagUpdate != 0 {
				fl = 0
			}
			outs = append(outs, s.send(now, q, fl, 0))
		case len(s.repairQ) > 0 && (s.repTurn || s.left == 0):
			s.repTurn = false
			i := s.repairQ[0]
			s.repairQ = s.repairQ[1:]
			s.inRepQ[i] = false
			if s.queued[i] != 0 {
				continue // a newer version is queued
			}
			outs = append(outs, s.send(now, i, FlagRepair, 0))
		case s.left > 0:
			s.repTurn = true
			i := s.cursor
			s.cursor = (s.cursor + 1) % len(s.tiles)
			s.left--
			outs = append(outs, s.send(now, i, FlagSnapshot, s.left))
		case len(s.refreshQ) > 0:
			i := s.refreshQ[0]
			s.refreshQ = s.refreshQ[1:]
			s.inRefQ[i] = false
			if s.queued[i] != 0 || !s.due[i].IsZero() {
				continue // sent since it fell due, or about to be
			}
			outs = append(outs, s.send(now, i, FlagRefresh, 0))
		default:
			return outs
		}
	}
	return outs
}

// send makes tile i's message with flags and left, counts it, and sets its
// next refresh time.
func (s *Sender) send(now time.Time, i int, flags byte, left int) Out {
	b := append([]byte(nil), s.tiles[i]...)
	setTileHeader(b, flags, left)
	n := uint64(len(b))
	switch {
	case flags&FlagRepair != 0:
		s.stats.Repairs++
		s.stats.RepairBytes += n
	case flags&FlagSnapshot != 0:
		s.stats.SnapshotTiles++
		s.stats.SnapshotBytes += n
	case flags&FlagRefresh != 0:
		s.stats.Refreshes++
		s.stats.RefreshBytes += n
	default:
		s.stats.Updates++
		s.stats.UpdateBytes += n
	}
	s.tokens -= float64(n)
	s.lastSent[i] = now
	r := s.cfg.Refresh
	s.due[i] = now.Add(r/2 + time.Duration(s.rng.Int64N(int64(r))))
	if s.minDue.IsZero() || s.due[i].Before(s.minDue) {
		s.minDue = s.due[i]
	}
	return Out{Body: b, Key: s.keys[i], Index: i, Version: s.versions[i], Flags: flags}
}
