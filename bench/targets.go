package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// target is one of the targets, checked on medians.
type target struct {
	Name   string
	Status string // PASS, MISS or n/a
	Detail string
}

// The targets hold at 200 subscribers, 64-byte messages and a 1ms tick.
func targetLevel(c config) bool {
	return c.Subs == 200 && c.Size == 64 && c.Tick == time.Millisecond && c.MaxBatch == 0
}

// atOffered is the share of the offered deliveries/s from which a peer
// counts as keeping up with the workload: its rate is then the workload's.
const atOffered = 0.97

// checkTargets returns the targets that apply to c (bursts of 10, or of 1).
func checkTargets(c config, sums []summary) []target {
	if !targetLevel(c) {
		return nil
	}
	by := map[string]summary{}
	for _, s := range sums {
		by[s.Peer] = s
	}
	med := func(peer string, f figure) (float64, bool) {
		s, ok := by[peer]
		if !ok || s.Runs == 0 {
			return 0, false
		}
		return s.get(f).Med, true
	}
	// best returns the lowest median of f among the per-message peers of t.
	best := func(t transport, f figure) (float64, string, bool) {
		v, name := 0.0, ""
		for _, p := range allPeers {
			if !p.PerMessage || p.Transport != t {
				continue
			}
			if m, ok := med(p.Name, f); ok && (name == "" || m < v) {
				v, name = m, p.Name
			}
		}
		return v, name, name != ""
	}
	check := func(name string, ok bool, pass bool, detail string) target {
		switch {
		case !ok:
			return target{name, "n/a", "a peer it needs was not run"}
		case pass:
			return target{name, "PASS", detail}
		}
		return target{name, "MISS", detail}
	}
	var ts []target
	switch c.Burst {
	case 10:
		hub, okHub := med("fanout-hub", figDeliv)
		gor, okGor := med("gorilla", figDeliv)
		ts = append(ts, check("hub delivered/s ≥ 2× gorilla's", okHub && okGor, hub >= 2*gor,
			fmt.Sprintf("%s vs %s: %.2f×", fmtSI(hub), fmtSI(gor), hub/gor)))
		lim, okLim := med("limit", figDeliv)
		ts = append(ts, check("hub delivered/s ≥ 0.9× limit's", okHub && okLim, hub >= 0.9*lim,
			fmt.Sprintf("%s vs %s: %.2f×", fmtSI(hub), fmtSI(lim), hub/lim)))
		w, okW := med("fanout-hub", figWrites)
		ts = append(ts, check("hub ≥ 8 messages per socket write", okW && w > 0, w > 0 && 1/w >= 8,
			fmt.Sprintf("%.1f messages per write", 1/w)))
		p99, okP := med("fanout-hub", figP99)
		b99, bName, okB := best(ws, figP99)
		ts = append(ts, check("hub p99 ≤ 0.5× best per-message peer's", okP && okB, p99 <= 0.5*b99,
			fmt.Sprintf("%s vs %s (%s): %.2f×", fmtSeconds(p99), fmtSeconds(b99), bName, p99/b99)))
		brk, okBrk := med("fanout-broker", figDeliv)
		gs, okGs := med("go-sse", figDeliv)
		detail := fmt.Sprintf("%s vs %s: %.2f×", fmtSI(brk), fmtSI(gs), brk/gs)
		if offered := float64(c.Subs) * float64(c.Burst) / c.Tick.Seconds(); brk >= atOffered*offered {
			// The ratio is then offered/go-sse's: lowest where go-sse
			// runs fastest (a quiet machine), whatever the Broker could do.
			detail += fmt.Sprintf(" (the Broker at the offered rate, %s: a floor of its lead)", fmtSI(offered))
		}
		ts = append(ts, check("broker delivered/s ≥ 5× go-sse's", okBrk && okGs, brk >= 5*gs, detail))
		bp, okBp := med("fanout-broker", figP99)
		gp, okGp := med("go-sse", figP99)
		ts = append(ts, check("broker p99 ≤ go-sse's", okBp && okGp, bp <= gp,
			fmt.Sprintf("%s vs %s", fmtSeconds(bp), fmtSeconds(gp))))
	case 1:
		p50, okP := med("fanout-hub", figP50)
		b50, bName, okB := best(ws, figP50)
		ts = append(ts, check("burst 1: hub p50 within 10% of the best per-message peer's", okP && okB, p50 <= 1.1*b50,
			fmt.Sprintf("%s vs %s (%s): %+.0f%%", fmtSeconds(p50), fmtSeconds(b50), bName, 100*(p50/b50-1))))
		bp, okBp := med("fanout-broker", figP50)
		gp, okGp := med("go-sse", figP50)
		ts = append(ts, check("burst 1: broker p50 within 10% of go-sse's", okBp && okGp, bp <= 1.1*gp,
			fmt.Sprintf("%s vs %s: %+.0f%%", fmtSeconds(bp), fmtSeconds(gp), 100*(bp/gp-1))))
	}
	return ts
}

func targetReport(ts []target) string {
	var b strings.Builder
	b.WriteString("targets (medians):\n")
	for _, t := range ts {
		fmt.Fprintf(&b, "  %-4s  %-60s %s\n", t.Status, t.Name, t.Detail)
	}
	return b.String()
}

// runTargets runs the two levels the targets are set at.
func runTargets(o options, peers []peer, stdout, progress io.Writer) error {
	var levels []level
	var all []target
	for _, burst := range []int{10, 1} {
		c := o.cfg
		c.Subs, c.Size, c.Tick, c.Burst = 200, 64, time.Millisecond, burst
		fmt.Fprintln(stdout, describe(c, o.repeats))
		results := runLevel(c, peers, o.repeats, progress)
		sums := summarize(peers, results)
		fmt.Fprint(stdout, "\n", table(sums), "\n")
		all = append(all, checkTargets(c, sums)...)
		levels = append(levels, level{c, results})
	}
	fmt.Fprint(stdout, targetReport(all))
	if o.csv != "" {
		return writeRunsCSV(o.csv, levels)
	}
	return nil
}
