package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// A node is this program again, started with -node: it reads one command
// per line on its standard input and answers each with one line of JSON
// on its standard output (its first line, unasked, says where it
// listens). It exits when its standard input closes, which also happens
// when the parent dies, so no node outlives a run; the parent's death
// signal (Pdeathsig) makes sure.

// child is a running node process, seen from the parent.
type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	stderr *tailBuffer
	exited chan struct{}
	mu     sync.Mutex // one command at a time
}

func startChild(exe string, args ...string) (*child, error) {
	cmd := exec.Command(exe, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, stdin: stdin, lines: make(chan string, 16), stderr: &tailBuffer{max: 8192}, exited: make(chan struct{})}
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

var errChildExited = errors.New("node process exited")

// read waits up to d for the child's next line and decodes it into v.
func (c *child) read(v any, d time.Duration) error {
	select {
	case line, ok := <-c.lines:
		if !ok {
			return fmt.Errorf("%w: %s", errChildExited, c.stderr.String())
		}
		if err := json.Unmarshal([]byte(line), v); err != nil {
			return fmt.Errorf("node said %q: %w", line, err)
		}
		return nil
	case <-time.After(d):
		return fmt.Errorf("node did not answer within %v: %s", d, c.stderr.String())
	}
}

// call sends one command and decodes the answer into v.
func (c *child) call(cmd string, v any, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
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

// kill ends the child with SIGKILL.
func (c *child) kill() {
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.exited
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

// serveCommands runs a node's side: handle answers each command line with
// a value written as one line of JSON. It returns when standard input
// closes.
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
