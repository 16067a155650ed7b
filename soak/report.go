package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

// Bounds on how long one Publish may take: outside a fault's window on
// a loaded 2-core machine, and inside one (its context's deadline, 3s,
// plus scheduling).
const (
	boundQuiet = 250 * time.Millisecond
	boundFault = 3*time.Second + 250*time.Millisecond
)

// checkPublishes holds every slow Publish against the bounds, less
// what stalls of its node's process (and, for a Redis node, of the
// parent, which carries the proxies) cover of it.
func (r *runState) checkPublishes() (inFault, outside, stalled int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stalls["parent"] = append(r.stalls["parent"], r.canary.take()...)
	for node, list := range r.slowPubs {
		st := r.stalls[node]
		if node != "s0" {
			st = append(append([]stall(nil), st...), r.stalls["parent"]...)
		}
		for _, s := range list {
			t := float64(s.At-r.runStartMono) / 1e9
			lat := time.Duration(s.Lat)
			// Slow only for stalls: what they left of it is within the
			// bound. A failed Publish is excused only so (its deadline
			// passed while its process did not run): one that failed
			// fast (Redis refused it) is not, however fast.
			c := covered(st, s.At, s.At+s.Lat)
			stallOnly := c > 0 && lat > boundQuiet && lat-c <= boundQuiet
			if stallOnly {
				stalled++
			}
			lat -= c
			if r.faults.within(t, node) {
				inFault++
				if lat > boundFault {
					r.rec.other("publish-blocked", "%s: a Publish at %.1fs took %v, in a fault's window (bound %v)", node, t, lat.Round(time.Millisecond), boundFault)
				}
				continue
			}
			outside++
			switch {
			case s.Err != "" && stallOnly:
				// its deadline passed while its process, or the proxy's, did not run
			case s.Err != "":
				r.rec.other("publish-error", "%s: a Publish at %.1fs failed outside any fault's window: %s", node, t, s.Err)
			case lat > boundQuiet:
				r.rec.other("publish-blocked", "%s: a Publish at %.1fs took %v (bound %v)", node, t, lat.Round(time.Millisecond), boundQuiet)
			}
		}
	}
	return inFault, outside, stalled
}

// verdict is one invariant's outcome.
type verdict struct {
	ok   bool
	text string
}

