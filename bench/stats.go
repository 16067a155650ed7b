package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// stat is the median and the spread (min–max) of one figure over repeats.
type stat struct{ Med, Min, Max float64 }

func statOf(vs []float64) stat {
	if len(vs) == 0 {
		return stat{math.NaN(), math.NaN(), math.NaN()}
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return stat{med, s[0], s[len(s)-1]}
}

// figure names one column of the table.
type figure int

const (
	figDeliv figure = iota
	figWrites
	figP50
	figP95
	figP99
	figMax
	figAllocs
	figBytes
	figPeak
	figLost
	figLag
	numFigures
)

// figures says how each figure is read from a result and printed.
var figures = [numFigures]struct {
	Name string // table header
	CSV  string // CSV column
	Get  func(result) float64
	Fmt  func(float64) string
}{
	figDeliv:  {"delivered/s", "delivered_per_s", result.DeliveredPerSec, fmtSI},
	figWrites: {"writes/msg", "writes_per_msg", result.WritesPerMsg, fmtRatio},
	figP50:    {"p50", "p50_s", func(r result) float64 { return r.P50.Seconds() }, fmtSeconds},
	figP95:    {"p95", "p95_s", func(r result) float64 { return r.P95.Seconds() }, fmtSeconds},
	figP99:    {"p99", "p99_s", func(r result) float64 { return r.P99.Seconds() }, fmtSeconds},
	figMax:    {"max", "max_s", func(r result) float64 { return r.Max.Seconds() }, fmtSeconds},
	figAllocs: {"allocs/msg", "allocs_per_msg", result.AllocsPerMsg, fmtRatio},
	figBytes:  {"B/msg", "bytes_per_msg", result.BytesPerMsg, fmtRatio},
	figPeak:   {"peak heap", "peak_heap_bytes", func(r result) float64 { return float64(r.PeakHeap) }, fmtBytes},
	figLost:   {"lost", "lost", func(r result) float64 { return float64(r.Lost()) }, fmtSI},
	figLag:    {"pub lag", "publish_lag_s", func(r result) float64 { return r.PublishLag.Seconds() }, fmtSeconds},
}

// summary is one peer's figures at one load level.
type summary struct {
	Peer string
	Runs int
	Figs [numFigures]stat
	Errs []string
}

func (s summary) get(f figure) stat { return s.Figs[f] }

// summarize groups results by peer, in the order of peers.
func summarize(peers []peer, results []result) []summary {
	var out []summary
	for _, p := range peers {
		var rs []result
		for _, r := range results {
			if r.Peer == p.Name {
				rs = append(rs, r)
			}
		}
		if len(rs) == 0 {
			continue
		}
		s := summary{Peer: p.Name, Runs: len(rs)}
		for f := range numFigures {
			vs := make([]float64, len(rs))
			for i, r := range rs {
				vs[i] = figures[f].Get(r)
			}
			s.Figs[f] = statOf(vs)
		}
		for _, r := range rs {
			if r.Err != "" {
				s.Errs = append(s.Errs, fmt.Sprintf("repeat %d: %s", r.Repeat, r.Err))
			}
		}
		out = append(out, s)
	}
	return out
}

// table renders summaries as a Markdown table: each cell is the median and,
// in brackets, the spread (min–max) over the repeats.
func table(sums []summary) string {
	header := []string{"peer"}
	for f := range numFigures {
		header = append(header, figures[f].Name)
	}
	rows := [][]string{header}
	for _, s := range sums {
		row := []string{s.Peer}
		for f := range numFigures {
			row = append(row, cell(s.get(f), figures[f].Fmt))
		}
		rows = append(rows, row)
	}
	var b strings.Builder
	b.WriteString(markdown(rows))
	for _, s := range sums {
		for _, e := range s.Errs {
			fmt.Fprintf(&b, "note: %s %s\n", s.Peer, e)
		}
	}
	return b.String()
}

func cell(v stat, format func(float64) string) string {
	lo, hi := format(v.Min), format(v.Max)
	if lo == hi {
		return format(v.Med)
	}
	return fmt.Sprintf("%s (%s–%s)", format(v.Med), lo, hi)
}

func markdown(rows [][]string) string {
	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], len([]rune(c)))
		}
	}
	var b strings.Builder
	line := func(r []string) {
		b.WriteString("|")
		for i, c := range r {
			fmt.Fprintf(&b, " %s%s |", c, strings.Repeat(" ", widths[i]-len([]rune(c))))
		}
		b.WriteString("\n")
	}
	line(rows[0])
	sep := make([]string, len(widths))
	for i, w := range widths {
		sep[i] = strings.Repeat("-", w)
	}
	line(sep)
	for _, r := range rows[1:] {
		line(r)
	}
	return b.String()
}

func fmtSI(v float64) string {
	switch a := math.Abs(v); {
	case math.IsNaN(v):
		return "-"
	case a >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case a >= 1e4:
		return fmt.Sprintf("%.0fk", v/1e3)
	case a >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}

func fmtRatio(v float64) string {
	switch a := math.Abs(v); {
	case math.IsNaN(v):
		return "-"
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 0.1 || a == 0:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

func fmtSeconds(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	d := time.Duration(v * 1e9)
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.0fms", float64(d)/1e6)
	case d >= time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.0fµs", float64(d)/1e3)
	}
}

func fmtBytes(v float64) string {
	switch {
	case math.IsNaN(v):
		return "-"
	case v >= 1<<20:
		return fmt.Sprintf("%.1fMiB", v/(1<<20))
	case v >= 1<<10:
		return fmt.Sprintf("%.0fKiB", v/(1<<10))
	default:
		return fmt.Sprintf("%.0fB", v)
	}
}
