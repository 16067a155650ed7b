package main

import (
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// level is one load level's runs.
type level struct {
	cfg     config
	results []result
}

func f64(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
func u64(v uint64) string  { return strconv.FormatUint(v, 10) }
func i64(v int64) string   { return strconv.FormatInt(v, 10) }

func levelFields(c config) []string {
	return []string{strconv.Itoa(c.Subs), strconv.Itoa(c.Msgs), strconv.Itoa(c.Burst), strconv.Itoa(c.Size),
		f64(c.Tick.Seconds()), strconv.Itoa(c.Queue)}
}

var levelHeader = []string{"subs", "msgs", "burst", "size", "tick_s", "queue"}

// writeRunsCSV writes one row per run.
func writeRunsCSV(path string, levels []level) error {
	header := append(append([]string{}, levelHeader...),
		"peer", "repeat", "order", "expected", "delivered", "lost", "misordered",
		"elapsed_s", "publish_lag_s", "timer_late_s", "delivered_per_s", "writes", "writes_per_msg",
		"write_syscalls", "p50_s", "p95_s", "p99_s", "max_s",
		"allocs", "allocs_per_msg", "bytes", "bytes_per_msg", "peak_heap_bytes", "error")
	rows := [][]string{header}
	for _, l := range levels {
		for _, r := range l.results {
			rows = append(rows, append(levelFields(l.cfg),
				r.Peer, strconv.Itoa(r.Repeat), strconv.Itoa(r.Order), i64(r.Expected), i64(r.Delivered),
				i64(r.Lost()), i64(r.Misordered), f64(r.Elapsed.Seconds()), f64(r.PublishLag.Seconds()), f64(r.TimerLate.Seconds()),
				f64(r.DeliveredPerSec()), u64(r.Writes), f64(r.WritesPerMsg()), u64(r.Syscalls),
				f64(r.P50.Seconds()), f64(r.P95.Seconds()), f64(r.P99.Seconds()), f64(r.Max.Seconds()),
				u64(r.Allocs), f64(r.AllocsPerMsg()), u64(r.Bytes), f64(r.BytesPerMsg()), u64(r.PeakHeap), r.Err))
		}
	}
	return writeCSV(path, rows)
}

// writeSummaryCSV writes one row per level and peer: each figure's median,
// min and max.
func writeSummaryCSV(path string, levels []level, peers []peer) error {
	header := append(append([]string{}, levelHeader...), "peer", "runs")
	for f := range numFigures {
		k := figures[f].CSV
		header = append(header, k+"_med", k+"_min", k+"_max")
	}
	rows := [][]string{header}
	for _, l := range levels {
		for _, s := range summarize(peers, l.results) {
			row := append(levelFields(l.cfg), s.Peer, strconv.Itoa(s.Runs))
			for f := range numFigures {
				v := s.get(f)
				row = append(row, f64(v.Med), f64(v.Min), f64(v.Max))
			}
			rows = append(rows, row)
		}
	}
	return writeCSV(path, rows)
}

func writeCSV(path string, rows [][]string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	if err := w.WriteAll(rows); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// readRunsCSV reads what writeRunsCSV wrote, as far as the figures need.
func readRunsCSV(path string) ([]level, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, err
	}
	if len(rows) < 2 {
		return nil, fmt.Errorf("%s: no runs", path)
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[name] = i
	}
	var levels []level
	for _, row := range rows[1:] {
		var bad error
		num := func(name string) float64 {
			i, ok := col[name]
			if !ok || i >= len(row) {
				bad = fmt.Errorf("%s: no column %q", path, name)
				return 0
			}
			v, err := strconv.ParseFloat(row[i], 64)
			if err != nil {
				bad = fmt.Errorf("%s: %s: %w", path, name, err)
			}
			return v
		}
		secs := func(name string) time.Duration { return time.Duration(num(name) * 1e9) }
		c := config{Subs: int(num("subs")), Msgs: int(num("msgs")), Burst: int(num("burst")), Size: int(num("size")),
			Tick: secs("tick_s"), Queue: int(num("queue"))}
		r := result{Peer: row[col["peer"]], Repeat: int(num("repeat")), Order: int(num("order")),
			Expected: int64(num("expected")), Delivered: int64(num("delivered")), Elapsed: secs("elapsed_s"),
			PublishLag: secs("publish_lag_s"),
			Writes:     uint64(num("writes")), P50: secs("p50_s"), P95: secs("p95_s"), P99: secs("p99_s"), Max: secs("max_s"),
			Allocs: uint64(num("allocs")), Bytes: uint64(num("bytes")), PeakHeap: uint64(num("peak_heap_bytes"))}
		if bad != nil {
			return nil, bad
		}
		if n := len(levels); n > 0 && levels[n-1].cfg == c {
			levels[n-1].results = append(levels[n-1].results, r)
		} else {
			levels = append(levels, level{c, []result{r}})
		}
	}
	return levels, nil
}

// writeIdleCSV writes one row per -idle run: the per-subscriber figures and
// the server's snapshots before and after, in bytes.
func writeIdleCSV(path string, results []idleResult) error {
	rows := [][]string{{"peer", "variant", "repeat", "order", "requested", "connected",
		"rss_per_sub", "rss_scavenged_per_sub", "heap_inuse_per_sub", "stack_inuse_per_sub", "live_per_sub",
		"go_mapped_per_sub", "goroutines_per_sub",
		"rss_before", "rss_after", "heap_inuse_before", "heap_inuse_after", "stack_inuse_before", "stack_inuse_after",
		"goroutines_before", "goroutines_after", "error"}}
	for _, r := range results {
		b, a := r.Before, r.After
		rows = append(rows, []string{r.Peer, r.Variant, strconv.Itoa(r.Repeat), strconv.Itoa(r.Order),
			strconv.Itoa(r.Requested), strconv.Itoa(r.Connected),
			f64(r.RSS), f64(r.RSSScavenged), f64(r.HeapInuse), f64(r.Stacks), f64(r.Live), f64(r.GoMapped), f64(r.Goroutines),
			u64(b.RSS), u64(a.RSS), u64(b.HeapInuse), u64(a.HeapInuse), u64(b.StackInuse), u64(a.StackInuse),
			strconv.Itoa(b.Goroutines), strconv.Itoa(a.Goroutines), r.Err})
	}
	return writeCSV(path, rows)
}