func (r *runState) report(runEnd time.Time, bases []baselineResult) (bool, error) {
	_, _, stalled := r.checkPublishes()
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	o := r.o
	var total uint64
	for _, s := range r.systems {
		total += s.delivered.Load()
	}
	counts := r.rec.counts
	v := []verdict{
		{counts["gap"]+counts["duplicate"]+counts["malformed"] == 0,
			fmt.Sprintf("no gap, no duplicate: every client has each publisher's consecutive numbers on each topic, between resync signals (gaps %d, duplicates %d, malformed %d)", counts["gap"], counts["duplicate"], counts["malformed"])},
		{counts["start"] == 0, fmt.Sprintf("nothing missing at a start: no message published after a client was subscribed (connection, join ack, resync) is missing before its first one (%d)", counts["start"])},
		{counts["tail"] == 0, fmt.Sprintf("nothing missing at the end: every client connected at the end has every publisher's last message on each of its topics (%d)", counts["tail"])},
	}
	dropsExercised := false
	for _, d := range r.drops {
		if d.dropped > 0 {
			dropsExercised = true
		}
	}
	v = append(v,
		verdict{counts["drop-count"]+counts["drop-resync"]+counts["drop-ended"] == 0 && len(r.drops) > 0,
			fmt.Sprintf("PolicyDrop: each of the %d slow readers of the drop group missed exactly what its node counted in Dropped for it (mismatches %d, resyncs %d, ended early %d)",
				len(r.drops), counts["drop-count"], counts["drop-resync"], counts["drop-ended"])},
		verdict{dropsExercised || o.ci, fmt.Sprintf("PolicyDrop exercised: some drop-group reader had messages dropped (%v)", dropsExercised)},
		verdict{counts["never-open"] == 0 && len(r.never["close"])+len(r.never["drop"]) > 0,
			fmt.Sprintf("clients that never read are closed by the policy within %v (sessions closed: %d PolicyClose, %d PolicyDrop group; still open: %d; not counted: %d whose node was SIGKILLed under them)",
				neverBound, len(r.never["close"]), len(r.never["drop"]), counts["never-open"], r.neverKills)},
		verdict{counts["never-orphan"] == 0, fmt.Sprintf("a client that never reads sees its connection end when its node ends it (reset, not a normal close behind unsent data that leaves an orphan: %d)", counts["never-orphan"])},
		verdict{counts["publish-blocked"] == 0, fmt.Sprintf("Publish never blocked longer than %v outside a fault's window, %v inside one, not counting the time its process (or the parent, with the proxies) was not running (%d over; %d slow or failed only for such stalls)", boundQuiet, boundFault, counts["publish-blocked"], stalled)},
		verdict{counts["publish-error"] == 0, fmt.Sprintf("no Publish failed outside a fault's window (%d)", counts["publish-error"])},
		verdict{counts["client-stopped"]+counts["protocol"]+counts["client"] == 0, fmt.Sprintf("package client and raw clients kept going: none stopped for good or met a wrong subprotocol (%d)", counts["client-stopped"]+counts["protocol"]+counts["client"])},
		verdict{counts["baseline"] == 0, fmt.Sprintf("each node back to its baseline once its clients are gone: goroutines +%d, descriptors +%d, live heap +max(%d MiB, 25%%) (%d over)", slackGoroutines, slackFDs, slackHeapMiB, counts["baseline"])},
		verdict{counts["sockets"] == 0, fmt.Sprintf("the machine's TCP orphans (+%d) and TCP memory (+%d pages) back to the baseline within 60s", slackOrphans, slackMemPgs)},
		verdict{counts["node"] == 0 && len(r.faults.errors) == 0, fmt.Sprintf("the harness did what it meant to (node commands and faults: %d errors)", counts["node"]+len(r.faults.errors))},
	)
	if o.target > 0 {
		v = append(v, verdict{total >= o.target, fmt.Sprintf("at least %d deliveries checked (%d)", o.target, total)})
	}
	ok := true
	for _, x := range v {
		ok = ok && x.ok
	}
	p("fanout soak, %s\n\n", r.runStart.UTC().Format("2006-01-02 15:04 MST"))
	verdictWord := "ALL INVARIANTS HELD"
	if !ok {
		verdictWord = "AN INVARIANT BROKE"
	}
	p("%s: %s deliveries checked in %v of publishing (%s/s), %d faults injected, %d violations.\n\n",
		verdictWord, si(float64(total)), o.duration, si(float64(total)/o.duration.Seconds()), len(r.faults.done), r.rec.total.Load())
	p("## Invariants\n\n")
	for _, x := range v {
		w := "PASS"
		if !x.ok {
			w = "FAIL"
		}
		p("- %s  %s\n", w, x.text)
	}
	r.writeConfig(p)
	r.writeTotals(p, total)
	r.writeFaults(p)
	r.writeBaselines(p, bases)
	if len(r.rec.details) > 0 {
		p("\n## Violations (the first %d)\n\n", maxDetails)
		for _, d := range r.rec.details {
			p("- %s\n", d)
		}
	}
	p("\n## Log\n\n")
	for _, l := range r.logs {
		p("    %s\n", l)
	}
	text := b.String()
	fmt.Fprint(r.w, text)
	if err := os.MkdirAll(r.o.out, 0o755); err != nil {
		return ok, err
	}
	name := "soak"
	if o.ci {
		name = "soak-ci"
	}
	if err := os.WriteFile(filepath.Join(o.out, name+".txt"), []byte(text), 0o644); err != nil {
		return ok, err
	}
	if err := r.writeCSV(filepath.Join(o.out, name+".csv")); err != nil {
		return ok, err
	}
	if err := r.plot(filepath.Join(o.out, name+".png")); err != nil {
		return ok, err
	}
	fmt.Fprintf(r.w, "\nreport: %s (and .csv, .png)\n", filepath.Join(o.out, name+".txt"))
	return ok, nil
}

func (r *runState) nodeNames() []string {
	var names []string
	for _, n := range r.nodes {
		names = append(names, n.name)
	}
	return names
}

