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
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/fanout-go/fanout/internal/harness"
)

// StartTimeout bounds how long a server may take to accept commands.
const StartTimeout = harness.RedisStartTimeout

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

// Server is one redis-server process on a loopback port (a
// harness.RedisServer, whose failures fail t).
type Server struct {
	*harness.RedisServer
	t testing.TB
}

// Start starts a standalone redis-server without persistence, killed
// when t ends. extra are more command-line options ("--maxmemory",
// "10mb", ...).
func Start(t testing.TB, extra ...string) *Server {
	t.Helper()
	return start(t, harness.RedisOptions{Args: extra})
}

// start starts a server with o in a directory of t's, killed when t ends.
func start(t testing.TB, o harness.RedisOptions) *Server {
	t.Helper()
	Require(t)
	o.Dir = t.TempDir()
	rs, err := harness.StartRedis(o)
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	t.Cleanup(rs.Kill)
	return &Server{RedisServer: rs, t: t}
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// Restart starts the server again on the same port after Kill: empty,
// unless Save made a dump since, which it loads.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	if err := s.RedisServer.Restart(); err != nil {
		s.t.Fatal(err)
	}
}

// Save writes the dataset to dump.rdb (SAVE), so that the next Restart
// comes back with it.
func (s *Server) Save() {
	s.t.Helper()
	if _, err := s.Do("SAVE"); err != nil {
		s.t.Fatal(err)
	}
}

// Do sends one command to the server at addr on a connection of its own
// (see harness.Do). It is for test set-up and faults (CLIENT KILL,
// FLUSHALL, CLUSTER INFO), not for the code under test.
func Do(ctx context.Context, addr string, args ...string) (any, error) {
	return harness.Do(ctx, addr, args...)
}

// String returns Do's reply as a string, for the replies that are one.
func String(reply any, err error) (string, error) { return harness.String(reply, err) }

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
