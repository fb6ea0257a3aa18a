package main

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/rwanda-go/rwanda/sched"
)

// SchedRow is one policy at one utilisation in the scheduling experiment
// of the RWANDA paper, run on the send queue channels use (package sched)
// in scaled, simulated time: six clients needing 3, 3, 3, 6, 6, 6 units
// of link time every period, the period set by the utilisation, a job
// missed when it leaves the link after its next release.
type SchedRow struct {
	Policy      string  `json:"policy"`
	Utilisation float64 `json:"utilisation"`
	Jobs        int     `json:"jobs"`
	Missed      int     `json:"missed"`
	MissPct     float64 `json:"miss_pct"`
	Dropped     int     `json:"dropped_packets"` // EDF drops what cannot arrive in time
}

// schedUtilisations are the utilisations the experiment sweeps.
var schedUtilisations = []float64{0.5, 0.8, 0.95, 1.1, 1.3, 1.6}

// runSched runs the experiment: every policy at every utilisation. It is
// deterministic; a unit is 10 ms of link time.
func runSched() []SchedRow {
	var rows []SchedRow
	for _, p := range []sched.Policy{sched.None, sched.FIFO, sched.Priority, sched.EDF} {
		for _, u := range schedUtilisations {
			r := sched.PaperExperiment(p, u, 10*time.Millisecond).Run()
			rows = append(rows, SchedRow{Policy: p.String(), Utilisation: r.Utilisation, Jobs: r.Jobs, Missed: r.Missed,
				MissPct: 100 * r.MissRatio, Dropped: r.Dropped})
		}
	}
	return rows
}

func writeSchedTable(w io.Writer, rows []SchedRow) {
	if len(rows) == 0 {
		return
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "sched: the RWANDA scheduling experiment on the channel send queue, simulated time (6 clients: 3×3 + 3×6 units per period); deadline misses, %")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "policy")
	for _, u := range schedUtilisations {
		fmt.Fprintf(tw, "\tU=%.2f", u)
	}
	fmt.Fprintln(tw)
	for i := 0; i < len(rows); i += len(schedUtilisations) {
		fmt.Fprint(tw, rows[i].Policy)
		for _, r := range rows[i : i+len(schedUtilisations)] {
			fmt.Fprintf(tw, "\t%s", strconv.FormatFloat(r.MissPct, 'f', 1, 64))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}
