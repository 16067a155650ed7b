package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/fanout-go/fanout/internal/harness"
)

// Memory per idle subscriber (-idle N): what the server process pays for N
// connections that carry nothing. Each run starts two child processes (this
// program again): the server child serves one peer on 127.0.0.1 and
// measures itself (see memSnapshot); the client child opens the N
// connections. The harness stays out of both: the server process holds the
// peer, its listener and a few lines of the child protocol, nothing else.
//
// The server measures itself after it started serving and before the
// clients connect, and again once they all have and a settling time has
// passed; the differences divided by the subscribers it holds are the
// figures. RSS counts what the process really holds (heap pages the runtime
// has freed but not yet returned, span fragmentation, runtime metadata);
// kernel socket buffers are not in it, and are the same for every peer.

// idleVariant is how the subscribers reach the server (-idle-tls,
// -idle-wrap, -idle-unwrap, -idle-h2).
func idleVariant(tls, wrap, unwrap, h2 bool) string {
	switch {
	case tls && h2 && !wrap:
		return "tls+h2"
	case wrap && unwrap:
		v := "wrap+unwrap"
		if tls {
			v = "tls+" + v
		}
		return v
	case tls && wrap:
		return "tls+wrap"
	case tls:
		return "tls"
	case wrap:
		return "wrap"
	}
	return "plain"
}

type idleResult struct {
	Peer, Variant string
	Repeat, Order int
	Requested     int
	Connected     int // the server's count at the measurement
	Err           string
	// Per subscriber, in bytes (goroutines: count).
	RSS, RSSScavenged, HeapInuse, Stacks, Live, GoMapped, Goroutines float64
	Before, After                                                    memSnapshot
}

// idleFigures are the columns of the -idle table, per subscriber.
var idleFigures = []struct {
	Name string
	Get  func(idleResult) float64
	Fmt  func(float64) string
}{
	{"RSS", func(r idleResult) float64 { return r.RSS }, fmtKiB},
	{"RSS scavenged", func(r idleResult) float64 { return r.RSSScavenged }, fmtKiB},
	{"HeapInuse", func(r idleResult) float64 { return r.HeapInuse }, fmtKiB},
	{"StackInuse", func(r idleResult) float64 { return r.Stacks }, fmtKiB},
	{"live heap", func(r idleResult) float64 { return r.Live }, fmtKiB},
	{"goroutines", func(r idleResult) float64 { return r.Goroutines }, fmtRatio},
	{"connected", func(r idleResult) float64 { return float64(r.Connected) }, func(v float64) string { return fmt.Sprintf("%.0f", v) }},
}

func runIdle(o options, peers []peer, stdout, progress io.Writer) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	var idlePeers []peer
	for _, p := range peers {
		if p.Idle {
			idlePeers = append(idlePeers, p)
		}
	}
	variant := idleVariant(o.idleTLS, o.idleWrap, o.idleUnwrap, o.idleH2)
	fmt.Fprintf(stdout, "server process memory per idle subscriber at %d connections over %s (server and clients in child processes), "+
		"median of %d repeats, peers interleaved; %s, GOMAXPROCS=%d, %d CPUs\n",
		o.idle, variant, o.repeats, runtime.Version(), runtime.GOMAXPROCS(0), runtime.NumCPU())
	var results []idleResult
	for r := range o.repeats {
		for i := range idlePeers {
			p := idlePeers[(i+r)%len(idlePeers)]
			res := idleOnce(exe, o, p, r+1)
			res.Repeat, res.Order = r+1, i+1
			fmt.Fprintf(progress, "  repeat %d/%d %-16s %s %d connected: RSS %s, HeapInuse %s, StackInuse %s, live %s, %.2f goroutines per subscriber %s\n",
				r+1, o.repeats, p.Name, variant, res.Connected, fmtKiB(res.RSS), fmtKiB(res.HeapInuse), fmtKiB(res.Stacks),
				fmtKiB(res.Live), res.Goroutines, res.Err)
			results = append(results, res)
		}
	}
	fmt.Fprint(stdout, "\n", idleTable(idlePeers, results))
	if o.csv != "" {
		return writeIdleCSV(o.csv, results)
	}
	return nil
}

// idleTable is the median (and spread) of each figure, per peer.
func idleTable(peers []peer, results []idleResult) string {
	head := []string{"peer"}
	for _, f := range idleFigures {
		head = append(head, f.Name)
	}
	rows := [][]string{head}
	var notes string
	for _, p := range peers {
		row := []string{p.Name}
		for _, f := range idleFigures {
			var vs []float64
			for _, r := range results {
				if r.Peer == p.Name && r.Connected > 0 {
					vs = append(vs, f.Get(r))
				}
			}
			row = append(row, cell(statOf(vs), f.Fmt))
		}
		rows = append(rows, row)
		for _, r := range results {
			if r.Peer == p.Name && r.Err != "" {
				notes += fmt.Sprintf("note: %s repeat %d: %s\n", p.Name, r.Repeat, r.Err)
			}
		}
	}
	return markdown(rows) + notes
}

