package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/fanout-go/fanout/internal/harness"
)

// -scale N: N idle subscribers, WebSocket and SSE mixed, in one fanout
// server process (a Hub with a Broker attached, defaults), the clients in
// other processes on loopback (as many as the descriptor limit needs),
// dialing from several 127.0.0.x source addresses so that ephemeral ports
// do not run out. It reports the server process's memory (as -idle does)
// and how long a Broadcast takes to reach every subscriber: each client
// records when the broadcast arrived, against the CLOCK_MONOTONIC stamp
// the server put in it just before calling Broadcast.

// portsPerSource is how many subscribers dial from one source address by
// default: a third of the 28,232 ephemeral ports of Linux's default range,
// leaving room for whatever else the machine runs.
const portsPerSource = 10000

func runScale(o options, stdout, progress io.Writer) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	n := o.scale
	// The server holds a descriptor per subscriber; the children inherit
	// this process's limits, so raise them here first.
	if msg := raiseFileLimit(uint64(n) + 256); msg != "" {
		var l syscall.Rlimit
		_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l)
		return fmt.Errorf("-scale %d needs RLIMIT_NOFILE of %d in the server process, and the hard limit here is %d, "+
			"which this process cannot raise (that takes CAP_SYS_RESOURCE): at most -scale %d fits", n, n+256, l.Max, l.Max-256)
	}
	var l syscall.Rlimit
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l)
	perClient := int(min(l.Max-256, 30000))
	clients := (n + perClient - 1) / perClient
	sources := o.scaleSrcs
	if sources <= 0 {
		sources = max(2, (n+portsPerSource-1)/portsPerSource)
	}
	sources = min(sources, 250)

	fmt.Fprintf(stdout, "%d idle subscribers (%.0f%% SSE) in one fanout server process (Hub with a Broker attached, defaults); "+
		"clients in %d processes dialing from %d source addresses (127.0.0.2–127.0.0.%d); RLIMIT_NOFILE %d; %s, GOMAXPROCS=%d, %d CPUs\n",
		n, o.scaleSSE*100, clients, sources, 1+sources, l.Cur, runtime.Version(), runtime.GOMAXPROCS(0), runtime.NumCPU())

	args := []string{"-idle-server", scaleServer, "-scale", strconv.Itoa(n)}
	if o.idleProfile != "" {
		args = append(args, "-idle-profile", o.idleProfile)
	}
	srv, err := startChild(exe, args...)
	if err != nil {
		return err
	}
	var cs []*harness.Child
	// The server goes first: the side that closes a connection holds it in
	// TIME_WAIT, and on the clients' side that would hold their source
	// ports (bound before connecting) for a minute, into the next run.
	defer func() {
		srv.Stop(time.Minute)
		for _, c := range cs {
			c.Stop(time.Minute)
		}
	}()
	var hello serverHello
	if err := srv.Read(&hello, 30*time.Second); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	if hello.Err != "" {
		return fmt.Errorf("server: %s", hello.Err)
	}
	var before memSnapshot
	if err := srv.Call("mem", &before, time.Minute); err != nil {
		return fmt.Errorf("server: %w", err)
	}

	started := time.Now()
	for k := range clients {
		first := k * n / clients
		count := (k+1)*n/clients - first
		c, err := startChild(exe, "-scale-client", hello.Addr, "-scale", strconv.Itoa(count), "-scale-first", strconv.Itoa(first),
			"-scale-sse", strconv.FormatFloat(o.scaleSSE, 'g', -1, 64), "-scale-sources", strconv.Itoa(sources))
		if err != nil {
			return err
		}
		cs = append(cs, c)
	}
	connected := 0
	for k, c := range cs {
		var ch clientHello
		if err := c.Read(&ch, 2*time.Minute+time.Duration(n)*5*time.Millisecond); err != nil {
			return fmt.Errorf("client %d: %w", k, err)
		}
		if ch.Failed > 0 || ch.Err != "" {
			fmt.Fprintf(stdout, "note: client process %d: %d connections failed, first: %s\n", k, ch.Failed, ch.Err)
		}
		connected += ch.Connected
	}
	if err := waitCount(srv, connected); err != nil {
		return err
	}
	took := time.Since(started)
	fmt.Fprintf(progress, "  %d connected in %.1fs; settling %v\n", connected, took.Seconds(), o.idleSettle)
	time.Sleep(o.idleSettle)
	var after memSnapshot
	if err := srv.Call("mem", &after, time.Minute); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	if o.idleProfile != "" {
		var e map[string]string
		prefix := filepath.Join(o.idleProfile, fmt.Sprintf("scale-%d", n))
		if err := srv.Call("profile "+prefix, &e, time.Minute); err != nil || e["err"] != "" {
			fmt.Fprintf(stdout, "note: profile: %v %s\n", err, e["err"])
		}
	}

	if o.idleProfile != "" {
		var e map[string]string
		path := filepath.Join(o.idleProfile, fmt.Sprintf("scale-%d.broadcasts.cpu.pb.gz", n))
		if err := srv.Call("cpu "+path, &e, time.Minute); err != nil || e["err"] != "" {
			fmt.Fprintf(stdout, "note: CPU profile: %v %s\n", err, e["err"])
		}
	}
	var sends []scaleSend
	for seq := 1; seq <= o.scaleSends; seq++ {
		s, err := broadcastOnce(srv, cs, seq, o.cfg.Size)
		if err != nil {
			return err
		}
		fmt.Fprintf(progress, "  broadcast %d: call %s, server CPU %s, %d of %d received, p50 %s, max %s\n", seq,
			fmtSeconds(s.Call.Seconds()), fmtSeconds(s.CPU.Seconds()), s.Got, s.Open, fmtNs(pct(s.All, 0.5)), fmtNs(pct(s.All, 1)))
		sends = append(sends, s)
		time.Sleep(500 * time.Millisecond)
	}
	if o.idleProfile != "" {
		var e map[string]string
		_ = srv.Call("cpu", &e, time.Minute)
	}
	var final memSnapshot
	if err := srv.Call("mem", &final, time.Minute); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	fmt.Fprintf(stdout, "\n%d of %d subscribers connected in %.1fs (%d of them SSE)\n\n", after.Subscribers, n, took.Seconds(),
		countSSE(n, o.scaleSSE))
	fmt.Fprint(stdout, scaleMemTable(before, after, final), "\n", scaleSendTable(sends))
	return nil
}

