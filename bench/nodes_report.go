package main

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// perMsg returns d per message, in microseconds (NaN for no messages).
func perMsg(d time.Duration, n int64) float64 {
	if n <= 0 {
		return math.NaN()
	}
	return float64(d.Microseconds()) / float64(n)
}

func fmtMicros(v float64) string {
	switch {
	case math.IsNaN(v):
		return "-"
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.0fµs", v)
	case math.Abs(v) >= 10:
		return fmt.Sprintf("%.1fµs", v)
	default:
		return fmt.Sprintf("%.2fµs", v)
	}
}

func fmtPercent(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", v*100)
}

func describeMachine() string {
	return fmt.Sprintf("%s, GOMAXPROCS=%d, %d CPUs", runtime.Version(), runtime.GOMAXPROCS(0), runtime.NumCPU())
}

// idleRates returns the bystander's idle CPU rate (a share of one
// core) before and after the run.
func idleRates(r nodeResult) (before, after float64) {
	return ratio(r.ByIdle, r.IdleLen), ratio(r.ByIdleAfter, r.IdleAfterLen)
}

// idleShare is what the bystander node would have used over the run's
// window had it stayed idle, at the lower of its idle rates before and
// after the run: both can only be inflated (before, by what setting up
// the run left to do, a GC of its garbage; after, by the run's), so the
// lower is the better baseline, and it can only overstate the cost of
// the run's messages.
func idleShare(r nodeResult) time.Duration {
	before, after := idleRates(r)
	rate := before
	if !math.IsNaN(after) {
		rate = min(before, after)
	}
	if math.IsNaN(rate) {
		return 0
	}
	return time.Duration(rate * float64(r.Window))
}

// idleUncertainty is half the difference between the two idle rates,
// over the run's window, per published message: how far the bystander's
// figure moves with the choice of baseline, its resolution (it shrinks
// as more messages are published per second).
func idleUncertainty(r nodeResult) float64 {
	before, after := idleRates(r)
	if r.Published <= 0 {
		return math.NaN()
	}
	return math.Abs(before-after) / 2 * r.Window.Seconds() * 1e6 / float64(r.Published)
}

// nodeColumn is one column of a -nodes table.
type nodeColumn struct {
	Name string
	Get  func(nodeResult) float64
	Fmt  func(float64) string
}

var nodeColumns = []nodeColumn{
	{"delivered/s", nodeResult.DeliveredPerSec, fmtSI},
	{"p50", func(r nodeResult) float64 { return r.P50.Seconds() }, fmtSeconds},
	{"p95", func(r nodeResult) float64 { return r.P95.Seconds() }, fmtSeconds},
	{"p99", func(r nodeResult) float64 { return r.P99.Seconds() }, fmtSeconds},
	{"max", func(r nodeResult) float64 { return r.Max.Seconds() }, fmtSeconds},
	{"lost", func(r nodeResult) float64 { return float64(r.Lost()) }, fmtSI},
	{"reconnects", func(r nodeResult) float64 { return float64(r.Reconnects) }, fmtSI},
	{"nodes CPU/delivery", func(r nodeResult) float64 { return perMsg(r.NodesCPU, r.Delivered) }, fmtMicros},
	{"clients CPU/delivery", func(r nodeResult) float64 { return perMsg(r.ClientsCPU, r.Delivered) }, fmtMicros},
	{"Redis CPU/msg", func(r nodeResult) float64 { return perMsg(r.RedisCPU, r.Published) }, fmtMicros},
	{"pub lag", func(r nodeResult) float64 { return r.PublishLag.Seconds() }, fmtSeconds},
}

var bystanderColumns = []nodeColumn{
	{"idle before: CPU", func(r nodeResult) float64 { b, _ := idleRates(r); return b }, fmtPercent},
	{"idle after: CPU", func(r nodeResult) float64 { _, a := idleRates(r); return a }, fmtPercent},
	{"run: CPU", func(r nodeResult) float64 { return ratio(r.ByCPU, r.Window) }, fmtPercent},
	{"run − idle, per published message", func(r nodeResult) float64 { return perMsg(r.ByCPU-idleShare(r), r.Published) }, fmtMicros},
	{"± (idle before vs after)", idleUncertainty, fmtMicros},
	{"messages its subscribers got", func(r nodeResult) float64 { return float64(r.ByGot) }, fmtSI},
}

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}

// nodeTable renders one row per side: the median and spread over its
// runs of each column.
func nodeTable(sides []nodeSide, results []nodeResult, cols []nodeColumn) string {
	rows := [][]string{{"side"}}
	for _, c := range cols {
		rows[0] = append(rows[0], c.Name)
	}
	for _, s := range sides {
		row := []string{s.Name}
		for _, c := range cols {
			row = append(row, cell(sideStat(s.Name, results, c.Get), c.Fmt))
		}
		rows = append(rows, row)
	}
	return markdown(rows)
}

