package monitor

import (
	"fmt"
	"slices"
	"time"

	"github.com/rwanda-go/rwanda/stack"
)

// EventKind is the kind of the events the layer emits every report period
// while its flow is active.
const EventKind = "monitor-report"

// Figures are the measures of one flow at one receiver.
type Figures struct {
	// Rate is the bytes per second arriving, over the last K packets
	// (payload bytes, without the monitor's header).
	Rate float64
	// PacketRate is the packets per second arriving, likewise.
	PacketRate float64
	// Loss is the fraction of the last K settled sequence numbers that
	// were lost, 0 to 1.
	Loss float64
	// Jitter is the interarrival jitter of RFC 3550 §6.4.1.
	Jitter time.Duration
	// RTT is the smoothed round-trip time between the sender and the
	// receiver, known to the sender only; 0 when not known.
	RTT time.Duration
}

// Receiver is what a sender knows of one receiver, from its latest report.
type Receiver struct {
	Peer  uint64    // the receiver (stack.Meta.Peer of its reports)
	Heard time.Time // when its latest report arrived
	Figures
	Highest  uint64 // the highest sequence number it received
	Expected uint64 // sequence numbers settled at it (received or lost)
	Lost     uint64 // of those, lost
}

// Report is a snapshot of what the layer measured.
//
// In a receiver's stack, Figures are the receiver's own (without RTT),
// Median repeats them, and Lost, Expected, Late, Duplicates and Stale count
// its sequence numbers. In a sender's stack, Figures hold the worst of the
// receivers heard from recently, figure by figure (the slowest rate, the
// highest loss, jitter and RTT), Median the median receiver's, figure by
// figure, and Lost and Expected are those of the receiver that lost most.
type Report struct {
	Role    stack.Role
	At      time.Time
	Packets uint64 // data packets stamped (sender) or received, duplicates included (receiver)
	Bytes   uint64 // their payload bytes
	// SendRate and SendPacketRate are what a sender sends, over its last K
	// packets.
	SendRate, SendPacketRate float64
	Figures
	Median                  Figures
	Lost, Expected          uint64
	Late, Duplicates, Stale uint64
	Receivers               int    // receivers heard from recently (sender)
	Reports                 uint64 // reports sent (receiver) or taken (sender)
}

// Report returns what the layer measured so far.
func (l *Layer) Report() Report {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.bound {
		return Report{Role: l.role}
	}
	return l.reportLocked(l.Binding().Clock.Now())
}

// Receivers returns what a sender knows of each receiver heard from
// recently, in the order of their ids.
func (l *Layer) Receivers() []Receiver {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.bound {
		return nil
	}
	out := l.receiversLocked(l.Binding().Clock.Now())
	slices.SortFunc(out, func(a, b Receiver) int {
		switch {
		case a.Peer < b.Peer:
			return -1
		case a.Peer > b.Peer:
			return 1
		}
		return 0
	})
	return out
}

// Measure returns the figures for an adaptation policy (stack.Measurer):
// the worst receiver's at a sender, its own at a receiver.
func (l *Layer) Measure() stack.Measures {
	r := l.Report()
	return stack.Measures{Rate: r.Rate, PacketRate: r.PacketRate, Loss: r.Loss, RTT: r.RTT, Jitter: r.Jitter,
		Packets: r.Packets, Receivers: r.Receivers}
}

func (l *Layer) receiversLocked(now time.Time) []Receiver {
	out := make([]Receiver, 0, len(l.snd.peers))
	for _, p := range l.snd.peers {
		if now.Sub(p.heard) > l.forgetAfter() {
			continue
		}
		r := Receiver{Peer: p.id, Heard: p.heard, Highest: p.rep.highest, Expected: p.rep.expected, Lost: p.rep.lost}
		r.Rate, r.PacketRate = float64(p.rep.rate), float64(p.rep.mpps)/1000
		r.Loss = float64(p.rep.lossPPM) / 1e6
		r.Jitter = time.Duration(min(p.rep.jitter, 1<<40)) * time.Microsecond
		if p.hasRTT {
			r.RTT = p.srtt
		}
		out = append(out, r)
	}
	return out
}

