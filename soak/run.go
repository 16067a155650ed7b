package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fanout-go/fanout/internal/harness"
)

// runState is the parent's view of a run.
type runState struct {
	o   options
	w   io.Writer
	rec *recorder
	lat hist // publish to delivery, fast readers' live messages

	quiet    atomic.Bool  // the end: churn, joins and pauses stop
	lastRecv atomic.Int64 // CLOCK_MONOTONIC of the last message any client received

	redis        *redisServer
	single       *system
	cluster      *system
	systems      []*system
	nodes        []*nodeProc
	clients      []*soakClient
	faults       *faults
	runStart     time.Time
	runStartMono int64

	mu         sync.Mutex
	series     []row
	gone       map[string][]disconnect // by client ID
	slowPubs   map[string][]slowPub    // by node
	stalls     map[string][]stall      // by process: a node's name, or "parent"
	canary     *canary                 // the parent's
	never      map[string][]time.Duration
	neverKills int                            // never-reading sessions whose node was killed under them
	finals     map[string]map[string]seqFinal // system -> key -> end
	logs       []string

	sockBefore, sockBase, sockEnd sockstat
	drops                         []dropResult
}

func (r *runState) logf(format string, args ...any) {
	line := fmt.Sprintf("%7.1fs  ", time.Since(r.runStart).Seconds()) + fmt.Sprintf(format, args...)
	if r.runStart.IsZero() {
		line = "   setup  " + fmt.Sprintf(format, args...)
	}
	r.mu.Lock()
	r.logs = append(r.logs, line)
	r.mu.Unlock()
	fmt.Fprintln(os.Stderr, line)
}

// neverKilled counts a never-reading session whose node was killed under it.
func (r *runState) neverKilled(*soakClient) {
	r.mu.Lock()
	r.neverKills++
	r.mu.Unlock()
}

func (r *runState) neverClosed(c *soakClient, d time.Duration) {
	g := "close"
	if c.spec.drop {
		g = "drop"
	}
	r.mu.Lock()
	r.never[g] = append(r.never[g], d)
	r.mu.Unlock()
}

// soak runs the whole thing and writes the report; ok is false when an
// invariant broke.
func soak(o options, w io.Writer) (ok bool, err error) {
	r := &runState{o: o, w: w, rec: newRecorder(), gone: map[string][]disconnect{}, slowPubs: map[string][]slowPub{},
		never: map[string][]time.Duration{}, stalls: map[string][]stall{}, finals: map[string]map[string]seqFinal{}}
	exe, err := os.Executable()
	if err != nil {
		return false, err
	}
	r.sockBefore = readSockstat()
	r.canary = startCanary(nil)
	r.redis, err = startRedis()
	if err != nil {
		return false, err
	}
	defer r.redis.stop()
	r.logf("redis-server on %s", r.redis.addr())
	if err := r.startNodes(exe); err != nil {
		return false, err
	}
	defer func() {
		for _, n := range r.nodes {
			n.stop()
			if n.proxy != nil {
				n.proxy.Close()
			}
		}
	}()
	r.sockBase = readSockstat()

	rng := rand.New(rand.NewPCG(o.seed, 7))
	r.makeClients(rng)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var cwg sync.WaitGroup
	for _, c := range r.clients {
		cwg.Go(func() {
			if c.spec.kind >= kGoWS {
				c.goSession(ctx)
			} else {
				c.run(ctx)
			}
		})
	}
	r.awaitClients()

	sampleStop := make(chan struct{})
	var swg sync.WaitGroup
	r.runStart, r.runStartMono = time.Now(), monoNow()
	swg.Go(func() { r.sample(sampleStop) })
	for _, n := range r.nodes {
		var resp struct{ Err string }
		if err := n.call("start", &resp, 10*time.Second); err != nil || resp.Err != "" {
			return false, fmt.Errorf("start publishers on %s: %v %s", n.name, err, resp.Err)
		}
	}
	r.logf("publishing: %d nodes, %d publishers each at %.0f/s, %d clients", len(r.nodes), o.pubs, o.rate, len(r.clients))
	r.faults = &faults{r: r}
	faultStop := make(chan struct{})
	var fwg sync.WaitGroup
	fwg.Go(func() { r.faults.run(faultStop, o.duration) })
	r.progress(o.duration)

	// The end: behaviours stop, then publishers, then clients drain.
	r.quiet.Store(true)
	close(faultStop)
	fwg.Wait()
	r.logf("quiet: no more churn, joins, pauses or faults")
	time.Sleep(5 * time.Second)
	for _, n := range r.nodes {
		var f pubFinal
		if err := n.call("stop", &f, 30*time.Second); err != nil {
			r.rec.other("node", "stop publishers on %s: %v", n.name, err)
			continue
		}
		r.mu.Lock()
		if r.finals[n.sys.name] == nil {
			r.finals[n.sys.name] = map[string]seqFinal{}
		}
		for k, v := range f.Finals {
			r.finals[n.sys.name][k] = v
		}
		r.mu.Unlock()
	}
	r.logf("publishers stopped")
	r.drain()
	runEnd := time.Now()
	cancel()
	cwg.Wait()
	r.logf("clients closed")
	r.tails()
	r.compareDrops()
	close(sampleStop)
	swg.Wait()
	bases := r.finalBaselines()
	r.sockEnd = r.awaitSockets()
	return r.report(runEnd, bases)
}

