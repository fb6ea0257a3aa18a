package refresh

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/rwanda-go/rwanda/registry"
	"github.com/rwanda-go/rwanda/stack"
)

// HeaderLen is the layer's header on every parcel: a kind byte (0 for the
// first transmission, 1 for a refresh) and the parcel id, 4 bytes
// big-endian, counting up per stack from 1 and wrapping.
const HeaderLen = 5

// Parcel kinds: the first byte of the header.
const (
	kindOriginal = 0
	kindRefresh  = 1
)

// Drop reasons counted by receivers.
const (
	dropRefreshedDup = "refreshed-dup" // a refreshed copy of a parcel already delivered
	dropDuplicate    = "duplicate"     // a first transmission seen before (a duplicate from below)
	dropStale        = "stale"         // an id older than the window of remembered ids
	dropMalformed    = "malformed"     // shorter than the header, or an unknown kind
	dropSuperseded   = "superseded"    // a refreshed value older than the one delivered for its latest-wins key
)

// minWindow is the fewest parcel ids a receiver remembers.
const minWindow = 64

// Config configures a layer.
type Config struct {
	Every time.Duration // the refresh period; a random ±25% jitter is added
	Keep  int           // parcels kept by a sender; ids remembered by a receiver (at least 64)
	Bytes int64         // bytes kept
	Seed  uint64        // seeds the jitter; 0: random
}

// Layer is the refresh layer. Make one with [New].
type Layer struct {
	b         stack.Binding
	cfg       Config
	rng       *rand.Rand
	kept      []kept // oldest first
	bytes     int64
	next      time.Time
	lastID    uint32 // the last parcel id sent
	refreshed uint64
	seen      window
	healed    uint64 // refreshed copies delivered (a loss healed, or a late joiner served)

	superseded uint64            // a sender's kept parcels replaced by a newer one of their key
	latest     map[string]uint32 // a receiver's: the newest parcel id delivered per latest-wins key
}

// kept is a parcel kept for refreshing, without its header.
type kept struct {
	p  *stack.Packet
	id uint32
}