func (l *Layer) reportLocked(now time.Time) Report {
	rep := Report{Role: l.role, At: now}
	if l.role == stack.Receiver {
		r := &l.rcv
		rep.Packets, rep.Bytes = r.packets, r.bytes
		rep.Rate, rep.PacketRate = r.rate.rates(now)
		if lost, of := r.seqs.recent(l.cfg.K); of > 0 {
			rep.Loss = float64(lost) / float64(of)
		}
		rep.Jitter = time.Duration(r.jitter * 1e3)
		rep.Median = rep.Figures
		rep.Lost, rep.Expected = r.seqs.lost, r.seqs.expected()
		rep.Late, rep.Duplicates, rep.Stale = r.seqs.late, r.seqs.dup, r.seqs.stale
		rep.Reports = r.reports
		return rep
	}
	s := &l.snd
	rep.Packets, rep.Bytes, rep.Reports = s.packets, s.bytes, s.reports
	rep.SendRate, rep.SendPacketRate = s.rate.rates(now)
	rcv := l.receiversLocked(now)
	rep.Receivers = len(rcv)
	if len(rcv) == 0 {
		return rep
	}
	var rate, pps, loss, jitter, rtt []float64
	for i, r := range rcv {
		rate, pps, loss = append(rate, r.Rate), append(pps, r.PacketRate), append(loss, r.Loss)
		jitter = append(jitter, float64(r.Jitter))
		if r.RTT > 0 {
			rtt = append(rtt, float64(r.RTT))
		}
		if i == 0 || r.Lost > rep.Lost {
			rep.Lost, rep.Expected = r.Lost, r.Expected
		}
	}
	var worst bool
	pick := func(v []float64) float64 { // the worst, then the median
		if len(v) == 0 {
			return 0
		}
		slices.Sort(v)
		if !worst {
			return median(v)
		}
		return v[len(v)-1]
	}
	for _, w := range []bool{true, false} {
		worst = w
		f := Figures{Loss: pick(loss), Jitter: time.Duration(pick(jitter)), RTT: time.Duration(pick(rtt))}
		slices.Sort(rate)
		slices.Sort(pps)
		if w {
			f.Rate, f.PacketRate = rate[0], pps[0]
			rep.Figures = f
		} else {
			f.Rate, f.PacketRate = median(rate), median(pps)
			rep.Median = f
		}
	}
	return rep
}

// median is the middle of sorted values, or the mean of the two middle
// ones.
func median(v []float64) float64 {
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// detail is the Detail of a "monitor-report" event.
func (r Report) detail() string {
	s := fmt.Sprintf("rate=%.0fB/s pps=%.1f loss=%.2f%% jitter=%v", r.Rate, r.PacketRate, 100*r.Loss, r.Jitter.Round(time.Microsecond))
	if r.Role == stack.Sender {
		return s + fmt.Sprintf(" rtt=%v receivers=%d sent=%.0fB/s", r.RTT.Round(time.Microsecond), r.Receivers, r.SendRate)
	}
	return s + fmt.Sprintf(" lost=%d/%d", r.Lost, r.Expected)
}

// Counters reports the layer's figures as counters (stack.Counted), so
// they appear in the stack's and the channel's Stats; zero ones are left
// out. Rates are rounded to whole units, loss in parts per million,
// durations in microseconds.
func (l *Layer) Counters() map[string]uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.bound {
		return nil
	}
	r := l.reportLocked(l.Binding().Clock.Now())
	us := func(d time.Duration) uint64 { return uint64(d / time.Microsecond) }
	ppm := func(f float64) uint64 { return uint64(f*1e6 + 0.5) }
	round := func(f float64) uint64 { return uint64(f + 0.5) }
	m := map[string]uint64{
		"packets": r.Packets, "bytes": r.Bytes,
		"rate-Bps": round(r.Rate), "pps": round(r.PacketRate), "loss-ppm": ppm(r.Loss), "lost": r.Lost,
		"jitter-us": us(r.Jitter), "reports": r.Reports, "overheard": l.snd.foreign,
	}
	if r.Role == stack.Sender {
		m["send-Bps"], m["send-pps"] = round(r.SendRate), round(r.SendPacketRate)
		m["rtt-us"], m["rtt-median-us"] = us(r.RTT), us(r.Median.RTT)
		m["loss-median-ppm"], m["jitter-median-us"] = ppm(r.Median.Loss), us(r.Median.Jitter)
		m["receivers"] = uint64(r.Receivers)
	} else {
		m["expected"], m["late"], m["duplicates"], m["stale"] = r.Expected, r.Late, r.Duplicates, r.Stale
		m["out-of-range"], m["restarts"] = l.rcv.seqs.outOfRange, l.rcv.seqs.restarts
	}
	for k, v := range m {
		if v == 0 {
			delete(m, k)
		}
	}
	return m
}