func sideStat(side string, results []nodeResult, get func(nodeResult) float64) stat {
	var vs []float64
	for _, r := range results {
		if r.Side == side {
			vs = append(vs, get(r))
		}
	}
	return statOf(vs)
}

// nodesReport is everything -nodes prints after its runs.
func nodesReport(sides []nodeSide, results []nodeResult) string {
	var b strings.Builder
	b.WriteString(nodeTable(sides, results, nodeColumns))
	for _, r := range results {
		if r.Err != "" {
			fmt.Fprintf(&b, "note: %s repeat %d: %s\n", r.Side, r.Repeat, r.Err)
		}
	}
	b.WriteString(nodesTargets(results))
	b.WriteString("\nPer node (subscriber j on node j mod N; CPU of the node's process over the run, per delivery to its own subscribers and per message published to any topic):\n\n")
	b.WriteString(perNodeTable(sides, results))
	b.WriteString("\nThe bystander node (subscribers of other topics only; nothing published to them), CPU as a share of one core; " +
		"run − idle, per published message, is what a node pays for a message of a topic it has no subscriber of:\n\n")
	b.WriteString(nodeTable(sides, results, bystanderColumns))
	b.WriteString(unservedTarget(results))
	b.WriteString("\nRedis commands per published message (INFO commandstats, all repeats):\n\n")
	b.WriteString(commandTable(sides, results))
	for _, s := range sides {
		if s.Name != "fanout" {
			continue
		}
		var c engineCounts
		for _, r := range results {
			for _, st := range r.Stats {
				c.Holes += st.Holes
				c.Recovered += st.Recovered
				c.Resyncs += st.Resyncs
				c.Stuck += st.Stuck
			}
		}
		fmt.Fprintf(&b, "\nfanout engine, all nodes and repeats: %d holes in the live feed, %d messages recovered from the stream, %d stuck subscriptions, %d resyncs\n",
			c.Holes, c.Recovered, c.Stuck, c.Resyncs)
	}
	return b.String()
}

// nodesTargets checks the targets: fanout's deliveries/s at least
// centrifuge's, and its p99 at most centrifuge's (medians).
func nodesTargets(results []nodeResult) string {
	get := func(side string, f func(nodeResult) float64) float64 { return sideStat(side, results, f).Med }
	dps := func(side string) float64 { return get(side, nodeResult.DeliveredPerSec) }
	p99 := func(side string) float64 { return get(side, func(r nodeResult) float64 { return r.P99.Seconds() }) }
	if math.IsNaN(dps("fanout")) || math.IsNaN(dps("centrifuge")) {
		return ""
	}
	verdict := func(ok bool) string {
		if ok {
			return "PASS"
		}
		return "MISS"
	}
	rate := func(v float64) string { return fmt.Sprintf("%.1fk", v/1e3) } // precise enough to show which is ahead
	return fmt.Sprintf("\ntargets (medians): %s fanout delivered/s %s ≥ centrifuge's %s; %s fanout p99 %s ≤ centrifuge's %s\n",
		verdict(dps("fanout") >= dps("centrifuge")), rate(dps("fanout")), rate(dps("centrifuge")),
		verdict(p99("fanout") <= p99("centrifuge")), fmtSeconds(p99("fanout")), fmtSeconds(p99("centrifuge")))
}

// commandTable sums INFO commandstats over each side's runs, per
// published message: what Redis did, and how long it took to run each
// command (Redis's own timing, without its network I/O).
func commandTable(sides []nodeSide, results []nodeResult) string {
	rows := [][]string{{"side", "command", "calls/msg", "µs/msg", "µs/call"}}
	for _, s := range sides {
		sum := map[string]*cmdStat{}
		var published int64
		for _, r := range results {
			if r.Side != s.Name {
				continue
			}
			published += r.Published
			for _, c := range r.Cmds {
				if c.Name == "info" || c.Name == "config|resetstat" { // the harness's own
					continue
				}
				if sum[c.Name] == nil {
					sum[c.Name] = &cmdStat{Name: c.Name}
				}
				sum[c.Name].Calls += c.Calls
				sum[c.Name].Usec += c.Usec
			}
		}
		var cs []cmdStat
		for _, c := range sum {
			cs = append(cs, *c)
		}
		slices.SortFunc(cs, func(a, b cmdStat) int { return int(b.Usec - a.Usec) })
		for i, c := range cs {
			if i == 8 || published == 0 {
				break
			}
			rows = append(rows, []string{s.Name, c.Name, fmtRatio(float64(c.Calls) / float64(published)),
				fmtMicros(float64(c.Usec) / float64(published)), fmtMicros(float64(c.Usec) / float64(c.Calls))})
		}
	}
	return markdown(rows)
}

