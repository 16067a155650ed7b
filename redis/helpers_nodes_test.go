package redis_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/fanout-go/fanout"
	fredis "github.com/fanout-go/fanout/redis"
)

// node is one process's Hub, with a Broker attached, on a Redis engine:
// WebSocket on /ws, SSE on /sse. It runs in the test's process or in a
// child process (see startChild).
type node struct {
	name  string
	url   string
	alive atomic.Bool

	// In the test's process only:
	hub    *fanout.Hub
	broker *fanout.Broker
	eng    *fredis.Engine

	// In a child process only:
	cmd  *exec.Cmd
	done chan struct{}
}

// nodeEvents collects what the nodes' hooks saw.
type nodeEvents struct {
	resyncs  atomic.Int64
	connects atomic.Int64
	subs     chan *fanout.Subscriber // if set, each new subscriber (while there is room)
}

// startNode starts a node in the test's process on an engine of its own
// (its own client, named name) on addrs, closed when t ends.
func startNode(t testing.TB, name string, opts *fredis.Options, ev *nodeEvents, addrs ...string) *node {
	t.Helper()
	return startNodeOn(t, name, newClient(t, name, addrs...), opts, ev)
}

// startNodeOn starts a node in the test's process on an engine of its
// own on client, closed when t ends.
func startNodeOn(t testing.TB, name string, client rueidis.Client, opts *fredis.Options, ev *nodeEvents) *node {
	t.Helper()
	o := *opts
	o.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	eng, err := fredis.New(client, &o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Close() })
	n := &node{name: name, eng: eng}
	onResync := func(s *fanout.Subscriber, lastID string, err error) {
		ev.resyncs.Add(1)
		t.Logf("%s: resync of a subscriber (last ID %q): %v", name, lastID, err)
	}
	onConnect := func(s *fanout.Subscriber) {
		ev.connects.Add(1)
		if ev.subs != nil {
			select {
			case ev.subs <- s:
			default:
			}
		}
	}
	n.hub = fanout.NewHub(&fanout.HubOptions{
		Engine:          eng,
		DeliveryOptions: fanout.DeliveryOptions{QueueSize: 1 << 16, QueueBytes: 64 << 20},
		OnResync:        onResync,
		OnConnect:       onConnect,
	})
	n.broker = fanout.NewBroker(&fanout.BrokerOptions{Hub: n.hub, OnResync: onResync, OnConnect: onConnect})
	mux := http.NewServeMux()
	mux.Handle("/ws", n.hub)
	mux.Handle("/sse", n.broker)
	srv := httptest.NewServer(mux)
	n.url = srv.URL
	n.alive.Store(true)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { _ = n.hub.Close() }) // before the server: it waits for open streams
	return n
}

// publish publishes data on topic ("" for a broadcast) through the node:
// its Hub, or its Broker when viaBroker is set.
func (n *node) publish(ctx context.Context, topic string, data []byte, viaBroker bool) error {
	m := fanout.NewMessage(data)
	switch {
	case n.hub == nil:
		return n.publishHTTP(ctx, topic, data)
	case topic == "" && viaBroker:
		return n.broker.Broadcast(ctx, m)
	case topic == "":
		return n.hub.Broadcast(ctx, m)
	case viaBroker:
		return n.broker.Publish(ctx, topic, m)
	default:
		return n.hub.Publish(ctx, topic, m)
	}
}

// publishHTTP publishes through a child node's /publish endpoint.
func (n *node) publishHTTP(ctx context.Context, topic string, data []byte) error {
	u := n.url + "/publish?" + url.Values{"topic": {topic}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(string(data)))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("%s: publish: %s: %s", n.name, resp.Status, body)
	}
	return nil
}

// The environment of a child process serving a node (see childMain).
const (
	envChildAddrs   = "FANOUT_REDIS_TEST_NODE_ADDRS"
	envChildPrefix  = "FANOUT_REDIS_TEST_NODE_PREFIX"
	envChildPresTTL = "FANOUT_REDIS_TEST_NODE_PRESENCE_TTL" // Options.PresenceTTL, if set
)

// startChild starts a node in a child process: this test binary again,
// which serves the node instead of running tests (see childMain), until
// its standard input closes or it is killed.
func startChild(t testing.TB, name, prefix string, addrs ...string) *node {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChildAddrs+"="+strings.Join(addrs, ","), envChildPrefix+"="+prefix)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n := &node{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(n.done)
	}()
	t.Cleanup(func() {
		_ = stdin.Close() // the child shuts down
		select {
		case <-n.done:
		case <-time.After(waitTimeout):
			n.kill()
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "LISTEN ") {
		n.kill()
		t.Fatalf("child node %s: %q, %v", name, line, err)
	}
	n.url = "http://" + strings.TrimSpace(strings.TrimPrefix(line, "LISTEN "))
	n.alive.Store(true)
	return n
}

// kill kills a child node at once (SIGKILL): its connections are reset.
func (n *node) kill() {
	n.alive.Store(false)
	_ = n.cmd.Process.Kill()
	<-n.done
}

// childMain serves a node when the test binary runs as a child (see
// startChild): it reports "LISTEN addr" on standard output and serves
// /ws, /sse and /publish until its standard input closes.
func childMain() {
	addrs := strings.Split(os.Getenv(envChildAddrs), ",")
	t := &childT{}
	opts := &fredis.Options{Prefix: os.Getenv(envChildPrefix), HistorySize: 1 << 17}
	opts.PresenceTTL, _ = time.ParseDuration(os.Getenv(envChildPresTTL))
	eng := newEngine(t, "child", opts, addrs...)
	// A subscriber of 200 topics (TestPresence_KilledNodeKeysExpire): more
	// than Limits.MaxTopics allows by default.
	hub := fanout.NewHub(&fanout.HubOptions{Engine: eng, Limits: fanout.Limits{MaxTopics: -1},
		DeliveryOptions: fanout.DeliveryOptions{QueueSize: 1 << 16, QueueBytes: 64 << 20}})
	broker := fanout.NewBroker(&fanout.BrokerOptions{Hub: hub})
	mux := http.NewServeMux()
	mux.Handle("/ws", hub)
	mux.Handle("/sse", broker)
	mux.HandleFunc("POST /publish", func(w http.ResponseWriter, r *http.Request) {
		data, _ := io.ReadAll(r.Body)
		var err error
		if topic := r.URL.Query().Get("topic"); topic == "" {
			err = hub.Broadcast(r.Context(), fanout.NewMessage(data))
		} else {
			err = hub.Publish(r.Context(), topic, fanout.NewMessage(data))
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	fmt.Printf("LISTEN %s\n", ln.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin) // until the parent closes it
	_ = hub.Close()
	_ = srv.Close()
	t.cleanup()
	os.Exit(0)
}

// childT is the testing.TB a child node's helpers get: failures end the
// process.
type childT struct {
	testing.TB
	mu       sync.Mutex
	cleanups []func()
}

func (c *childT) Helper() {}
func (c *childT) Fatal(args ...any) {
	fmt.Fprintln(os.Stderr, args...)
	os.Exit(1)
}
func (c *childT) Fatalf(format string, args ...any) { c.Fatal(fmt.Sprintf(format, args...)) }
func (c *childT) Cleanup(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cleanups = append(c.cleanups, f)
}

func (c *childT) cleanup() {
	for i := len(c.cleanups) - 1; i >= 0; i-- {
		c.cleanups[i]()
	}
}

var errNoNode = errors.New("no live node")

// testWriter writes a node's log lines to the test's log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
