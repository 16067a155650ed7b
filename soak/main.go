// Command soak runs fanout for a long while under churn and faults and
// checks, all along and at the end, that nothing was lost where nothing
// may be: see docs/reliability.md.
//
//	go run . -duration 10m
//	go run . -duration 60s -ci
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// options are the command's flags.
type options struct {
	duration   time.Duration
	ci         bool
	out        string
	pubs       int
	rate       float64
	burst      int
	burstEvery time.Duration
	topics     int
	scale      int
	queue      int
	queueBytes int
	target     uint64
	seed       uint64
}

func main() {
	if len(os.Args) > 2 && os.Args[1] == "-node" {
		if err := nodeMain(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "node:", err)
			os.Exit(1)
		}
		return
	}
	o, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		os.Exit(2)
	}
	ok, err := soak(o, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
	if !ok {
		fmt.Fprintln(os.Stderr, "soak: an invariant broke (see the report)")
		os.Exit(1)
	}
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.duration, "duration", 10*time.Minute, "how long the publishers publish (faults are spread over it; the end checks take about a minute more)")
	fs.BoolVar(&o.ci, "ci", false, "the short run of CI: the report goes to a temporary folder unless -out is given, and the 10M-delivery target is not asked")
	fs.StringVar(&o.out, "out", "", "folder for the report, its CSV and its plot (default results/, or a temporary folder with -ci)")
	fs.IntVar(&o.pubs, "pubs", 4, "publishing goroutines per node")
	fs.Float64Var(&o.rate, "rate", 100, "messages per second per publishing goroutine")
	fs.IntVar(&o.burst, "burst", 50, "messages each publisher sends back to back now and then")
	fs.DurationVar(&o.burstEvery, "burst-every", 10*time.Second, "how often (on average) a publisher bursts")
	fs.IntVar(&o.topics, "topics", 8, "topics per system")
	fs.IntVar(&o.scale, "scale", 1, "multiplies the number of clients of each kind")
	fs.IntVar(&o.queue, "queue", 64, "the nodes' DeliveryOptions.QueueSize (small, so that slow readers meet the policy)")
	fs.IntVar(&o.queueBytes, "queue-bytes", 64<<10, "the nodes' DeliveryOptions.QueueBytes")
	fs.Uint64Var(&o.target, "target", 10_000_000, "deliveries the run must reach (not asked with -ci)")
	fs.Uint64Var(&o.seed, "seed", 0, "random seed of the clients, faults and publishers' draws (0: from the clock); timing still varies from run to run")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.out == "" {
		o.out = "results"
		if o.ci {
			o.out = filepath.Join(os.TempDir(), "fanout-soak-ci")
		}
	}
	if o.ci {
		o.target = 0
	}
	if o.seed == 0 {
		o.seed = uint64(time.Now().UnixNano())
	}
	return o, nil
}
