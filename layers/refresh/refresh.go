package refresh

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/rwanda-go/rwanda/registry"
	"github.com/rwanda-go/rwanda/stack"
)

// Config configures a layer.
type Config struct {
	Every time.Duration // the refresh period; a random ±25% jitter is added
	Keep  int           // parcels kept
	Bytes int64         // bytes kept
	Seed  uint64        // seeds the jitter; 0: random
}

// Layer is the refresh layer. Make one with [New].
type Layer struct {
	b         stack.Binding
	cfg       Config
	rng       *rand.Rand
	kept      []*stack.Packet // oldest first
	bytes     int64
	next      time.Time
	refreshed uint64
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
	return &Layer{cfg: cfg, rng: rand.New(rand.NewPCG(seed, 0x5ef7))}, nil
}

// Name is "refresh".
func (l *Layer) Name() string { return "refresh" }

// Overhead is 0: refreshes are the parcels themselves.
func (l *Layer) Overhead() int { return 0 }

// Bind stores the binding.
func (l *Layer) Bind(b stack.Binding) error {
	l.b = b
	return nil
}

// Down keeps a copy of a sender's parcel and passes it on.
func (l *Layer) Down(p *stack.Packet) error {
	if l.b.Flow.Role == stack.Sender && p.Meta.Flags&(stack.FlagControl|stack.FlagSkip) == 0 && int64(p.Len()) <= l.cfg.Bytes {
		c := p.Clone()
		c.Meta.Deadline = time.Time{} // a refresh is never obsolete on its way
		l.kept = append(l.kept, c)
		l.bytes += int64(c.Len())
		for len(l.kept) > l.cfg.Keep || l.bytes > l.cfg.Bytes {
			l.bytes -= int64(l.kept[0].Len())
			l.kept[0].Release()
			l.kept[0] = nil
			l.kept = l.kept[1:]
		}
		if l.next.IsZero() {
			l.schedule(l.b.Now())
		}
	}
	return l.b.Down.Handle(p)
}

func (l *Layer) schedule(now time.Time) {
	jitter := time.Duration((l.rng.Float64() - 0.5) * 0.5 * float64(l.cfg.Every))
	l.next = now.Add(l.cfg.Every + jitter)
	l.b.SetTimer(l.next)
}

// OnTimer sends the kept parcels again, oldest first.
func (l *Layer) OnTimer(now time.Time) {
	l.next = time.Time{}
	if len(l.kept) == 0 {
		return
	}
	for _, k := range l.kept {
		c := k.Clone()
		l.refreshed++
		if err := l.b.Down.Handle(c); err != nil {
			break
		}
	}
	l.schedule(now)
}

// Up passes p on.
func (l *Layer) Up(p *stack.Packet) error { return l.b.Up.Handle(p) }

// Counters reports the layer's counters (stack.Counted).
func (l *Layer) Counters() map[string]uint64 {
	return map[string]uint64{"refreshed": l.refreshed, "kept": uint64(len(l.kept))}
}

// Close releases the kept parcels.
func (l *Layer) Close() error {
	for _, k := range l.kept {
		k.Release()
	}
	l.kept, l.bytes = nil, 0
	return nil
}

// Info describes the layer and its parameters to the registry.
func Info() registry.Info {
	return registry.Info{
		Summary: "sends the last parcels again every period (dynamic image protocol): losses and late joiners heal without asking",
		Params: []registry.ParamInfo{
			{Name: "every", Kind: registry.DurationParam, Min: "10ms", Default: "2s", Doc: "refresh period (±25% jitter)"},
			{Name: "keep", Kind: registry.IntParam, Max: "4096", Default: "64", Doc: "parcels kept for refreshing"},
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
