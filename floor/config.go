package floor

import (
	"errors"
	"fmt"
	"time"
)

// Mode says where a resource's coordinator lives.
type Mode uint8

const (
	// Localised: the coordinator is stationary (a "localised resource" in
	// the Odust thesis, such as a shared tool): it stays where it was
	// elected, preferably the first voter in Config.Voters, and grants the
	// floor to holders elsewhere.
	Localised Mode = iota
	// Everywhere: the coordinator migrates with the floor (an "everywhere
	// resource", such as the audio channel): the holder is the coordinator,
	// and granting the floor to another member hands the coordination over
	// to it.
	Everywhere
)

func (m Mode) String() string {
	switch m {
	case Localised:
		return "localised"
	case Everywhere:
		return "everywhere"
	}
	return fmt.Sprintf("Mode(%d)", m)
}

// Policy is how the coordinator chooses the next holder.
type Policy uint8

const (
	// FIFO grants the floor in the order requests arrived.
	FIFO Policy = iota
	// Priority grants the floor to the highest priority waiting (FIFO among
	// equals); the holder keeps the floor until it releases it.
	Priority
	// Preemptive is Priority, and a request of higher priority than the
	// holder's takes the floor from it at once (Taken).
	Preemptive
	// DelayedPreemptive is Preemptive with a grace period (Config.Grace):
	// the holder is told, and loses the floor when it releases it or when
	// the grace period ends, whichever comes first.
	DelayedPreemptive
)

func (p Policy) String() string {
	switch p {
	case FIFO:
		return "fifo"
	case Priority:
		return "priority"
	case Preemptive:
		return "preemptive"
	case DelayedPreemptive:
		return "delayed-preemptive"
	}
	return fmt.Sprintf("Policy(%d)", p)
}

// Defaults of Config's zero fields.
const (
	DefaultLease  = 300 * time.Millisecond
	DefaultMargin = 0.01
)

// Config configures one member's view of one floor. Every member of a
// floor must use the same Voters, Mode, Policy, Lease and Margin; Name is
// the member's own.
type Config struct {
	// Name is this member's name, unique among the members of the floor
	// (two live members with one name would vote twice). A member that
	// restarts under the same name is a new incarnation: it honours the
	// promises of its previous one by not voting for a Lease after it
	// starts.
	Name string
	// Voters names the members whose majority elects the coordinator and
	// keeps its lease alive. Any member can request the floor and
	// coordinate; only voters vote. A floor stays available while a
	// majority of the voters is up and can reach each other.
	Voters []string
	// Mode: Localised (zero) or Everywhere.
	Mode Mode
	// Policy: FIFO (zero), Priority, Preemptive or DelayedPreemptive.
	Policy Policy
	// Lease is L, the length of the promises voters make to a coordinator
	// and of the leases the coordinator grants holders (default 300 ms).
	// A crashed holder or coordinator is replaced in about L.
	Lease time.Duration
	// Heartbeat is how often the coordinator sends its state and the
	// holder renews its lease (default Lease/4; at most Lease/2).
	Heartbeat time.Duration
	// Margin is ε: a member counts a lease it was given as (1−ε)·L from
	// its own request, while the member that gave it is bound for L from
	// receipt. The protocol is safe while every member's clock runs within
	// ρ ≤ ε/(2+ε) of true time (default ε = 0.01: ρ up to 4975 ppm, fifty
	// times the 100 ppm of ordinary quartz).
	Margin float64
	// Stagger separates the election timers of members of successive rank
	// (default 20 ms), so that one candidate usually stands at a time.
	Stagger time.Duration
	// Grace is the holder's grace period under DelayedPreemptive (default
	// Lease).
	Grace time.Duration
}

// Errors of Config.
var ErrConfig = errors.New("floor: bad config")

func (c Config) withDefaults() (Config, error) {
	if c.Lease == 0 {
		c.Lease = DefaultLease
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = c.Lease / 4
	}
	if c.Margin == 0 {
		c.Margin = DefaultMargin
	}
	if c.Stagger == 0 {
		c.Stagger = 20 * time.Millisecond
	}
	if c.Grace == 0 {
		c.Grace = c.Lease
	}
	bad := func(format string, a ...any) (Config, error) {
		return c, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, a...)...)
	}
	switch {
	case c.Name == "":
		return bad("Name is empty")
	case len(c.Name) > 64:
		return bad("Name %q is longer than 64 bytes", c.Name)
	case len(c.Voters) == 0:
		return bad("no Voters")
	case c.Lease < time.Millisecond:
		return bad("Lease %v is under 1ms", c.Lease)
	case c.Heartbeat <= 0 || c.Heartbeat > c.Lease/2:
		return bad("Heartbeat %v is not in (0, Lease/2]", c.Heartbeat)
	case c.Margin <= 0 || c.Margin >= 0.5:
		return bad("Margin %v is not in (0, 0.5)", c.Margin)
	case c.Stagger < 0 || c.Grace < 0:
		return bad("negative Stagger or Grace")
	case c.Mode > Everywhere:
		return bad("unknown Mode %d", c.Mode)
	case c.Policy > DelayedPreemptive:
		return bad("unknown Policy %d", c.Policy)
	}
	seen := map[string]bool{}
	for _, v := range c.Voters {
		if v == "" || seen[v] {
			return bad("Voters has an empty or repeated name %q", v)
		}
		seen[v] = true
	}
	c.Voters = append([]string(nil), c.Voters...)
	return c, nil
}
