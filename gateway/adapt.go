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
	// a third of it from 10 % under the rate at which the path was last
	// found full to half as much again over it.
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
	// DelayHigh is the queueing delay (the least the client's reports
	// showed in a period, above the least seen on its path) at or above
	// which the rate is lowered before any loss (default 60 ms);
	// DelayLow the delay at or below which it may rise (default 20 ms).
	// Between the two it stays. Reports without timing leave loss alone
	// to judge.
	DelayHigh, DelayLow time.Duration
	// DelayBackoff multiplies the rate when the delay reaches DelayHigh;
	// default 0.9.
	DelayBackoff float64
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
	if c.DelayHigh <= 0 {
		c.DelayHigh = 60 * time.Millisecond
	}
	if c.DelayLow <= 0 || c.DelayLow > c.DelayHigh {
		c.DelayLow = min(20*time.Millisecond, c.DelayHigh/2)
	}
	if c.DelayBackoff <= 0 || c.DelayBackoff >= 1 {
		c.DelayBackoff = 0.9
	}
}

// minDelaySamples is the fewest timed reports in a period for its delay
// to fail a probe.
const minDelaySamples = 3

// A probe also fails when probePeakSamples reports or more of a period
// showed a queue of probePeakDelay or more, or one of DelayHigh or more
// (a report that echoes no new packet adds no sample, so a queue a frame
// met long ago is not seen again): the least delay of a period
// stays low while frames leave in bursts with gaps between them (the
// path's queue drains in the gaps), so the queue's peaks tell first that
// the path is full, before its tail-drop queue overflows (10 kB at
// 57 kB/s: 175 ms) and takes audio with the video.
const (
	probePeakDelay   = 40 * time.Millisecond
	probePeakSamples = 2
)

// heavyLoss is the loss at which a limited rate is lowered to what got
// through however far that is (otherwise at most halved): a first limit
// read from reports that left most of the loss out (a client hears of a
// stream, and reports on it, only once its announcement gets through).
const heavyLoss = 0.1

// An Adapter turns a client's reports into the rate of its token bucket.
// Loss at or above LossHigh lowers the rate: when limited, to Backoff
// times the rate less the loss, at most halving it unless heavyLoss or
// more is lost (the gateway sends in bursts at the rate, whole frames,
// whatever its average: a thinned flow's average says nothing of the
// path); unlimited, to Backoff times what got through of what it sent.
// No decrease goes below Min, nor below the floor (SetFloor) unless that
// is more than half the rate lowered or than the path was measured to
// deliver (Update's received). With timed reports (ObserveDelay) a
// limited rate's loss under heavyLoss counts only if some report of the
// period saw a queue of DelayLow or more (a tail-drop queue is full
// before it drops), or the period before lost as much. A queueing delay
// at or above DelayHigh through a period (its least) lowers a limited
// rate by DelayBackoff before loss comes, once while the queue drains.
// The period after a decrease is not judged (its reports still tell of
// the time before), the rate then holds, and probes upwards in small
// steps while loss stays at or below LossLow and delay at or below
// DelayLow, more gently near the rate at which the path was last found
// full, and just past it one step every two periods. A probe that meets
// loss above LossLow, delay above DelayLow, or a queue of probePeakDelay
// in two reports or of DelayHigh in one (the peaks frames' bursts leave:
// the least delay stays low between frames while the queue grows) goes
// back to the rate before it, or to the last rate that passed with no
// such peak if lower, and each failed probe doubles the wait before the
// next, so the client's quality does not flap. Loss that no report saw a
// queue with lowers nothing (once) but stops a rise. Otherwise loss or
// delay between the thresholds changes nothing.
//
// Time is an argument: an Adapter keeps no clock. It is not safe for
// concurrent use.
type Adapter struct {
	cfg       AdaptConfig
	rate      float64   // 0: unlimited
	ceiling   float64   // the rate at which loss was last seen
	cut       time.Time // when the rate was last lowered for loss or delay
	hold      time.Duration
	holdUntil time.Time
	raised    time.Time // when the rate last rose
	before    float64   // the rate before it last rose
	good      float64   // the last rate a clean period passed at with no queue peak
	clean     int       // clean periods in a row
	last      time.Time // the last judgement
	packets   uint64
	lost      uint64
	delay     time.Duration // the least queueing delay observed this period
	delayMax  time.Duration // and the most
	delayPeak int           // how many reached probePeakDelay
	delays    int           // how many were
	delayCut  time.Time     // when the rate was last lowered for delay
	cutDelay  time.Duration // the delay then, and since while it fell
	settle    int           // judgements still skipped: they follow a decrease
	// judged is what the last judgement went by.
	judged Judgement
	// floor is the least rate a decrease may set (SetFloor).
	floor float64
	// unexplained says the last judged period lost LossHigh or more with
	// no queue seen.
	unexplained bool
	// firstCut says the last decrease was the first limit.
	firstCut bool
}

