// Command bench measures fanout against the libraries users would pick
// instead, the same way for every peer, in one run: N subscribers on
// loopback, messages stamped with their publish time and published in
// bursts per tick, every configuration repeated with the peers interleaved.
// See README.md.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// options are the command line.
type options struct {
	cfg        config
	repeats    int
	peers      string
	sweep      bool
	sweepSubs  string
	sweepBurst string
	sweepDeliv int
	targets    bool
	idle       int
	out        string
	csv        string
	cpuprofile string
	quiet      bool
	wsclient   string
	plot       string

	idleTLS     bool
	idleWrap    bool
	idleUnwrap  bool
	idleH2      bool
	idleSettle  time.Duration
	idleProfile string
	scale       int
	scaleSSE    float64
	scaleSends  int
	scaleSrcs   int

	deflate      bool
	deflateSubs  int
	deflateMsgs  int
	deflateSizes string

	nodes        int
	bystanders   int
	partitions   int
	cluster      bool
	centShards   int
	nodesIdle    time.Duration
	nodesProfile string
	nodesDrop    int
	topics       int
	publishers   int

	deflateServer string // internal: this process is the server side of -deflate
	idleServer    string // internal: this process is the server side of -idle or -scale
	idleClient    string // internal: this process is the client side of -idle
	scaleClient   string // internal: this process is a client side of -scale
	scaleFirst    int    // internal: the first subscriber index of this -scale client
	nodeServer    string // internal: this process is a node of -nodes
	nodeRedis     string // internal: the node's Redis address

	capacity     string  // -capacity run|plan (capacity*.go)
	capUnits     string  // -capacity-units
	capReceivers float64 // -capacity-receivers
	capRate      float64 // -capacity-rate (plan)
	capFanout    float64 // -capacity-fanout (plan)
	capKept      float64 // -capacity-kept (plan)
	capPairs     float64 // -capacity-pairs (plan)
	capExtra     float64 // -capacity-extra-receivers (plan)

	resumers      int // -resumers: non-reading resumers per transport
	resumeHistory int
	resumeSize    int
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.cfg.Subs, "subs", 200, "subscribers")
	fs.IntVar(&o.cfg.Msgs, "msgs", 2000, "messages published per run")
	fs.IntVar(&o.cfg.Burst, "burst", 10, "messages published per tick")
	fs.IntVar(&o.cfg.Size, "size", 64, fmt.Sprintf("message size in bytes (at least %d)", minMsgSize))
	fs.DurationVar(&o.cfg.Tick, "tick", time.Millisecond, "publishing period")
	fs.IntVar(&o.cfg.Queue, "queue", 0, "per-subscriber queue depth for every peer that has one: 0 holds the whole run, -1 keeps each library's default")
	fs.DurationVar(&o.cfg.Stall, "stall", 15*time.Second, "end a run after this long without a delivery")
	fs.IntVar(&o.cfg.Par, "par", 32, "concurrent dials")
	fs.StringVar(&o.wsclient, "wsclient", "coder", "WebSocket client: coder (coder/websocket) or raw (a minimal frame reader, so that the servers and not the clients set the ceiling)")
	fs.IntVar(&o.cfg.MaxBatch, "maxbatch", 0, "experiment: DeliveryOptions.MaxBatch of the fanout-hub and fanout-broker rows (0: the library's default)")
	fs.IntVar(&o.repeats, "repeats", 3, "runs of each peer per configuration (median and spread are reported)")
	fs.StringVar(&o.peers, "peers", "all", "comma-separated peers: "+peerNames())
	fs.BoolVar(&o.sweep, "sweep", false, "run the load sweep (subscribers × bursts), write CSV and a PNG plot to -out")
	fs.StringVar(&o.sweepSubs, "sweep-subs", "100,200,500,1000", "subscriber levels of -sweep")
	fs.StringVar(&o.sweepBurst, "sweep-bursts", "1,5,10,20", "burst levels of -sweep")
	fs.IntVar(&o.sweepDeliv, "sweep-deliveries", 400000, "-sweep publishes at most this many deliveries (subscribers × messages) per run, and at most 1000 ticks")
	fs.BoolVar(&o.targets, "targets", false, "check the issue's targets: 200 subscribers, 64-byte messages, 1ms tick, bursts of 10 and of 1")
	fs.IntVar(&o.idle, "idle", 0, "measure the server process's memory per idle subscriber at this many connections, per peer (server and clients in child processes)")
	fs.BoolVar(&o.idleTLS, "idle-tls", false, "-idle over TLS (a self-signed certificate made at start, HTTP/1.1)")
	fs.BoolVar(&o.idleWrap, "idle-wrap", false, "-idle behind a listener that wraps each net.Conn in a struct embedding it (outside TLS, with -idle-tls)")
	fs.BoolVar(&o.idleH2, "idle-h2", false, "with -idle-tls: the server offers HTTP/2 as well, and SSE clients use it (WebSocket clients cannot)")
	fs.BoolVar(&o.idleUnwrap, "idle-unwrap", false, "with -idle-wrap: the wrapper gives the connection under it through Unwrap() net.Conn, promising to buffer no reads")
	fs.DurationVar(&o.idleSettle, "idle-settle", 2*time.Second, "-idle and -scale: wait this long after the last subscriber connected before measuring")
	fs.StringVar(&o.idleProfile, "idle-profile", "", "-idle and -scale: write the server child's heap profile (sampled every 4 KiB) and goroutines into this directory")
	fs.IntVar(&o.scale, "scale", 0, "connect this many idle subscribers, WebSocket and SSE mixed, to one fanout server process (a Hub with a Broker attached); measure its memory and how long a Broadcast takes to reach them")
	fs.Float64Var(&o.scaleSSE, "scale-sse", 0.5, "-scale: the share of SSE subscribers")
	fs.IntVar(&o.scaleSends, "scale-broadcasts", 3, "-scale: broadcasts to time, one after the other")
	fs.IntVar(&o.scaleSrcs, "scale-sources", 0, "-scale: source addresses 127.0.0.2… the clients dial from (0: one per 20,000 subscribers, at least 2)")
	fs.BoolVar(&o.deflate, "deflate", false, "measure compression (permessage-deflate): bytes on the wire and the server's CPU per publish of JSON, per size, fanout and gorilla with and without it (server in a child process)")
	fs.IntVar(&o.deflateSubs, "deflate-subs", 1000, "-deflate: subscribers")
	fs.IntVar(&o.deflateMsgs, "deflate-msgs", 100, "-deflate: messages per run, published back to back")
	fs.StringVar(&o.deflateSizes, "deflate-sizes", "1024,4096,16384,65536", "-deflate: JSON payload sizes in bytes")
	fs.IntVar(&o.nodes, "nodes", 0, "run this many nodes of fanout (Hub on the Redis engine) and of centrifuge (Node with its RedisBroker) on one redis-server started for the run, subscribers spread over them, publishers on every node (here -subs defaults to 1000, -msgs to 3000, -tick to 20ms; -peers picks fanout or centrifuge)")
	fs.IntVar(&o.bystanders, "bystanders", 10, "-nodes: subscribers of another topic at one more node, whose CPU time shows what a node pays for a topic it has no subscriber of")
	fs.BoolVar(&o.cluster, "cluster", false, "-nodes: run on a Redis Cluster of three masters started for the run (no replicas) instead of one redis-server: fanout's engine on a rueidis cluster client (16 partitions by default), centrifuge's RedisBroker with ClusterAddresses and its defaults")
	fs.IntVar(&o.centShards, "centrifuge-sharded", 0, "-nodes -cluster: centrifuge's RedisBrokerConfig.NumShardedPubSubPartitions (0: its default, no sharded PUB/SUB)")
	fs.IntVar(&o.partitions, "partitions", 0, "-nodes: the fanout engine's Options.Partitions (0: its default, 1 on a standalone Redis)")
	fs.DurationVar(&o.nodesIdle, "nodes-idle", 2*time.Second, "-nodes: the idle period measured before each run (the bystander's baseline)")
	fs.StringVar(&o.nodesProfile, "nodes-profile", "", "-nodes: write a CPU profile of every node, and a perf recording of redis-server (if perf is installed), over each run into this directory")
	fs.IntVar(&o.topics, "topics", 0, "-nodes: this many topics (e.g. 10000), messages round-robin over all of them, node i's subscribers following the topics k with k mod nodes = i; the bystander's subscribers follow as many topics, none published to (-bystanders is then ignored)")
	fs.IntVar(&o.publishers, "publishers", 0, "-nodes: this many publishing goroutines in all, spread over the nodes, message seq published by goroutine seq mod publishers (1: one sequential publisher); 0: -burst goroutines per node, each node publishing every Nth burst")
	fs.IntVar(&o.nodesDrop, "nodes-drop", 0, "-nodes, to test resuming: every subscriber closes its connection once after this many messages and reconnects with its position")
	fs.StringVar(&o.capacity, "capacity", "", "run: the -nodes workload on fanout alone with the readings of a capacity plan (RSS, Redis memory, bytes), its unit costs and, with -capacity-units, the model's prediction for it; plan: the model's totals for -nodes, -subs, -capacity-rate, -capacity-fanout, -capacity-kept (docs/capacity.md)")
	fs.StringVar(&o.capUnits, "capacity-units", "", "-capacity: unit costs, "+strings.Join(capUnitNames(), "=…,")+"=… (CPU in µs, memory in bytes)")
	fs.Float64Var(&o.capReceivers, "capacity-receivers", -1, "-capacity: nodes that receive each message from Redis (-1: every node, as with one channel per partition)")
	fs.Float64Var(&o.capRate, "capacity-rate", 0, "-capacity plan: messages published per second")
	fs.Float64Var(&o.capFanout, "capacity-fanout", 1, "-capacity plan: deliveries per published message")
	fs.Float64Var(&o.capKept, "capacity-kept", 0, "-capacity plan: messages kept in Redis")
	fs.Float64Var(&o.capPairs, "capacity-pairs", 0, "-capacity plan: (topic, node) pairs with subscribers")
	fs.Float64Var(&o.capExtra, "capacity-extra-receivers", 0, "-capacity plan: receivers of each message beyond the calibration's (redisrcv applies to them)")
	fs.IntVar(&o.resumers, "resumers", 0, "measure the heap this many clients per transport hold when they resume from the start of a long history and then do not read, over a Ring and over the Redis engine (see resume.go)")
	fs.IntVar(&o.resumeHistory, "resume-history", 10000, "-resumers: messages in the history")
	fs.IntVar(&o.resumeSize, "resume-size", 1024, "-resumers: bytes per message")
	fs.StringVar(&o.out, "out", "results", "directory for -sweep's CSV and plot")
	fs.StringVar(&o.csv, "csv", "", "also write every run of the default mode or -targets to this CSV file")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the whole command to this file (pick the peer with -peers)")
	fs.StringVar(&o.plot, "plot", "", "redraw the plot of a sweep from its CSV (results/sweep.csv) next to it, without measuring; pass the -wsclient it ran with")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress lines")
	fs.StringVar(&o.deflateServer, "deflate-server", "", "internal: serve this peer as a child of -deflate")
	fs.StringVar(&o.idleServer, "idle-server", "", "internal: serve this peer (or \"scale\") as a child of -idle or -scale")
	fs.StringVar(&o.idleClient, "idle-client", "", "internal: connect -idle clients to this URL and wait")
	fs.StringVar(&o.scaleClient, "scale-client", "", "internal: connect -scale clients to this address and wait")
	fs.IntVar(&o.scaleFirst, "scale-first", 0, "internal: the index of a -scale client process's first subscriber")
	fs.StringVar(&o.nodeServer, "node-server", "", "internal: serve this side as a node of -nodes")
	fs.StringVar(&o.nodeRedis, "node-redis", "", "internal: the Redis address of a -nodes node")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if o.nodes > 0 { // -nodes has a workload of its own: the issue's, at a rate both sides keep up with here
		for name, set := range map[string]func(){
			"subs": func() { o.cfg.Subs = 1000 },
			"msgs": func() { o.cfg.Msgs = 3000 },
			"tick": func() { o.cfg.Tick = 20 * time.Millisecond },
		} {
			if !flagSet(fs, name) {
				set()
			}
		}
	}
	switch {
	case o.cfg.Size < minMsgSize:
		return o, fmt.Errorf("-size must be at least %d", minMsgSize)
	case o.cfg.Subs < 1 || o.cfg.Msgs < 1 || o.cfg.Burst < 1 || o.repeats < 1 || o.cfg.Par < 1:
		return o, fmt.Errorf("-subs, -msgs, -burst, -repeats and -par must be positive")
	case o.deflateSubs < 1 || o.deflateMsgs < 1 || len(mustInts(o.deflateSizes)) == 0:
		return o, fmt.Errorf("-deflate-subs, -deflate-msgs and -deflate-sizes must be positive")
	case o.scaleSSE < 0 || o.scaleSSE > 1:
		return o, fmt.Errorf("-scale-sse is between 0 and 1")
	case o.nodes < 0 || o.bystanders < 0 || o.partitions < 0 || o.topics < 0 || o.publishers < 0:
		return o, fmt.Errorf("-nodes, -bystanders, -partitions, -topics and -publishers cannot be negative")
	case o.cluster && o.nodes == 0 && o.nodeServer == "":
		return o, fmt.Errorf("-cluster needs -nodes")
	case o.centShards < 0 || o.centShards > 0 && !o.cluster:
		return o, fmt.Errorf("-centrifuge-sharded needs -cluster and cannot be negative")
	case o.topics > 0 && o.topics < o.nodes:
		return o, fmt.Errorf("-topics must be at least -nodes")
	case o.nodes > 0 && newNodeWorkload(o).topicsPerSub(o.cfg.Subs) > 99:
		return o, fmt.Errorf("-topics %d over %d subscribers is more than 99 topics each (fanout's MaxTopics is 100): raise -subs", o.topics, o.cfg.Subs)
	case o.cfg.Tick <= 0:
		return o, fmt.Errorf("-tick must be positive")
	case o.wsclient != "coder" && o.wsclient != "raw":
		return o, fmt.Errorf("-wsclient is coder or raw")
	}
	o.cfg.RawWS = o.wsclient == "raw"
	return o, nil
}