// startNodes starts the node alone and the three Redis nodes, each warmed
// up and measured.
func (r *runState) startNodes(exe string) error {
	o := r.o
	base := nodeConfig{Pubs: o.pubs, Rate: o.rate, Burst: o.burst, BurstEvery: o.burstEvery, Topics: o.topics,
		QueueSize: o.queue, QueueBytes: o.queueBytes, SendBuffer: 32 << 10, Timeout: 3 * time.Second,
		Ring: 32768, History: 100000, Seed: o.seed}
	r.single = &system{name: "single", code: "s", topics: o.topics}
	r.cluster = &system{name: "cluster", code: "c", topics: o.topics}
	r.systems = []*system{r.single, r.cluster}
	s0 := base
	s0.System, s0.Name = "s", "s0"
	r.single.nodes = []*nodeProc{{name: "s0", sys: r.single, cfg: s0, exe: exe}}
	for i := range 3 {
		p, err := harness.StartProxy(r.redis.addr())
		if err != nil {
			return err
		}
		c := base
		c.System, c.Name, c.Redis = "c", fmt.Sprintf("c%d", i), p.Addr()
		r.cluster.nodes = append(r.cluster.nodes, &nodeProc{name: c.Name, sys: r.cluster, cfg: c, exe: exe, proxy: p})
	}
	r.nodes = append(append([]*nodeProc(nil), r.single.nodes...), r.cluster.nodes...)
	if d := os.Getenv("SOAK_DEBUG_LOG"); d != "" { // a folder for each node's Debug log
		for _, n := range r.nodes {
			n.cfg.DebugLog = filepath.Join(d, n.name+".log")
		}
	}
	for _, n := range r.nodes {
		if err := n.start(true); err != nil {
			return err
		}
		r.logf("node %s on %s (pid %d): baseline %d goroutines, %.1f MiB live heap, %d fds, %.1f MiB RSS",
			n.name, n.addr, n.pid, n.base.Goroutines, mib(n.base.HeapLive), n.base.FDs, mib(n.base.RSS))
	}
	return nil
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// makeClients makes each node's clients, each with 1 to 3 topics.
func (r *runState) makeClients(rng *rand.Rand) {
	for _, sys := range r.systems {
		for ni, n := range sys.nodes {
			for _, g := range nodeMix(sys == r.single) {
				for i := range g.n * r.o.scale {
					c := &soakClient{
						id:   fmt.Sprintf("%s-%s-%d", n.name, g.spec, i),
						spec: g.spec, sys: sys, home: ni, r: r,
						rng:  newLockedRand(rng.Uint64(), rng.Uint64()),
						ends: map[string]int{},
					}
					k := 1 + rng.IntN(3)
					if g.spec.read == readNever { // the most traffic, so that the kernel's buffers fill soon
						k = sys.topics
					}
					for _, t := range rng.Perm(sys.topics)[:k] {
						c.base = append(c.base, topicName(t))
					}
					c.topics = append([]string(nil), c.base...)
					c.chk = newChecker(c.id, sys, r.rec, g.spec.drop)
					r.clients = append(r.clients, c)
				}
			}
		}
	}
}

// awaitClients waits until the nodes serve every client (or 20s).
func (r *runState) awaitClients() {
	want := len(r.clients)
	deadline := time.Now().Add(20 * time.Second)
	for {
		have := 0
		for _, n := range r.nodes {
			if s, ok := n.poll(); ok {
				have += s.Subscribers
			}
		}
		if have >= want || time.Now().After(deadline) {
			r.logf("%d of %d clients connected", have, want)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// progress waits for the run's duration, saying how it goes.
func (r *runState) progress(d time.Duration) {
	end := r.runStart.Add(d)
	for time.Now().Before(end) {
		time.Sleep(min(30*time.Second, time.Until(end)))
		var n uint64
		for _, s := range r.systems {
			n += s.delivered.Load()
		}
		r.logf("%d deliveries checked, %d violations", n, r.rec.total.Load())
	}
}

// drain waits until no client has received anything for 3s (at most
// 60s), so that what the publishers published last has arrived.
func (r *runState) drain() {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if time.Duration(monoNow()-r.lastRecv.Load()) > 3*time.Second {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	r.logf("drained")
}
