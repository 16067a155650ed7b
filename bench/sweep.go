package main

import (
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// runSweep runs every subscribers × burst level, prints a table per level
// and writes sweep.csv (every run), sweep_summary.csv (median, min, max)
// and sweep.png to o.out. Each level publishes at most o.sweepDeliv
// deliveries and 1000 ticks, so that the sweep's runs stay short.
func runSweep(o options, peers []peer, stdout, progress io.Writer) error {
	subs, bursts := mustInts(o.sweepSubs), mustInts(o.sweepBurst)
	if len(subs) == 0 || len(bursts) == 0 {
		return fmt.Errorf("-sweep-subs and -sweep-bursts need positive numbers")
	}
	started := time.Now()
	var levels []level
	for _, n := range subs {
		for _, b := range bursts {
			c := o.cfg
			c.Subs, c.Burst = n, b
			c.Msgs = max(10*b, min(o.sweepDeliv/n, 1000*b))
			fmt.Fprintf(stdout, "\n## %d subscribers, bursts of %d\n\n%s\n", n, b, describe(c, o.repeats))
			results := runLevel(c, peers, o.repeats, progress)
			fmt.Fprint(stdout, "\n", table(summarize(peers, results)))
			levels = append(levels, level{c, results})
			// Written as it goes: an interrupted sweep keeps what it measured.
			if err := writeRunsCSV(filepath.Join(o.out, "sweep.csv"), levels); err != nil {
				return err
			}
		}
	}
	if err := writeSummaryCSV(filepath.Join(o.out, "sweep_summary.csv"), levels, peers); err != nil {
		return err
	}
	png := filepath.Join(o.out, "sweep.png")
	if err := plotLevels(png, o, levels, peers); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nsweep took %v; wrote %s, %s and %s\n", time.Since(started).Round(time.Second),
		filepath.Join(o.out, "sweep.csv"), filepath.Join(o.out, "sweep_summary.csv"), png)
	return nil
}

// plotLevels draws the sweep plot of levels to path.
func plotLevels(path string, o options, levels []level, peers []peer) error {
	var subs, bursts []int
	for _, l := range levels {
		if !slices.Contains(subs, l.cfg.Subs) {
			subs = append(subs, l.cfg.Subs)
		}
		if !slices.Contains(bursts, l.cfg.Burst) {
			bursts = append(bursts, l.cfg.Burst)
		}
	}
	slices.Sort(subs)
	slices.Sort(bursts)
	repeats := 0
	for _, l := range levels {
		for _, r := range l.results {
			repeats = max(repeats, r.Repeat)
		}
	}
	client := "coder/websocket"
	if o.cfg.RawWS {
		client = "raw"
	}
	c := levels[0].cfg
	caption := fmt.Sprintf("fanout bench: %d-byte messages, a burst every %v, %s WebSocket clients; median of %d runs, bars min–max; %s, %d CPUs",
		c.Size, c.Tick, client, repeats, runtime.Version(), runtime.NumCPU())
	return plotSweep(path, caption, levels, peers, subs, bursts)
}

// replot redraws the plot of a sweep from its CSV, without measuring.
func replot(o options, peers []peer, stdout io.Writer) error {
	levels, err := readRunsCSV(o.plot)
	if err != nil {
		return err
	}
	png := strings.TrimSuffix(o.plot, ".csv") + ".png"
	if err := plotLevels(png, o, levels, peers); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "wrote", png)
	return nil
}
