package gateway

import "time"

// AdaptConfig configures an [Adapter]. Rates are in bytes per second.
type AdaptConfig struct {
	// Min is the lowest rate the adapter sets; default 16 000 B/s.
	Min float64
	// Max caps the rate; 0: none (the adapter lifts the limit altogether
	// once probing has gone well past the rate at which loss was last
	// seen).
	Max float64
	// Period is how often the adapter judges the loss reported since its
	// last judgement; default 500 ms.
	Period time.Duration
	// LossHigh is the loss at or above which the rate is lowered (default
	// 2 %); LossLow the loss at or below which it may rise (default
	// 0.5 %). Between the two it stays: the hysteresis band.
	LossHigh, LossLow float64
	// Backoff multiplies what got through when the rate is lowered;
	// default 0.85.
	Backoff float64
	// Step is the rise per clean period while probing (default 0.06),
	// a third of it within 10 % of the rate at which loss was last seen.
	Step float64
	// Hold is how long the rate stays after being lowered before it may
	// rise (default 2 s); a probe that meets loss within two periods
	// doubles it, up to HoldMax (default 16 s), and a rate that has held
	// clean for ten periods halves it back towards Hold.
	Hold, HoldMax time.Duration
	// MinPackets is the fewest packets a judgement needs (default 20),
	// and MinLost the fewest lost for it to lower the rate (default 2: one
	// packet in a few dozen is not a trend).
	MinPackets, MinLost uint64
}

func (c *AdaptConfig) defaults() {
	if c.Min <= 0 {
		c.Min = 16000
	}
	if c.Period <= 0 {
		c.Period = 500 * time.Millisecond
	}
	if c.LossHigh <= 0 {
		c.LossHigh = 0.02
	}
	if c.LossLow <= 0 {
		c.LossLow = 0.005
	}
	if c.Backoff <= 0 || c.Backoff >= 1 {
		c.Backoff = 0.85
	}
	if c.Step <= 0 {
		c.Step = 0.06
	}
	if c.Hold <= 0 {
		c.Hold = 2 * time.Second
	}
	if c.HoldMax < c.Hold {
		c.HoldMax = max(16*time.Second, c.Hold)
	}
	if c.MinPackets == 0 {
		c.MinPackets = 20
	}
	if c.MinLost == 0 {
		c.MinLost = 2
	}
}

// An Adapter turns a client's reported loss into the rate of its token
// bucket: it lowers the rate to a little under what got through when loss
// reaches LossHigh, ignores the period after (whose reports still tell of
// the loss before), holds it, then probes upwards in small steps while
// loss stays at or below LossLow, more gently near the rate at which loss
// was last seen. A probe that meets loss above LossLow goes back to the
// rate before it, and each failed probe doubles the wait before the next,
// so the client's quality does not flap. Otherwise loss between the two
// thresholds changes nothing.
//
// Time is an argument: an Adapter keeps no clock. It is not safe for
// concurrent use.
type Adapter struct {
	cfg       AdaptConfig
	rate      float64 // 0: unlimited
	ceiling   float64 // the rate at which loss was last seen
	hold      time.Duration
	holdUntil time.Time
	raised    time.Time // when the rate last rose
	before    float64   // the rate before it last rose
	clean     int       // clean periods in a row
	last      time.Time // the last judgement
	packets   uint64
	lost      uint64
	settle    bool // the next judgement is skipped: it follows a decrease
}

// NewAdapter returns an Adapter that starts with no limit (or at Max).
func NewAdapter(cfg AdaptConfig) *Adapter {
	cfg.defaults()
	return &Adapter{cfg: cfg, rate: cfg.Max, hold: cfg.Hold}
}

// Rate is the current rate (0: unlimited).
func (a *Adapter) Rate() float64 { return a.rate }

// Observe adds a report's figures: packets settled and of those lost, as
// the network lost them (what the gateway thinned itself left out).
func (a *Adapter) Observe(packets, lost uint64) {
	a.packets += packets
	a.lost += min(lost, packets)
}

// Update judges what was observed since the last judgement, once a Period
// has passed, given the rate the gateway has been sending to the client
// at and the rate the client reports receiving (0: unknown); it returns
// the rate and whether it changed. A lowered rate is Backoff times what
// got through: the received rate where known, else the sending rate
// less the loss.
func (a *Adapter) Update(now time.Time, sending, received float64) (float64, bool) {
	if a.last.IsZero() {
		a.last = now
		return a.rate, false
	}
	if now.Sub(a.last) < a.cfg.Period {
		return a.rate, false
	}
	a.last = now
	packets, lost := a.packets, a.lost
	a.packets, a.lost = 0, 0
	if a.settle {
		// The period after a decrease: its reports still tell of the
		// loss before it (reports lag, queues drain).
		a.settle = false
		return a.rate, false
	}
	if packets < a.cfg.MinPackets {
		return a.rate, false
	}
	loss := float64(lost) / float64(packets)
	switch {
	case loss >= a.cfg.LossHigh && lost >= a.cfg.MinLost:
		base := sending
		if a.rate > 0 && (base <= 0 || a.rate < base) {
			base = a.rate
		}
		if base <= 0 {
			return a.rate, false // nothing measured to base a rate on
		}
		if !a.raised.IsZero() && now.Sub(a.raised) <= 2*a.cfg.Period {
			a.hold = min(2*a.hold, a.cfg.HoldMax) // a failed probe
		}
		a.ceiling = base
		through := base * (1 - loss)
		if received > 0 && received < base {
			through = received
		}
		a.rate = max(a.cfg.Min, through*a.cfg.Backoff)
		a.holdUntil = now.Add(a.hold)
		a.raised = time.Time{}
		a.clean = 0
		a.settle = true
		return a.rate, true
	case loss > a.cfg.LossLow && !a.raised.IsZero() && now.Sub(a.raised) <= 2*a.cfg.Period:
		// A probe that met some loss: back to the rate before it, and
		// wait longer before the next.
		a.ceiling = a.rate
		a.rate = a.before
		a.hold = min(2*a.hold, a.cfg.HoldMax)
		a.holdUntil = now.Add(a.hold)
		a.raised = time.Time{}
		a.clean = 0
		return a.rate, true
	case loss <= a.cfg.LossLow:
		a.clean++
		if a.clean%10 == 0 {
			a.hold = max(a.cfg.Hold, a.hold/2)
		}
		if a.rate == 0 || now.Before(a.holdUntil) {
			return a.rate, false
		}
		step := a.cfg.Step
		if a.ceiling > 0 && a.rate >= 0.9*a.ceiling && a.rate < 1.1*a.ceiling {
			step /= 3
		}
		a.before = a.rate
		a.rate *= 1 + step
		if a.cfg.Max > 0 && a.rate >= a.cfg.Max {
			a.rate = a.cfg.Max
		} else if a.cfg.Max == 0 && a.ceiling > 0 && a.rate >= 4*a.ceiling {
			a.rate = 0 // far past any loss seen: no limit
		}
		a.raised = now
		return a.rate, true
	}
	a.clean = 0
	return a.rate, false
}
