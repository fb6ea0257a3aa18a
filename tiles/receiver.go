package tiles

import (
	"fmt"
	"image"
	"time"
)

// Defaults of [RecvConfig].
const (
	DefaultNakDelay  = 20 * time.Millisecond
	DefaultNakRetry  = 50 * time.Millisecond
	DefaultJoinWait  = 300 * time.Millisecond
	DefaultJoinRetry = 500 * time.Millisecond
	DefaultMaxPixels = 4096 * 4096
)

// RecvConfig configures a [Receiver]. The zero value of each field means
// its default.
type RecvConfig struct {
	// NakDelay is how long a tile known to be missing waits before it is
	// NAKed, for a reordered message to arrive (DefaultNakDelay, 20 ms).
	NakDelay time.Duration
	// NakRetry is how long a NAKed tile waits before it is NAKed again
	// (DefaultNakRetry, 50 ms); each further retry for the same lack waits
	// twice as long as the last, up to 32 times NakRetry, so that a
	// receiver (or sender) too busy to keep up is not flooded.
	NakRetry time.Duration
	// JoinWait is how long tiles never received wait, after the first
	// tile and after each tile (not a repair) that fills a gap, for the
	// rest of the snapshot pass or the first frame before they are NAKed; the last tile of a pass ends the wait (DefaultJoinWait,
	// 300 ms).
	JoinWait time.Duration
	// JoinRetry is how long a joiner that has received nothing waits
	// before it asks again (DefaultJoinRetry, 500 ms; doubling to 8 s).
	JoinRetry time.Duration
	// Refresh is the senders' refresh period (DefaultRefresh): a tile not
	// heard of for twice that is reported stale.
	Refresh time.Duration
	// MaxPixels bounds the image a receiver accepts (DefaultMaxPixels,
	// 4096×4096): a larger geometry is refused, so that a message cannot
	// make it allocate more.
	MaxPixels int
}

func (c RecvConfig) withDefaults() RecvConfig {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.NakDelay, DefaultNakDelay)
	def(&c.NakRetry, DefaultNakRetry)
	def(&c.JoinWait, DefaultJoinWait)
	def(&c.JoinRetry, DefaultJoinRetry)
	def(&c.Refresh, DefaultRefresh)
	if c.MaxPixels <= 0 {
		c.MaxPixels = DefaultMaxPixels
	}
	return c
}

// RecvStats counts what a [Receiver] did.
type RecvStats struct {
	Tiles       uint64 // tile messages applied
	Refreshes   uint64 // of which refreshes, snapshot tiles, repairs
	Snapshot    uint64
	Repairs     uint64
	Old         uint64 // tile messages of a version already held or older: dropped
	Manifests   uint64
	OtherSender uint64 // messages from a sender other than the one followed
	Malformed   uint64 // messages that did not decode, or did not fit the geometry
	Naks        uint64 // NAK messages made
	NakedTiles  uint64 // tile entries in them
	Joins       uint64 // join requests made
}

// Receiver is the receiving side of the protocol, without I/O: it takes
// messages with the time and the sender's id, composes the image, and
// says which control messages to send (NAKs, join requests) and when to
// call it next. It follows one sender: the first it hears, until that one
// has been silent for twice the refresh period. It is not safe for
// concurrent use.
type Receiver struct {
	cfg    RecvConfig
	sender uint64
	heardS time.Time // last message from the sender
	g      Geometry
	img    *image.RGBA
	buf    []byte

	have      []uint32    // version held, 0: none
	known     []uint32    // newest version heard of
	heard     []time.Time // when the tile was last received (any version)
	needSince []time.Time // when a lack was found (zero: none known)
	lastNak   []time.Time
	naks      []uint8 // NAKs sent for the lack at hand: each retry waits twice as long as the last
	missing   int     // tiles never received

	inPass    time.Time // the last tile that filled a gap, or of a snapshot pass under way
	joinNext  time.Time // the next join retry (zero: none)
	joinEvery time.Duration
	stats     RecvStats
}

// NewReceiver returns a receiver.
func NewReceiver(cfg RecvConfig) *Receiver {
	return &Receiver{cfg: cfg.withDefaults()}
}

