package main

import (
	"fmt"
	"slices"
	"time"
)

// The workload of -nodes: which topic each message goes to, which
// goroutine of which node publishes it, and which topics each subscriber
// follows.
//
// With -topics 0 (the default) every subscriber follows benchTopic and
// every message goes to it. With -topics T there are T topics, t00000…;
// message seq goes to topic seq mod T (round-robin over all of them), and
// node i serves the topics k with k mod N = i, its third with 3 nodes:
// each of its subscribers follows topicsPerSub of them (so that together
// they follow all of the node's topics), plus benchTopic, which only the
// warm-up messages go to. The bystander node's subscribers follow as many
// topics again, none of which is published to (x00000…).
//
// With -publishers 0 (the default), each node has -burst publishing
// goroutines (lanes) and tick k's burst is published by node k mod N,
// one message per lane. With -publishers P, there are P goroutines in
// all, lane l on node l mod N, and message seq is published by lane
// seq mod P: -publishers 1 is one sequential publisher (on the first
// node), each Publish waiting for the one before.

// nodeWorkload is what the parent and every node agree on.
type nodeWorkload struct {
	Nodes, Burst, Msgs int
	Topics             int // 0: every message to benchTopic
	Publishers         int // 0: Burst per node, each node publishing every Nth burst
}

func newNodeWorkload(o options) nodeWorkload {
	return nodeWorkload{Nodes: o.nodes, Burst: o.cfg.Burst, Msgs: o.cfg.Msgs, Topics: o.topics, Publishers: o.publishers}
}

// lanes returns how many publishing goroutines there are in all.
func (w nodeWorkload) lanes() int {
	if w.Publishers > 0 {
		return w.Publishers
	}
	return w.Nodes * w.Burst
}

// lane returns the publishing goroutine of message seq.
func (w nodeWorkload) lane(seq int) int {
	if w.Publishers > 0 {
		return seq % w.Publishers
	}
	return (seq/w.Burst%w.Nodes)*w.Burst + seq%w.Burst
}

// laneNode returns the node lane l publishes from.
func (w nodeWorkload) laneNode(l int) int {
	if w.Publishers > 0 {
		return l % w.Nodes
	}
	return l / w.Burst
}

// topic returns the topic of message seq.
func (w nodeWorkload) topic(seq int) string {
	if w.Topics == 0 {
		return benchTopic
	}
	return topicName("t", seq%w.Topics)
}

func topicName(prefix string, k int) string { return fmt.Sprintf("%s%05d", prefix, k) }

// nodeTopics returns how many topics node i serves.
func (w nodeWorkload) nodeTopics(i int) int {
	return (w.Topics - i + w.Nodes - 1) / w.Nodes
}

// topicsPerSub returns how many run topics each subscriber follows, with
// subs subscribers in all: enough that each node's subscribers together
// follow all its topics.
func (w nodeWorkload) topicsPerSub(subs int) int {
	if w.Topics == 0 {
		return 1
	}
	perNode := max(subs/w.Nodes, 1)
	return (w.nodeTopics(0) + perNode - 1) / perNode
}

// subTopics returns the run topics of subscriber j (on node j mod N) and
// how many messages it is to receive.
func (w nodeWorkload) subTopics(j, subs int) (topics []string, want int64) {
	if w.Topics == 0 {
		return []string{benchTopic}, int64(w.Msgs)
	}
	i, m := j%w.Nodes, j/w.Nodes
	c, per := w.nodeTopics(i), w.topicsPerSub(subs)
	var ks []int
	for q := range min(per, c) {
		k := i + w.Nodes*((m*per+q)%c)
		if !slices.Contains(ks, k) {
			ks = append(ks, k)
		}
	}
	for _, k := range ks {
		topics = append(topics, topicName("t", k))
		want += int64(w.Msgs / w.Topics)
		if k < w.Msgs%w.Topics {
			want++
		}
	}
	return topics, want
}

// samples returns how many latency samples subs subscribers take in all.
func (w nodeWorkload) samples(subs int) int64 {
	var n int64
	for j := range subs {
		_, want := w.subTopics(j, subs)
		n += want
	}
	return n
}

// bystanderTopics returns the topics of the bystander's subscribers:
// with -topics, as many as a node serves, topicsPerSub each, none of
// them published to; without, bystanders subscribers of bystanderTopic.
func (w nodeWorkload) bystanderTopics(subs, bystanders int) [][]string {
	var out [][]string
	if w.Topics == 0 {
		for range bystanders {
			out = append(out, []string{bystanderTopic})
		}
		return out
	}
	per := w.topicsPerSub(subs)
	for k := 0; k < w.nodeTopics(0); k += per {
		var ts []string
		for q := k; q < min(k+per, w.nodeTopics(0)); q++ {
			ts = append(ts, topicName("x", q))
		}
		out = append(out, ts)
	}
	return out
}

// nodeFigures is one node's share of a run: its subscribers' deliveries
// and latencies, and its process's CPU time.
type nodeFigures struct {
	Subs      int
	Delivered int64
	Elapsed   time.Duration
	P50, P99  time.Duration
	CPU       time.Duration
}

func (n nodeFigures) DeliveredPerSec() float64 {
	if n.Elapsed <= 0 {
		return 0
	}
	return float64(n.Delivered) / n.Elapsed.Seconds()
}

// perNode splits a run's clients by node (subscriber j is on node j mod
// nodes), before their samples are gathered for the whole run.
func (f *nodeFleet) perNode(nodes int, start time.Duration) []nodeFigures {
	out := make([]nodeFigures, nodes)
	var scratch []int64
	for i := range out {
		scratch = scratch[:0]
		var last int64
		for j := i; j < len(f.subs); j += nodes {
			s := f.subs[j]
			out[i].Subs++
			out[i].Delivered += s.got.Load()
			last = max(last, s.last.Load())
			scratch = append(scratch, s.lat...)
		}
		if last > 0 {
			out[i].Elapsed = time.Duration(last) - start
		}
		out[i].P50, _, out[i].P99, _ = quantiles(scratch)
	}
	return out
}
