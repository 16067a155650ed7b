package main

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// The capacity model of docs/capacity.md: unit costs × workload = totals.
// `-capacity run` measures a run and, given -capacity-units, prints what
// the model predicts for that run's size beside what was measured;
// `-capacity plan` prints the model's totals for a workload given on the
// command line, without measuring.

// capUnits are the unit costs. CPU in µs, memory and bytes in bytes.
type capUnits struct {
	DelCPU  float64 // node CPU per delivery
	PubCPU  float64 // node CPU per message, at the node that publishes it (beyond receiving it back)
	RecvCPU float64 // node CPU per message a node receives from Redis (a bystander's cost: it has no subscriber of it)
	IdleCPU float64 // node CPU per second per node with nothing published (cores × 1e6)

	NodeRSS float64 // a node's resident set with no subscriber
	SubRSS  float64 // node RSS per subscriber (connected, after a run)

	RedisPub  float64 // Redis CPU per publish, the channel's receivers included at the calibration's count
	RedisRecv float64 // Redis CPU per publish per receiving node beyond the calibration's

	MsgMem  float64 // Redis memory per kept message (log entry and topic index)
	SubMem  float64 // Redis memory per subscriber (presence: its member of its topics)
	PairMem float64 // Redis memory per topic and node that serves it (presence: the node's hash, its entry in the topic's index)
	PairCPU float64 // Redis CPU per second per topic and node (presence: each node rewrites its topics every PresenceTTL)

	WireDel float64 // bytes on the wire per delivery (frame and ID record around the payload)
}

// capUnitFields names the fields of -capacity-units.
var capUnitFields = map[string]func(*capUnits) *float64{
	"del":      func(u *capUnits) *float64 { return &u.DelCPU },
	"pub":      func(u *capUnits) *float64 { return &u.PubCPU },
	"recv":     func(u *capUnits) *float64 { return &u.RecvCPU },
	"idle":     func(u *capUnits) *float64 { return &u.IdleCPU },
	"noderss":  func(u *capUnits) *float64 { return &u.NodeRSS },
	"subrss":   func(u *capUnits) *float64 { return &u.SubRSS },
	"redispub": func(u *capUnits) *float64 { return &u.RedisPub },
	"redisrcv": func(u *capUnits) *float64 { return &u.RedisRecv },
	"msgmem":   func(u *capUnits) *float64 { return &u.MsgMem },
	"submem":   func(u *capUnits) *float64 { return &u.SubMem },
	"pairmem":  func(u *capUnits) *float64 { return &u.PairMem },
	"paircpu":  func(u *capUnits) *float64 { return &u.PairCPU },
	"wire":     func(u *capUnits) *float64 { return &u.WireDel },
}

// parseCapUnits parses "del=2.1,pub=30,…" (CPU in µs, memory in bytes).
func parseCapUnits(s string) (capUnits, error) {
	var u capUnits
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		k, v, ok := strings.Cut(f, "=")
		field, known := capUnitFields[k]
		if !ok || !known {
			return u, fmt.Errorf("-capacity-units: %q is not one of %s=value", f, strings.Join(capUnitNames(), ","))
		}
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return u, fmt.Errorf("-capacity-units: %s: %w", k, err)
		}
		*field(&u) = x
	}
	return u, nil
}