func run(args []string, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	switch {
	case o.deflateServer != "":
		return deflateServerChild(o)
	case o.idleServer != "":
		return serverChild(o)
	case o.idleClient != "":
		return idleClient(o.idleClient, o.idle, o.idleH2)
	case o.scaleClient != "":
		return scaleClient(o)
	case o.nodeServer != "":
		return nodeChild(o)
	}
	if o.capacity != "" {
		return runCapacityCommand(o, stdout, stderr)
	}
	if o.nodes > 0 {
		return runNodesCommand(o, stdout, stderr)
	}
	if o.resumers > 0 {
		progress := o.progress(stderr)
		return runResume(o, stdout, progress)
	}
	if o.deflate {
		if msg := raiseFileLimit(uint64(o.deflateSubs + 256)); msg != "" {
			fmt.Fprintln(stdout, msg)
		}
		progress := o.progress(stderr)
		return runDeflate(o, stdout, progress)
	}
	peers, err := selectPeers(o.peers)
	if err != nil {
		return err
	}
	if o.plot != "" {
		return replot(o, peers, stdout)
	}
	stop, err := startCPUProfile(o.cpuprofile)
	if err != nil {
		return err
	}
	defer stop()
	progress := o.progress(stderr)
	need := 2*o.cfg.Subs + 256
	if o.sweep {
		for _, n := range mustInts(o.sweepSubs) {
			need = max(need, 2*n+256)
		}
	}
	if o.idle > 0 || o.scale > 0 {
		need = 256 // the children hold the connections
	}
	if msg := raiseFileLimit(uint64(need)); msg != "" {
		fmt.Fprintln(stdout, msg)
	}
	switch {
	case o.scale > 0:
		return runScale(o, stdout, progress)
	case o.idle > 0:
		return runIdle(o, peers, stdout, progress)
	case o.sweep:
		return runSweep(o, peers, stdout, progress)
	case o.targets:
		return runTargets(o, peers, stdout, progress)
	}
	fmt.Fprintln(stdout, describe(o.cfg, o.repeats))
	results := runLevel(o.cfg, peers, o.repeats, progress)
	sums := summarize(peers, results)
	fmt.Fprint(stdout, "\n", table(sums))
	if ts := checkTargets(o.cfg, sums); len(ts) > 0 {
		fmt.Fprint(stdout, "\n", targetReport(ts))
	}
	if o.csv != "" {
		return writeRunsCSV(o.csv, []level{{o.cfg, results}})
	}
	return nil
}

