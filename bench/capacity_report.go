package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
)

// capDerived are one run's unit costs (see capUnits) and the workload
// it ran, derived from its readings.
type capDerived struct {
	capUnits
	Fanout  float64 // deliveries per published message
	Net     float64 // serving nodes' CPU per message, minus their idle and receiving: PubCPU + Fanout × DelCPU (µs)
	Gross   float64 // serving nodes' CPU per delivery, all included (µs)
	SubRSS0 float64 // node RSS per subscriber once subscribed, before the run
	Cores   float64 // serving nodes' CPU over the run, in cores
	Rate    float64 // published messages per second
}

// derive computes a run's unit costs. receivers is how many serving
// nodes receive each message from Redis (all of them on one partition
// channel; one with a channel per topic and each topic on one node).
func (r capRun) derive(nodes int, receivers float64) capDerived {
	var d capDerived
	p, sec := float64(r.Published), r.Window.Seconds()
	if p <= 0 || sec <= 0 {
		return d
	}
	d.Rate = p / sec
	d.Fanout = float64(r.Delivered) / p
	d.IdleCPU = ratio(r.NodesIdle, r.IdleLen) / float64(nodes) * 1e6
	d.RecvCPU = perMsg(r.ByCPU-idleShare(r.nodeResult), r.Published)
	d.Cores = r.NodesCPU.Seconds() / sec
	d.Net = (r.NodesCPU.Seconds()*1e6 - float64(nodes)*d.IdleCPU*sec - receivers*p*d.RecvCPU) / p
	d.Gross = perMsg(r.NodesCPU, r.Delivered)
	var before, sub, after float64
	for i := range r.RSSBefore {
		before += float64(r.RSSBefore[i])
		sub += float64(r.RSSSubscribed[i])
		after += float64(r.RSSAfter[i])
	}
	var subs float64
	for _, n := range r.Nodes {
		subs += float64(n.Subs)
	}
	d.NodeRSS = before / float64(nodes)
	d.SubRSS0 = (sub - before) / subs
	d.SubRSS = (after - before) / subs
	d.RedisPub = perMsg(r.RedisCPU, r.Published)
	if kept := r.KeysAfter.Kept - r.KeysSubscribed.Kept; kept > 0 {
		d.MsgMem = float64(r.DatasetAfter-r.DatasetSubscribed) / float64(kept)
	}
	d.SubMem = float64(r.RedisSubscribed-r.RedisNodes) / (subs + float64(r.Bystanders))
	d.WireDel = float64(r.ClientBytes) / float64(r.Delivered)
	return d
}

