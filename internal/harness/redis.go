//go:build linux

package harness

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
	"time"
)

// RedisStartTimeout bounds how long a redis-server may take to accept
// commands.
const RedisStartTimeout = 20 * time.Second

// ErrNoRedis is returned when redis-server is not on PATH.
var ErrNoRedis = errors.New("redis-server not found on PATH")

// errPortTaken: the free port found was taken before redis-server bound it.
var errPortTaken = errors.New("port taken")

// RedisOptions configures StartRedis.
type RedisOptions struct {
	// Dir is the server's working directory (its log, a SAVE's
	// dump.rdb). Defaults to a new temporary directory, which Stop
	// removes.
	Dir string
	// Conf, if set, returns the content of a config file, written to Dir
	// once the port is known and given as the first argument.
	Conf func(port int) string
	// Args are more command-line options ("--maxmemory", "10mb", ...),
	// after the defaults. None by default.
	Args []string
}

// RedisServer is one redis-server process on a free loopback port,
// without persistence (no RDB schedule, no AOF: a restart comes back
// empty unless a SAVE left a dump), killed with the process that
// started it.
type RedisServer struct {
	bin, dir, conf string
	ownDir         bool
	port           int
	args           []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// StartRedis starts a redis-server on a free loopback port and waits
// until it answers PING.
func StartRedis(o RedisOptions) (*RedisServer, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoRedis, err)
	}
	s := &RedisServer{bin: bin, dir: o.Dir, args: o.Args}
	if s.dir == "" {
		if s.dir, err = os.MkdirTemp("", "fanout-redis-"); err != nil {
			return nil, err
		}
		s.ownDir = true
	}
	for range 5 { // a port free a moment ago can be taken before redis-server binds it
		if s.port, err = FreePort(); err != nil {
			break
		}
		if o.Conf != nil {
			s.conf = filepath.Join(s.dir, "server.conf")
			if err = os.WriteFile(s.conf, []byte(o.Conf(s.port)), 0o644); err != nil {
				break
			}
		}
		if err = s.Restart(); !errors.Is(err, errPortTaken) {
			break
		}
	}
	if err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Addr returns the server's "127.0.0.1:port".
func (s *RedisServer) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// Port returns the server's port.
func (s *RedisServer) Port() int { return s.port }

// Dir returns the server's working directory.
func (s *RedisServer) Dir() string { return s.dir }

// PID returns the running (last started) process's ID, or 0; safe from
// any goroutine.
func (s *RedisServer) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Restart starts the server on its port, after Kill, and waits until it
// answers PING: empty, unless a SAVE left a dump, which it loads.
func (s *RedisServer) Restart() error {
	var args []string
	if s.conf != "" {
		args = append(args, s.conf)
	}
	args = append(args,
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--protected-mode", "no",
		"--save", "", "--appendonly", "no", "--dir", s.dir, "--daemonize", "no",
		"--logfile", "redis.log",
	)
	args = append(args, s.args...)
	cmd := exec.Command(s.bin, args...)
	cmd.Dir = s.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the parent
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting redis-server: %w", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	deadline := time.Now().Add(RedisStartTimeout)
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
			return fmt.Errorf("redis-server exited: %s", log)
		case <-time.After(20 * time.Millisecond): // polling: the process gives no signal when ready
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("redis-server not ready within %v", RedisStartTimeout)
		}
	}
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	return nil
}

// Kill kills the server at once (SIGKILL) and waits for it to exit: its
// clients' connections are reset. Idempotent.
func (s *RedisServer) Kill() {
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

// Stop kills the server and removes its directory if StartRedis made it.
func (s *RedisServer) Stop() {
	s.Kill()
	if s.ownDir {
		_ = os.RemoveAll(s.dir)
	}
}

// Pause freezes the server (SIGSTOP): its connections stay open but
// nothing is answered, as with a hung host. Resume undoes it.
func (s *RedisServer) Pause() { s.signal(syscall.SIGSTOP) }

// Resume undoes Pause (SIGCONT).
func (s *RedisServer) Resume() { s.signal(syscall.SIGCONT) }

func (s *RedisServer) signal(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		_ = s.cmd.Process.Signal(sig)
	}
}

// Do sends one command to the server within RedisStartTimeout (see Do).
func (s *RedisServer) Do(args ...string) (any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), RedisStartTimeout)
	defer cancel()
	return Do(ctx, s.Addr(), args...)
}

// Text sends one command and returns its reply as text (see Text).
func (s *RedisServer) Text(args ...string) (string, error) { return Text(s.Do(args...)) }