// idleOnce measures one peer once.
func idleOnce(exe string, o options, p peer, repeat int) (res idleResult) {
	res = idleResult{Peer: p.Name, Variant: idleVariant(o.idleTLS, o.idleWrap, o.idleUnwrap, o.idleH2), Requested: o.idle}
	fail := func(format string, a ...any) idleResult {
		res.Err = fmt.Sprintf(format, a...)
		return res
	}
	args := []string{"-idle-server", p.Name, "-idle", strconv.Itoa(o.idle)}
	if o.idleTLS {
		args = append(args, "-idle-tls")
	}
	if o.idleWrap {
		args = append(args, "-idle-wrap")
	}
	if o.idleUnwrap {
		args = append(args, "-idle-unwrap")
	}
	if o.idleH2 {
		args = append(args, "-idle-h2")
	}
	if o.idleProfile != "" {
		args = append(args, "-idle-profile", o.idleProfile)
	}
	srv, err := startChild(exe, args...)
	if err != nil {
		return fail("server: %v", err)
	}
	defer srv.Stop(30 * time.Second)
	var hello serverHello
	if err := srv.Read(&hello, 30*time.Second); err != nil {
		return fail("server: %v", err)
	}
	if hello.Err != "" {
		return fail("server: %s", hello.Err)
	}
	if err := srv.Call("mem", &res.Before, time.Minute); err != nil {
		return fail("server: %v", err)
	}

	scheme := "ws"
	if p.Transport == sse {
		scheme = "http"
	}
	if o.idleTLS {
		scheme += "s"
	}
	url := fmt.Sprintf("%s://%s/?topic=%s", scheme, hello.Addr, benchTopic)
	cargs := []string{"-idle-client", url, "-idle", strconv.Itoa(o.idle)}
	if o.idleH2 {
		cargs = append(cargs, "-idle-h2")
	}
	cli, err := startChild(exe, cargs...)
	if err != nil {
		return fail("client: %v", err)
	}
	defer cli.Stop(30 * time.Second) // before the server's (deferred first)
	var ch clientHello
	if err := cli.Read(&ch, time.Minute+time.Duration(o.idle)*20*time.Millisecond); err != nil {
		return fail("client: %v", err)
	}
	if ch.Failed > 0 || ch.Err != "" {
		res.Err = fmt.Sprintf("%d of %d connections failed, first: %s", ch.Failed, o.idle, ch.Err)
	}
	// The server may still be taking the last ones in.
	if err := waitCount(srv, ch.Connected); err != nil {
		return fail("%v", err)
	}
	time.Sleep(o.idleSettle)
	if err := srv.Call("mem", &res.After, time.Minute); err != nil {
		return fail("server: %v", err)
	}
	if o.idleProfile != "" {
		prefix := filepath.Join(o.idleProfile, fmt.Sprintf("%s-%s-%d-r%d", p.Name, res.Variant, o.idle, repeat))
		var e map[string]string
		if err := srv.Call("profile "+prefix, &e, time.Minute); err != nil || e["err"] != "" {
			res.Err += fmt.Sprintf(" profile: %v %s", err, e["err"])
		}
	}
	res.Connected = res.After.Subscribers
	switch {
	case res.Connected == 0:
		return fail("no subscriber connected")
	case res.Connected < o.idle && res.Err == "":
		res.Err = fmt.Sprintf("only %d of %d connected", res.Connected, o.idle)
	}
	per := func(after, before uint64) float64 { return (float64(after) - float64(before)) / float64(res.Connected) }
	b, a := res.Before, res.After
	res.RSS = per(a.RSS, b.RSS)
	res.RSSScavenged = per(a.RSSScavenged, b.RSSScavenged)
	res.HeapInuse = per(a.HeapInuse, b.HeapInuse)
	res.Stacks = per(a.StackInuse, b.StackInuse)
	res.Live = per(a.Live, b.Live)
	res.GoMapped = per(a.GoMapped, b.GoMapped)
	res.Goroutines = per(uint64(a.Goroutines), uint64(b.Goroutines))
	return res
}

// waitCount waits for the server's count to reach want, or to stop
// moving for 10 s.
func waitCount(srv *harness.Child, want int) error {
	last, lastAt := -1, time.Now()
	for time.Since(lastAt) < 10*time.Second {
		var c memSnapshot
		if err := srv.Call("count", &c, 30*time.Second); err != nil {
			return fmt.Errorf("server: %w", err)
		}
		if c.Subscribers >= want {
			return nil
		}
		if c.Subscribers != last {
			last, lastAt = c.Subscribers, time.Now()
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// fmtKiB prints a per-subscriber size in KiB with one decimal.
func fmtKiB(v float64) string {
	if v != v { // NaN
		return "-"
	}
	return fmt.Sprintf("%.1fKiB", v/1024)
}
