package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// Memory per idle subscriber: the server side of N connections that carry
// nothing. The clients run in a child process (this program again, with
// -idle-client), so that only the server's memory is in this one; a
// connection costs both processes a descriptor, so each needs N of them.
//
// What is counted is the Go heap (live objects, after a GC) and goroutine
// stacks, before and after the N subscribers connected, divided by N:
// kernel socket buffers are not, and are the same for every peer.

// childEnv marks the client process, for a test binary's TestMain.
const childEnv = "FANOUT_BENCH_IDLE_CLIENT"

type idleResult struct {
	Peer                   string
	Heap, Stacks, Total    float64 // bytes per subscriber
	Goroutines             float64 // per subscriber
	Connected              int
	Err                    string
	Repeat, Order          int
	Subscribers, Requested int
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
	fmt.Fprintf(stdout, "server memory per idle subscriber at %d connections (clients in a child process), %d repeats, peers interleaved\n",
		o.idle, o.repeats)
	var results []idleResult
	for r := range o.repeats {
		for i := range idlePeers {
			p := idlePeers[(i+r)%len(idlePeers)]
			res := idleOnce(exe, p, o.idle)
			res.Repeat, res.Order = r+1, i+1
			fmt.Fprintf(progress, "  repeat %d/%d %-15s %d connected: %s per subscriber (heap %s, stacks %s), %.1f goroutines %s\n",
				r+1, o.repeats, p.Name, res.Connected, fmtBytes(res.Total), fmtBytes(res.Heap), fmtBytes(res.Stacks),
				res.Goroutines, res.Err)
			results = append(results, res)
		}
	}
	rows := [][]string{{"peer", "per subscriber", "heap", "stacks", "goroutines", "connected"}}
	for _, p := range idlePeers {
		var tot, heap, stk, gor, conn []float64
		var errs []string
		for _, r := range results {
			if r.Peer != p.Name {
				continue
			}
			tot, heap, stk = append(tot, r.Total), append(heap, r.Heap), append(stk, r.Stacks)
			gor, conn = append(gor, r.Goroutines), append(conn, float64(r.Connected))
			if r.Err != "" {
				errs = append(errs, r.Err)
			}
		}
		rows = append(rows, []string{p.Name, cell(statOf(tot), fmtBytes), cell(statOf(heap), fmtBytes),
			cell(statOf(stk), fmtBytes), cell(statOf(gor), fmtRatio), cell(statOf(conn), func(v float64) string {
				return fmt.Sprintf("%.0f", v)
			})})
		for _, e := range errs {
			defer fmt.Fprintf(stdout, "note: %s: %s\n", p.Name, e)
		}
	}
	fmt.Fprint(stdout, "\n", markdown(rows))
	return nil
}

// goMemory returns the live heap and the goroutine stacks, after a GC.
func goMemory() (heap, stacks uint64) {
	runtime.GC()
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/stacks:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64(), s[1].Value.Uint64()
}

func idleOnce(exe string, p peer, n int) (res idleResult) {
	res = idleResult{Peer: p.Name, Requested: n}
	goroutines := runtime.NumGoroutine()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		res.Err = err.Error()
		return res
	}
	h0, s0 := goMemory()
	g0 := runtime.NumGoroutine()
	srv := p.New(peerOptions{Topic: benchTopic})
	hs := newHTTPServer(srv)
	go func() { _ = hs.Serve(ln) }()
	defer func() {
		srv.Close()
		_ = hs.Close()
		settle(goroutines)
	}()

	scheme := "ws"
	if p.Transport == sse {
		scheme = "http"
	}
	url := fmt.Sprintf("%s://%s/?topic=%s", scheme, ln.Addr(), benchTopic)
	cmd := exec.Command(exe, "-idle", fmt.Sprint(n), "-idle-client", url)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		res.Err = err.Error()
		return res
	}
	var childErr strings.Builder
	cmd.Stderr = &childErr
	if err := cmd.Start(); err != nil {
		res.Err = err.Error()
		return res
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	defer func() {
		stdin.Close() // the child exits, dropping its connections
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}()

	// Wait until the subscribers are all there (or stop arriving), then
	// for the count to hold still.
	last, lastAt := -1, time.Now()
	for srv.Subscribers() < n && time.Since(lastAt) < 10*time.Second {
		select {
		case <-exited:
			res.Err = "client process exited: " + strings.TrimSpace(childErr.String())
			return res
		case <-time.After(50 * time.Millisecond):
		}
		if c := srv.Subscribers(); c != last {
			last, lastAt = c, time.Now()
		}
	}
	time.Sleep(time.Second)
	h1, s1 := goMemory()
	res.Connected = srv.Subscribers()
	if res.Connected == 0 {
		res.Err = "no subscriber connected"
		return res
	}
	if res.Connected < n {
		res.Err = fmt.Sprintf("only %d of %d connected", res.Connected, n)
	}
	c := float64(res.Connected)
	res.Heap = (float64(h1) - float64(h0)) / c
	res.Stacks = (float64(s1) - float64(s0)) / c
	res.Total = res.Heap + res.Stacks
	res.Goroutines = float64(runtime.NumGoroutine()-g0) / c
	return res
}

// idleClient is the child process of -idle: it opens n connections to url,
// keeps them open (reading, so that pings are answered), and exits when its
// standard input closes.
func idleClient(url string, n int) error {
	if msg := raiseFileLimit(uint64(n) + 256); msg != "" {
		fmt.Fprintln(os.Stderr, msg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	httpc := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	sem := make(chan struct{}, 64)
	var mu sync.Mutex
	var failed int
	var firstErr error
	fail := func(err error) {
		mu.Lock()
		failed++
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	for range n {
		sem <- struct{}{}
		if strings.HasPrefix(url, "ws") {
			go func() {
				defer func() { <-sem }()
				c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: httpc})
				if err != nil {
					fail(err)
					return
				}
				c.CloseRead(ctx)
			}()
			continue
		}
		go func() {
			// go-sse answers only with its first event: the next dial goes
			// once this request is on the wire.
			var once sync.Once
			release := func() { once.Do(func() { <-sem }) }
			defer release()
			trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { release() }}
			req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, url, nil)
			req.Header.Set("Accept", "text/event-stream")
			resp, err := httpc.Do(req)
			if err != nil {
				if ctx.Err() == nil {
					fail(err)
				}
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}()
	}
	for range cap(sem) {
		sem <- struct{}{}
	}
	if failed > 0 {
		fmt.Fprintf(os.Stderr, "%d of %d connections failed, first: %v\n", failed, n, firstErr)
	}
	_, _ = io.Copy(io.Discard, bufio.NewReader(os.Stdin))
	return nil
}
