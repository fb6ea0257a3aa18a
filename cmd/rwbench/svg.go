package main

import (
	"fmt"
	"html"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/rwanda-go/rwanda/cmd/rwbench/harness"
)

// writeSVGs writes the charts of res into dir: throughput by size, the
// round-trip CDF of the smallest size, and fan-out by N; only those with
// figures. It returns the files written.
func writeSVGs(dir string, res *Result) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var files []string
	write := func(name, svg string) error {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(svg), 0o644); err != nil {
			return err
		}
		files = append(files, p)
		return nil
	}
	rows := func(test string) []Row {
		var out []Row
		for _, r := range res.Rows {
			if r.Test == test {
				out = append(out, r)
			}
		}
		return out
	}
	sub := fmt.Sprintf("%s, %d CPUs, %s; median of %d × %s", res.Date, res.Machine.CPUs, res.Machine.Go, res.Reps, res.Duration)

	if rs := rows("throughput"); len(rs) > 0 {
		ss := seriesBy(rs, func(r Row) (float64, float64, bool) { return float64(r.Size), r.MBps.Median, r.MBps.Median > 0 })
		c := newCanvas(760, 480, "Throughput by posting size (MB/s delivered)", sub)
		xa := logAxis("posting size", sizeLabel)
		for _, r := range rs {
			if !slices.Contains(xa.at, float64(r.Size)) {
				xa.at = append(xa.at, float64(r.Size))
			}
		}
		c.lineChart(70, 70, 520, 340, xa, logAxis("MB/s", tick), ss, true)
		if err := write("throughput.svg", c.String()); err != nil {
			return files, err
		}
	}
	if rs := rows("latency"); len(rs) > 0 {
		small := rs[0].Size
		for _, r := range rs {
			small = min(small, r.Size)
		}
		var ss []series
		for _, r := range rs {
			if r.Size != small || len(r.CDF) != len(harness.CDFQuantiles) {
				continue
			}
			s := series{name: r.System}
			for i, q := range harness.CDFQuantiles {
				if r.CDF[i] > 0 {
					s.pts = append(s.pts, [2]float64{r.CDF[i], q})
				}
			}
			ss = append(ss, s)
		}
		c := newCanvas(760, 480, fmt.Sprintf("Round trip, %s postings: CDF", sizeName(small)), sub)
		c.lineChart(70, 70, 520, 340, logAxis("round trip, µs", tick), linAxis("share of round trips at most this long", 0, 1), ss, true)
		if err := write("latency-cdf.svg", c.String()); err != nil {
			return files, err
		}
	}
	if rs := rows("fanout"); len(rs) > 0 {
		c := newCanvas(1040, 480, fmt.Sprintf("Fan-out of %s postings to N receiver processes", sizeName(rs[0].Size)), sub)
		maxN := 1.0
		for _, r := range rs {
			maxN = max(maxN, float64(r.N))
		}
		rate := seriesBy(rs, func(r Row) (float64, float64, bool) { return float64(r.N), r.Rate.Median, true })
		nAxis := linAxis("receivers N", 0, maxN)
		nAxis.format = func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
		c.lineChart(70, 70, 340, 340, nAxis, linAxis("postings delivered/s (all receivers)", 0, 0), rate, false)
		cpu := seriesBy(rs, func(r Row) (float64, float64, bool) {
			if r.CPUPerPosting == nil {
				return 0, 0, false
			}
			return float64(r.N), r.CPUPerPosting.Median, true
		})
		c.lineChart(500, 70, 340, 340, nAxis, linAxis("sender CPU µs per posting sent to all", 0, 0), cpu, true)
		if err := write("fanout.svg", c.String()); err != nil {
			return files, err
		}
	}
	return files, nil
}

// series is one system's line.
type series struct {
	name string
	pts  [][2]float64
}

// seriesBy makes one series per system from rows, points sorted by x.
func seriesBy(rows []Row, f func(Row) (x, y float64, ok bool)) []series {
	var ss []series
	idx := map[string]int{}
	for _, r := range rows {
		x, y, ok := f(r)
		if !ok {
			continue
		}
		i, seen := idx[r.System]
		if !seen {
			i = len(ss)
			idx[r.System] = i
			ss = append(ss, series{name: r.System})
		}
		ss[i].pts = append(ss[i].pts, [2]float64{x, y})
	}
	for i := range ss {
		slices.SortFunc(ss[i].pts, func(a, b [2]float64) int {
			if a[0] < b[0] {
				return -1
			}
			if a[0] > b[0] {
				return 1
			}
			return 0
		})
	}
	return ss
}

// axis maps values to a chart's length; min = max = 0 fits the data.
type axis struct {
	label    string
	log      bool
	min, max float64
	at       []float64 // the ticks, if not the axis's own
	format   func(float64) string
}

func logAxis(label string, f func(float64) string) axis {
	return axis{label: label, log: true, format: f}
}
func linAxis(label string, lo, hi float64) axis {
	return axis{label: label, min: lo, max: hi, format: human}
}

func sizeLabel(v float64) string { return sizeName(int(v)) }

