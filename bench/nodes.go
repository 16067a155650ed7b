package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fanout-go/fanout/internal/harness"
)

// -nodes N: N nodes of each side (fanout: a Hub on the Redis engine;
// centrifuge: a Node with its RedisBroker), each a process of its own,
// on one redis-server started for the run; the subscribers spread over
// the nodes, publishers on every node; plus one bystander node per side
// whose subscribers follow another topic, to measure what a node pays for
// messages of a topic it has no subscriber of. See README.md, "Many
// nodes".

// bystanderTopic is the topic the bystander node's subscribers follow;
// nothing is published to it.
const bystanderTopic = "elsewhere"

// nodeResult is one side's run.
type nodeResult struct {
	Side          string
	Repeat, Order int
	Expected      int64
	Delivered     int64
	Misordered    int64
	Reconnects    int64 // clients that reconnected (with their position) after the server ended their connection
	Published     int64
	Elapsed       time.Duration // first publish due to last delivery
	P50, P95, P99 time.Duration
	Max           time.Duration
	PublishLag    time.Duration

	// CPU time over the run (from just before the first publish to the
	// last delivery and the publishers' return): the nodes with
	// subscribers (all N), the clients (this process), redis-server.
	NodesCPU, ClientsCPU, RedisCPU time.Duration
	Window                         time.Duration
	// The bystander node: its CPU time over the run, over an idle period
	// (nothing published) of IdleLen just before, and over one of
	// IdleAfterLen just after (see idleShare).
	ByCPU, ByIdle, IdleLen    time.Duration
	ByIdleAfter, IdleAfterLen time.Duration
	ByGot                     int64 // messages its subscribers received: must be 0

	Nodes []nodeFigures  // each of the N nodes' share
	Cmds  []cmdStat      // INFO commandstats over the run
	Stats []engineCounts // fanout's engine counters, per node
	Err   string
}

// engineCounts are the fanout engine's loss counters (redis.Stats).
type engineCounts struct {
	Holes     uint64 `json:"holes"`
	Recovered uint64 `json:"recovered"`
	Resyncs   uint64 `json:"resyncs"`
	Stuck     uint64 `json:"stuck"`
}

func (r nodeResult) Lost() int64 { return r.Expected - r.Delivered }

func (r nodeResult) DeliveredPerSec() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Delivered) / r.Elapsed.Seconds()
}

