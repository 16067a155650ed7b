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
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// redisServer is the redis-server that -nodes starts for its run: on a
// free loopback port, without persistence (no RDB snapshots, no AOF), in
// a temporary directory, and killed with this process. The engine's
// tests start theirs the same way (redis/internal/redistest, which this
// module cannot import); the few lines are written again here.
type redisServer struct {
	cmd  *exec.Cmd
	dir  string
	addr string
	done chan struct{}
}

// errNoRedis is returned when redis-server is not installed.
var errNoRedis = errors.New("redis-server not found on PATH")

func startRedis() (*redisServer, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNoRedis, err)
	}
	dir, err := os.MkdirTemp("", "fanout-bench-redis-")
	if err != nil {
		return nil, err
	}
	for range 5 { // a port free a moment ago can be taken before redis-server binds it
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
		_ = l.Close()
		s := &redisServer{dir: dir, addr: "127.0.0.1:" + port, done: make(chan struct{})}
		s.cmd = exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--protected-mode", "no",
			"--save", "", "--appendonly", "no", "--dir", dir, "--logfile", "redis.log", "--daemonize", "no")
		s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := s.cmd.Start(); err != nil {
			return nil, err
		}
		go func() { _ = s.cmd.Wait(); close(s.done) }()
		if err := s.await(20 * time.Second); err == nil {
			return s, nil
		}
		s.kill()
	}
	log, _ := os.ReadFile(dir + "/redis.log")
	_ = os.RemoveAll(dir)
	return nil, fmt.Errorf("redis-server did not start: %s", log)
}

// await polls PING until the server answers (it gives no other signal).
func (s *redisServer) await(d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		if _, err := s.do("PING"); err == nil {
			return nil
		}
		select {
		case <-s.done:
			return errors.New("redis-server exited")
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errTimeout
		}
	}
}

func (s *redisServer) pid() int { return s.cmd.Process.Pid }

func (s *redisServer) kill() {
	_ = s.cmd.Process.Kill()
	<-s.done
}

// stop kills the server and removes its directory.
func (s *redisServer) stop() {
	s.kill()
	_ = os.RemoveAll(s.dir)
}

// do sends one command on a connection of its own and returns the reply
// as text: a simple or bulk string, or an integer. Enough for PING,
// FLUSHALL, CONFIG RESETSTAT and INFO; the nodes use real clients.
func (s *redisServer) do(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.addr)
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
	if _, err := conn.Write([]byte(b.String())); err != nil {
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

// info returns the fields of an INFO section.
func (s *redisServer) info(section string) (map[string]string, error) {
	text, err := s.do("INFO", section)
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for line := range strings.Lines(text) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			m[k] = v
		}
	}
	return m, nil
}

// cpu returns the CPU time redis-server has used (used_cpu_sys +
// used_cpu_user of INFO cpu: getrusage, microseconds).
func (s *redisServer) cpu() (time.Duration, error) {
	m, err := s.info("cpu")
	if err != nil {
		return 0, err
	}
	sys, err1 := strconv.ParseFloat(m["used_cpu_sys"], 64)
	user, err2 := strconv.ParseFloat(m["used_cpu_user"], 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("INFO cpu: %w", err)
	}
	return time.Duration((sys + user) * 1e9), nil
}

// cmdStat is one command's line of INFO commandstats.
type cmdStat struct {
	Name  string
	Calls int64
	Usec  int64 // time Redis spent executing it, in total
}

// commandStats returns INFO commandstats (since the last CONFIG
// RESETSTAT), most time first.
func (s *redisServer) commandStats() ([]cmdStat, error) {
	m, err := s.info("commandstats")
	if err != nil {
		return nil, err
	}
	var out []cmdStat
	for k, v := range m {
		name, ok := strings.CutPrefix(k, "cmdstat_")
		if !ok {
			continue
		}
		c := cmdStat{Name: name}
		for f := range strings.SplitSeq(v, ",") {
			key, val, _ := strings.Cut(f, "=")
			switch key {
			case "calls":
				c.Calls, _ = strconv.ParseInt(val, 10, 64)
			case "usec":
				c.Usec, _ = strconv.ParseInt(val, 10, 64)
			}
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b cmdStat) int { return int(b.Usec - a.Usec) })
	return out, nil
}