// New returns a layer for one stack.
func New(cfg Config) (*Layer, error) {
	switch {
	case cfg.Every < time.Millisecond || cfg.Every > time.Hour:
		return nil, fmt.Errorf("refresh: every %v out of range 1ms..1h", cfg.Every)
	case cfg.Keep < 1 || cfg.Keep > 1<<16:
		return nil, fmt.Errorf("refresh: keep %d out of range 1..65536", cfg.Keep)
	case cfg.Bytes < 1:
		return nil, fmt.Errorf("refresh: bytes %d must be positive", cfg.Bytes)
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	return &Layer{cfg: cfg, rng: rand.New(rand.NewPCG(seed, 0x5ef7)), seen: newWindow(cfg.Keep)}, nil
}

// Name is "refresh".
func (l *Layer) Name() string { return "refresh" }

// Overhead is the header's length.
func (l *Layer) Overhead() int { return HeaderLen }

// Bind stores the binding.
func (l *Layer) Bind(b stack.Binding) error {
	l.b = b
	return nil
}

// Down numbers a parcel, keeps a copy of a sender's data parcels for
// refreshing, and passes it on.
func (l *Layer) Down(p *stack.Packet) error {
	if p.Meta.Flags&stack.FlagSkip != 0 {
		return l.b.Down.Handle(p)
	}
	l.lastID++
	if l.lastID == 0 {
		l.lastID = 1
	}
	if l.b.Flow.Role == stack.Sender && p.Meta.Flags&stack.FlagControl == 0 && int64(p.Len()) <= l.cfg.Bytes {
		c := p.Clone()
		c.Meta.Deadline = time.Time{} // a refresh is never obsolete on its way
		if key := p.Meta.Key(); key != "" {
			l.supersede(key)
		}
		l.kept = append(l.kept, kept{c, l.lastID})
		l.bytes += int64(c.Len())
		for len(l.kept) > l.cfg.Keep || l.bytes > l.cfg.Bytes {
			l.bytes -= int64(l.kept[0].p.Len())
			l.kept[0].p.Release()
			l.kept[0] = kept{}
			l.kept = l.kept[1:]
		}
		if l.next.IsZero() {
			l.schedule(l.b.Now())
		}
	}
	putHeader(p, kindOriginal, l.lastID)
	return l.b.Down.Handle(p)
}

// supersede forgets the kept parcels with the latest-wins key key: a
// newer one replaces them, so only the latest value of each key is sent
// again. It costs the kept parcels (at most Keep).
func (l *Layer) supersede(key string) {
	j := 0
	for _, k := range l.kept {
		if k.p.Meta.Key() == key {
			l.bytes -= int64(k.p.Len())
			k.p.Release()
			l.superseded++
			continue
		}
		l.kept[j] = k
		j++
	}
	clear(l.kept[j:])
	l.kept = l.kept[:j]
}

func putHeader(p *stack.Packet, kind byte, id uint32) {
	h := p.Push(HeaderLen)
	h[0] = kind
	binary.BigEndian.PutUint32(h[1:], id)
}

func (l *Layer) schedule(now time.Time) {
	jitter := time.Duration((l.rng.Float64() - 0.5) * 0.5 * float64(l.cfg.Every))
	l.next = now.Add(l.cfg.Every + jitter)
	l.b.SetTimer(l.next)
}

// OnTimer sends the kept parcels again, oldest first, each under its
// original id.
func (l *Layer) OnTimer(now time.Time) {
	l.next = time.Time{}
	if len(l.kept) == 0 {
		return
	}
	for _, k := range l.kept {
		c := k.p.Clone()
		putHeader(c, kindRefresh, k.id)
		l.refreshed++
		if err := l.b.Down.Handle(c); err != nil {
			break
		}
	}
	l.schedule(now)
}

// Up delivers each parcel id once: a refreshed copy of a parcel already
// delivered, a duplicate, or an id older than the window of remembered ids
// is dropped and counted. Skip markers pass untouched.
func (l *Layer) Up(p *stack.Packet) error {
	if p.Meta.Flags&stack.FlagSkip != 0 {
		return l.b.Up.Handle(p)
	}
	h, ok := p.Consume(HeaderLen)
	if !ok || h[0] > kindRefresh {
		l.b.Drop(p, dropMalformed)
		return nil
	}
	switch l.seen.add(binary.BigEndian.Uint32(h[1:])) {
	case seenBefore:
		if h[0] == kindRefresh {
			l.b.Drop(p, dropRefreshedDup)
		} else {
			l.b.Drop(p, dropDuplicate)
		}
		return nil
	case tooOld:
		l.b.Drop(p, dropStale)
		return nil
	}
	id := binary.BigEndian.Uint32(h[1:])
	if key := p.Meta.Key(); key != "" {
		if last, ok := l.latest[key]; ok && int32(id-last) < 0 {
			if h[0] == kindRefresh {
				// A refreshed value older than the one delivered: it would
				// set the key back.
				l.b.Drop(p, dropSuperseded)
				return nil
			}
		} else {
			l.keep(key, id)
		}
	}
	if h[0] == kindRefresh {
		l.healed++
	}
	return l.b.Up.Handle(p)
}

// keep notes id as the newest delivered for key. The ids of keys not
// updated within the window of remembered ids are forgotten when the map
// grows past twice the window: such old ids are dropped as stale anyway.
func (l *Layer) keep(key string, id uint32) {
	if l.latest == nil {
		l.latest = make(map[string]uint32)
	}
	l.latest[key] = id
	if len(l.latest) > 2*int(l.seen.size) {
		for k, v := range l.latest {
			if int64(int32(l.seen.top-v)) >= int64(l.seen.size) {
				delete(l.latest, k)
			}
		}
	}
}

// Counters reports the layer's counters (stack.Counted): a sender's
// "refreshed" (parcels sent again) and "kept"; a receiver's
// "refresh-delivered" (refreshed copies it delivered: a loss healed, or a
// late joiner served).
func (l *Layer) Counters() map[string]uint64 {
	return map[string]uint64{"refreshed": l.refreshed, "kept": uint64(len(l.kept)), "refresh-delivered": l.healed, "superseded": l.superseded}
}

// Close releases the kept parcels.
func (l *Layer) Close() error {
	for _, k := range l.kept {
		k.p.Release()
	}
	l.kept, l.bytes = nil, 0
	return nil
}

// Results of window.add.
const (
	fresh      = iota // not delivered before: deliver it
	seenBefore        // delivered before
	tooOld            // older than the window: it may have been
)

// window remembers which of the last size parcel ids were delivered: a
// bitmap of size bits (a multiple of 64), indexed by id modulo size,
// covering the ids (top−size, top]. Ids compare in serial-number
// arithmetic, so the 32-bit ids may wrap.
type window struct {
	started bool
	top     uint32 // the highest id delivered
	size    uint32
	bits    []uint64
}

func newWindow(keep int) window {
	size := max(uint32(keep+63)/64*64, minWindow)
	return window{size: size, bits: make([]uint64, size/64)}
}

// add records id as delivered and reports fresh, or reports why it must
// not be delivered.
func (w *window) add(id uint32) int {
	if !w.started {
		w.started, w.top = true, id
		w.set(id)
		return fresh
	}
	d := int64(int32(id - w.top))
	switch {
	case d > 0:
		if d >= int64(w.size) {
			clear(w.bits)
		} else {
			for i := w.top + 1; i != id; i++ {
				w.clearBit(i)
			}
		}
		w.top = id
		w.set(id)
		return fresh
	case -d >= int64(w.size):
		return tooOld
	case w.has(id):
		return seenBefore
	}
	w.set(id)
	return fresh
}

func (w *window) set(id uint32) {
	i := id % w.size
	w.bits[i/64] |= 1 << (i % 64)
}

func (w *window) clearBit(id uint32) {
	i := id % w.size
	w.bits[i/64] &^= 1 << (i % 64)
}

func (w *window) has(id uint32) bool {
	i := id % w.size
	return w.bits[i/64]&(1<<(i%64)) != 0
}

// Info describes the layer and its parameters to the registry.
func Info() registry.Info {
	return registry.Info{
		Summary: "sends the last parcels again every period (dynamic image protocol): losses and late joiners heal without asking; receivers deliver each parcel once",
		Params: []registry.ParamInfo{
			{Name: "every", Kind: registry.DurationParam, Min: "10ms", Default: "2s", Doc: "refresh period (±25% jitter)"},
			{Name: "keep", Kind: registry.IntParam, Max: "4096", Default: "64", Doc: "parcels kept for refreshing; parcel ids a receiver remembers (at least 64)"},
			{Name: "bytes", Kind: registry.SizeParam, Max: "64MiB", Default: "4MiB", Doc: "bytes kept for refreshing"},
			{Name: "seed", Kind: registry.IntParam, Default: "0", Doc: "seeds the jitter; 0: random"},
		},
	}
}

func build(_ registry.Env, p *registry.Params) (stack.Layer, error) {
	l, err := New(Config{Every: p.Duration("every"), Keep: int(p.Int("keep")), Bytes: p.Size("bytes"), Seed: uint64(p.Int("seed"))})
	if err != nil {
		return nil, p.Errorf("every", "%v", err)
	}
	return l, nil
}

// Builder returns the layer's builder.
func Builder() registry.Builder { return registry.NewBuilder(Info(), build) }

func init() { registry.Register("refresh", Builder()) }
