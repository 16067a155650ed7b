package main

import (
	"net"
	"os"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fanout-go/fanout/internal/harness"
)

// A node child of -nodes: one node of one side (fanout or centrifuge) on
// the run's redis-server, serving on 127.0.0.1, with its publishers. It
// prints its address and answers the parent's commands (see child.go):
//
//	count                  {"subscribers": n}
//	mem                    a memSnapshot (after a GC; -capacity)
//	warm SEQ               publishes warm-up message SEQ to the bench topic
//	publish START INDEX N  publishes this node's share of the run (below)
//	                       and answers when it is done (a publishReply)
//	rusage                 {"cpu": ns}: the CPU time this process has used
//	cpu [PATH]             starts a CPU profile into PATH; without PATH, stops it
//	stats                  the integration's counters (fanout: redis.Stats)
//
// The run's schedule is the same in every node: a burst of -burst
// messages every -tick from START (CLOCK_MONOTONIC ns), -msgs in all;
// tick k's burst is published by node k mod N, so every node publishes.
// A node publishes a burst from -burst goroutines at once, one message
// each (as concurrent request handlers of an application would), so
// that a library's client can pipeline them; each goroutine waits for
// its Publish to return before it takes its message of the node's next
// burst, so that its messages stay in order. A message is stamped, in
// CLOCK_MONOTONIC, as the pacer stamps it (see pacer.go): a Publish that
// waits, or a goroutine behind with its previous one, is charged to the
// side. With -publishers P the lanes are P goroutines in all, spread over
// the nodes, and with -topics T message seq goes to topic seq mod T (see
// nodeWorkload).

// publishReply answers "publish".
type publishReply struct {
	Published int    `json:"published"`
	Errors    int    `json:"errors"`
	Err       string `json:"err,omitempty"`
	Lag       int64  `json:"lag"` // ns: how far behind the schedule its last Publish returned
}

// monoShift turns this process's now() into CLOCK_MONOTONIC, which all
// processes share (the runtime's monotonic clock is CLOCK_MONOTONIC;
// only its origin, clockBase, is this process's).
var monoShift = time.Duration(monoNow()) - now()

// mono returns CLOCK_MONOTONIC without a system call.
func mono() time.Duration { return now() + monoShift }

func nodeChild(o options) error {
	side, err := selectSide(o.nodeServer)
	if err != nil {
		return err
	}
	no := nodeOptions{peerOptions: o.cfg.queueOptions(), Size: o.cfg.Size, Partitions: o.partitions, Cluster: o.cluster, CentrifugeSharded: o.centShards}
	srv, err := side.New(o.nodeRedis, no)
	if err != nil {
		_ = harness.Reply(serverHello{Err: err.Error()})
		return nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	var cpuf *os.File
	fail := func(err error) any { return map[string]string{"err": err.Error()} }
	return serveChild(srv, srv.Close, ln, func(cmd string, args []string) any {
		switch {
		case cmd == "count":
			return memSnapshot{Subscribers: srv.Subscribers()}
		case cmd == "mem":
			return readMem(srv.Subscribers())
		case cmd == "warm" && len(args) == 1:
			seq, _ := strconv.Atoi(args[0])
			if err := srv.Publish(benchTopic, newWarmup(o.cfg.Size, seq)); err != nil {
				return fail(err)
			}
			return map[string]string{}
		case cmd == "publish" && len(args) == 3:
			start, _ := strconv.ParseInt(args[0], 10, 64)
			index, _ := strconv.Atoi(args[1])
			w := newNodeWorkload(o)
			w.Nodes, _ = strconv.Atoi(args[2])
			return publishShare(srv, o.cfg, w, time.Duration(start), index)
		case cmd == "rusage":
			var ru syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
			return map[string]int64{"cpu": ru.Utime.Nano() + ru.Stime.Nano()}
		case cmd == "cpu" && len(args) == 1:
			f, err := os.Create(args[0])
			if err == nil {
				err = pprof.StartCPUProfile(f)
			}
			if err != nil {
				return fail(err)
			}
			cpuf = f
			return map[string]string{}
		case cmd == "cpu":
			pprof.StopCPUProfile()
			if cpuf != nil {
				_ = cpuf.Close()
			}
			return map[string]string{}
		case cmd == "stats":
			return map[string]any{"stats": srv.Stats()}
		}
		return map[string]string{"err": "unknown command " + cmd}
	})
}

// publishShare publishes node index's messages of the schedule starting
// at start (CLOCK_MONOTONIC), from its lanes (see nodeWorkload), and
// returns when the last has returned.
func publishShare(srv nodeServer, cfg config, w nodeWorkload, start time.Duration, index int) publishReply {
	type job struct {
		seq   int
		stamp time.Duration // CLOCK_MONOTONIC
	}
	ticks := (cfg.Msgs + cfg.Burst - 1) / cfg.Burst
	var (
		wg        sync.WaitGroup
		published atomic.Int64
		errs      atomic.Int64
		firstErr  atomic.Value
	)
	jobs := make([]int, w.lanes())
	for seq := range cfg.Msgs {
		jobs[w.lane(seq)]++
	}
	lanes := make([]chan job, w.lanes())
	for l := range lanes {
		if w.laneNode(l) != index {
			continue
		}
		lanes[l] = make(chan job, jobs[l]) // the scheduler never waits for a lane
		wg.Go(func() {
			for jb := range lanes[l] {
				if err := srv.Publish(w.topic(jb.seq), newPayload(cfg.Size, jb.stamp, jb.seq)); err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				published.Add(1)
			}
		})
	}
	var pace pacer
	var due time.Duration
	for k := range ticks {
		first, last := k*cfg.Burst, min((k+1)*cfg.Burst, cfg.Msgs)
		mine := false
		for seq := first; seq < last && !mine; seq++ {
			mine = lanes[w.lane(seq)] != nil
		}
		if !mine {
			continue
		}
		due = start - monoShift + time.Duration(k)*cfg.Tick // this process's now()
		pace.until(due)
		stamp := pace.stamp(due) + monoShift
		for seq := first; seq < last; seq++ {
			if l := lanes[w.lane(seq)]; l != nil {
				l <- job{seq, stamp}
			}
		}
	}
	for _, l := range lanes {
		if l != nil {
			close(l)
		}
	}
	wg.Wait()
	r := publishReply{Published: int(published.Load()), Errors: int(errs.Load())}
	if due > 0 {
		r.Lag = int64(now() - due)
	}
	if e, ok := firstErr.Load().(string); ok {
		r.Err = e
	}
	return r
}