// si writes n with a k or M suffix.
func si(n float64) string {
	switch {
	case n >= 1e6:
		return fmt.Sprintf("%.2fM", n/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1fk", n/1e3)
	}
	return fmt.Sprintf("%.0f", n)
}

func (r *runState) writeConfig(p func(string, ...any)) {
	o := r.o
	p("\n## Configuration\n\n")
	p("- %v of publishing (faults over its first 85%%), then 5s quiet, publishers stopped, clients drained and closed, nodes and machine measured. Seed %d.\n", o.duration, o.seed)
	p("- Machine: %d cores, shared. Load average during the run %s; machine CPU busy %s; this run's processes (parent with all clients, nodes, redis-server) %s.\n",
		numCPU(), r.seriesStat(func(x row) float64 { return x.Load }, "%.1f"),
		r.seriesStat(func(x row) float64 { return x.Busy }, "%.0f%%"), r.seriesStat(func(x row) float64 { return x.Ours }, "%.0f%%"))
	var st []string
	for _, name := range append([]string{"parent"}, r.nodeNames()...) {
		var d time.Duration
		var longest time.Duration
		for _, x := range r.stalls[name] {
			d += time.Duration(x.To - x.From)
			longest = max(longest, time.Duration(x.To-x.From))
		}
		st = append(st, fmt.Sprintf("%s %d, %.1fs in all, the longest %v", name, len(r.stalls[name]), d.Seconds(), longest.Round(time.Millisecond)))
	}
	p("- Stalls (a process that did not run for more than %v, seen by a canary goroutine in each): %s.\n", stallMin, strings.Join(st, "; "))
	p("- Node s0: alone, in-process engine with a Ring of 32,768. Nodes c0, c1, c2: the Redis engine (HistorySize 100,000, one partition) on one redis-server (no RDB schedule, no AOF: a restart comes back empty, except the rollback fault's, from the dump its SAVE wrote; the failover fault promotes a replica that lagged), each through a TCP proxy of its own that can add latency. Each node: a Hub with Packing and a Broker attached, QueueSize %d, QueueBytes %d KiB, SendBufferSize 32 KiB, PolicyClose; OnSlow picks PolicyDrop for a full queue of the \"drop\" group; OnMessage joins (then sends \"ack T\") and leaves topics.\n",
		o.queue, o.queueBytes>>10)
	p("- Publishers: %d goroutines per node, %.0f messages/s each, a burst of %d back to back about every %v, each to one of %d topics at random; payloads of 60 B to 16 KiB (90%% under 260 B); each Publish with a 3s deadline.\n",
		o.pubs, o.rate, o.burst, o.burstEvery, o.topics)
	p("- Clients (%d; raw ones in the parent process; 1 to 3 topics each; slow readers have a 16 KiB receive buffer, never-readers 8 KiB):\n\n", len(r.clients))
	p("| client | per node | nodes | connections | ended by (count) |\n| --- | --- | --- | --- | --- |\n")
	type agg struct {
		n, nodes, conns int
		ends            map[string]int
		sys             string
	}
	byName := map[string]*agg{}
	var names []string
	for _, c := range r.clients {
		key := c.sys.name + " " + c.spec.String()
		a := byName[key]
		if a == nil {
			a = &agg{ends: map[string]int{}, sys: c.sys.name}
			byName[key] = a
			names = append(names, key)
		}
		a.n++
		a.conns += c.connects
		for k, x := range c.ends {
			a.ends[k] += x
		}
		a.nodes = len(c.sys.nodes)
	}
	for _, k := range names {
		a := byName[k]
		var ends []string
		for e, x := range a.ends {
			ends = append(ends, fmt.Sprintf("%s %d", e, x))
		}
		sort.Strings(ends)
		p("| %s | %d | %d | %d | %s |\n", k, a.n/a.nodes, a.nodes, a.conns, strings.Join(ends, ", "))
	}
}

// seriesStat returns "mean (max)" of f over the run's seconds.
func (r *runState) seriesStat(f func(row) float64, format string) string {
	var sum, mx float64
	for _, x := range r.series {
		v := f(x)
		sum += v
		mx = max(mx, v)
	}
	if len(r.series) == 0 {
		return "-"
	}
	return fmt.Sprintf("mean "+format+", max "+format, sum/float64(len(r.series)), mx)
}

func (r *runState) writeTotals(p func(string, ...any), total uint64) {
	p("\n## Totals\n\n")
	p("- Deliveries checked by the clients: %d (node alone %d, cluster %d): %s/s over the publishing time; per second %s.\n",
		total, r.single.delivered.Load(), r.cluster.delivered.Load(), si(float64(total)/r.o.duration.Seconds()),
		r.seriesStat(func(x row) float64 { return x.Deliv }, "%.0f"))
	lat := r.lat.snapshot()
	p("- Publish to delivery (fast readers, live: from 2s after each connection): p50 %v, p99 %v, max %v, over %d deliveries.\n",
		lat.quantile(0.5), lat.quantile(0.99), time.Duration(r.lat.max.Load()).Round(time.Millisecond), lat.total())
	p("\n| node | published | publish errors | Publish p50 | p99 | max | nodes' Delivered | Dropped | closed slow | write timeouts | slow events | resyncs sent |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, n := range r.nodes {
		t := n.totals()
		p("| %s | %d | %d | %v | %v | %v | %d | %d | %d | %d | %s | %s |\n", n.name, t.Published, t.PublishErrors,
			t.Lat.quantile(0.5), t.Lat.quantile(0.99), t.MaxPublish.Round(time.Microsecond), t.Stats.Delivered, t.Stats.Dropped,
			t.Stats.Closed, t.Stats.Timeouts, mapText(t.Slow), mapText(t.Resyncs))
	}
	p("\n| Redis engine | recovered | holes | stuck | reconnects | resyncs | epochs | max feed lag |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, n := range r.cluster.nodes {
		if e := n.totals().Engine; e != nil {
			p("| %s | %d | %d | %d | %d | %d | %d | %v |\n", n.name, e.Recovered, e.Holes, e.Stuck, e.Reconnects, e.Resyncs, e.Epochs, e.MaxLag)
		}
	}
	p("\nResync signals received by the clients, by system and reason: %s.\n", mapTextInt(r.rec.resyncs))
	var never []string
	for _, g := range []string{"close", "drop"} {
		d := r.never[g]
		if len(d) == 0 {
			continue
		}
		slices.Sort(d)
		never = append(never, fmt.Sprintf("%s group %d sessions, closed after median %v, max %v", g, len(d),
			d[len(d)/2].Round(100*time.Millisecond), d[len(d)-1].Round(100*time.Millisecond)))
	}
	p("Clients that never read: %s.\n", strings.Join(never, "; "))
	var dropped []uint64
	for cid, gs := range r.gone {
		if strings.Contains(cid, "never/steady/drop") && len(gs) > 1 {
			for _, g := range gs[:len(gs)-1] { // the last session ended when the run went quiet
				dropped = append(dropped, g.Dropped)
			}
		}
	}
	slices.Sort(dropped)
	if len(dropped) > 0 {
		p("Their node's Dropped for each never-reading session of the drop group: min %d, median %d, max %d.\n", dropped[0], dropped[len(dropped)/2], dropped[len(dropped)-1])
	}
	p("\n| PolicyDrop reader | received | missed | node's Dropped |\n| --- | --- | --- | --- |\n")
	for _, d := range r.drops {
		p("| %s | %d | %d | %d |\n", d.id, d.got, d.missed, d.dropped)
	}
}

func mapText(m map[string]uint64) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

func mapTextInt(m map[string]int) string {
	c := map[string]uint64{}
	for k, v := range m {
		c[k] = uint64(v)
	}
	return mapText(c)
}

func (r *runState) writeFaults(p func(string, ...any)) {
	p("\n## Faults\n\n| at | window until | fault | what |\n| --- | --- | --- | --- |\n")
	for _, f := range r.faults.done {
		p("| %.1fs | %.1fs | %s | %s |\n", f.Start, f.End, f.Kind, f.Detail)
	}
	for _, e := range r.faults.errors {
		p("\nFault error: %s\n", e)
	}
}

func (r *runState) writeBaselines(p func(string, ...any), bases []baselineResult) {
	p("\n## Back to baseline\n\n| node | goroutines | live heap | fds | RSS | verdict |\n| --- | --- | --- | --- | --- | --- |\n")
	for _, res := range bases {
		if res.err != nil {
			p("| %s | | | | | %v |\n", res.node, res.err)
			continue
		}
		w := "ok"
		if !res.ok {
			w = "OVER"
		}
		b, e := res.base, res.end
		p("| %s | %d → %d | %.1f → %.1f MiB | %d → %d | %.1f → %.1f MiB | %s |\n", res.node, b.Goroutines, e.Goroutines,
			mib(b.HeapLive), mib(e.HeapLive), b.FDs, e.FDs, mib(b.RSS), mib(e.RSS), w)
	}
	s0, s1, s2 := r.sockBefore, r.sockBase, r.sockEnd
	p("\nMachine TCP (/proc/net/sockstat; shared with other work): before the run inuse %d orphan %d tw %d mem %d pages; baseline (nodes up, no client) inuse %d orphan %d mem %d; end inuse %d orphan %d tw %d mem %d.\n",
		s0.InUse, s0.Orphan, s0.TW, s0.Mem, s1.InUse, s1.Orphan, s1.Mem, s2.InUse, s2.Orphan, s2.TW, s2.Mem)
}

func (r *runState) writeCSV(path string) error {
	var b strings.Builder
	b.WriteString("t,deliveries_per_s,server_delivered_per_s,p50_ms,p99_ms,subscribers,load,machine_busy_pct,ours_pct")
	for _, n := range r.nodes {
		b.WriteString(",rss_mib_" + n.name)
	}
	b.WriteString("\n")
	for _, x := range r.series {
		fmt.Fprintf(&b, "%.1f,%.0f,%.0f,%.3f,%.3f,%d,%.2f,%.1f,%.1f", x.T, x.Deliv, x.Server,
			x.P50.Seconds()*1e3, x.P99.Seconds()*1e3, x.Subs, x.Load, x.Busy, x.Ours)
		for _, n := range r.nodes {
			fmt.Fprintf(&b, ",%.1f", x.RSS[n.name])
		}
		b.WriteString("\n")
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
