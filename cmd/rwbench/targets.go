package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Target is one of issue 18's goals, checked against a run's rows: the
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
	p50 := func(r *Row) float64 { return r.P50.Median }
	p99 := func(r *Row) float64 { return r.P99.Median }
	cpu := func(r *Row) float64 {
		if r.CPUPerPosting == nil {
			return 0
		}
		return r.CPUPerPosting.Median
	}
	add("reliable 64 B postings/s vs NATS", find("throughput", "rwanda-reliable", 64, 0), find("throughput", "nats", 64, 0), rate, "postings/s", true, 1)
	if r := find("throughput", "rwanda-reliable", 64<<10, 0); r != nil {
		// An absolute bound: the row against 1 GB/s.
		gb := Row{System: "1 GB/s", MBps: Stat{Median: 1000}}
		add("reliable 64 KiB MB/s at mtu=1472 vs 1 GB/s", r, &gb, mbps, "MB/s", true, 1)
	}
	add("reliable 64 KiB MB/s vs NATS", find("throughput", "rwanda-reliable", 64<<10, 0), find("throughput", "nats", 64<<10, 0), mbps, "MB/s", true, 1.5)
	add("channel over NATS vs plain NATS, 1 KiB postings/s (issue 27)", find("throughput", "rwanda-nats", 1024, 0), find("throughput", "nats", 1024, 0), rate, "postings/s", true, 0.5)
	lat := func(r *Row) *Row {
		if r == nil || r.P50 == nil || r.P99 == nil {
			return nil
		}
		return r
	}
	add("round trip 64 B p50 vs raw UDP (blocking reads)", lat(find("latency", "rwanda-reliable", 64, 0)), lat(find("latency", "udp", 64, 0)), p50, "µs p50", false, 2)
	add("round trip 64 B p99 vs raw UDP (blocking reads)", lat(find("latency", "rwanda-reliable", 64, 0)), lat(find("latency", "udp", 64, 0)), p99, "µs p99", false, 2)
	// Multicast fan-out: the largest sender CPU per posting over the
	// smallest, across N.
	var lo, hi *Row
	for i := range rows {
		r := &rows[i]
		if r.Test == "fanout" && r.System == "rwanda-multicast" && r.CPUPerPosting != nil {
			if lo == nil || cpu(r) < cpu(lo) {
				lo = r
			}
			if hi == nil || cpu(r) > cpu(hi) {
				hi = r
			}
		}
	}
	if lo != nil && lo.N != hi.N {
		var ns []string
		for _, r := range rows {
			if r.Test == "fanout" && r.System == "rwanda-multicast" && r.CPUPerPosting != nil {
				ns = append(ns, fmt.Sprint(r.N))
			}
		}
		a, b := *hi, *lo
		a.System, b.System = fmt.Sprintf("N=%d", hi.N), fmt.Sprintf("N=%d", lo.N)
		add(fmt.Sprintf("multicast sender CPU per posting, max/min over N = %s", strings.Join(ns, ", ")), &a, &b, cpu, "µs", false, 1.25)
		// On loopback the kernel hands a multicast datagram to every
		// receiving socket inside the sender's system call: raw UDP's own
		// spread is the floor of this ratio, shown beside it.
		var rlo, rhi float64
		for _, r := range rows {
			if r.Test == "fanout" && r.System == "udp-multicast" && r.CPUPerPosting != nil && r.Size == lo.Size {
				if c := cpu(&r); rlo == 0 || c < rlo {
					rlo = c
				}
				rhi = max(rhi, cpu(&r))
			}
		}
		if rlo > 0 && len(ts) > 0 && ts[len(ts)-1].Goal[:9] == "multicast" {
			ts[len(ts)-1].From += fmt.Sprintf(" (raw udp-multicast max/min in this run: %.2f)", rhi/rlo)
		}
		// The user part alone: the sender's own work, without the kernel's
		// delivery to the receivers (a note; the target is on the whole).
		if ulo, uhi, ok := spread(rows, "rwanda-multicast", lo.Size, userCPU); ok && len(ts) > 0 && ts[len(ts)-1].Goal[:9] == "multicast" {
			t := &ts[len(ts)-1]
			t.From += fmt.Sprintf("; user CPU alone max/min %.2f", uhi/ulo)
			if rulo, ruhi, ok := spread(rows, "udp-multicast", lo.Size, userCPU); ok {
				t.From += fmt.Sprintf(" (raw %.2f)", ruhi/rulo)
			}
		}
	}
	for _, r := range rows {
		if r.Test == "throughput" && r.System == "rwanda-encrypt" {
			add(fmt.Sprintf("encrypted vs plain (reliable), %s postings/s", sizeName(r.Size)),
				&r, find("throughput", "rwanda-reliable", r.Size, 0), rate, "postings/s", true, 0.7)
		}
	}
	return ts
}

// writeTargets prints the goals after the tables.
func writeTargets(w io.Writer, ts []Target) {
	if len(ts) == 0 {
		return
	}
	fmt.Fprintln(w, "\ntargets of issue 18 (ratios of medians above)")
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

// userCPU is a row's user CPU per posting, 0 where not measured.
func userCPU(r *Row) float64 {
	if r.UserCPUPerPosting == nil {
		return 0
	}
	return r.UserCPUPerPosting.Median
}

// spread is the smallest and the largest of f over the fan-out rows of
// system at size, across N; ok says there were two rows with figures.
func spread(rows []Row, system string, size int, f func(*Row) float64) (lo, hi float64, ok bool) {
	n := 0
	for i := range rows {
		r := &rows[i]
		if r.Test != "fanout" || r.System != system || r.Size != size {
			continue
		}
		v := f(r)
		if v <= 0 {
			continue
		}
		if n == 0 || v < lo {
			lo = v
		}
		hi = max(hi, v)
		n++
	}
	return lo, hi, n >= 2
}