// capReport prints one run: its readings, its unit costs and, with
// units, the model's prediction for its size.
func capReport(r capRun, o options, units *capUnits) string {
	var b strings.Builder
	if r.Err != "" {
		fmt.Fprintf(&b, "note: %s\n", r.Err)
	}
	nodes := o.nodes
	receivers := o.capReceivers
	if receivers < 0 {
		receivers = float64(nodes)
	}
	d := r.derive(nodes, receivers)
	subs := 0
	for _, n := range r.Nodes {
		subs += n.Subs
	}
	fmt.Fprintf(&b, "repeat %d: load average %s at the start, %s at the end\n", r.Repeat, r.LoadStart, r.LoadEnd)
	fmt.Fprintf(&b, "published %d in %s (%s/s), delivered %d of %d (%.2f per message, %s/s), p50 %s p99 %s, publisher lag %s, reconnects %d\n",
		r.Published, fmtSeconds(r.Window.Seconds()), fmtSI(d.Rate), r.Delivered, r.Expected, d.Fanout, fmtSI(r.DeliveredPerSec()),
		fmtSeconds(r.P50.Seconds()), fmtSeconds(r.P99.Seconds()), fmtSeconds(r.PublishLag.Seconds()), r.Reconnects)
	fmt.Fprintf(&b, "CPU over the run: serving nodes %s (%.3f cores), Redis %s (%.3f cores), clients %s; bystander %s (idle %s over %s before, %s over %s after)\n",
		fmtSeconds(r.NodesCPU.Seconds()), d.Cores, fmtSeconds(r.RedisCPU.Seconds()), r.RedisCPU.Seconds()/r.Window.Seconds(),
		fmtSeconds(r.ClientsCPU.Seconds()), fmtSeconds(r.ByCPU.Seconds()), fmtSeconds(r.ByIdle.Seconds()), fmtSeconds(r.IdleLen.Seconds()),
		fmtSeconds(r.ByIdleAfter.Seconds()), fmtSeconds(r.IdleAfterLen.Seconds()))
	fmt.Fprintf(&b, "nodes' RSS before clients %s, subscribed %s, after the run %s, peak %s; bystander after %s\n",
		fmtRSSList(r.RSSBefore), fmtRSSList(r.RSSSubscribed), fmtRSSList(r.RSSAfter), fmtRSSList(r.HWM), fmtBytes(float64(r.ByRSSAfter)))
	fmt.Fprintf(&b, "per subscriber, after two GCs (subscribed / after the run): RSS %s / %s, RSS scavenged %s / %s, HeapInuse %s / %s, StackInuse %s / %s, live heap %s / %s, goroutines %.2f / %.2f (minus the same before the clients)\n",
		perSubMem(r.MemSubscribed, r.MemBefore, func(m memSnapshot) uint64 { return m.RSS }), perSubMem(r.MemAfter, r.MemBefore, func(m memSnapshot) uint64 { return m.RSS }),
		perSubMem(r.MemSubscribed, r.MemBefore, func(m memSnapshot) uint64 { return m.RSSScavenged }), perSubMem(r.MemAfter, r.MemBefore, func(m memSnapshot) uint64 { return m.RSSScavenged }),
		perSubMem(r.MemSubscribed, r.MemBefore, func(m memSnapshot) uint64 { return m.HeapInuse }), perSubMem(r.MemAfter, r.MemBefore, func(m memSnapshot) uint64 { return m.HeapInuse }),
		perSubMem(r.MemSubscribed, r.MemBefore, func(m memSnapshot) uint64 { return m.StackInuse }), perSubMem(r.MemAfter, r.MemBefore, func(m memSnapshot) uint64 { return m.StackInuse }),
		perSubMem(r.MemSubscribed, r.MemBefore, func(m memSnapshot) uint64 { return m.Live }), perSubMem(r.MemAfter, r.MemBefore, func(m memSnapshot) uint64 { return m.Live }),
		goroutinesPerSub(r.MemSubscribed, r.MemBefore), goroutinesPerSub(r.MemAfter, r.MemBefore))
	fmt.Fprintf(&b, "Redis used_memory: empty %s, nodes connected %s, subscribed %s, after the run %s; used_memory_dataset subscribed %s, after %s; log entries %d subscribed, %d after\n",
		fmtBytes(float64(r.RedisEmpty)), fmtBytes(float64(r.RedisNodes)), fmtBytes(float64(r.RedisSubscribed)), fmtBytes(float64(r.RedisAfter)),
		fmtBytes(float64(r.DatasetSubscribed)), fmtBytes(float64(r.DatasetAfter)), r.KeysSubscribed.Kept, r.KeysAfter.Kept)
	fmt.Fprintf(&b, "Redis keys (MEMORY USAGE): subscribed %s; after %s\n", fmtCensus(r.KeysSubscribed), fmtCensus(r.KeysAfter))
	fmt.Fprintf(&b, "bytes: clients read %.1f per delivery; Redis read %.0f and wrote %.0f per publish\n",
		d.WireDel, float64(r.RedisRead)/float64(r.Published), float64(r.RedisWrote)/float64(r.Published))
	fmt.Fprintf(&b, "Redis commandstats: %s\n", fmtCmds(r.Cmds, r.Published))
	fmt.Fprintf(&b, "unit costs of this run (receivers %.0f): del+pub: net %s per message (= pub + %.2f × del), gross %s per delivery; recv %s (± %s); idle %s/s per node; "+
		"RSS per subscriber %s subscribed, %s after; node base RSS %s; Redis %s per publish, %.0f B per kept message, %.0f B per subscriber (the bystander's included, %d (topic, node) pairs); wire %.1f B per delivery\n",
		receivers, fmtMicros(d.Net), d.Fanout, fmtMicros(d.Gross), fmtMicros(d.RecvCPU), fmtMicros(idleUncertainty(r.nodeResult)), fmtMicros(d.IdleCPU),
		fmtBytes(d.SubRSS0), fmtBytes(d.SubRSS), fmtBytes(d.NodeRSS), fmtMicros(d.RedisPub), d.MsgMem, d.SubMem, r.KeysSubscribed.Count["pmembers"], d.WireDel)
	if units != nil {
		w := capWorkload{Nodes: nodes, Subs: subs, PubRate: d.Rate, Fanout: d.Fanout, Receivers: receivers,
			Kept: float64(r.KeysAfter.Kept - r.KeysSubscribed.Kept), PresenceSubs: subs + r.Bystanders,
			Pairs: float64(r.KeysSubscribed.Count["pmembers"])}
		writePrediction(&b, units.predict(w), r, d)
	}
	return b.String()
}