// SetFloor sets the least rate a decrease may set, besides Min and up to
// half the rate it lowers: the gateway's measure of what it never thins
// and of audio, with a margin, so that a rate read too low from the first
// reports cannot starve a reliable stream (and repairs flooding in cannot
// hold a rate up).
func (a *Adapter) SetFloor(rate float64) { a.floor = max(rate, 0) }

// floorFor is the floor a decrease from base may not go below: at most
// half of base, and at most Backoff times what the client's path was
// measured to deliver (received, when known): a floor at or over that
// would only keep the path's queue full (the floor's own measure runs high while repairs
// and what waited for validation catch up).
func (a *Adapter) floorFor(base, received float64) float64 {
	f := min(a.floor, base/2)
	if received > 0 {
		f = min(f, received*a.cfg.Backoff)
	}
	return f
}

// Judgement is what an [Adapter] last judged: the packets and loss
// observed in the period, the least queueing delay (Timed: any), and the
// rate the gateway sent at.
type Judgement struct {
	Packets, Lost uint64
	Delay         time.Duration
	DelayMax      time.Duration
	Timed         bool
	Sending       float64
}

// Last is what the last judgement went by.
func (a *Adapter) Last() Judgement { return a.judged }

// NewAdapter returns an Adapter that starts with no limit (or at Max).
func NewAdapter(cfg AdaptConfig) *Adapter {
	cfg.defaults()
	return &Adapter{cfg: cfg, rate: cfg.Max, hold: cfg.Hold}
}

// Rate is the current rate (0: unlimited).
func (a *Adapter) Rate() float64 { return a.rate }

// Observe adds a report's figures: packets settled and of those lost, as
// the network lost them (what the gateway thinned itself left out of
// both).
func (a *Adapter) Observe(packets, lost uint64) {
	a.packets += packets
	a.lost += min(lost, packets)
}

// ObserveDelay adds a queueing delay a report showed: how much longer
// than the least seen on the path a packet took to reach the client (and
// its report to come back). A period is judged by the least it observed,
// so a client scheduled late now and then does not look congested.
func (a *Adapter) ObserveDelay(d time.Duration) {
	if a.delays == 0 || d < a.delay {
		a.delay = d
	}
	if a.delays == 0 || d > a.delayMax {
		a.delayMax = d
	}
	if a.delays == 0 {
		a.delayPeak = 0
	}
	if d >= probePeakDelay {
		a.delayPeak++
	}
	a.delays++
}

