package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/fanout-go/fanout/internal/harness"
)

// -capacity run: the -nodes workload on fanout's side alone (N nodes and
// the bystander on one redis-server, the clients in this process), with
// what a capacity plan needs besides CPU time: every node's resident
// set before its clients connect, once they are subscribed, and after
// the run; Redis's used_memory at the same moments and MEMORY USAGE of
// its keys by kind; the bytes this process (the clients) read per
// delivery; the serving nodes' idle CPU. It prints the run's unit costs
// and, with -capacity-units, the model's prediction for the run's size
// beside the measured totals (docs/capacity.md).

// capRun is one measured run.
type capRun struct {
	nodeResult
	LoadStart, LoadEnd string

	NodesIdle time.Duration // the serving nodes' CPU over the idle period (IdleLen)

	RSSBefore, RSSSubscribed, RSSAfter, HWM []uint64 // per serving node
	ByRSSAfter                              uint64
	// Each serving node's memSnapshot (after two GCs) once subscribed,
	// read after RSSSubscribed, and after the run, read after RSSAfter.
	MemBefore, MemSubscribed, MemAfter []memSnapshot // MemBefore: before clients, read after RSSBefore
	Bystanders                         int           // the bystander's subscribers

	RedisEmpty, RedisNodes, RedisSubscribed, RedisAfter int64 // used_memory
	DatasetSubscribed, DatasetAfter                     int64 // used_memory_dataset (used_memory minus Redis's overhead: clients' buffers, its dictionaries)
	// MEMORY USAGE and count of the keys by kind, and the entries in the
	// partitions' logs, once subscribed and after the run.
	KeysSubscribed, KeysAfter keyCensus

	ClientBytes int64 // bytes this process read over the run (rchar)
	RedisRead   int64 // bytes redis-server read over the run (rchar)
	RedisWrote  int64 // and wrote (wchar)
}

