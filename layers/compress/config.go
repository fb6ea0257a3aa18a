package compress

import (
	"fmt"
)

// Algo is a compression algorithm. Its value is the kind byte that starts a
// packet compressed with it (see the package documentation).
type Algo uint8

const (
	// S2 is github.com/klauspost/compress/s2 in block mode: fast, a ratio
	// a little below zstd's fastest level.
	S2 Algo = 1
	// Zstd is github.com/klauspost/compress/zstd: better ratios, slower.
	Zstd Algo = 2
)

// String returns "s2" or "zstd".
func (a Algo) String() string {
	switch a {
	case S2:
		return "s2"
	case Zstd:
		return "zstd"
	}
	return fmt.Sprintf("Algo(%d)", uint8(a))
}

// ParseAlgo returns the algorithm named s ("s2" or "zstd").
func ParseAlgo(s string) (Algo, error) {
	switch s {
	case "s2":
		return S2, nil
	case "zstd":
		return Zstd, nil
	}
	return 0, fmt.Errorf("compress: unknown algorithm %q (want s2 or zstd)", s)
}

// Limits on the configuration.
const (
	// MaxS2Level is the highest s2 level: 1 is s2.Encode, 2
	// s2.EncodeBetter, 3 s2.EncodeBest.
	MaxS2Level = 3
	// MaxZstdLevel is the highest zstd level. Levels follow zstd's scale
	// and map onto the four speeds of the Go implementation: 1–2 fastest,
	// 3–5 default, 6–9 better, 10 and up best.
	MaxZstdLevel = 22
	// MaxMax is the largest Config.Max: no payload beyond 1 GiB is
	// compressed or accepted.
	MaxMax = 1 << 30
)

// Config is the compress layer's configuration. Its zero value is not
// valid; start from [DefaultConfig].
type Config struct {
	// Algo is the algorithm packets are compressed with on the way down.
	// On the way up the layer decodes whichever algorithm a packet's kind
	// byte names, whatever Algo says.
	Algo Algo
	// Level is the compression effort: 1 to [MaxS2Level] for s2, 1 to
	// [MaxZstdLevel] for zstd.
	Level int
	// Min is the smallest payload worth compressing: shorter ones are sent
	// stored. 0 tries every payload.
	Min int
	// Max bounds the payload, in bytes: the layer sends payloads of up to
	// Max + [HeaderAllowance] (larger ones are refused by Down with
	// [ErrTooLarge]) and delivers no more: a packet whose decoded length
	// would exceed that is dropped before any memory is allocated for it.
	// The allowance makes Max bound a posting's body, as frag's max does,
	// when the layer carries whole postings. At most [MaxMax].
	Max int64
}

// HeaderAllowance is how many bytes a payload may exceed Config.Max by:
// room for a posting's header (the same as frag's), so that
// compress(max=16MiB) carries a posting whose body is 16 MiB.
const HeaderAllowance = 8 << 10

// Largest is the largest payload the layer sends and delivers: Max and
// [HeaderAllowance].
func (c Config) Largest() int64 { return c.Max + HeaderAllowance }

// DefaultConfig returns the defaults: s2 at level 1, payloads under 64
// bytes stored, at most 16 MiB decoded.
func DefaultConfig() Config {
	return Config{Algo: S2, Level: 1, Min: 64, Max: 16 << 20}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	switch c.Algo {
	case S2:
		if c.Level < 1 || c.Level > MaxS2Level {
			return fmt.Errorf("compress: s2 level %d is out of range 1..%d", c.Level, MaxS2Level)
		}
	case Zstd:
		if c.Level < 1 || c.Level > MaxZstdLevel {
			return fmt.Errorf("compress: zstd level %d is out of range 1..%d", c.Level, MaxZstdLevel)
		}
	default:
		return fmt.Errorf("compress: unknown algorithm %v", c.Algo)
	}
	switch {
	case c.Min < 0:
		return fmt.Errorf("compress: min %d is negative", c.Min)
	case c.Max < 1 || c.Max > MaxMax:
		return fmt.Errorf("compress: max %d is out of range 1..%d", c.Max, MaxMax)
	}
	return nil
}
