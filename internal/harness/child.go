//go:build linux

package harness

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

// A child is a program (usually the parent's own executable again, with
// a flag or an environment variable that makes it one) that reads one
// command per line on its standard input and answers each with one line
// of JSON on its standard output. It exits when its standard input
// closes, which also happens when the parent dies, so no child outlives
// a run; the parent's death signal (Pdeathsig) makes sure.

// ErrChildExited is returned when a child ends before answering.
var ErrChildExited = errors.New("child process exited")

// Child is a running child process, seen from the parent.
type Child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string // its standard output, line by line
	stderr *tailBuffer
	exited chan struct{}
	mu     sync.Mutex // one command at a time
}

// StartChild runs exe with args as a child; env, if not empty, is added
// to the parent's environment.
func StartChild(env []string, exe string, args ...string) (*Child, error) {
	cmd := exec.Command(exe, args...)
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c := &Child{cmd: cmd, stdin: stdin, lines: make(chan string, 16), stderr: &tailBuffer{max: 8192}, exited: make(chan struct{})}
	cmd.Stderr = c.stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() { // ends when the child's standard output closes
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

// PID returns the child's process ID.
func (c *Child) PID() int { return c.cmd.Process.Pid }

// Read waits up to d for the child's next line and decodes it into v.
func (c *Child) Read(v any, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case line, ok := <-c.lines:
		if !ok {
			return fmt.Errorf("%w: %s", ErrChildExited, c.stderr.String())
		}
		if err := json.Unmarshal([]byte(line), v); err != nil {
			return fmt.Errorf("child said %q: %w", line, err)
		}
		return nil
	case <-t.C:
		return fmt.Errorf("child did not answer within %v: %s", d, c.stderr.String())
	}
}

// Call sends one command line and decodes the answer into v, waiting up
// to d for it. Calls from several goroutines take turns.
func (c *Child) Call(cmd string, v any, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := io.WriteString(c.stdin, cmd+"\n"); err != nil {
		return fmt.Errorf("%w: %s", ErrChildExited, c.stderr.String())
	}
	return c.Read(v, d)
}

// Stop closes the child's standard input, which ends it, and kills it if
// it has not exited within d.
func (c *Child) Stop(d time.Duration) {
	_ = c.stdin.Close()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c.exited:
	case <-t.C:
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
}

// Kill ends the child with SIGKILL and waits for it.
func (c *Child) Kill() {
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.exited
}

// Exited is closed when the child has exited.
func (c *Child) Exited() <-chan struct{} { return c.exited }

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

// ServeCommands runs a child's side: handle answers each command line
// (its first word, and the others as args) with a value written as one
// line of JSON. It returns when standard input closes.
func ServeCommands(handle func(cmd string, args []string) any) error {
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

// Reply writes v as one line of JSON to standard output: a child's first,
// unasked answer (where it listens, say).
func Reply(v any) error { return json.NewEncoder(os.Stdout).Encode(v) }
