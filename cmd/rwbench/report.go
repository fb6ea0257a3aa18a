package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Result is everything a run measured; --json prints it as is.
type Result struct {
	Command     string       `json:"command"`
	Date        string       `json:"date"`
	Machine     Machine      `json:"machine"`
	Duration    string       `json:"duration"`    // of each repetition
	Warmup      string       `json:"warmup"`      // before each throughput and fan-out repetition
	FanoutRate  float64      `json:"fanout_rate"` // fan-out's offered rate, postings/s to each receiver (0: as fast as it goes)
	Reps        int          `json:"reps"`
	Peers       string       `json:"peers"` // what measured the peers, or why they were skipped
	Rows        []Row        `json:"rows"`
	Targets     []Target     `json:"targets,omitempty"`
	Sched       []SchedRow   `json:"sched,omitempty"`
	Scale       *ScaleResult `json:"scale,omitempty"`
	Skipped     []string     `json:"skipped,omitempty"`
	Errors      []string     `json:"errors,omitempty"`
	Interrupted string       `json:"interrupted,omitempty"`
	Elapsed     float64      `json:"elapsed_seconds"`
}

// Row is one system in one configuration: medians over repetitions with
// their range, and ratios to raw UDP and to the best peer of the same
// configuration in the same run.
type Row struct {
	Test   string  `json:"test"`
	System string  `json:"system"`
	Size   int     `json:"size"`
	N      int     `json:"n,omitempty"`        // receivers (fanout)
	Loss   float64 `json:"loss_pct,omitempty"` // loss
	Reps   int     `json:"reps"`
	// Metric names Value: "postings/s" (throughput, fanout, loss: delivered
	// postings per second, higher is better) or "p50_us" (latency: median
	// round trip, lower is better).
	Metric    string `json:"metric"`
	Value     Stat   `json:"value"`
	Rate      Stat   `json:"postings_per_s"`
	MBps      Stat   `json:"mb_per_s"`
	Sent      int64  `json:"sent"`      // all repetitions together
	Delivered int64  `json:"delivered"` // counted by the receivers, all repetitions together
	P50       *Stat  `json:"p50_us,omitempty"`
	P99       *Stat  `json:"p99_us,omitempty"`
	P999      *Stat  `json:"p999_us,omitempty"`
	// CPUPerPosting is the sender's CPU time per posting delivered to
	// every receiver (CPU ÷ (delivered ÷ receivers)), µs; CPUPerDelivery
	// divides by all deliveries.
	CPUPerPosting  *Stat `json:"cpu_us_per_posting,omitempty"`
	CPUPerDelivery *Stat `json:"cpu_us_per_delivery,omitempty"`
	// UserCPUPerPosting is the user part of CPUPerPosting, where measured:
	// the process's own work, without what the kernel did in its system
	// calls.
	UserCPUPerPosting *Stat     `json:"user_cpu_us_per_posting,omitempty"`
	CDF               []float64 `json:"cdf_us,omitempty"` // of the median repetition, at harness.CDFQuantiles
	// VsUDP is Value.Median ÷ UDP, the median of raw UDP's row of the same
	// configuration; VsBest is Value.Median ÷ Best, the best peer's.
	VsUDP    *float64 `json:"vs_udp,omitempty"`
	UDP      *float64 `json:"udp_value,omitempty"`
	VsBest   *float64 `json:"vs_best,omitempty"`
	Best     *float64 `json:"best_value,omitempty"`
	BestPeer string   `json:"best_peer,omitempty"`
	Note     string   `json:"note,omitempty"`
	// Settings says how the system was configured (MTU, kcp-go's modes,
	// how raw UDP reads), as its measurement reported it.
	Settings string `json:"settings,omitempty"`
	// Reliable says the system promises every posting: the row fails
	// (Failed) unless its receivers counted exactly what was sent.
	Reliable bool `json:"reliable,omitempty"`
	Failed   bool `json:"failed,omitempty"`
	// Packets and Repairs are the data packets the sender sent and the
	// repairs (retransmissions) among them, all repetitions together, for
	// systems that count them (rwanda's window).
	Packets int64 `json:"packets,omitempty"`
	Repairs int64 `json:"repairs,omitempty"`
}