// Stats returns the counters.
func (r *Receiver) Stats() RecvStats { return r.stats }

// Sender returns the id of the sender followed (0 before any).
func (r *Receiver) Sender() uint64 { return r.sender }

// Geometry returns the image's geometry (zero before the first tile).
func (r *Receiver) Geometry() Geometry { return r.g }

// Image returns the composed image (nil before the first tile). It is the
// receiver's own and changes with every tile applied.
func (r *Receiver) Image() *image.RGBA { return r.img }

// Version returns the version of tile i held (0: none).
func (r *Receiver) Version(i int) uint32 {
	if i < 0 || i >= len(r.have) {
		return 0
	}
	return r.have[i]
}

// Complete reports whether every tile has been received (some may be
// stale).
func (r *Receiver) Complete() bool { return r.img != nil && r.missing == 0 }

// Join returns the join request to send (to the sender of the image) at
// now; the receiver repeats it, from Poll, until it hears a tile.
func (r *Receiver) Join(now time.Time) []byte {
	r.joinEvery = r.cfg.JoinRetry
	r.joinNext = now.Add(r.joinEvery)
	r.stats.Joins++
	return []byte{KindJoin}
}

// Stale appends to dst the tiles that are stale at now: never received,
// older than a version heard of (a manifest named a newer one), or not
// heard of for twice the refresh period.
func (r *Receiver) Stale(dst []int, now time.Time) []int {
	for i := range r.have {
		if r.have[i] == 0 || r.known[i] > r.have[i] || now.Sub(r.heard[i]) > 2*r.cfg.Refresh {
			dst = append(dst, i)
		}
	}
	return dst
}

// Handle takes a message from member from at now. A message from another
// sender than the one followed is ignored (counted); one that does not
// decode or does not fit the image is counted and its error returned.
func (r *Receiver) Handle(now time.Time, from uint64, b []byte) error {
	m, err := Decode(b)
	if err != nil {
		r.stats.Malformed++
		return err
	}
	if m.Kind != KindTile && m.Kind != KindManifest {
		return nil // control messages of other receivers
	}
	if from != r.sender {
		if r.sender != 0 && now.Sub(r.heardS) <= 2*r.cfg.Refresh || m.Kind != KindTile {
			r.stats.OtherSender++
			return nil
		}
		r.reset(from)
	}
	if m.Kind == KindManifest {
		if r.img == nil {
			return nil
		}
		r.heardS = now
		r.stats.Manifests++
		for _, e := range m.Entries {
			i := int(e.Index)
			if i >= len(r.have) {
				r.stats.Malformed++
				return fmt.Errorf("%w: manifest names tile %d of %d", ErrMalformed, i, len(r.have))
			}
			if e.Version > r.known[i] {
				r.known[i] = e.Version
			}
			if r.known[i] > r.have[i] && r.needSince[i].IsZero() {
				r.needSince[i] = now
			}
		}
		return nil
	}
	if r.img == nil {
		if m.Geo.Width*m.Geo.Height > r.cfg.MaxPixels {
			r.stats.Malformed++
			return fmt.Errorf("%w: image %d×%d exceeds MaxPixels %d", ErrGeometry, m.Geo.Width, m.Geo.Height, r.cfg.MaxPixels)
		}
		r.setGeometry(now, m.Geo)
	} else if m.Geo != r.g {
		r.stats.Malformed++
		return fmt.Errorf("%w: tile of geometry %+v, image is %+v", ErrMalformed, m.Geo, r.g)
	}
	r.heardS = now
	r.joinNext = time.Time{}
	i := int(m.Index)
	if m.Version <= r.have[i] {
		r.stats.Old++
		if m.Version == r.have[i] {
			r.heard[i] = now
		}
		return nil
	}
	if err := decodeTile(r.img, r.g, i, m.Payload, r.buf); err != nil {
		r.stats.Malformed++
		return err
	}
	if r.have[i] == 0 {
		r.missing--
		if m.Flags&FlagRepair == 0 {
			r.inPass = now // a first frame or a pass still coming in: the rest wait for it
		}
	}
	r.have[i], r.heard[i] = m.Version, now
	if m.Version > r.known[i] {
		r.known[i] = m.Version
	}
	if r.known[i] <= r.have[i] {
		r.needSince[i], r.lastNak[i], r.naks[i] = time.Time{}, time.Time{}, 0
	}
	r.stats.Tiles++
	switch {
	case m.Flags&FlagRepair != 0:
		r.stats.Repairs++
	case m.Flags&FlagSnapshot != 0:
		r.stats.Snapshot++
	case m.Flags&FlagRefresh != 0:
		r.stats.Refreshes++
	}
	if m.Flags&FlagSnapshot != 0 {
		r.inPass = now
		if m.Left == 0 {
			// The pass ended: what is still missing was lost.
			r.inPass = time.Time{}
			for j := range r.have {
				if r.have[j] == 0 {
					r.needSince[j] = now.Add(-r.cfg.JoinWait)
				}
			}
		}
	}
	return nil
}

