package sched

import (
	"fmt"
	"time"
)

// Experiment is the scheduling experiment of the RWANDA paper in scaled
// time: clients each need some link time every period (the paper: six
// clients, three needing 3 units every t and three needing 6), released
// at evenly spread phases; a job must be sent before its next release (its
// deadline); the period sets the utilisation.
type Experiment struct {
	Work    []time.Duration // link time each client needs per period
	Period  time.Duration
	Rate    int64 // link bytes per second
	Packet  int   // bytes per packet
	Periods int   // how many periods each client releases a job
	Policy  Policy
}

// PaperExperiment returns the paper's six clients (3, 3, 3, 6, 6, 6 units,
// one unit being unit of link time) at the given utilisation, 1 MB/s
// link, 1000-byte packets, 200 periods.
func PaperExperiment(p Policy, utilisation float64, unit time.Duration) Experiment {
	work := []time.Duration{3 * unit, 3 * unit, 3 * unit, 6 * unit, 6 * unit, 6 * unit}
	var total time.Duration
	for _, w := range work {
		total += w
	}
	return Experiment{Work: work, Period: time.Duration(float64(total) / utilisation), Rate: 1_000_000, Packet: 1000, Periods: 200, Policy: p}
}

// Result is what an experiment measured.
type Result struct {
	Policy      Policy
	Utilisation float64 // work per period / period
	Jobs        int
	Missed      int // finished after their deadline, or dropped (EDF)
	Dropped     int // packets EDF dropped
	MissRatio   float64
}

func (r Result) String() string {
	return fmt.Sprintf("%-8v U=%.2f jobs=%d missed=%d (%.1f%%) dropped packets=%d", r.Policy, r.Utilisation, r.Jobs, r.Missed, 100*r.MissRatio, r.Dropped)
}

type job struct {
	left     int
	deadline time.Time
	dropped  bool
}

// Run simulates the experiment: a [Queue] at the link rate, the clients'
// jobs cut into packets, each job missed when its last packet leaves the
// link after its deadline or a packet of it was dropped.
func (e Experiment) Run() Result {
	var epoch time.Time // simulated time starts at the zero time
	q := NewQueue(e.Rate)
	var total time.Duration
	for _, w := range e.Work {
		total += w
	}
	res := Result{Policy: e.Policy, Utilisation: float64(total) / float64(e.Period)}
	jobs := []*job{}
	// Release times: client i at phase i·P/n, then every period.
	type release struct {
		at     time.Time
		client int
	}
	var rel []release
	for k := range e.Periods {
		for i := range e.Work {
			at := epoch.Add(time.Duration(k)*e.Period + time.Duration(i)*e.Period/time.Duration(len(e.Work)))
			rel = append(rel, release{at, i})
		}
	}
	// rel is sorted: phases are below one period.
	sortReleases := func() {
		for i := 1; i < len(rel); i++ {
			for j := i; j > 0 && rel[j].at.Before(rel[j-1].at); j-- {
				rel[j], rel[j-1] = rel[j-1], rel[j]
			}
		}
	}
	sortReleases()
	finish := func(j *job, at time.Time) {
		if j.dropped || at.After(j.deadline) {
			res.Missed++
		}
	}
	drop := func(it Item) {
		j := jobs[it.Value.(int)]
		j.left--
		res.Dropped++
		if !j.dropped {
			j.dropped = true
		}
		if j.left == 0 {
			finish(j, time.Time{})
		}
	}
	now := epoch
	ri := 0
	for ri < len(rel) || q.Len() > 0 {
		for ri < len(rel) && !rel[ri].at.After(now) {
			r := rel[ri]
			ri++
			bytes := int(float64(e.Work[r.client]) / float64(time.Second) * float64(e.Rate))
			n := (bytes + e.Packet - 1) / e.Packet
			j := &job{left: n, deadline: r.at.Add(e.Period)}
			id := len(jobs)
			jobs = append(jobs, j)
			res.Jobs++
			for k := range n {
				size := e.Packet
				if k == n-1 {
					size = bytes - (n-1)*e.Packet
				}
				q.Push(Item{Policy: e.Policy, Flow: uint64(r.client), Priority: int(e.Work[r.client]), Deadline: j.deadline,
					Size: size, Parcel: uint64(id + 1), Rest: bytes - k*e.Packet, Value: id})
			}
		}
		it, ok, retry := q.Pop(now, drop)
		if ok {
			j := jobs[it.Value.(int)]
			j.left--
			if j.left == 0 {
				finish(j, q.Free())
			}
			continue
		}
		switch {
		case !retry.IsZero() && (ri == len(rel) || retry.Before(rel[ri].at)):
			now = retry
		case ri < len(rel):
			now = rel[ri].at
		}
	}
	if res.Jobs > 0 {
		res.MissRatio = float64(res.Missed) / float64(res.Jobs)
	}
	return res
}
