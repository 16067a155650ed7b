package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// redisServer is the soak's redis-server: on a free loopback port, with
// no persistence of its own (no RDB schedule, no AOF), so that a restart
// comes back empty, as a cache node or a replica promoted empty does;
// only the rollback fault SAVEs a dump by hand, and restarts from it. The engine's
// tests start theirs the same way (redis/internal/redistest, which this
// module cannot import).
type redisServer struct {
	bin, dir, port string
	extra          []string  // more options (--replicaof)
	cmd            *exec.Cmd // the faults' goroutine restarts it
	done           chan struct{}
	pidNow         atomic.Int64 // the running server's, for the sampler
}

func (s *redisServer) addr() string { return "127.0.0.1:" + s.port }

// startRedis starts a redis-server on a free port, with extra options.
func startRedis(extra ...string) (*redisServer, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server not found on PATH: %w", err)
	}
	dir, err := os.MkdirTemp("", "fanout-soak-redis-")
	if err != nil {
		return nil, err
	}
	s := &redisServer{bin: bin, dir: dir, extra: extra}
	for range 5 { // a port free a moment ago can be taken before redis-server binds it
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		s.port = strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
		_ = l.Close()
		if err = s.start(); err == nil {
			return s, nil
		}
	}
	log, _ := os.ReadFile(dir + "/redis.log")
	_ = os.RemoveAll(dir)
	return nil, fmt.Errorf("redis-server did not start: %s", log)
}

// start runs redis-server on s.port and waits until it answers.
func (s *redisServer) start() error {
	s.done = make(chan struct{})
	s.cmd = exec.Command(s.bin, "--port", s.port, "--bind", "127.0.0.1", "--protected-mode", "no",
		"--save", "", "--appendonly", "no", "--dir", s.dir, "--logfile", "redis.log", "--daemonize", "no",
		"--maxmemory-policy", "noeviction")
	s.cmd.Args = append(s.cmd.Args, s.extra...)
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return err
	}
	s.pidNow.Store(int64(s.cmd.Process.Pid))
	cmd, done := s.cmd, s.done
	go func() { _ = cmd.Wait(); close(done) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := s.do("PING"); err == nil {
			return nil
		}
		select {
		case <-done:
			return errors.New("redis-server exited")
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.kill()
			return errors.New("redis-server did not answer PING")
		}
	}
}

// pid returns the running server's process ID (the last one started),
// safe from any goroutine.
func (s *redisServer) pid() int { return int(s.pidNow.Load()) }

// kill stops the server with SIGKILL: what it held is gone.
func (s *redisServer) kill() {
	_ = s.cmd.Process.Kill()
	<-s.done
}

// restart kills the server and starts it again on the same port after
// down: from its last SAVE's dump when fromDump, else empty.
func (s *redisServer) restart(down time.Duration, fromDump bool) error {
	s.kill()
	if !fromDump {
		// A SAVE, or the replica that this server was, left a dump.
		if err := os.Remove(s.dir + "/dump.rdb"); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	time.Sleep(down)
	var err error
	for range 50 { // the port may take a moment to be free
		if err = s.start(); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// become makes s the server that r is (a promoted replica), on r's port
// and directory; s's old process must be dead and r's own s no longer
// used. The sampler reads the new PID.
func (s *redisServer) become(r *redisServer) {
	_ = os.RemoveAll(s.dir)
	s.dir, s.port, s.extra, s.cmd, s.done = r.dir, r.port, nil, r.cmd, r.done
	s.pidNow.Store(r.pidNow.Load())
}

// head returns the soak's partition's epoch and head, "epoch-head" (as
// a message ID), or "none".
func (s *redisServer) head() string {
	e, err := s.do("HGET", "{soak:0}:meta", "e")
	h, _ := s.do("HGET", "{soak:0}:meta", "h")
	if err != nil || e == "" {
		return "none"
	}
	return e + "-" + h
}

func (s *redisServer) stop() {
	s.kill()
	_ = os.RemoveAll(s.dir)
}

// do sends one command on a connection of its own and returns the reply
// as text: a simple or bulk string, or an integer. Enough for PING,
// CLIENT KILL and INFO; the nodes use real clients.
func (s *redisServer) do(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.addr())
	if err != nil {
		return "", err
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(conn, b.String()); err != nil {
		return "", err
	}
	br := bufio.NewReader(conn)
	line, err := br.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	switch {
	case line == "":
		return "", errors.New("empty reply")
	case line[0] == '+' || line[0] == ':':
		return line[1:], nil
	case line[0] == '-':
		return "", errors.New(line[1:])
	case line[0] == '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", fmt.Errorf("reply %q", line)
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(br, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	}
	return "", fmt.Errorf("unexpected reply %q", line)
}
