package bolt_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/bolt"
)

// The restart tests run the first life of a server in a child process:
// the test binary, re-executed with childEnv set to the store's file. It
// serves a Hub (/ws) and a Broker attached to it (/sse) over the Store,
// prints "listening ADDR", and then obeys lines on its stdin:
//
//	publish  start childPublishers goroutines publishing without end, each
//	         message "g<publisher>-<counter>" to "a", "b", then broadcast,
//	         in turn
//	close    shut the Hub down, close the Store, print "closed" and exit
//
// or is killed.
const (
	childEnv         = "FANOUT_BOLT_CHILD"         // the store's file
	childSettingEnv  = "FANOUT_BOLT_CHILD_SETTING" // a key of settings
	childPublishers  = 4
	restartMaxCount  = 2000
	restartKillAfter = 2300 // messages the witness receives before the first life ends
)

// settings are the durability settings the restart tests run under, with
// the count bound they check.
var settings = map[string]bolt.Options{
	"batched": {MaxCount: restartMaxCount},
	"each":    {MaxCount: restartMaxCount, MaxBatch: 1},
	"nosync":  {MaxCount: restartMaxCount, NoSync: true},
	"window":  {MaxCount: 1 << 20, SyncWindow: childWindow},
}

// childWindow is the "window" setting's SyncWindow. Under it, the child's
// publishers pace themselves (one publish a millisecond each), since
// Appends return at once and subscribers would fall behind.
const childWindow = 100 * time.Millisecond

var childTopics = [...]string{"a", "b", ""}

// crashChild runs the child process and exits when the test binary runs
// as one; it returns false otherwise.
func crashChild() bool {
	path := os.Getenv(childEnv)
	if path == "" {
		return false
	}
	if err := runChild(path, os.Getenv(childSettingEnv)); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(1)
	}
	os.Exit(0)
	return true
}

func runChild(path, setting string) error {
	opts, ok := settings[setting]
	if !ok {
		return fmt.Errorf("no setting %q", setting)
	}
	store, err := bolt.Open(path, &opts)
	if err != nil {
		return err
	}
	hub, mux := storeMux(store)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	fmt.Printf("listening %s\n", ln.Addr())

	var pubs sync.WaitGroup
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch in.Text() {
		case "publish":
			for p := range childPublishers {
				pubs.Go(func() {
					for i := 0; ; i++ {
						m := fanout.NewMessage(fmt.Appendf(nil, "g%d-%d", p, i))
						if publish(hub, childTopics[i%len(childTopics)], m) != nil {
							return // the Hub is closed
						}
						if opts.SyncWindow > 0 {
							time.Sleep(time.Millisecond) // pacing, not synchronisation
						}
					}
				})
			}
		case "close":
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := hub.Shutdown(ctx)
			pubs.Wait()
			if err := errors.Join(err, store.Close(), srv.Shutdown(ctx)); err != nil {
				return err
			}
			fmt.Println("closed")
			return nil
		}
	}
	return in.Err() // stdin closed: the test is gone
}

// child is the first life's process.
type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Scanner
	base   string // http://ADDR
}

// startChild starts a child process serving the store at path under
// setting, and waits until it listens.
func startChild(t *testing.T, path, setting string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+path, childSettingEnv+"="+setting)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, stdin: stdin, stdout: bufio.NewScanner(out)}
	t.Cleanup(func() {
		_ = c.cmd.Process.Kill() // no-op once it exited
		_ = c.cmd.Wait()
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("child's stderr:\n%s", stderr.String())
		}
	})
	addr, ok := strings.CutPrefix(c.line(t), "listening ")
	if !ok {
		t.Fatalf("child did not listen: %s", stderr.String())
	}
	c.base = "http://" + addr
	return c
}

// line returns the child's next line of output.
func (c *child) line(t *testing.T) string {
	t.Helper()
	if !c.stdout.Scan() {
		t.Fatalf("child's output ended: %v", c.stdout.Err())
	}
	return c.stdout.Text()
}

func (c *child) send(t *testing.T, cmd string) {
	t.Helper()
	if _, err := io.WriteString(c.stdin, cmd+"\n"); err != nil {
		t.Fatalf("to child: %v", err)
	}
}

// kill kills the child with SIGKILL (on Unix) and reaps it.
func (c *child) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = c.cmd.Wait() // "signal: killed"
}

// shutdown has the child shut down gracefully and waits for it to exit.
func (c *child) shutdown(t *testing.T) {
	t.Helper()
	c.send(t, "close")
	if l := c.line(t); l != "closed" {
		t.Fatalf("child answered %q to close", l)
	}
	if err := c.cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
}

// publish publishes m to topic through hub, or broadcasts it for topic "".
func publish(hub *fanout.Hub, topic string, m *fanout.Message) error {
	if topic == "" {
		return hub.Broadcast(context.Background(), m)
	}
	return hub.Publish(context.Background(), topic, m)
}

// storeMux returns a Hub over store and a mux that serves it on /ws, and
// a Broker attached to it on /sse: the child's server, and the one a
// test starts after it on the same file.
func storeMux(store *bolt.Store) (*fanout.Hub, *http.ServeMux) {
	hub := fanout.NewHub(&fanout.HubOptions{Replay: store})
	mux := http.NewServeMux()
	mux.Handle("/ws", hub)
	mux.Handle("/sse", fanout.NewBroker(&fanout.BrokerOptions{Hub: hub}))
	return hub, mux
}

// serveStore opens the store at path with opts and serves it (see
// storeMux) until t ends: the second life of a store a child left.
func serveStore(t *testing.T, path string, opts bolt.Options) (*bolt.Store, *fanout.Hub, *httptest.Server) {
	t.Helper()
	store := openStore(t, path, &opts)
	hub, mux := storeMux(store)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { _ = hub.Close() }) // before the server: it waits for open streams
	return store, hub, srv
}