// tick writes a tick's value short: 1, 10, 100, 1k, 10k.
func tick(v float64) string {
	for _, u := range []struct {
		div    float64
		suffix string
	}{{1e9, "G"}, {1e6, "M"}, {1e3, "k"}, {1, ""}} {
		if v >= u.div {
			return strconv.FormatFloat(v/u.div, 'g', 3, 64) + u.suffix
		}
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// fit sets the axis's range from values, when it has none.
func (a *axis) fit(vs []float64) {
	if a.min != a.max || len(vs) == 0 {
		return
	}
	lo, hi := slices.Min(vs), slices.Max(vs)
	if a.log {
		a.min = math.Pow(10, math.Floor(math.Log10(lo)))
		a.max = math.Pow(10, math.Ceil(math.Log10(hi)))
		if a.min == a.max {
			a.max *= 10
		}
		return
	}
	a.min, a.max = min(0, lo), hi*1.1
	if a.max == a.min {
		a.max = a.min + 1
	}
}

// pos maps v to [0, 1].
func (a axis) pos(v float64) float64 {
	if a.log {
		return (math.Log10(v) - math.Log10(a.min)) / (math.Log10(a.max) - math.Log10(a.min))
	}
	return (v - a.min) / (a.max - a.min)
}

// ticks are the values to label.
func (a axis) ticks() []float64 {
	var t []float64
	if a.at != nil {
		return a.at
	}
	if a.log {
		for v := a.min; v <= a.max*1.0001; v *= 10 {
			t = append(t, v)
		}
		return t
	}
	step := math.Pow(10, math.Floor(math.Log10((a.max-a.min)/4)))
	for _, m := range []float64{1, 2, 5, 10} {
		if (a.max-a.min)/(step*m) <= 6 {
			step *= m
			break
		}
	}
	for v := math.Ceil(a.min/step) * step; v <= a.max+step/1e6; v += step {
		t = append(t, v)
	}
	return t
}

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"}

// canvas is an SVG document being written.
type canvas struct {
	strings.Builder
	w, h int
}

func newCanvas(w, h int, title, sub string) *canvas {
	c := &canvas{w: w, h: h}
	fmt.Fprintf(c, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(c, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(c, `<text x="20" y="28" font-size="16" font-weight="bold">%s</text>`+"\n", html.EscapeString(title))
	fmt.Fprintf(c, `<text x="20" y="48" fill="#555">%s</text>`+"\n", html.EscapeString(sub))
	return c
}

func (c *canvas) String() string { return c.Builder.String() + "</svg>\n" }

// lineChart draws series in the box at (x0, y0) of w × h, with axes,
// ticks and (if legend) a legend to its right. Systems of rwanda are solid
// lines, the others dashed.
func (c *canvas) lineChart(x0, y0, w, h float64, xa, ya axis, ss []series, legend bool) {
	var xs, ys []float64
	for _, s := range ss {
		for _, p := range s.pts {
			xs, ys = append(xs, p[0]), append(ys, p[1])
		}
	}
	xa.fit(xs)
	ya.fit(ys)
	X := func(v float64) float64 { return x0 + w*xa.pos(v) }
	Y := func(v float64) float64 { return y0 + h - h*ya.pos(v) }
	fmt.Fprintf(c, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#333"/>`+"\n", x0, y0, w, h)
	for _, t := range xa.ticks() {
		x := X(t)
		fmt.Fprintf(c, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", x, y0, x, y0+h)
		fmt.Fprintf(c, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x, y0+h+16, html.EscapeString(xa.format(t)))
	}
	for _, t := range ya.ticks() {
		y := Y(t)
		fmt.Fprintf(c, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", x0, y, x0+w, y)
		fmt.Fprintf(c, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", x0-6, y+4, html.EscapeString(ya.format(t)))
	}
	fmt.Fprintf(c, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x0+w/2, y0+h+36, html.EscapeString(xa.label))
	fmt.Fprintf(c, `<text transform="translate(%.1f %.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", x0-50, y0+h/2, html.EscapeString(ya.label))
	for i, s := range ss {
		color := palette[i%len(palette)]
		dash := ""
		if !strings.HasPrefix(s.name, "rwanda") {
			dash = ` stroke-dasharray="6 3"`
		}
		var pts []string
		for _, p := range s.pts {
			pts = append(pts, strconv.FormatFloat(X(p[0]), 'f', 1, 64)+","+strconv.FormatFloat(Y(p[1]), 'f', 1, 64))
		}
		fmt.Fprintf(c, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s><title>%s</title></polyline>`+"\n", strings.Join(pts, " "), color, dash, html.EscapeString(s.name))
		if len(s.pts) <= 12 {
			for _, p := range s.pts {
				fmt.Fprintf(c, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", X(p[0]), Y(p[1]), color)
			}
		}
		if !legend {
			continue
		}
		ly := y0 + 10 + float64(i)*18
		fmt.Fprintf(c, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"%s/>`+"\n", x0+w+12, ly, x0+w+36, ly, color, dash)
		fmt.Fprintf(c, `<text x="%.1f" y="%.1f">%s</text>`+"\n", x0+w+42, ly+4, html.EscapeString(s.name))
	}
}