func countSSE(n int, frac float64) int {
	c := 0
	for i := range n {
		if scaleIsSSE(i, frac) {
			c++
		}
	}
	return c
}

// scaleSend is one timed broadcast.
type scaleSend struct {
	Seq          int
	Call         time.Duration // the Broadcast call
	CPU          time.Duration // the server's CPU time from the call until every subscriber had it
	Open, Got    int
	All, WS, SSE []int64 // arrival latencies, sorted, ns
}

func broadcastOnce(srv *harness.Child, cs []*harness.Child, seq, size int) (scaleSend, error) {
	s := scaleSend{Seq: seq}
	var ru0, ru1 map[string]int64
	if err := srv.Call("rusage", &ru0, time.Minute); err != nil {
		return s, fmt.Errorf("server: %w", err)
	}
	var b broadcastReply
	if err := srv.Call(fmt.Sprintf("broadcast %d %d", seq, size), &b, time.Minute); err != nil {
		return s, fmt.Errorf("server: %w", err)
	}
	if b.Err != "" {
		return s, fmt.Errorf("broadcast: %s", b.Err)
	}
	s.Call = time.Duration(b.Call)
	for k, c := range cs {
		var r awaitReply
		if err := c.Call(fmt.Sprintf("await %d", seq), &r, 2*time.Minute); err != nil {
			return s, fmt.Errorf("client %d: %w", k, err)
		}
		s.Open += r.Open
		s.Got += r.Got
		s.WS = append(s.WS, r.WS...)
		s.SSE = append(s.SSE, r.SSE...)
	}
	if err := srv.Call("rusage", &ru1, time.Minute); err != nil {
		return s, fmt.Errorf("server: %w", err)
	}
	s.CPU = time.Duration(ru1["cpu"] - ru0["cpu"])
	s.All = append(append(s.All, s.WS...), s.SSE...)
	for _, v := range [][]int64{s.All, s.WS, s.SSE} {
		slices.Sort(v)
	}
	return s, nil
}

// pct returns the q-quantile of sorted, or -1 for none.
func pct(sorted []int64, q float64) int64 {
	if len(sorted) == 0 {
		return -1
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

func fmtNs(v int64) string {
	if v < 0 {
		return "-"
	}
	return fmtSeconds(float64(v) / 1e9)
}

// scaleMemTable is the server's memory: in all, and per subscriber.
func scaleMemTable(before, after, final memSnapshot) string {
	n := float64(after.Subscribers)
	rows := [][]string{{"server process", "connected, idle: growth", "per subscriber", "after the broadcasts: growth", "per subscriber"}}
	add := func(name string, get func(memSnapshot) uint64, format func(float64) string) {
		g1 := float64(get(after)) - float64(get(before))
		g2 := float64(get(final)) - float64(get(before))
		rows = append(rows, []string{name, format(g1), format(g1 / n), format(g2), format(g2 / n)})
	}
	add("RSS", func(m memSnapshot) uint64 { return m.RSS }, fmtBytesOrKiB)
	add("RSS scavenged", func(m memSnapshot) uint64 { return m.RSSScavenged }, fmtBytesOrKiB)
	add("peak RSS (VmHWM)", func(m memSnapshot) uint64 { return m.HWM }, fmtBytesOrKiB)
	add("HeapInuse", func(m memSnapshot) uint64 { return m.HeapInuse }, fmtBytesOrKiB)
	add("StackInuse", func(m memSnapshot) uint64 { return m.StackInuse }, fmtBytesOrKiB)
	add("live heap", func(m memSnapshot) uint64 { return m.Live }, fmtBytesOrKiB)
	add("goroutines", func(m memSnapshot) uint64 { return uint64(m.Goroutines) }, func(v float64) string {
		if v >= 100 {
			return fmt.Sprintf("%.0f", v)
		}
		return fmtRatio(v)
	})
	return markdown(rows)
}

// fmtBytesOrKiB prints totals in MiB and per-subscriber sizes in KiB.
func fmtBytesOrKiB(v float64) string {
	if v >= 1<<20 {
		return fmtBytes(v)
	}
	return fmtKiB(v)
}

// scaleSendTable is the broadcasts' arrival times.
func scaleSendTable(sends []scaleSend) string {
	rows := [][]string{{"broadcast", "Broadcast call", "server CPU", "received", "p50", "p99", "max (last subscriber)", "WebSocket p50 / max", "SSE p50 / max"}}
	for _, s := range sends {
		rows = append(rows, []string{strconv.Itoa(s.Seq), fmtSeconds(s.Call.Seconds()), fmtSeconds(s.CPU.Seconds()), fmt.Sprintf("%d of %d", s.Got, s.Open),
			fmtNs(pct(s.All, 0.5)), fmtNs(pct(s.All, 0.99)), fmtNs(pct(s.All, 1)),
			fmtNs(pct(s.WS, 0.5)) + " / " + fmtNs(pct(s.WS, 1)), fmtNs(pct(s.SSE, 0.5)) + " / " + fmtNs(pct(s.SSE, 1))})
	}
	return markdown(rows)
}