func selectSides(list string) ([]nodeSide, error) {
	if list == "" || list == "all" {
		return nodeSides, nil
	}
	var out []nodeSide
	for name := range strings.SplitSeq(list, ",") {
		s, err := selectSide(strings.TrimSpace(name))
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func selectSide(name string) (nodeSide, error) {
	for _, s := range nodeSides {
		if s.Name == name {
			return s, nil
		}
	}
	return nodeSide{}, fmt.Errorf("-nodes: unknown side %q (have fanout, centrifuge)", name)
}

func runNodes(o options, stdout, progress io.Writer) error {
	sides, err := selectSides(o.peers)
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	rs, err := startNodeRedis(o.cluster)
	if err != nil {
		return err
	}
	defer rs.Stop()
	redis := rs.describe()
	if o.centShards > 0 {
		redis += fmt.Sprintf(", centrifuge's RedisBroker with NumShardedPubSubPartitions %d", o.centShards)
	}
	fmt.Fprintln(stdout, describeNodes(o, redis))
	samples := make([]int64, newNodeWorkload(o).samples(o.cfg.Subs))
	var results []nodeResult
	for r := range o.repeats {
		for i := range sides {
			side := sides[(i+r)%len(sides)]
			started := time.Now()
			res, err := runNodesOnce(side, o, rs, exe, samples, r+1)
			res.Repeat, res.Order = r+1, i+1
			if err != nil {
				res.Err = err.Error()
			}
			fmt.Fprintf(progress, "  repeat %d/%d %-10s %9s/s  p99 %-7s lost %-6d reconnects %-4d nodes %s/delivery, Redis %s/msg, bystander +%s/msg  %.1fs %s\n",
				r+1, o.repeats, side.Name, fmtSI(res.DeliveredPerSec()), fmtSeconds(res.P99.Seconds()), res.Lost(), res.Reconnects,
				fmtMicros(perMsg(res.NodesCPU, res.Delivered)), fmtMicros(perMsg(res.RedisCPU, res.Published)),
				fmtMicros(perMsg(res.ByCPU-idleShare(res), res.Published)), time.Since(started).Seconds(), res.Err)
			results = append(results, res)
		}
	}
	fmt.Fprint(stdout, "\n", nodesReport(sides, results))
	fmt.Fprintf(stdout, "\nload average at the end: %s\n", loadAverage())
	return nil
}

// nodeProc is one node child seen from the parent.
type nodeProc struct {
	*harness.Child
	addr string
}

func (p nodeProc) cpu() (time.Duration, error) {
	var r struct{ CPU int64 }
	if err := p.Call("rusage", &r, 10*time.Second); err != nil {
		return 0, err
	}
	return time.Duration(r.CPU), nil
}

// runNodesOnce measures one side once: fresh node processes on a flushed
// Redis, clients connected and warmed up, an idle period, then the run.
func runNodesOnce(side nodeSide, o options, rs nodeRedis, exe string, samples []int64, repeat int) (res nodeResult, err error) {
	cfg := o.cfg
	res = nodeResult{Side: side.Name}
	if err := rs.each("FLUSHALL"); err != nil {
		return res, err
	}
	args := []string{"-node-server", side.Name, "-node-redis", rs.addr(), "-partitions", strconv.Itoa(o.partitions),
		"-msgs", strconv.Itoa(cfg.Msgs), "-size", strconv.Itoa(cfg.Size), "-burst", strconv.Itoa(cfg.Burst),
		"-tick", cfg.Tick.String(), "-queue", strconv.Itoa(cfg.Queue),
		"-topics", strconv.Itoa(o.topics), "-publishers", strconv.Itoa(o.publishers)}
	if o.cluster {
		args = append(args, "-cluster", "-centrifuge-sharded", strconv.Itoa(o.centShards))
	}
	var procs []nodeProc // the N nodes, then the bystander
	w := newNodeWorkload(o)
	f := newNodeFleet(side, w, cfg.Subs, o.bystanders, samples)
	f.dropAt = int64(o.nodesDrop)
	defer func() {
		f.close()
		for _, p := range procs {
			p.Stop(30 * time.Second)
		}
	}()
	if err := startNodeProcs(exe, o.nodes, args, &procs); err != nil {
		return res, err
	}
	nodes, by := procs[:o.nodes], procs[o.nodes]
	addrs := make([]string, len(nodes))
	for i, p := range nodes {
		addrs[i] = p.addr
	}
	if err := f.connect(addrs, by.addr, cfg.Par); err != nil {
		return res, err
	}
	for _, s := range f.subs {
		res.Expected += s.want
	}
	if err := waitSubscribed(procs, len(f.subs), len(f.bystanders)); err != nil {
		return res, err
	}
	if err := warmUpNodes(nodes[0], f, 30*time.Second); err != nil {
		return res, err
	}

	idle0, err := takeCPU(procs, rs)
	if err != nil {
		return res, err
	}
	time.Sleep(o.nodesIdle)
	idle1, err := takeCPU(procs, rs)
	if err != nil {
		return res, err
	}
	res.ByIdle, res.IdleLen = idle1.by-idle0.by, idle1.at-idle0.at

	stopProfiles, err := startNodeProfiles(o.nodesProfile, side.Name, repeat, procs, rs)
	if err != nil {
		return res, err
	}
	if err := rs.each("CONFIG", "RESETSTAT"); err != nil {
		return res, err
	}
	c0, err := takeCPU(procs, rs)
	if err != nil {
		return res, err
	}
	start := mono() + 50*time.Millisecond
	replies, callErrs, stalled := publishOnNodes(nodes, f, start, cfg.Stall)
	c1, err := takeCPU(procs, rs)
	if err != nil {
		return res, err
	}
	stopProfiles()
	if res.Cmds, err = rs.commandStats(); err != nil {
		return res, err
	}

	if res.ByIdleAfter, res.IdleAfterLen, err = idleAfter(by, o.nodesIdle); err != nil {
		return res, err
	}

	res.Nodes = f.perNode(len(nodes), start)
	for i := range res.Nodes {
		res.Nodes[i].CPU = c1.perNode[i] - c0.perNode[i]
	}
	malformed, resyncs := f.tally(&res, start, samples, c0, c1)
	if malformed > 0 {
		res.Err = fmt.Sprintf("%d malformed frames or messages", malformed)
	}
	if resyncs > 0 {
		res.Err = fmt.Sprintf("%d resyncs, error replies or failed recoveries", resyncs)
	}
	if err := res.tallyReplies(replies, callErrs); err != nil {
		return res, err
	}
	if side.Name == "fanout" {
		for _, p := range nodes {
			var st struct{ Stats engineCounts }
			if err := p.Call("stats", &st, 10*time.Second); err == nil {
				res.Stats = append(res.Stats, st.Stats)
			}
		}
	}
	switch {
	case res.Misordered > 0:
		res.Err = fmt.Sprintf("%d messages out of order or duplicated", res.Misordered)
	case res.ByGot > 0:
		res.Err = fmt.Sprintf("the bystander's subscribers received %d messages", res.ByGot)
	case stalled && res.Err == "":
		res.Err = fmt.Sprintf("stalled while publishing: %d of %d delivered", res.Delivered, res.Expected)
	}
	return res, nil
}

// idleAfter measures the bystander's CPU time over d, once the run is
// over.
func idleAfter(by nodeProc, d time.Duration) (cpu, length time.Duration, err error) {
	t0 := mono()
	c0, err := by.cpu()
	if err != nil {
		return 0, 0, err
	}
	time.Sleep(d)
	c1, err := by.cpu()
	return c1 - c0, mono() - t0, err
}

// waitSubscribed waits until the nodes hold every subscriber.
func waitSubscribed(procs []nodeProc, subs, bystanders int) error {
	var counts []int
	err := waitFor(30*time.Second, func() bool {
		counts = counts[:0]
		total := 0
		for _, p := range procs {
			var m memSnapshot
			if err := p.Call("count", &m, 10*time.Second); err != nil {
				return false
			}
			counts = append(counts, m.Subscribers)
			total += m.Subscribers
		}
		return total == subs+bystanders && counts[len(counts)-1] == bystanders
	})
	if err != nil {
		return fmt.Errorf("subscribers per node %v, want %d and %d at the bystander: %w", counts, subs, bystanders, err)
	}
	return nil
}

// warmUpNodes publishes warm-up messages on one node until every
// subscriber has received one, then one more, which every subscriber must
// receive: from then on all are subscribed (to Redis too) and every
// queue is empty.
func warmUpNodes(p nodeProc, f *nodeFleet, d time.Duration) error {
	n := len(f.subs)
	seq := 0
	warm := func() error {
		var r map[string]string
		if err := p.Call("warm "+strconv.Itoa(seq), &r, 10*time.Second); err != nil {
			return err
		}
		if r["err"] != "" {
			return fmt.Errorf("warm-up: %s", r["err"])
		}
		seq++
		return nil
	}
	var werr error
	err := waitFor(d, func() bool {
		if f.warmed(0) == n {
			return true
		}
		werr = warm()
		time.Sleep(5 * time.Millisecond)
		return false
	})
	if err != nil {
		return fmt.Errorf("warm-up: %d of %d subscribers receive (%v): %w", f.warmed(0), n, werr, err)
	}
	if err := warm(); err != nil {
		return err
	}
	if err := waitFor(d, func() bool { return f.warmed(seq-1) == n }); err != nil {
		return fmt.Errorf("warm-up: %d of %d got the last one: %w", f.warmed(seq-1), n, err)
	}
	return nil
}

// startNodeProcs starts n node processes and the bystander, each with
// args, and reads each one's address. It appends each to *procs as it
// starts, so that the caller's deferred stop reaches those started before
// a failure.
func startNodeProcs(exe string, n int, args []string, procs *[]nodeProc) error {
	for range n + 1 {
		c, err := startChild(exe, args...)
		if err != nil {
			return err
		}
		*procs = append(*procs, nodeProc{Child: c})
		var hello serverHello
		if err := c.Read(&hello, 30*time.Second); err != nil {
			return fmt.Errorf("node: %w", err)
		}
		if hello.Err != "" {
			return fmt.Errorf("node: %s", hello.Err)
		}
		(*procs)[len(*procs)-1].addr = hello.Addr
	}
	return nil
}

// publishOnNodes has every node publish its share of the workload, all
// starting at start, waits until the fleet got every message (or
// nothing came for stall), then until every node's publishing ended, and
// returns each node's reply and error, and whether delivery stalled.
func publishOnNodes(nodes []nodeProc, f *nodeFleet, start, stall time.Duration) ([]publishReply, []error, bool) {
	replies := make([]publishReply, len(nodes))
	callErrs := make([]error, len(nodes))
	var wg sync.WaitGroup
	pubDone := make(chan struct{})
	for i, p := range nodes {
		wg.Go(func() {
			callErrs[i] = p.Call(fmt.Sprintf("publish %d %d %d", int64(start), i, len(nodes)), &replies[i], 10*time.Minute)
		})
	}
	go func() { wg.Wait(); close(pubDone) }()
	stalled := waitDelivered(f.allDone, f.delivered, stall, pubDone)
	<-pubDone
	return replies, callErrs, stalled
}