// writePrediction prints the model against the run.
func writePrediction(out io.Writer, t capTotals, r capRun, d capDerived) {
	var after float64
	for _, v := range r.RSSAfter {
		after += float64(v)
	}
	rows := []struct {
		what             string
		predicted, measd float64
		format           func(float64) string
	}{
		{"serving nodes' CPU (cores)", t.NodeCPU, d.Cores, fmtCores},
		{"nodes' RSS after the run", t.NodeRSS, after, fmtBytes},
		{"Redis CPU (cores)", t.RedisCPU, r.RedisCPU.Seconds() / r.Window.Seconds(), fmtCores},
		{"Redis used_memory beyond the nodes' connections", t.RedisMem, float64(r.RedisAfter - r.RedisNodes), fmtBytes},
		{"bytes/s to subscribers", t.Wire, float64(r.ClientBytes) / r.Window.Seconds(), fmtSI},
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "model vs run\tpredicted\tmeasured\tmeasured/predicted\twithin 20%")
	for _, row := range rows {
		verdict := "PASS"
		if !within(row.measd, row.predicted, 0.2) {
			verdict = "MISS"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.2f\t%s\n", row.what, row.format(row.predicted), row.format(row.measd), row.measd/row.predicted, verdict)
	}
	_ = tw.Flush()
	fmt.Fprintf(out, "node CPU by term (cores): ")
	for i, c := range t.NodeCPUTerm {
		fmt.Fprintf(out, "%s %.3f  ", capTermNames[i], c)
	}
	fmt.Fprintln(out)
}

func fmtCores(v float64) string { return fmt.Sprintf("%.3f", v) }

func fmtRSSList(v []uint64) string {
	var parts []string
	for _, x := range v {
		parts = append(parts, fmtBytes(float64(x)))
	}
	return strings.Join(parts, " / ")
}

func fmtCensus(c keyCensus) string {
	var kinds []string
	for k := range c.Count {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	var parts []string
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%s %d keys %s", k, c.Count[k], fmtBytes(float64(c.Mem[k]))))
	}
	return strings.Join(parts, ", ")
}

func fmtCmds(cmds []cmdStat, published int64) string {
	var parts []string
	for _, c := range cmds {
		if c.Calls == 0 {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %.2f/msg %.1fµs/call", c.Name, float64(c.Calls)/math.Max(1, float64(published)), float64(c.Usec)/float64(c.Calls)))
	}
	return strings.Join(parts, ", ")
}

// perSubMem returns a memSnapshot field summed over the nodes, minus the
// same before their clients connected, per subscriber.
func perSubMem(ms, base []memSnapshot, field func(memSnapshot) uint64) string {
	var sum, subs float64
	for i, m := range ms {
		sum += float64(field(m))
		if i < len(base) {
			sum -= float64(field(base[i]))
		}
		subs += float64(m.Subscribers)
	}
	if subs == 0 {
		return "-"
	}
	return fmtKiB(sum / subs)
}

func goroutinesPerSub(ms, base []memSnapshot) float64 {
	var g, subs float64
	for i, m := range ms {
		g += float64(m.Goroutines)
		if i < len(base) {
			g -= float64(base[i].Goroutines)
		}
		subs += float64(m.Subscribers)
	}
	return g / math.Max(1, subs)
}
