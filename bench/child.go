package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The memory runs (-idle, -scale) run their servers and clients in child
// processes: this program again, with an internal flag. A child reads one
// command per line on its standard input and answers each with one line of
// JSON on its standard output; it exits when its standard input closes,
// which also happens when the parent dies, so no child outlives a run.

// childEnv marks a child process, for a test binary's TestMain.
const childEnv = "FANOUT_BENCH_CHILD"

// child is a running child process, seen from the parent.
type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string // its standard output, line by line
	stderr *tailBuffer
	exited chan struct{}
}

// startChild runs exe with args as a child.
func startChild(exe string, args ...string) (*child, error) {
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	// Should the parent be killed outright, the child is too (and its
	// standard input closes anyway).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, stdin: stdin, lines: make(chan string, 16), stderr: &tailBuffer{max: 4096}, exited: make(chan struct{})}
	cmd.Stderr = c.stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 64<<20)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	go func() { _ = cmd.Wait(); close(c.exited) }()
	return c, nil
}

// errChildExited is returned when a child ends before answering.
var errChildExited = errors.New("child process exited")

// read waits up to d for the child's next line and decodes it into v.
func (c *child) read(v any, d time.Duration) error {
	select {
	case line, ok := <-c.lines:
		if !ok {
			return fmt.Errorf("%w: %s", errChildExited, c.stderr.String())
		}
		if err := json.Unmarshal([]byte(line), v); err != nil {
			return fmt.Errorf("child said %q: %w", line, err)
		}
		return nil
	case <-time.After(d):
		return fmt.Errorf("child did not answer within %v: %s", d, c.stderr.String())
	}
}

// call sends one command and decodes the answer into v.
func (c *child) call(cmd string, v any, d time.Duration) error {
	if _, err := io.WriteString(c.stdin, cmd+"\n"); err != nil {
		return fmt.Errorf("%w: %s", errChildExited, c.stderr.String())
	}
	return c.read(v, d)
}

// stop closes the child's standard input, which ends it, and kills it if
// it has not exited within d.
func (c *child) stop(d time.Duration) {
	_ = c.stdin.Close()
	select {
	case <-c.exited:
	case <-time.After(d):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.b))
}

// serveCommands runs a child's side of the protocol: handle answers each
// command line with a value written as one line of JSON. It returns when
// standard input closes.
func serveCommands(handle func(cmd string, args []string) any) error {
	sc := bufio.NewScanner(os.Stdin)
	enc := json.NewEncoder(os.Stdout)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if err := enc.Encode(handle(f[0], f[1:])); err != nil {
			return err
		}
	}
	return sc.Err()
}

// serveChild serves h on ln, tells the parent its address, and answers
// commands with handle until standard input closes; then it calls stop
// and closes the HTTP server.
func serveChild(h http.Handler, stop func(), ln net.Listener, handle func(cmd string, args []string) any) error {
	hs := newHTTPServer(h)
	go func() { _ = hs.Serve(ln) }()
	defer func() {
		stop()
		_ = hs.Close()
	}()
	if err := reply(serverHello{Addr: ln.Addr().String(), PID: os.Getpid()}); err != nil {
		return err
	}
	return serveCommands(handle)
}

// reply writes one line of JSON to standard output, for a child's first,
// unasked answer.
func reply(v any) error { return json.NewEncoder(os.Stdout).Encode(v) }
