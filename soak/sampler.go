package main

import (
	"os"
	"time"
)

// row is one second of the run.
type row struct {
	T      float64            // seconds since the publishers started
	Deliv  float64            // messages checked by the clients, per second
	Server float64            // the nodes' Stats.Delivered, per second
	P50    time.Duration      // publish to delivery, this second
	P99    time.Duration      //
	RSS    map[string]float64 // MiB, per node (0 while down)
	Subs   int                // subscribers on all nodes
	Load   float64            // the machine's 1-minute load average
	Busy   float64            // the machine's CPU use, % of all its cores
	Ours   float64            // this run's processes (parent, nodes, redis-server), % of all cores
}

// pollNode polls n and keeps what it reports once (ended subscribers,
// slow publishes).
func (r *runState) pollNode(n *nodeProc) (nodeSample, bool) {
	s, ok := n.poll()
	if !ok {
		return s, false
	}
	r.mu.Lock()
	for _, g := range s.Gone {
		r.gone[g.CID] = append(r.gone[g.CID], g)
	}
	r.slowPubs[n.name] = append(r.slowPubs[n.name], s.Pub.Slow...)
	r.stalls[n.name] = append(r.stalls[n.name], s.Stalls...)
	r.mu.Unlock()
	return s, true
}

// sample polls every node each second and records a row.
func (r *runState) sample(stop <-chan struct{}) {
	type prevNode struct{ deliv, cpu uint64 }
	prev := map[string]prevNode{}
	var prevDeliv uint64
	prevLat := r.lat.snapshot()
	prevBusy, prevTotal := machineCPU()
	self := os.Getpid()
	prevSelf := procCPU(self)
	prevRedisPid, prevRedis := r.redis.pid(), procCPU(r.redis.pid())
	last := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			for _, n := range r.nodes { // what ended since the last tick
				r.pollNode(n)
			}
			return
		case <-tick.C:
		}
		now := time.Now()
		dt := now.Sub(last).Seconds()
		last = now
		row := row{T: now.Sub(r.runStart).Seconds(), RSS: map[string]float64{}, Load: loadAvg()}
		var ours time.Duration
		for _, n := range r.nodes {
			s, ok := r.pollNode(n)
			if !ok {
				row.RSS[n.name] = 0
				continue
			}
			row.RSS[n.name] = mib(s.RSS)
			row.Subs += s.Subscribers
			p := prev[n.name]
			d, c := s.Stats.Delivered, uint64(s.CPU)
			if d < p.deliv || c < p.cpu { // a new incarnation
				p = prevNode{}
			}
			row.Server += float64(d-p.deliv) / dt
			ours += time.Duration(c - p.cpu)
			prev[n.name] = prevNode{d, c}
		}
		var deliv uint64
		for _, s := range r.systems {
			deliv += s.delivered.Load()
		}
		row.Deliv = float64(deliv-prevDeliv) / dt
		prevDeliv = deliv
		lat := r.lat.snapshot()
		d := lat.sub(prevLat)
		prevLat = lat
		row.P50, row.P99 = d.quantile(0.5), d.quantile(0.99)
		busy, total := machineCPU()
		if total > prevTotal {
			row.Busy = 100 * float64(busy-prevBusy) / float64(total-prevTotal)
		}
		prevBusy, prevTotal = busy, total
		sc := procCPU(self)
		ours += sc - prevSelf
		prevSelf = sc
		if pid := r.redis.pid(); pid == prevRedisPid {
			rc := procCPU(pid)
			ours += rc - prevRedis
			prevRedis = rc
		} else {
			prevRedisPid, prevRedis = pid, procCPU(pid)
		}
		row.Ours = 100 * ours.Seconds() / dt / float64(numCPU())
		r.mu.Lock()
		r.series = append(r.series, row)
		r.mu.Unlock()
	}
}