// describe says what a level measures and on what.
func describe(c config, repeats int) string {
	offered := float64(c.Subs) * float64(c.Burst) / c.Tick.Seconds()
	queue := queueText(c)
	client := "coder/websocket"
	if c.RawWS {
		client = "raw"
	}
	if c.MaxBatch > 0 {
		queue += fmt.Sprintf(", fanout rows with MaxBatch %d (not their default)", c.MaxBatch)
	}
	return fmt.Sprintf("%d subscribers, %d messages of %d B in bursts of %d every %v (offered %s deliveries/s), queues %s, %s WebSocket clients; "+
		"%d repeats, peers interleaved; %s, GOMAXPROCS=%d, %d CPUs",
		c.Subs, c.Msgs, c.Size, c.Burst, c.Tick, fmtSI(offered), queue, client,
		repeats, runtime.Version(), runtime.GOMAXPROCS(0), runtime.NumCPU())
}

// runLevel runs every peer repeats times at one level. Each repeat runs
// every peer once, starting one peer further along the list than the last
// repeat did, so that no peer always runs first or right after another.
func runLevel(cfg config, peers []peer, repeats int, progress io.Writer) []result {
	samples := make([]int64, cfg.Subs*cfg.Msgs)
	var results []result
	for r := range repeats {
		for i := range peers {
			p := peers[(i+r)%len(peers)]
			started := time.Now()
			res, err := runOnce(p, cfg, samples)
			res.Repeat, res.Order = r+1, i+1
			if err != nil {
				res.Err = err.Error()
			}
			fmt.Fprintf(progress, "  repeat %d/%d %-17s %9s/s  p99 %-7s writes/msg %-6s lost %-5d %.1fs %s\n",
				r+1, repeats, p.Name, fmtSI(res.DeliveredPerSec()), fmtSeconds(res.P99.Seconds()),
				fmtRatio(res.WritesPerMsg()), res.Lost(), time.Since(started).Seconds(), res.Err)
			results = append(results, res)
		}
	}
	return results
}

// flagSet reports whether the command line set flag name.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// runNodesCommand runs -nodes, with -cpuprofile and -quiet.
func runNodesCommand(o options, stdout, stderr io.Writer) error {
	stop, err := startCPUProfile(o.cpuprofile)
	if err != nil {
		return err
	}
	defer stop()
	progress := o.progress(stderr)
	if msg := raiseFileLimit(uint64(2*(o.cfg.Subs+o.bystanders) + 256)); msg != "" {
		fmt.Fprintln(stdout, msg)
	}
	return runNodes(o, stdout, progress)
}

func mustInts(list string) []int {
	var out []int
	for f := range strings.SplitSeq(list, ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n > 0 {
			out = append(out, n)
		}
	}
	return out
}

// progress is where progress lines go: stderr, or nowhere with -quiet.
func (o options) progress(stderr io.Writer) io.Writer {
	if o.quiet {
		return io.Discard
	}
	return stderr
}

// startCPUProfile starts a CPU profile into path (nothing when path is
// empty); stop ends it and closes the file.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
