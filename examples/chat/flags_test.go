package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/fanout-go/fanout"
)

// TestChat_Metrics: the demo serves its metrics at /metrics, and what a
// scrape says agrees with /stats after a burst.
func TestChat_Metrics(t *testing.T) {
	c := startChat(t)
	ws := c.dialResume("/ws?topic=room")
	if v := c.post("/burst?topic=room&n=50"); v["published"] != 50.0 {
		t.Fatalf("burst: %v", v)
	}
	c.readResume(ws, 50)
	st := c.stats(func(st fanout.Stats) bool { return st.Delivered == 50 })

	resp, err := http.Get(c.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	value := func(name string) float64 {
		f, ok := families[name]
		if !ok || len(f.Metric) == 0 {
			t.Fatalf("no %s in /metrics", name)
		}
		var sum float64
		for _, m := range f.Metric {
			if m.Counter != nil {
				sum += m.Counter.GetValue()
			} else if m.Gauge != nil {
				sum += m.Gauge.GetValue()
			}
		}
		return sum
	}
	if got := value("fanout_messages_published_total"); got != float64(st.Published) {
		t.Errorf("fanout_messages_published_total = %v, /stats says %d", got, st.Published)
	}
	if got := value("fanout_messages_delivered_total"); got != float64(st.Delivered) {
		t.Errorf("fanout_messages_delivered_total = %v, /stats says %d", got, st.Delivered)
	}
	if got := value("fanout_subscribers"); got != 1 {
		t.Errorf("fanout_subscribers = %v, want 1", got)
	}
	if _, ok := families["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}
}

// TestChat_Store: with -store, the history outlives a restart: a client
// that comes back to the new process with an ID from the old one gets
// exactly what followed it, including what was published after the
// restart, and no resync.
func TestChat_Store(t *testing.T) {
	file := filepath.Join(t.TempDir(), "chat.db")
	first := startChatWith(t, config{store: file})
	ws := first.dialResume("/ws?topic=room")
	first.post("/burst?topic=room&n=20")
	got := first.readResume(ws, 20)
	ws.CloseNow()
	first.shutdown()

	second := startChatWith(t, config{store: file})
	second.post("/burst?topic=room&n=5")
	back := second.dialResume("/ws?topic=room&lastEventId=" + url.QueryEscape(got[9].id))
	want := append(burst(1, 11, 20, 20), burst(1, 1, 5, 5)...)
	if replay := datas(second.readResume(back, 15)); fmt.Sprint(replay) != fmt.Sprint(want) {
		t.Fatalf("after the restart, resuming from message 10 gave %q, want %q", replay, want)
	}
}

// TestChat_Redis: with -redis, two processes (here two servers, each with
// its own Redis client and engine) share the rooms: a burst posted to one
// reaches the tabs of both, and a tab that moves from one to the other
// with its last ID gets exactly what it missed.
func TestChat_Redis(t *testing.T) {
	addr := startRedis(t)
	a := startChatWith(t, config{redis: addr})
	b := startChatWith(t, config{redis: addr})
	onA := a.dialResume("/ws?topic=room")
	onB := b.dialResume("/ws?topic=room")
	next, stop := b.stream("/events?topic=room")
	defer stop()

	a.post("/burst?topic=room&n=30")
	fromA, fromB := a.readResume(onA, 30), b.readResume(onB, 30)
	sse := readSSE(t, next, 30)
	for i := range 30 {
		if fromA[i] != fromB[i] || fromA[i] != sse[i] {
			t.Fatalf("message %d: %+v on A, %+v on B, %+v over SSE: one order, one ID", i, fromA[i], fromB[i], sse[i])
		}
	}
	if fmt.Sprint(datas(fromA)) != fmt.Sprint(burst(1, 1, 30, 30)) {
		t.Fatalf("A's tab got %q", datas(fromA))
	}

	onA.CloseNow() // the tab moves to B
	b.post("/burst?topic=room&n=10")
	moved := b.dialResume("/ws?topic=room&lastEventId=" + url.QueryEscape(fromA[29].id))
	if got := datas(b.readResume(moved, 10)); fmt.Sprint(got) != fmt.Sprint(burst(1, 1, 10, 10)) {
		t.Fatalf("the moved tab got %q", got)
	}
}

// startRedis starts a redis-server of its own on a free loopback port,
// without persistence, stopped when the test ends, and returns its
// address. It skips the test where redis-server is not installed, except
// under CI (CI set), where it fails it.
func startRedis(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server not installed")
		}
		t.Skip("redis-server not installed")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", t.TempDir())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		found := false
		for sc.Scan() {
			if !found && strings.Contains(sc.Text(), "Ready to accept connections") {
				found = true
				ready <- true
			}
		}
		if !found {
			ready <- false
		}
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("redis-server exited before it was ready")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("redis-server not ready within 20s")
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}