// reliableSystems lists, by test, the systems that promise to deliver
// every posting: their rows must show 100 %.
var reliableSystems = map[string][]string{
	"throughput": {"rwanda-reliable", "rwanda-encrypt", "tcp", "grpc", "kcp", "quic"},
	"fanout":     {"rwanda-multicast", "rwanda-unicast"},
	"loss":       {"rwanda-reliable"},
}

// deliveryFailures lists the reliable rows that did not deliver every
// posting sent.
func deliveryFailures(rows []Row) []string {
	var out []string
	for _, r := range rows {
		if r.Failed {
			name := r.Test + " " + r.System + " " + sizeName(r.Size)
			if r.Test == "fanout" {
				name += fmt.Sprintf(" n=%d", r.N)
			}
			if r.Test == "loss" {
				name += fmt.Sprintf(" loss=%g%%", r.Loss)
			}
			why := "a reliable system must deliver every one"
			if r.Delivered > r.Sent {
				why = "more than were sent: the count is wrong"
			}
			out = append(out, fmt.Sprintf("%s: delivered %d of %d postings (%s): %s",
				name, r.Delivered, r.Sent, pct(r.Delivered, r.Sent), why))
		}
	}
	return out
}

// Stat is the median of repetitions and their range.
type Stat struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

func statOf(v []float64) Stat {
	s := slices.Clone(v)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Stat{Median: m, Min: s[0], Max: s[len(s)-1]}
}

func statPtr(v []float64) *Stat { s := statOf(v); return &s }

// peerSystems are the systems people use instead: the "best peer" is the
// best of them in a configuration.
var peerSystems = []string{"tcp", "nats", "grpc", "grpc-unary", "kcp", "quic"}

// baseline is raw UDP's system name in a test.
func baseline(test string) string {
	if test == "fanout" {
		return "udp-unicast"
	}
	return "udp"
}

// buildRows turns measured jobs into rows and computes their ratios.
func buildRows(jobs []*job) []Row {
	var rows []Row
	for _, j := range jobs {
		if len(j.samples) == 0 {
			continue
		}
		r := Row{Test: j.test, System: j.system, Size: j.size, N: j.n, Loss: j.loss, Reps: len(j.samples), Metric: "postings/s"}
		var rate, mbps, p50, p99, p999, cpuP, cpuD, userP []float64
		for _, s := range j.samples {
			rate = append(rate, s.Rate())
			mbps = append(mbps, s.MBps())
			r.Sent += s.Sent
			r.Delivered += s.Delivered
			if s.Note != "" {
				r.Note = s.Note
			}
			if s.Settings != "" {
				r.Settings = s.Settings
			}
			r.Packets += s.Packets
			r.Repairs += s.Repairs
			if s.Lat != nil {
				p50, p99, p999 = append(p50, s.Lat.P50), append(p99, s.Lat.P99), append(p999, s.Lat.P999)
			} else if s.Delivered > 0 && s.CPU > 0 {
				cpuD = append(cpuD, s.CPU/float64(s.Delivered)*1e6)
				cpuP = append(cpuP, s.CPU/(float64(s.Delivered)/float64(max(1, s.Receivers)))*1e6)
				userP = append(userP, s.CPUUser/(float64(s.Delivered)/float64(max(1, s.Receivers)))*1e6)
			}
		}
		r.Rate, r.MBps = statOf(rate), statOf(mbps)
		r.Value = r.Rate
		if len(p50) > 0 {
			r.P50, r.P99, r.P999 = statPtr(p50), statPtr(p99), statPtr(p999)
			r.Metric, r.Value = "p50_us", *r.P50
			for _, s := range j.samples { // the CDF of the median repetition
				if s.Lat.P50 == r.P50.Median || r.CDF == nil {
					r.CDF = s.Lat.CDF
				}
			}
		}
		if len(cpuP) == len(j.samples) {
			r.CPUPerPosting, r.CPUPerDelivery = statPtr(cpuP), statPtr(cpuD)
		}
		// Peers measured in their own processes report no user part: leave
		// it out rather than show 0. Systems measured here always have
		// it, 0 included: the kernel splits CPU time into user and
		// system by tick samples, so a short run spent mostly in system
		// calls can read no user time at all.
		if len(userP) == len(j.samples) && (slices.Max(userP) > 0 || !slices.Contains(peerSystems, r.System)) {
			r.UserCPUPerPosting = statPtr(userP)
		}
		r.Reliable = slices.Contains(reliableSystems[r.Test], r.System)
		r.Failed = r.Reliable && r.Delivered != r.Sent
		rows = append(rows, r)
	}
	type key struct {
		test       string
		size, n    int
		loss       float64
		lowerIsBet bool
	}
	keyOf := func(r Row) key { return key{r.Test, r.Size, r.N, r.Loss, r.Metric == "p50_us"} }
	udp := map[key]float64{}
	best := map[key]int{}
	for i, r := range rows {
		k := keyOf(r)
		if r.System == baseline(r.Test) {
			udp[k] = r.Value.Median
		}
		if slices.Contains(peerSystems, r.System) {
			b, ok := best[k]
			if !ok || (k.lowerIsBet && r.Value.Median < rows[b].Value.Median) || (!k.lowerIsBet && r.Value.Median > rows[b].Value.Median) {
				best[k] = i
			}
		}
	}
	for i := range rows {
		r := &rows[i]
		k := keyOf(*r)
		if u, ok := udp[k]; ok && u > 0 {
			r.UDP, r.VsUDP = ptr(u), ptr(r.Value.Median/u)
		}
		if b, ok := best[k]; ok && rows[b].Value.Median > 0 {
			v := rows[b].Value.Median
			r.Best, r.VsBest, r.BestPeer = ptr(v), ptr(r.Value.Median/v), rows[b].System
		}
	}
	return rows
}