// Update judges what was observed since the last judgement, once a Period
// has passed, given the rate the gateway has been sending to the client
// at and the rate the client's path delivered (0: unknown; used, when
// lower, instead of what the loss leaves of the sending rate while the
// rate is unlimited, and as a cap on the floor); it returns the rate and
// whether it changed.
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
	delay, delayMax, timed, samples := a.delay, a.delayMax, a.delays > 0, a.delays
	peaks := 0
	if timed {
		peaks = a.delayPeak
	}
	a.delays = 0
	a.judged = Judgement{Packets: packets, Lost: lost, Delay: delay, DelayMax: delayMax, Timed: timed, Sending: sending}
	if a.settle > 0 {
		// The period after a decrease: its reports still tell of the
		// loss before it (reports lag, queues drain).
		a.settle--
		return a.rate, false
	}
	judged := packets >= a.cfg.MinPackets
	var loss float64
	if judged {
		loss = float64(lost) / float64(packets)
	}
	probing := !a.raised.IsZero() && now.Sub(a.raised) <= 2*a.cfg.Period
	// Delay judges a limited rate only: it tells of queues anywhere on
	// the way (the client's scheduling, the gateway's own input), so it
	// never imposes a limit, loss does.
	timed = timed && a.rate > 0
	// Loss that no report of the period saw a queue with (the most
	// delay under DelayLow) is not of the rate: a queue that overflows
	// was full first. It is the reports lagging behind a decrease, or
	// loss the rate does not cause, and it neither lowers a limited rate
	// nor fails a probe; but at LossLow or more (and MinLost) the rate
	// does not rise on it.
	// Heavy loss is of the rate whatever the delays: the least transit
	// a path's delays are measured from may itself have been taken
	// through a full queue.
	// So is loss of LossHigh or more in a second judged period in a row
	// (unexplained): a queue that never drains (a limit just over the
	// path's, set while the queue was full) leaves every transit at the
	// least, and only a decrease below the path's rate lets it drain and
	// shows the true least.
	unexplained := judged && loss >= a.cfg.LossHigh && lost >= a.cfg.MinLost
	congestive := !timed || delayMax >= a.cfg.DelayLow || judged && loss >= heavyLoss || unexplained && a.unexplained
	a.unexplained = unexplained && !congestive
	lossHigh := congestive && judged && loss >= a.cfg.LossHigh && lost >= a.cfg.MinLost
	lossSome := congestive && judged && loss > a.cfg.LossLow
	delayHigh := timed && delay >= a.cfg.DelayHigh
	delaySome := timed && delay > a.cfg.DelayLow
	switch {
	case delayHigh && !lossHigh && probing:
		// A probe that filled the path's queue: back to the rate
		// before it (the queue drains below it), and wait longer.
		a.probeFailed(now)
		a.delayCut, a.cutDelay = now, delay
		a.settle = 1
		return a.rate, true
	case delayHigh && !lossHigh && !a.delayCut.IsZero() && delay < a.cutDelay:
		// The queue that a decrease for delay left is draining, at the
		// margin the decrease made: no further decrease while it does.
		a.cutDelay = delay
		a.clean = 0
		return a.rate, false
	case lossHigh || delayHigh:
		base := a.rate
		if base <= 0 {
			base = sending
		}
		if base <= 0 {
			return a.rate, false // nothing measured to base a rate on
		}
		if probing {
			a.hold = min(2*a.hold, a.cfg.HoldMax) // a failed probe
		}
		// The rate at which the path was last found full: a cut soon
		// after another (the queue the first left still draining, or
		// reports of the time before it) lowers it no further.
		ceiling := base
		a.settle = 1
		first := a.rate <= 0
		if lossHigh {
			through := base * (1 - loss)
			if a.rate <= 0 {
				if received > 0 && received < through {
					through = received
				}
			} else if probing {
				// A probe that met loss: the rate before it got
				// through; a little under it.
				through = max(through, min(a.before, base))
			} else if loss < heavyLoss {
				// Limited: at most halved at a time (what the loss of
				// a period tells may still be of the time before),
				// unless most is lost.
				through = max(through, base/2)
			}
			a.rate = max(a.cfg.Min, a.floorFor(base, received), through*a.cfg.Backoff)
			// What the path took, as near as known (or the rate Min or
			// the floor held up: probes go gently from there too).
			ceiling = max(through, a.rate)
		} else {
			a.rate = max(a.cfg.Min, a.floorFor(base, received), base*a.cfg.DelayBackoff)
			a.delayCut, a.cutDelay = now, delay
		}
		if !a.cut.IsZero() && now.Sub(a.cut) <= 4*a.cfg.Period && !a.firstCut {
			ceiling = max(ceiling, a.ceiling)
		}
		// (Not after the first limit: what it took for the path's rate
		// was read from reports that left most of the loss out.)
		a.ceiling, a.cut, a.firstCut = ceiling, now, first
		a.good = min(a.good, a.rate)
		a.holdUntil = now.Add(a.hold)
		a.raised = time.Time{}
		a.clean = 0
		return a.rate, true
	case probing && (lossSome || delaySome && samples >= minDelaySamples || timed && (peaks >= probePeakSamples || delayMax >= a.cfg.DelayHigh)):
		// A probe that met some loss or delay (seen in enough reports:
		// one late client report is no queue): back to the rate before
		// it, and wait longer before the next.
		a.probeFailed(now)
		return a.rate, true
	case !judged && !delaySome:
		return a.rate, false // too little to go on
	case judged && loss > a.cfg.LossLow && lost >= a.cfg.MinLost && !delaySome:
		// Loss no report of the period saw a queue with: it lowers
		// nothing (see congestive), but the rate does not rise on it
		// either (the reports' delays are of the packets that arrived;
		// a queue that overflowed may have drained by the last).
		a.clean = 0
		return a.rate, false
	case !lossSome && !delaySome:
		a.delayCut = time.Time{}
		if a.rate > 0 && (!timed || delayMax < probePeakDelay) {
			a.good = a.rate
		}
		a.clean++
		if a.clean%10 == 0 {
			a.hold = max(a.cfg.Hold, a.hold/2)
		}
		if a.rate == 0 || now.Before(a.holdUntil) {
			return a.rate, false
		}
		step := a.cfg.Step
		if a.ceiling > 0 && a.rate >= 0.9*a.ceiling && a.rate < 1.5*a.ceiling {
			step /= 3
			if a.rate >= a.ceiling && a.rate < 1.1*a.ceiling && !a.raised.IsZero() && now.Sub(a.raised) < 2*a.cfg.Period {
				// Just past the rate at which the path was last found
				// full, each step is judged for two periods before the next:
				// the gateway sends whole frames, so a step shows in
				// what it sends only when it lets one more through,
				// and a queue grows slowly at a few percent over.
				return a.rate, false
			}
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

// probeFailed goes back from a probe that met the path's limit to the
// last rate a clean period passed at with no queue peak, if lower than
// the rate before the probe (a probe's queue may show only after the
// next has begun: the rate before it may be past the path's), by at most
// twice Step; remembers that rate as the ceiling; and doubles the wait
// before the next probe (up to HoldMax).
func (a *Adapter) probeFailed(now time.Time) {
	back := a.before
	if a.good > 0 && a.good < back {
		back = max(a.good, a.before*(1-2*a.cfg.Step))
	}
	a.ceiling = back
	a.rate = back
	a.hold = min(2*a.hold, a.cfg.HoldMax)
	a.holdUntil = now.Add(a.hold)
	a.raised = time.Time{}
	a.clean = 0
}
