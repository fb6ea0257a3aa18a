package harness

import (
	"context"
	"slices"
	"time"
)

// CDFQuantiles are the quantiles at which Latency.CDF holds round trips.
var CDFQuantiles = func() []float64 {
	var q []float64
	for i := 0; i < 100; i++ {
		q = append(q, float64(i)/100)
	}
	return append(q, 0.995, 0.999, 1)
}()

// Latencies summarises round-trip times (sorting ds in place); nil if ds
// is empty.
func Latencies(ds []time.Duration) *Latency {
	if len(ds) == 0 {
		return nil
	}
	slices.Sort(ds)
	us := func(q float64) float64 {
		i := int(q * float64(len(ds)))
		if i >= len(ds) {
			i = len(ds) - 1
		}
		return float64(ds[i].Nanoseconds()) / 1e3
	}
	l := &Latency{Count: len(ds), P50: us(0.5), P99: us(0.99), P999: us(0.999), Max: us(1)}
	for _, q := range CDFQuantiles {
		l.CDF = append(l.CDF, us(q))
	}
	return l
}

// Measure times a throughput run: it reads the CPU clock, calls send
// (which sends until its deadline and returns how many postings it sent
// to each receiver), stops the children (receivers) with that count, and
// builds the Sample from their reports. Seconds runs from the start to the
// last delivery any receiver saw; CPU is this process's CPU time over the
// whole run, the drain included.
func Measure(ctx context.Context, children []*Child, d time.Duration, send func(deadline time.Time) (int64, error)) (Sample, error) {
	var s Sample
	cpu0 := CPUTime()
	start := time.Now()
	sent, err := send(start.Add(d))
	if err != nil {
		for _, c := range children {
			c.Kill()
		}
		return s, err
	}
	last := start
	var firstErr error
	rs, errs := StopAll(ctx, children, sent, Bound+5*time.Second)
	for i, r := range rs {
		if errs[i] != nil && firstErr == nil {
			firstErr = errs[i]
		}
		s.Delivered += r.Delivered
		s.Bytes += r.Bytes
		if t := time.Unix(0, r.LastNs); r.Delivered > 0 && t.After(last) {
			last = t
		}
	}
	s.CPU = (CPUTime() - cpu0).Seconds()
	if firstErr != nil {
		return s, firstErr
	}
	s.Sent = sent * int64(len(children))
	s.Receivers = len(children)
	s.Seconds = last.Sub(start).Seconds()
	if s.Delivered == 0 {
		s.Seconds = d.Seconds()
	}
	return s, nil
}