func ptr(v float64) *float64 { return &v }

func writeJSON(w io.Writer, res *Result) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(res)
}

func writeCSV(w io.Writer, res *Result) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"test", "system", "size", "n", "loss_pct", "reps", "metric", "median", "min", "max",
		"postings_per_s", "mb_per_s", "sent", "delivered", "p50_us", "p99_us", "p999_us",
		"cpu_us_per_posting", "cpu_us_per_delivery", "vs_udp", "udp_value", "vs_best", "best_peer", "best_value"})
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
	fp := func(v *float64) string {
		if v == nil {
			return ""
		}
		return f(*v)
	}
	fs := func(s *Stat) string {
		if s == nil {
			return ""
		}
		return f(s.Median)
	}
	for _, r := range res.Rows {
		cw.Write([]string{r.Test, r.System, strconv.Itoa(r.Size), strconv.Itoa(r.N), f(r.Loss), strconv.Itoa(r.Reps), r.Metric,
			f(r.Value.Median), f(r.Value.Min), f(r.Value.Max), f(r.Rate.Median), f(r.MBps.Median),
			strconv.FormatInt(r.Sent, 10), strconv.FormatInt(r.Delivered, 10), fs(r.P50), fs(r.P99), fs(r.P999),
			fs(r.CPUPerPosting), fs(r.CPUPerDelivery), fp(r.VsUDP), fp(r.UDP), fp(r.VsBest), r.BestPeer, fp(r.Best)})
	}
	for _, r := range res.Sched {
		cw.Write([]string{"sched", "rwanda-" + r.Policy, "0", "0", "0", "1", fmt.Sprintf("miss_pct@U=%.2f", r.Utilisation),
			f(r.MissPct), f(r.MissPct), f(r.MissPct), "", "", strconv.Itoa(r.Jobs), strconv.Itoa(r.Jobs - r.Missed),
			"", "", "", "", "", "", "", "", "", ""})
	}
	if sr := res.Scale; sr != nil {
		stat := func(test string, n int, reps int, metric string, s Stat, sent, delivered int64) {
			cw.Write([]string{test, "rwanda-reliable", strconv.Itoa(scaleBody), strconv.Itoa(n), "0", strconv.Itoa(reps), metric,
				f(s.Median), f(s.Min), f(s.Max), "", "", strconv.FormatInt(sent, 10), strconv.FormatInt(delivered, 10),
				"", "", "", "", "", "", "", "", "", ""})
		}
		for _, r := range sr.Streams {
			stat("scale-streams", r.N, r.Reps, "heap_kib_per_stream", r.HeapKiBPerStream, r.Pushed, r.Delivered)
			stat("scale-streams", r.N, r.Reps, "first_delivery_us", r.FirstDeliveryUs, r.Pushed, r.Delivered)
		}
		for _, r := range sr.Members {
			stat("scale-members", r.M, r.Reps, "listener_heap_kib_per_member", r.ListenerKiBPerMemb, r.Pushed, r.Delivered)
			stat("scale-members", r.M, r.Reps, "senders_heap_kib_per_member", r.SendersKiBPerMemb, r.Pushed, r.Delivered)
			stat("scale-members", r.M, r.Reps, "total_heap_kib_per_member", r.TotalKiBPerMemb, r.Pushed, r.Delivered)
		}
	}
	cw.Flush()
	return cw.Error()
}

