package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Compression (-deflate): bytes on the wire and the server's CPU per
// publish, for JSON payloads of each -deflate-sizes size published to
// -deflate-subs subscribers that all offer permessage-deflate, for each of
// deflatePeers. Each run starts the server in a child process (this
// program again), so that its CPU time (getrusage) is the server's alone;
// the clients run here. A run publishes -deflate-msgs payloads back to
// back (each its own JSON, made before the measurement starts) into
// queues deep enough for all of them, and ends when every client has every
// message.

// deflateResult is one run of one peer at one size.
type deflateResult struct {
	Peer       string
	Size       int
	Repeat     int
	Negotiated bool
	Err        string
	// Per publish: the server process's CPU time and the run's wall time.
	CPU, Wall time.Duration
	// Per delivery: data frame bytes the clients received, headers
	// included, and the plain frame's size, for the ratio.
	Wire, Plain float64
}

func runDeflate(o options, stdout, progress io.Writer) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	peers := deflatePeers
	if o.peers != "" && o.peers != "all" {
		peers = nil
		for name := range strings.SplitSeq(o.peers, ",") {
			name = strings.TrimSpace(name)
			p, err := findDeflatePeer(name)
			if err != nil {
				return err
			}
			peers = append(peers, p)
		}
	}
	sizes := mustInts(o.deflateSizes)
	fmt.Fprintf(stdout, "compression: %d messages of JSON per run to %d subscribers offering permessage-deflate, server in a child process; "+
		"median of %d repeats, peers interleaved; %s, GOMAXPROCS=%d, %d CPUs\n",
		o.deflateMsgs, o.deflateSubs, o.repeats, runtime.Version(), runtime.GOMAXPROCS(0), runtime.NumCPU())
	var results []deflateResult
	for _, size := range sizes {
		for r := range o.repeats {
			for i := range peers {
				p := peers[(i+r)%len(peers)]
				started := time.Now()
				res := deflateOnce(exe, o, p, size)
				res.Repeat = r + 1
				fmt.Fprintf(progress, "  %6d B repeat %d/%d %-18s wire %8.0f B/delivery (%.3f of plain), CPU %8s/publish, wall %8s/publish %.1fs %s\n",
					size, r+1, o.repeats, p.Name, res.Wire, res.Wire/res.Plain, fmtSeconds(res.CPU.Seconds()),
					fmtSeconds(res.Wall.Seconds()), time.Since(started).Seconds(), res.Err)
				results = append(results, res)
			}
		}
	}
	fmt.Fprint(stdout, "\n", deflateTable(peers, sizes, o.deflateSubs, results))
	return nil
}

// deflateOnce runs peer p once at one size.
func deflateOnce(exe string, o options, p deflatePeer, size int) (res deflateResult) {
	res = deflateResult{Peer: p.Name, Size: size, Plain: float64(plainFrameSize(size))}
	fail := func(format string, a ...any) deflateResult {
		res.Err = fmt.Sprintf(format, a...)
		return res
	}
	ch, err := startChild(exe, "-deflate-server", p.Name, "-deflate-subs", strconv.Itoa(o.deflateSubs),
		"-deflate-msgs", strconv.Itoa(o.deflateMsgs), "-deflate-sizes", strconv.Itoa(size))
	if err != nil {
		return fail("starting the server: %v", err)
	}
	defer ch.Stop(10 * time.Second)
	var hello serverHello
	if err := ch.Read(&hello, 30*time.Second); err != nil || hello.Err != "" {
		return fail("server: %v %s", err, hello.Err)
	}
	fleet, err := connectDeflateFleet(hello.Addr, o.deflateSubs, o.cfg.Par, size)
	if err != nil {
		return fail("connecting: %v", err)
	}
	defer fleet.close()
	if res.Negotiated, err = fleet.negotiated(); err != nil {
		return fail("%v", err)
	}
	if res.Negotiated != p.Compress {
		return fail("permessage-deflate negotiated: %v", res.Negotiated)
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		var m memSnapshot
		if err := ch.Call("count", &m, 10*time.Second); err != nil {
			return fail("count: %v", err)
		}
		if m.Subscribers == o.deflateSubs {
			break
		}
		if time.Now().After(deadline) {
			return fail("%d of %d subscribed", m.Subscribers, o.deflateSubs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	var ok map[string]string
	if err := ch.Call("prepare "+strconv.Itoa(size), &ok, time.Minute); err != nil || ok["err"] != "" {
		return fail("prepare: %v %s", err, ok["err"])
	}
	var ru0, ru1 map[string]int64
	if err := ch.Call("rusage", &ru0, 10*time.Second); err != nil {
		return fail("rusage: %v", err)
	}
	start := time.Now()
	if err := ch.Call("publish", &ok, 10*time.Minute); err != nil || ok["err"] != "" {
		return fail("publish: %v %s", err, ok["err"])
	}
	if err := fleet.wait(int64(o.deflateMsgs), o.cfg.Stall); err != nil {
		return fail("%v", err)
	}
	wall := time.Since(start)
	if err := ch.Call("rusage", &ru1, 10*time.Second); err != nil {
		return fail("rusage: %v", err)
	}
	n := time.Duration(o.deflateMsgs)
	res.CPU = time.Duration(ru1["cpu"]-ru0["cpu"]) / n
	res.Wall = wall / n
	res.Wire = float64(fleet.wireBytes()) / float64(o.deflateMsgs*o.deflateSubs)
	return res
}

// plainFrameSize is the size of an uncompressed server frame of n bytes.
func plainFrameSize(n int) int {
	switch {
	case n <= 125:
		return 2 + n
	case n <= 0xffff:
		return 4 + n
	}
	return 10 + n
}

// deflateTable is one row per size and peer: the medians (and spreads)
// of the bytes per delivery, their ratio to the plain frame, the bytes one
// publish puts on the wire (to subs subscribers), and the server's CPU
// and the wall time per publish.
func deflateTable(peers []deflatePeer, sizes []int, subs int, results []deflateResult) string {
	rows := [][]string{{"size", "peer", "wire B/delivery", "of plain", "wire/publish", "server CPU/publish", "wall/publish"}}
	var notes string
	for _, size := range sizes {
		for _, p := range peers {
			var wire, ratio, total, cpu, wall []float64
			for _, r := range results {
				if r.Peer != p.Name || r.Size != size {
					continue
				}
				if r.Err != "" {
					notes += fmt.Sprintf("note: %s %d B repeat %d: %s\n", p.Name, size, r.Repeat, r.Err)
					continue
				}
				wire = append(wire, r.Wire)
				ratio = append(ratio, r.Wire/r.Plain)
				total = append(total, r.Wire*float64(subs))
				cpu = append(cpu, r.CPU.Seconds())
				wall = append(wall, r.Wall.Seconds())
			}
			rows = append(rows, []string{fmtBytes(float64(size)), p.Name, cell(statOf(wire), fmtCount), cell(statOf(ratio), fmtRatio),
				cell(statOf(total), fmtBytes), cell(statOf(cpu), fmtSeconds), cell(statOf(wall), fmtSeconds)})
		}
	}
	return markdown(rows) + notes
}

func fmtCount(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) }
