package impair

import (
	"fmt"
	"math"
	"time"
)

// Dir says which direction of traffic a layer impairs.
type Dir uint8

const (
	// DirDown impairs packets on their way down, to the wire (the default).
	DirDown Dir = 1 << iota
	// DirUp impairs packets on their way up, to the application.
	DirUp
	// DirBoth impairs both directions, each with its own random stream and
	// its own loss state.
	DirBoth = DirDown | DirUp
)

// String returns "down", "up" or "both", as in QoS strings.
func (d Dir) String() string {
	switch d {
	case DirDown:
		return "down"
	case DirUp:
		return "up"
	case DirBoth:
		return "both"
	}
	return fmt.Sprintf("Dir(%d)", uint8(d))
}

// ParseDir reads a direction as written in QoS strings: down, up or both.
func ParseDir(s string) (Dir, error) {
	switch s {
	case "down":
		return DirDown, nil
	case "up":
		return DirUp, nil
	case "both":
		return DirBoth, nil
	}
	return 0, fmt.Errorf("impair: direction %q is not one of down, up, both", s)
}

// MaxDelay bounds Delay, Jitter and ReorderWait: an impairment is for
// tests and demos, and ten seconds of held traffic is already a lot.
const MaxDelay = 10 * time.Second

// Config is the impair layer's configuration. Probabilities are fractions
// between 0 and 1 (the QoS string's 10% is 0.1). Its zero value is not
// valid (Burst and ReorderWait must be set); start from [DefaultConfig],
// which impairs nothing.
type Config struct {
	// Loss is the long-run probability that a packet is dropped.
	Loss float64
	// Burst is the mean length of a run of consecutive losses, at least 1.
	// 1 means independent (Bernoulli) losses; above 1 losses follow a
	// Gilbert–Elliott chain, see [Config.Transitions].
	Burst float64
	// Reorder is the probability that a packet is held back and released
	// right after the next packet that passes in the same direction.
	Reorder float64
	// ReorderWait is how long a held packet waits for a packet to overtake
	// it before a timer releases it anyway; in (0, MaxDelay].
	ReorderWait time.Duration
	// Delay is added to every packet's passage, in [0, MaxDelay].
	Delay time.Duration
	// Jitter spreads the delay uniformly over [Delay-Jitter, Delay+Jitter]
	// (clamped at 0), in [0, MaxDelay]. Jitter may exceed Delay.
	Jitter time.Duration
	// Dup is the probability that a packet is sent twice (the second copy
	// a clone, right after the first).
	Dup float64
	// Corrupt is the probability that one random byte of a packet is
	// flipped (XORed with a random non-zero mask).
	Corrupt float64
	// Seed seeds the random streams; 0 picks a random seed when the layer
	// is bound, available from [Layer.Seed] and reported as an event.
	Seed int64
	// Dir is the direction impaired; the zero value is not valid.
	Dir Dir
}

// DefaultConfig returns the identity configuration: no loss, bursts of 1,
// no reordering (with a 10ms wait, should it be turned on), no delay, no
// duplication, no corruption, a random seed, direction down.
func DefaultConfig() Config {
	return Config{Burst: 1, ReorderWait: 10 * time.Millisecond, Dir: DirDown}
}

// Identity reports whether the configuration leaves traffic alone: no
// loss, reordering, delay, jitter, duplication or corruption.
func (c Config) Identity() bool {
	return c.Loss == 0 && c.Reorder == 0 && c.Delay == 0 && c.Jitter == 0 && c.Dup == 0 && c.Corrupt == 0
}

// Transitions returns the per-packet transition probabilities of the
// Gilbert–Elliott loss chain: enter is P(good → bad), leave is
// P(bad → good). A packet is lost while the chain is in the bad state.
//
// The mean run of consecutive losses is 1/leave, so leave = 1/Burst; the
// long-run loss rate is enter/(enter+leave), so enter =
// Loss/(Burst·(1−Loss)). With Loss = 1 the chain enters the bad state and
// stays there (enter 1, leave 0). For Burst = 1 the layer draws losses
// independently instead (Transitions still reports the chain's values).
func (c Config) Transitions() (enter, leave float64) {
	if c.Loss >= 1 {
		return 1, 0
	}
	if c.Burst < 1 {
		return 0, 1
	}
	leave = 1 / c.Burst
	enter = min(c.Loss/(c.Burst*(1-c.Loss)), 1)
	return enter, leave
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if _, reason := c.check(); reason != "" {
		return fmt.Errorf("impair: %s", reason)
	}
	return nil
}

// check returns the name of the first bad parameter (as in QoS strings)
// and why it is bad, or "" and "".
func (c Config) check() (param, reason string) {
	for _, f := range []struct {
		name string
		v    float64
	}{{"loss", c.Loss}, {"reorder", c.Reorder}, {"dup", c.Dup}, {"corrupt", c.Corrupt}} {
		if !(f.v >= 0 && f.v <= 1) { // also catches NaN
			return f.name, fmt.Sprintf("%s %v is not a probability between 0 and 1 (0%% and 100%%)", f.name, f.v)
		}
	}
	if !(c.Burst >= 1) || math.IsInf(c.Burst, 0) {
		return "burst", fmt.Sprintf("burst %v must be a finite mean run length of at least 1 packet", c.Burst)
	}
	if c.Burst > 1 && c.Loss > 0 && c.Loss < 1 {
		// enter = loss/(burst·(1−loss)) must not exceed 1: the good runs
		// between bursts average 1/enter packets, never fewer than one.
		if c.Loss > c.Burst/(1+c.Burst)*(1+1e-12) {
			return "burst", fmt.Sprintf("burst %v is too short for loss %v%%: with gaps of at least one packet between bursts, "+
				"loss can be at most burst/(1+burst) = %.4g%%; raise burst to at least %.4g or lower loss",
				c.Burst, 100*c.Loss, 100*c.Burst/(1+c.Burst), c.Loss/(1-c.Loss))
		}
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{{"delay", c.Delay}, {"jitter", c.Jitter}, {"reorderwait", c.ReorderWait}} {
		if f.v < 0 || f.v > MaxDelay {
			return f.name, fmt.Sprintf("%s %v is out of range 0..%v", f.name, f.v, MaxDelay)
		}
	}
	if c.ReorderWait == 0 {
		return "reorderwait", "reorderwait must be positive"
	}
	if c.Dir != DirDown && c.Dir != DirUp && c.Dir != DirBoth {
		return "dir", fmt.Sprintf("direction %v is not one of down, up, both", c.Dir)
	}
	return "", ""
}
