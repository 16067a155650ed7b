// Package redistest starts real redis-server processes for tests: a
// standalone server, a 3-master cluster, and a TCP proxy that adds
// latency. They listen on free loopback ports, keep nothing on disk
// unless asked (Server.Save), and are stopped when the test ends.
//
// Without redis-server on PATH the tests that need it skip; when the
// environment variable CI is set they fail instead, so that CI never
// passes by skipping them.
package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// StartTimeout bounds how long a server may take to accept commands.
const StartTimeout = 20 * time.Second

// Require skips t (fails it under CI) when redis-server or redis-cli is
// missing, and returns redis-server's path.
func Require(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err == nil {
		_, err = exec.LookPath("redis-cli")
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("redis-server and redis-cli are required under CI: %v", err)
		}
		t.Skipf("redis-server or redis-cli not installed: %v", err)
	}
	return path
}

// Server is one redis-server process on a loopback port.
type Server struct {
	t     testing.TB
	bin   string
	dir   string
	port  int
	extra []string
	conf  string // if set, a config file to start with (its first argument)

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// Start starts a standalone redis-server without persistence, killed
// when t ends. extra are more command-line options ("--maxmemory",
// "10mb", ...).
func Start(t testing.TB, extra ...string) *Server {
	t.Helper()
	return start(t, &Server{t: t, bin: Require(t), dir: t.TempDir(), extra: extra}, nil)
}

// start starts s on a free port; conf, if set, writes s's config file
// once the port is known.
func start(t testing.TB, s *Server, conf func(port int) string) *Server {
	t.Helper()
	for range 5 { // a free port can be taken between the probe and the start
		s.port = FreePort(t)
		if conf != nil {
			s.conf = filepath.Join(s.dir, "server.conf")
			if err := os.WriteFile(s.conf, []byte(conf(s.port)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		err := s.start()
		if err == nil {
			t.Cleanup(s.Kill)
			return s
		}
		if !errors.Is(err, errPortTaken) {
			t.Fatal(err)
		}
	}
	t.Fatal("redistest: no free port for redis-server")
	return nil
}

var errPortTaken = errors.New("redistest: port taken")

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Addr returns the server's "127.0.0.1:port".
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// Port returns the server's port.
func (s *Server) Port() int { return s.port }

// Dir returns the server's working directory (its dump.rdb, its log).
func (s *Server) Dir() string { return s.dir }

func (s *Server) start() error {
	var args []string
	if s.conf != "" {
		args = append(args, s.conf)
	}
	args = append(args,
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--protected-mode", "no",
		"--save", "", "--appendonly", "no", "--dir", s.dir, "--daemonize", "no",
		"--logfile", "redis.log",
	)
	args = append(args, s.extra...)
	cmd := exec.Command(s.bin, args...)
	cmd.Dir = s.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the test binary
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("redistest: starting redis-server: %w", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	deadline := time.Now().Add(StartTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := Do(ctx, s.Addr(), "PING")
		cancel()
		if err == nil {
			break
		}
		select {
		case <-done:
			log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
			if strings.Contains(string(log), "Address already in use") {
				return errPortTaken
			}
			return fmt.Errorf("redistest: redis-server exited: %s", log)
		case <-time.After(20 * time.Millisecond): // polling: the process gives no signal when ready
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("redistest: redis-server not ready within %v", StartTimeout)
		}
	}
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	return nil
}

// Kill kills the server at once (SIGKILL) and waits for it to exit: its
// clients' connections are reset. Idempotent.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGCONT) // in case it was paused
	_ = cmd.Process.Kill()
	<-done
}

// Restart starts the server again on the same port after Kill: empty,
// unless Save made a dump since, which it loads.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	if err := s.start(); err != nil {
		s.t.Fatal(err)
	}
}

// Save writes the dataset to dump.rdb (SAVE), so that the next Restart
// comes back with it.
func (s *Server) Save() {
	s.t.Helper()
	if _, err := Do(context.Background(), s.Addr(), "SAVE"); err != nil {
		s.t.Fatal(err)
	}
}

// Pause freezes the server (SIGSTOP): its connections stay open but
// nothing is answered, as with a hung host. Resume undoes it.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume undoes Pause (SIGCONT).
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		_ = s.cmd.Process.Signal(sig)
	}
}

// Do sends one command to the server and returns its reply (see Do).
func (s *Server) Do(args ...string) (any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	return Do(ctx, s.Addr(), args...)
}

// Bare is a redis-server started without a testing.TB (for a TestMain
// that serves examples): no goroutine waits on it, so that a goroutine
// leak check at the end of the tests sees none.
type Bare struct {
	cmd  *exec.Cmd
	Addr string
}

// StartBare starts a standalone redis-server without persistence on a
// free loopback port, or fails when redis-server is missing or does not
// answer within StartTimeout. Stop it with Stop.
func StartBare() (*Bare, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--logfile", "")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	b := &Bare{cmd: cmd, Addr: "127.0.0.1:" + strconv.Itoa(port)}
	for deadline := time.Now().Add(StartTimeout); ; time.Sleep(20 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := Do(ctx, b.Addr, "PING")
		cancel()
		if err == nil {
			return b, nil
		}
		if time.Now().After(deadline) {
			b.Stop()
			return nil, fmt.Errorf("redistest: redis-server not ready: %w", err)
		}
	}
}

// Stop kills the server and waits for it.
func (b *Bare) Stop() {
	_ = b.cmd.Process.Kill()
	_ = b.cmd.Wait()
}
