package harness

import (
	"context"
	"errors"
	"fmt"
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

// Warmup is how long a measurement of d warms up first: a quarter of d,
// at least 20 ms and at most 250 ms.
func Warmup(d time.Duration) time.Duration {
	return min(max(d/4, 20*time.Millisecond), 250*time.Millisecond)
}

// Measure times a throughput run. It first warms up: it calls send for
// Warmup(d) and waits until the children (receivers) have what it sent
// (they then count afresh), so connections, windows, buffers and the
// runtime are warm. Then it reads the CPU clock, calls send again (which
// sends until its deadline and returns how many postings it sent to each
// receiver), stops the children with that count, and builds the Sample
// from their reports. Seconds runs from the start to the last delivery
// any receiver saw; CPU is this process's CPU time over the measured run,
// the drain included.
func Measure(ctx context.Context, children []*Child, d time.Duration, send func(deadline time.Time) (int64, error)) (Sample, error) {
	return measure(ctx, children, d, 0, send)
}

// MeasureReliable is Measure for a system that promises every posting:
// the children wait for all of them (warm-up and measurement), up to
// Bound, however long a gap between deliveries (a repair after a
// retransmission timeout on a busy machine), rather than until a Quiet
// period passes without one.
func MeasureReliable(ctx context.Context, children []*Child, d time.Duration, send func(deadline time.Time) (int64, error)) (Sample, error) {
	return measure(ctx, children, d, Bound, send)
}

func measure(ctx context.Context, children []*Child, d, quiet time.Duration, send func(deadline time.Time) (int64, error)) (Sample, error) {
	var s Sample
	fail := func(err error) (Sample, error) {
		for _, c := range children {
			c.Kill()
		}
		return s, err
	}
	warm, err := send(time.Now().Add(Warmup(d)))
	if err != nil {
		return fail(fmt.Errorf("warm-up: %w", err))
	}
	wrs, errs := askAll(ctx, children, "warm", warm, quiet, Bound+5*time.Second)
	if errors.Join(errs...) != nil {
		return fail(fmt.Errorf("warm-up: %w", errors.Join(errs...)))
	}
	for _, r := range wrs {
		// A reliable system's warm-up that has not all arrived within
		// Bound would leak into the measurement's count: a failure.
		if quiet >= Bound && r.Delivered < warm {
			return fail(fmt.Errorf("warm-up: a receiver had %d of %d postings after %v", r.Delivered, warm, Bound))
		}
	}
	user0, sys0 := CPUTimes()
	start := time.Now()
	sent, err := send(start.Add(d))
	if err != nil {
		return fail(err)
	}
	last := start
	var firstErr error
	rs, errs := stopAll(ctx, children, sent, quiet, Bound+5*time.Second)
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
	user1, sys1 := CPUTimes()
	s.CPU, s.CPUUser = (user1 + sys1 - user0 - sys0).Seconds(), (user1 - user0).Seconds()
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

// Paced calls send1 at rate calls per second until deadline (in bursts,
// sleeping between them) and returns how many calls there were; a rate
// of 0 calls it as fast as it returns.
func Paced(rate float64, deadline time.Time, send1 func() error) (int64, error) {
	var n int64
	if rate <= 0 {
		for ; n%16 != 0 || time.Now().Before(deadline); n++ {
			if err := send1(); err != nil {
				return n, err
			}
		}
		return n, nil
	}
	start := time.Now()
	for {
		now := time.Now()
		if !now.Before(deadline) {
			return n, nil
		}
		for due := int64(now.Sub(start).Seconds() * rate); n < due; n++ {
			if err := send1(); err != nil {
				return n, err
			}
		}
		time.Sleep(200 * time.Microsecond) // the pacing tick
	}
}