func (r *Receiver) reset(from uint64) {
	*r = Receiver{cfg: r.cfg, sender: from, stats: r.stats, buf: r.buf}
}

func (r *Receiver) setGeometry(now time.Time, g Geometry) {
	n := g.Tiles()
	r.g = g
	r.img = image.NewRGBA(image.Rect(0, 0, g.Width, g.Height))
	r.buf = make([]byte, 0, g.Tile*g.Tile*3)
	r.have, r.known = make([]uint32, n), make([]uint32, n)
	r.heard, r.needSince, r.lastNak = make([]time.Time, n), make([]time.Time, n), make([]time.Time, n)
	r.naks = make([]uint8, n)
	r.missing = n
	// Tiles never received wait JoinWait from the first tile for the rest
	// of the snapshot pass (or, for a receiver there from the start, of the
	// first frame) before they are NAKed.
	for i := range r.needSince {
		r.needSince[i] = now
	}
}

// Next returns when to call [Receiver.Poll] next (zero: nothing pending).
func (r *Receiver) Next() time.Time {
	t := r.joinNext
	for i, s := range r.needSince {
		if s.IsZero() {
			continue
		}
		if u := r.due(i, s); t.IsZero() || u.Before(t) {
			t = u
		}
	}
	return t
}

// due is when tile i, lacked since s, is to be asked for: NakDelay after
// s; for a tile never had, JoinWait after s or the snapshot pass under
// way, whichever is later; once asked for, the retry interval after the
// last NAK.
func (r *Receiver) due(i int, s time.Time) time.Time {
	if !r.lastNak[i].IsZero() {
		return r.lastNak[i].Add(r.retry(i))
	}
	if r.have[i] == 0 {
		return later(s, r.inPass).Add(r.cfg.JoinWait)
	}
	return s.Add(r.cfg.NakDelay)
}

// Poll returns the control messages to send at now: a NAK for the tiles
// whose lack is due (at most maxEntries a message), or a join request
// again.
func (r *Receiver) Poll(now time.Time) [][]byte {
	var out [][]byte
	if !r.joinNext.IsZero() && !now.Before(r.joinNext) {
		r.joinEvery = min(2*r.joinEvery, 8*time.Second)
		r.joinNext = now.Add(r.joinEvery)
		r.stats.Joins++
		out = append(out, []byte{KindJoin})
	}
	var es []Entry
	for i, s := range r.needSince {
		if s.IsZero() || len(es) == maxEntries {
			continue
		}
		if now.Before(r.due(i, s)) {
			continue
		}
		v := r.known[i]
		if r.have[i] == 0 {
			v = 0
		}
		es = append(es, Entry{Index: uint16(i), Version: v})
		r.lastNak[i] = now
		r.naks[i] = min(r.naks[i]+1, maxBackoff)
	}
	if len(es) > 0 {
		r.stats.Naks++
		r.stats.NakedTiles += uint64(len(es))
		out = append(out, appendNak(nil, r.sender, es))
	}
	return out
}

// maxBackoff bounds the doublings of a NAK's retry interval: NakRetry
// times 2^5 at most (1.6 s at the default).
const maxBackoff = 6

// retry is how long tile i's next NAK waits after its last.
func (r *Receiver) retry(i int) time.Duration {
	return r.cfg.NakRetry << max(int(r.naks[i])-1, 0)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
