package main

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// Target is one of issue 6's goals, checked against a run's rows: the
// ratio of two figures of the run and whether it meets the bound.
type Target struct {
	Goal  string  `json:"goal"`
	Ratio float64 `json:"ratio"`
	Bound string  `json:"bound"` // e.g. "≥ 2"
	Met   bool    `json:"met"`
	From  string  `json:"from"` // the two figures divided
}

// targets computes the goals whose figures the rows hold.
func targets(rows []Row) []Target {
	find := func(test, system string, size, n int) *Row {
		for i := range rows {
			r := &rows[i]
			if r.Test == test && r.System == system && r.Size == size && r.N == n && r.Loss == 0 {
				return r
			}
		}
		return nil
	}
	var ts []Target
	add := func(goal string, a, b *Row, fig func(*Row) float64, unit string, atLeast bool, bound float64) {
		if a == nil || b == nil || fig(b) == 0 {
			return
		}
		r := fig(a) / fig(b)
		t := Target{Goal: goal, Ratio: r, Met: r >= bound,
			From: fmt.Sprintf("%s %s / %s %s %s", a.System, human(fig(a)), b.System, human(fig(b)), unit)}
		if atLeast {
			t.Bound = fmt.Sprintf("≥ %g", bound)
		} else {
			t.Bound, t.Met = fmt.Sprintf("≤ %g", bound), r <= bound
		}
		ts = append(ts, t)
	}
	rate := func(r *Row) float64 { return r.Rate.Median }
	mbps := func(r *Row) float64 { return r.MBps.Median }
	p50 := func(r *Row) float64 { return r.Value.Median }
	cpu := func(r *Row) float64 {
		if r.CPUPerPosting == nil {
			return 0
		}
		return r.CPUPerPosting.Median
	}
	add("reliable 64 B postings/s vs NATS", find("throughput", "rwanda-reliable", 64, 0), find("throughput", "nats", 64, 0), rate, "postings/s", true, 2)
	add("reliable 64 KiB MB/s vs NATS", find("throughput", "rwanda-reliable", 64<<10, 0), find("throughput", "nats", 64<<10, 0), mbps, "MB/s", true, 2)
	add("reliable 64 KiB MB/s vs kcp-go", find("throughput", "rwanda-reliable", 64<<10, 0), find("throughput", "kcp", 64<<10, 0), mbps, "MB/s", true, 5)
	add("channel over NATS vs plain NATS, 1 KiB postings/s (issue 27)", find("throughput", "rwanda-nats", 1024, 0), find("throughput", "nats", 1024, 0), rate, "postings/s", true, 0.5)
	add("round trip 64 B vs raw UDP", find("latency", "rwanda-reliable", 64, 0), find("latency", "udp", 64, 0), p50, "µs p50", false, 1.5)
	add("round trip 64 B vs gRPC unary", find("latency", "rwanda-reliable", 64, 0), find("latency", "grpc-unary", 64, 0), p50, "µs p50", false, 0.3)
	maxN := 0
	for _, r := range rows {
		if r.Test == "fanout" && r.System == "rwanda-multicast" {
			maxN = max(maxN, r.N)
		}
	}
	if maxN > 1 {
		for _, r := range rows {
			if r.Test == "fanout" && r.System == "rwanda-multicast" && r.N == 1 {
				add(fmt.Sprintf("multicast sender CPU per posting, N = %d vs N = 1 (flat: ≤ 1.25)", maxN),
					find("fanout", "rwanda-multicast", r.Size, maxN), find("fanout", "rwanda-multicast", r.Size, 1), cpu, "µs", false, 1.25)
			}
		}
	}
	for _, r := range rows {
		if r.Test == "throughput" && r.System == "rwanda-encrypt" {
			add(fmt.Sprintf("encrypted vs plain (reliable), %s postings/s", sizeName(r.Size)),
				&r, find("throughput", "rwanda-reliable", r.Size, 0), rate, "postings/s", true, 0.6)
		}
	}
	return ts
}

// writeTargets prints the goals after the tables.
func writeTargets(w io.Writer, ts []Target) {
	if len(ts) == 0 {
		return
	}
	fmt.Fprintln(w, "\ntargets of issue 6 (ratios of medians above)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "goal\tratio\twant\tmet\tfrom")
	for _, t := range ts {
		met := "no"
		if t.Met {
			met = "yes"
		}
		fmt.Fprintf(tw, "%s\t%.2f\t%s\t%s\t%s\n", t.Goal, t.Ratio, t.Bound, met, t.From)
	}
	tw.Flush()
}