func capUnitNames() []string {
	var names []string
	for k := range capUnitFields {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// capWorkload is what the model is asked about.
type capWorkload struct {
	Nodes   int     // nodes serving subscribers
	Subs    int     // subscribers in all
	PubRate float64 // messages published per second, in all
	Fanout  float64 // deliveries per published message
	// Receivers is how many nodes receive each message from Redis: on
	// main every node that follows the message's partition (all of them,
	// with topics spread over every partition); with one channel per
	// topic, the nodes that serve its topic.
	Receivers float64
	// ExtraReceivers is how many of those receivers the calibration did
	// not have (RedisRecv is per receiver beyond it).
	ExtraReceivers float64
	Kept           float64 // messages kept in Redis (partitions × HistorySize at most)
	// Pairs is how many (topic, node) pairs have subscribers: the
	// topics when each topic's subscribers are on one node, up to
	// topics × nodes.
	Pairs float64
	// PresenceSubs is how many subscribers Redis keeps presence of, when
	// not Subs (a run's bystander's are in Redis but serve nothing).
	PresenceSubs int
}

// capTotals are the model's totals.
type capTotals struct {
	NodeCPU     float64 // cores, all nodes
	NodeCPUTerm [4]float64
	NodeRSS     float64 // bytes, all nodes
	RedisCPU    float64 // cores
	RedisMem    float64 // bytes (used_memory beyond an empty server)
	Wire        float64 // bytes/s to subscribers
}

// capTermNames names NodeCPUTerm's terms.
var capTermNames = [4]string{"deliveries", "publishes", "receiving", "idle"}

// predict returns the model's totals for w.
func (u capUnits) predict(w capWorkload) capTotals {
	var t capTotals
	t.NodeCPUTerm = [4]float64{
		w.PubRate * w.Fanout * u.DelCPU / 1e6,
		w.PubRate * u.PubCPU / 1e6,
		w.PubRate * w.Receivers * u.RecvCPU / 1e6,
		float64(w.Nodes) * u.IdleCPU / 1e6,
	}
	for _, c := range t.NodeCPUTerm {
		t.NodeCPU += c
	}
	t.NodeRSS = float64(w.Nodes)*u.NodeRSS + float64(w.Subs)*u.SubRSS
	t.RedisCPU = (w.PubRate*(u.RedisPub+w.ExtraReceivers*u.RedisRecv) + w.Pairs*u.PairCPU) / 1e6
	presence := w.PresenceSubs
	if presence == 0 {
		presence = w.Subs
	}
	t.RedisMem = w.Kept*u.MsgMem + float64(presence)*u.SubMem + w.Pairs*u.PairMem
	t.Wire = w.PubRate * w.Fanout * u.WireDel
	return t
}

// within reports whether measured is within tol (0.2: 20%) of predicted.
func within(measured, predicted, tol float64) bool {
	if predicted == 0 {
		return measured == 0
	}
	r := measured / predicted
	return r >= 1-tol && r <= 1+tol
}

// runCapacityCommand runs -capacity run or -capacity plan.
func runCapacityCommand(o options, stdout, stderr io.Writer) error {
	switch o.capacity {
	case "plan":
		u, err := parseCapUnits(o.capUnits)
		if err != nil {
			return err
		}
		receivers := o.capReceivers
		if receivers < 0 {
			receivers = float64(o.nodes)
		}
		w := capWorkload{Nodes: o.nodes, Subs: o.cfg.Subs, PubRate: o.capRate, Fanout: o.capFanout, Receivers: receivers, Kept: o.capKept,
			Pairs: o.capPairs, ExtraReceivers: o.capExtra}
		fmt.Fprint(stdout, capPlan(u, w))
		return nil
	case "run":
		if o.nodes < 1 {
			return fmt.Errorf("-capacity run needs -nodes")
		}
		bystanders := len(newNodeWorkload(o).bystanderTopics(o.cfg.Subs, o.bystanders))
		if msg := raiseFileLimit(uint64(o.cfg.Subs + bystanders + 256)); msg != "" { // the clients are in this process
			fmt.Fprintln(stdout, msg)
		}
		return runCapacity(o, stdout, o.progress(stderr))
	}
	return fmt.Errorf("-capacity is run or plan")
}

// capPlan prints the model's totals for w.
func capPlan(u capUnits, w capWorkload) string {
	t := u.predict(w)
	var b strings.Builder
	fmt.Fprintf(&b, "%d nodes, %d subscribers, %s messages/s, %.1f deliveries each (%s/s), %.1f receiving nodes per message (%.1f more than calibrated), %.0f kept in Redis, %.0f (topic, node) pairs\n",
		w.Nodes, w.Subs, fmtSI(w.PubRate), w.Fanout, fmtSI(w.PubRate*w.Fanout), w.Receivers, w.ExtraReceivers, w.Kept, w.Pairs)
	fmt.Fprintf(&b, "nodes' CPU %.2f cores in all, %.3f per node:", t.NodeCPU, t.NodeCPU/float64(max(w.Nodes, 1)))
	for i, c := range t.NodeCPUTerm {
		fmt.Fprintf(&b, " %s %.2f", capTermNames[i], c)
	}
	fmt.Fprintf(&b, "\nnodes' RSS %s in all, %s per node\n", fmtBytes(t.NodeRSS), fmtBytes(t.NodeRSS/float64(max(w.Nodes, 1))))
	fmt.Fprintf(&b, "Redis CPU %.2f cores, memory %s (beyond an empty server)\n", t.RedisCPU, fmtBytes(t.RedisMem))
	fmt.Fprintf(&b, "to subscribers %s B/s (%s bit/s)\n", fmtSI(t.Wire), fmtSI(8*t.Wire))
	return b.String()
}