func runCapacity(o options, stdout, progress io.Writer) error {
	side, err := selectSide("fanout")
	if err != nil {
		return err
	}
	var units *capUnits
	if o.capUnits != "" {
		u, err := parseCapUnits(o.capUnits)
		if err != nil {
			return err
		}
		units = &u
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	rs, err := startRedis()
	if err != nil {
		return err
	}
	defer rs.Stop()
	version, _ := rs.info("server")
	fmt.Fprintln(stdout, describeNodes(o, version["redis_version"]))
	samples := make([]int64, newNodeWorkload(o).samples(o.cfg.Subs))
	for r := range o.repeats {
		started := time.Now()
		res, err := runCapacityOnce(side, o, rs, exe, samples)
		res.Repeat = r + 1
		if err != nil {
			res.Err = err.Error()
		}
		fmt.Fprintf(progress, "  repeat %d/%d %9s/s p99 %-7s lost %d, %.1fs %s\n", r+1, o.repeats,
			fmtSI(res.DeliveredPerSec()), fmtSeconds(res.P99.Seconds()), res.Lost(), time.Since(started).Seconds(), res.Err)
		fmt.Fprintf(stdout, "\n%s", capReport(res, o, units))
	}
	fmt.Fprintf(stdout, "\nload average at the end: %s\n", loadAverage())
	return nil
}

// runCapacityOnce is runNodesOnce for one side, with the readings above.
func runCapacityOnce(side nodeSide, o options, rs redisServer, exe string, samples []int64) (res capRun, err error) {
	cfg := o.cfg
	res.Side, res.LoadStart = side.Name, loadAverage()
	if _, err := rs.Text("FLUSHALL"); err != nil {
		return res, err
	}
	if res.RedisEmpty, err = usedMemory(rs); err != nil {
		return res, err
	}
	args := []string{"-node-server", side.Name, "-node-redis", rs.Addr(), "-partitions", strconv.Itoa(o.partitions),
		"-msgs", strconv.Itoa(cfg.Msgs), "-size", strconv.Itoa(cfg.Size), "-burst", strconv.Itoa(cfg.Burst),
		"-tick", cfg.Tick.String(), "-queue", strconv.Itoa(cfg.Queue),
		"-topics", strconv.Itoa(o.topics), "-publishers", strconv.Itoa(o.publishers)}
	var procs []nodeProc
	w := newNodeWorkload(o)
	f := newNodeFleet(side, w, cfg.Subs, o.bystanders, samples)
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
	rss := func() (out []uint64) {
		for _, p := range nodes {
			out = append(out, procRSS(p.PID(), "VmRSS:"))
		}
		return out
	}
	res.RSSBefore = rss()
	if res.MemBefore, err = nodeMem(nodes); err != nil {
		return res, err
	}
	if res.RedisNodes, err = usedMemory(rs); err != nil {
		return res, err
	}
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
	res.Bystanders = len(f.bystanders)
	if err := waitSubscribed(procs, len(f.subs), len(f.bystanders)); err != nil {
		return res, err
	}
	if err := warmUpNodes(nodes[0], f, 60*time.Second); err != nil {
		return res, err
	}
	res.RSSSubscribed = rss()
	if res.MemSubscribed, err = nodeMem(nodes); err != nil {
		return res, err
	}
	if res.RedisSubscribed, res.DatasetSubscribed, err = redisMemory(rs); err != nil {
		return res, err
	}
	if res.KeysSubscribed, err = keyUsage(rs); err != nil {
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
	res.NodesIdle = idle1.nodes - idle0.nodes

	if _, err := rs.Text("CONFIG", "RESETSTAT"); err != nil {
		return res, err
	}
	c0, err := takeCPU(procs, rs)
	if err != nil {
		return res, err
	}
	io0, rio0 := procIO(os.Getpid()), procIO(rs.PID())
	start := mono() + 50*time.Millisecond
	replies, callErrs, stalled := publishOnNodes(nodes, f, start, cfg.Stall)
	c1, err := takeCPU(procs, rs)
	if err != nil {
		return res, err
	}
	io1, rio1 := procIO(os.Getpid()), procIO(rs.PID())
	res.ClientBytes = io1["rchar"] - io0["rchar"]
	res.RedisRead, res.RedisWrote = rio1["rchar"]-rio0["rchar"], rio1["wchar"]-rio0["wchar"]
	res.RSSAfter = rss()
	for _, p := range nodes {
		res.HWM = append(res.HWM, procRSS(p.PID(), "VmHWM:"))
	}
	res.ByRSSAfter = procRSS(by.PID(), "VmRSS:")
	if res.MemAfter, err = nodeMem(nodes); err != nil {
		return res, err
	}
	if res.RedisAfter, res.DatasetAfter, err = redisMemory(rs); err != nil {
		return res, err
	}
	if res.Cmds, err = rs.commandStats(); err != nil {
		return res, err
	}
	if res.KeysAfter, err = keyUsage(rs); err != nil {
		return res, err
	}
	if res.ByIdleAfter, res.IdleAfterLen, err = idleAfter(by, o.nodesIdle); err != nil {
		return res, err
	}
	res.Nodes = f.perNode(len(nodes), start)
	f.tally(&res.nodeResult, start, samples, c0, c1)
	if err := res.tallyReplies(replies, callErrs); err != nil {
		return res, err
	}
	switch {
	case res.Misordered > 0:
		res.Err = fmt.Sprintf("%d messages out of order or duplicated", res.Misordered)
	case res.ByGot > 0:
		res.Err = fmt.Sprintf("the bystander's subscribers received %d messages", res.ByGot)
	case stalled && res.Err == "":
		res.Err = fmt.Sprintf("stalled while publishing: %d of %d delivered", res.Delivered, res.Expected)
	}
	res.LoadEnd = loadAverage()
	return res, nil
}

// nodeMem reads every node's memSnapshot.
func nodeMem(nodes []nodeProc) ([]memSnapshot, error) {
	var out []memSnapshot
	for _, p := range nodes {
		var m memSnapshot
		if err := p.Call("mem", &m, 30*time.Second); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// procRSS returns a field of /proc/PID/status in bytes.
func procRSS(pid int, field string) uint64 {
	return harness.ProcStatus("/proc/"+strconv.Itoa(pid)+"/status", field)
}

// procIO returns /proc/PID/io (rchar, wchar, syscr, …); empty when it
// cannot be read.
func procIO(pid int) map[string]int64 {
	m := map[string]int64{}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/io")
	if err != nil {
		return m
	}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k], _ = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return m
}

func usedMemory(rs redisServer) (int64, error) {
	used, _, err := redisMemory(rs)
	return used, err
}

// redisMemory returns used_memory and used_memory_dataset.
func redisMemory(rs redisServer) (used, dataset int64, err error) {
	m, err := rs.info("memory")
	if err != nil {
		return 0, 0, err
	}
	used, err1 := strconv.ParseInt(m["used_memory"], 10, 64)
	dataset, err2 := strconv.ParseInt(m["used_memory_dataset"], 10, 64)
	return used, dataset, errors.Join(err1, err2)
}

// keyCensus is Redis's keys by kind.
type keyCensus struct {
	Mem, Count map[string]int64
	Kept       int64 // entries in the partitions' logs
}

// censusScript returns, for every key, its kind ("{bench:0}:pmembers:n:t1" → "pmembers", "{bench:0}:log" → "log"), its
// MEMORY USAGE and, for a log, its length: one round trip whatever the
// number of keys (a bench's Redis holds nothing else).
const censusScript = `
local out = {}
for _, k in ipairs(redis.call('KEYS', '*')) do
  local rest = string.match(k, '}:(.*)$')
  local kind = 'other'
  if rest then kind = string.match(rest, '^([^:]*)') end
  local n = 0
  if kind == 'log' then n = redis.call('XLEN', k) end
  table.insert(out, kind)
  table.insert(out, redis.call('MEMORY', 'USAGE', k, 'SAMPLES', '0'))
  table.insert(out, n)
end
return out`

// keyUsage sums MEMORY USAGE over every key by kind, and counts the
// logs' entries.
func keyUsage(rs redisServer) (keyCensus, error) {
	c := keyCensus{Mem: map[string]int64{}, Count: map[string]int64{}}
	reply, err := rs.Do("EVAL", censusScript, "0")
	if err != nil {
		return c, err
	}
	rows, ok := reply.([]any)
	if !ok || len(rows)%3 != 0 {
		return c, fmt.Errorf("key census: unexpected reply %v", reply)
	}
	for i := 0; i < len(rows); i += 3 {
		kind, _ := rows[i].(string)
		mem, _ := rows[i+1].(int64)
		n, _ := rows[i+2].(int64)
		c.Count[kind]++
		c.Mem[kind] += mem
		c.Kept += n
	}
	return c, nil
}