// offered writes fan-out's offered rate.
func offered(rate float64) string {
	if rate <= 0 {
		return "as many"
	}
	return human(rate)
}

// human writes a rate with three significant digits: 987, 1.23k, 45.6M.
func human(v float64) string {
	switch {
	case v >= 1e9:
		return sig(v/1e9) + "G"
	case v >= 1e6:
		return sig(v/1e6) + "M"
	case v >= 1e3:
		return sig(v/1e3) + "k"
	}
	return sig(v)
}

// sig writes v with three significant digits.
func sig(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case v >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

func ratio(v *float64, peer string) string {
	if v == nil {
		return "–"
	}
	s := strconv.FormatFloat(*v, 'f', 2, 64)
	if *v < 0.01 {
		s = strconv.FormatFloat(*v, 'g', 2, 64)
	}
	if peer != "" {
		s += " " + peer
	}
	return s
}

func rangeOf(s Stat, f func(float64) string) string {
	return fmt.Sprintf("%s [%s–%s]", f(s.Median), f(s.Min), f(s.Max))
}

// delivered writes a row's delivered share, marked FAIL when a reliable
// system did not deliver everything.
func delivered(r Row) string {
	if r.Failed && r.Delivered > r.Sent {
		return fmt.Sprintf("%s (%d over) FAIL", pct(r.Delivered, r.Sent), r.Delivered-r.Sent)
	}
	if r.Failed {
		return fmt.Sprintf("%s (%d short) FAIL", pct(r.Delivered, r.Sent), r.Sent-r.Delivered)
	}
	return pct(r.Delivered, r.Sent)
}

// repairs writes the share of a row's data packets that were repairs.
func repairs(r Row) string {
	if r.Packets == 0 {
		return "–"
	}
	return strconv.FormatFloat(100*float64(r.Repairs)/float64(r.Packets), 'f', 2, 64) + "%"
}

func pct(a, b int64) string {
	if b == 0 {
		return "–"
	}
	return strconv.FormatFloat(100*float64(a)/float64(b), 'f', 1, 64) + "%"
}

// writeTable prints the rows as aligned tables, one per test.
func writeTable(w io.Writer, res *Result) error {
	m := res.Machine
	fmt.Fprintf(w, "%s — %s — %s/%s, %d CPUs (%s), %s\n", strings.TrimSpace(res.Command), res.Date, m.OS, m.Arch, m.CPUs, m.CPU, m.Go)
	if res.Scale != nil {
		fmt.Fprintf(w, "each figure: median of %d repetitions [min–max]\n", res.Reps)
	} else {
		fmt.Fprintf(w, "each figure: median of %d repetitions of %s (after a %s warm-up) [min–max]; ×udp and ×best: the median divided by raw UDP's and by the best peer's (%s) in this run; delivered: counted by the far process; FAIL: a reliable system that did not deliver everything\n", res.Reps, res.Duration, res.Warmup, strings.Join(peerSystems, ", "))
	}
	fmt.Fprintf(w, "peers: %s\n", res.Peers)
	for _, test := range append(slices.Clone(subcommands), "fec") {
		var rows []Row
		for _, r := range res.Rows {
			if r.Test == test {
				rows = append(rows, r)
			}
		}
		if len(rows) == 0 {
			continue
		}
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		switch test {
		case "throughput":
			fmt.Fprintln(w, "throughput: postings delivered per second, one sender and one receiver process")
			fmt.Fprintln(tw, "system\tsize\tpostings/s [min–max]\tMB/s\tdelivered\t×udp\t×best peer")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.System, sizeName(r.Size), rangeOf(r.Rate, human), sig(r.MBps.Median),
					delivered(r), ratio(r.VsUDP, ""), ratio(r.VsBest, r.BestPeer))
			}
		case "latency":
			fmt.Fprintln(w, "latency: round trip to an echo process, µs")
			fmt.Fprintln(tw, "system\tsize\tp50 [min–max]\tp99\tp99.9\tlost\t×udp\t×best peer")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", r.System, sizeName(r.Size), rangeOf(*r.P50, sig), sig(r.P99.Median), sig(r.P999.Median),
					r.Sent-r.Delivered, ratio(r.VsUDP, ""), ratio(r.VsBest, r.BestPeer))
			}
		case "fanout":
			fmt.Fprintf(w, "fanout: one sender, N receiver processes, offered %s postings/s to each; postings delivered per second (all receivers); sender CPU per posting sent to all; repairs: retransmitted share of the sender's data packets\n", offered(res.FanoutRate))
			fmt.Fprintln(tw, "system\tsize\tN\tdelivered/s [min–max]\tdelivered\trepairs\tCPU µs/posting\tCPU µs/delivery\t×udp\t×best peer")
			for _, r := range rows {
				cp, cd := "–", "–"
				if r.CPUPerPosting != nil {
					cp, cd = rangeOf(*r.CPUPerPosting, sig), sig(r.CPUPerDelivery.Median)
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.System, sizeName(r.Size), r.N, rangeOf(r.Rate, human),
					delivered(r), repairs(r), cp, cd, ratio(r.VsUDP, ""), ratio(r.VsBest, r.BestPeer))
			}
		case "fec":
			writeFecRows(w, tw, rows)
		case "loss":
			fmt.Fprintln(w, "loss: goodput with a share of packets dropped (rwanda: impair layer, seed 7, repaired; udp: dropped at the sender, not repaired)")
			fmt.Fprintln(tw, "system\tsize\tloss\tpostings/s [min–max]\tMB/s\tdelivered\trepairs\t×udp")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%g%%\t%s\t%s\t%s\t%s\t%s\n", r.System, sizeName(r.Size), r.Loss, rangeOf(r.Rate, human), sig(r.MBps.Median),
					delivered(r), repairs(r), ratio(r.VsUDP, ""))
			}
		}
		tw.Flush()
		noted := map[string]bool{}
		for _, r := range rows {
			if r.Note != "" && !noted["note "+r.System] {
				fmt.Fprintf(w, "  note: %s: %s\n", r.System, r.Note)
				noted["note "+r.System] = true
			}
		}
		for _, r := range rows {
			if r.Settings != "" && !noted[r.System] {
				fmt.Fprintf(w, "  settings: %s: %s\n", r.System, r.Settings)
				noted[r.System] = true
			}
		}
	}
	writeSchedTable(w, res.Sched)
	writeScaleTable(w, res.Scale)
	writeTargets(w, res.Targets)
	fmt.Fprintln(w)
	for _, s := range res.Skipped {
		fmt.Fprintf(w, "skipped: %s\n", s)
	}
	for _, e := range res.Errors {
		fmt.Fprintf(w, "error: %s\n", e)
	}
	if res.Interrupted != "" {
		fmt.Fprintf(w, "interrupted: %s\n", res.Interrupted)
	}
	fmt.Fprintf(w, "took %.0fs\n", res.Elapsed)
	return nil
}
