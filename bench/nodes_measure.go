package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// What -nodes measures besides the clients' figures: every process's CPU
// time, and, with -nodes-profile, CPU profiles.

// loadAverage returns the 1, 5 and 15 minute load averages.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}

// cpuSnapshot is every process's CPU time at one moment.
type cpuSnapshot struct {
	at                      time.Duration
	nodes, by, redis, local time.Duration
	perNode                 []time.Duration // each of the N nodes
}

// redisCPU is a redisServer or a nodeRedis (a Cluster's masters).
type redisCPU interface{ cpu() (time.Duration, error) }

func takeCPU(procs []nodeProc, rs redisCPU) (cpuSnapshot, error) {
	s := cpuSnapshot{at: mono()}
	for i, p := range procs {
		c, err := p.cpu()
		if err != nil {
			return s, err
		}
		if i == len(procs)-1 {
			s.by = c
		} else {
			s.nodes += c
			s.perNode = append(s.perNode, c)
		}
	}
	var err error
	if s.redis, err = rs.cpu(); err != nil {
		return s, err
	}
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	s.local = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return s, nil
}

// startNodeProfiles starts, when dir is set, a CPU profile in every node
// (the last is the bystander) and, when perf is installed, `perf record`
// of redis-server; the function it returns stops them.
func startNodeProfiles(dir, side string, repeat int, nodes []nodeProc, rs nodeRedis) (func(), error) {
	if dir == "" {
		return func() {}, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	prefix := filepath.Join(dir, fmt.Sprintf("%s-r%d", side, repeat))
	for i, p := range nodes {
		name := fmt.Sprintf("%s-node%d.pprof", prefix, i)
		if i == len(nodes)-1 {
			name = prefix + "-bystander.pprof"
		}
		var r map[string]string
		if err := p.Call("cpu "+name, &r, 10*time.Second); err != nil || r["err"] != "" {
			return nil, fmt.Errorf("node %d profile: %v %s", i, err, r["err"])
		}
	}
	var perf *exec.Cmd
	if path, err := exec.LookPath("perf"); err == nil {
		perf = exec.Command(path, "record", "-q", "-F", "999", "-g", "-p", rs.pids(), "-o", prefix+"-redis.perf.data")
		if err := perf.Start(); err != nil {
			perf = nil
		}
		time.Sleep(200 * time.Millisecond) // attached
	}
	return func() {
		for _, p := range nodes {
			var r map[string]string
			_ = p.Call("cpu", &r, 10*time.Second)
		}
		if perf != nil {
			_ = perf.Process.Signal(os.Interrupt)
			_ = perf.Wait()
		}
	}, nil
}

// tally adds up what the fleet's clients saw of a run that started at
// start (latency samples into samples) and the CPU between c0 and c1,
// and returns the malformed messages and resyncs the subscribers met.
func (f *nodeFleet) tally(res *nodeResult, start time.Duration, samples []int64, c0, c1 cpuSnapshot) (malformed, resyncs int64) {
	var last int64
	n := 0
	for _, s := range f.subs {
		last = max(last, s.last.Load())
		n += copy(samples[n:], s.lat)
		res.Misordered += s.misorder.Load()
		res.Reconnects += s.reconnects.Load()
		malformed += s.malformed.Load()
		resyncs += s.resyncs.Load()
	}
	for _, s := range f.bystanders {
		res.ByGot += s.got.Load()
	}
	res.Delivered = f.delivered()
	res.Elapsed = time.Duration(last) - start
	res.P50, res.P95, res.P99, res.Max = quantiles(samples[:n])
	res.NodesCPU, res.ClientsCPU, res.RedisCPU = c1.nodes-c0.nodes, c1.local-c0.local, c1.redis-c0.redis
	res.ByCPU, res.Window = c1.by-c0.by, c1.at-c0.at
	return malformed, resyncs
}

// tallyReplies adds up the nodes' publish replies; a node that could not
// be asked fails the run.
func (res *nodeResult) tallyReplies(replies []publishReply, callErrs []error) error {
	for i, r := range replies {
		if callErrs[i] != nil {
			return fmt.Errorf("node %d: %w", i, callErrs[i])
		}
		res.Published += int64(r.Published)
		res.PublishLag = max(res.PublishLag, time.Duration(r.Lag))
		if r.Err != "" {
			res.Err = fmt.Sprintf("publish: %d errors: %s", r.Errors, r.Err)
		}
	}
	return nil
}