// perNodeTable renders one row per side and node: medians over the
// repeats of that node's figures.
func perNodeTable(sides []nodeSide, results []nodeResult) string {
	rows := [][]string{{"side", "node", "subscribers", "delivered/s", "p50", "p99", "CPU/delivery", "CPU/published msg"}}
	for _, s := range sides {
		nodes := 0
		for _, r := range results {
			if r.Side == s.Name {
				nodes = max(nodes, len(r.Nodes))
			}
		}
		for i := range nodes {
			get := func(f func(nodeFigures, nodeResult) float64) stat {
				return sideStat(s.Name, results, func(r nodeResult) float64 {
					if i >= len(r.Nodes) {
						return math.NaN()
					}
					return f(r.Nodes[i], r)
				})
			}
			rows = append(rows, []string{s.Name, fmt.Sprint(i),
				cell(get(func(n nodeFigures, _ nodeResult) float64 { return float64(n.Subs) }), fmtSI),
				cell(get(func(n nodeFigures, _ nodeResult) float64 { return n.DeliveredPerSec() }), fmtSI),
				cell(get(func(n nodeFigures, _ nodeResult) float64 { return n.P50.Seconds() }), fmtSeconds),
				cell(get(func(n nodeFigures, _ nodeResult) float64 { return n.P99.Seconds() }), fmtSeconds),
				cell(get(func(n nodeFigures, _ nodeResult) float64 { return perMsg(n.CPU, n.Delivered) }), fmtMicros),
				cell(get(func(n nodeFigures, r nodeResult) float64 { return perMsg(n.CPU, r.Published) }), fmtMicros),
			})
		}
	}
	return markdown(rows)
}

// unservedTarget checks issue 25's target 1: the bystander's CPU per
// message published to topics it has no subscriber of is at most 1 µs
// (medians).
func unservedTarget(results []nodeResult) string {
	var b strings.Builder
	for _, side := range []string{"fanout", "centrifuge"} {
		v := sideStat(side, results, func(r nodeResult) float64 { return perMsg(r.ByCPU-idleShare(r), r.Published) }).Med
		if math.IsNaN(v) {
			continue
		}
		verdict := "MISS"
		if v <= 1 {
			verdict = "PASS"
		}
		fmt.Fprintf(&b, "%s a %s node's CPU per message of a topic it has no subscriber of: %s (target ≤ 1µs)\n", verdict, side, fmtMicros(v))
	}
	if b.Len() == 0 {
		return ""
	}
	return "\n" + b.String()
}

func describeNodes(o options, redis string) string {
	c := o.cfg
	w := newNodeWorkload(o)
	topics := fmt.Sprintf("all on one topic; a bystander node with %d subscribers of another topic", o.bystanders)
	perMsg := float64(c.Subs) // deliveries per message
	if w.Topics > 0 {
		bys := w.bystanderTopics(c.Subs, o.bystanders)
		topics = fmt.Sprintf("%d topics, messages round-robin over them, node i's subscribers following the topics k with k mod %d = i, %d each; "+
			"a bystander node with %d subscribers of %d other topics, none published to", w.Topics, w.Nodes, w.topicsPerSub(c.Subs), len(bys), w.nodeTopics(0))
		perMsg = float64(w.samples(c.Subs)) / float64(c.Msgs)
	}
	pubs := fmt.Sprintf("each burst published by one node in turn, from %d goroutines", c.Burst)
	switch {
	case w.Publishers == 1:
		pubs = "one sequential publisher (on the first node)"
	case w.Publishers > 1:
		pubs = fmt.Sprintf("%d publishing goroutines in all, spread over the nodes", w.Publishers)
	}
	return fmt.Sprintf("%d nodes per side and %s (no persistence); %d subscribers spread over the nodes (raw WebSocket clients in this process), %s; "+
		"%d messages of %d B in bursts of %d every %v (offered %s messages/s, %s deliveries/s), %s; "+
		"queues %s; %d repeats, sides interleaved; %s; load average %s",
		o.nodes, redis, c.Subs, topics, c.Msgs, c.Size, c.Burst, c.Tick,
		fmtSI(float64(c.Burst)/c.Tick.Seconds()), fmtSI(perMsg*float64(c.Burst)/c.Tick.Seconds()), pubs,
		queueText(c), o.repeats, describeMachine(), loadAverage())
}

func queueText(c config) string {
	switch {
	case c.Queue < 0:
		return "each library's default"
	case c.Queue > 0:
		return strconv.Itoa(c.Queue)
	}
	return "deep enough for the whole run"
}
