package main

import (
	"errors"
	"os"
	"sync/atomic"
	"time"

	"github.com/fanout-go/fanout/internal/harness"
)

// redisServer is the soak's redis-server (a harness.RedisServer): on a
// free loopback port, with no persistence of its own (no RDB schedule,
// no AOF), so that a restart comes back empty, as a cache node or a
// replica promoted empty does; only the rollback fault SAVEs a dump by
// hand, and restarts from it. The failover fault replaces it with a
// promoted replica (become), while the sampler reads its PID.
type redisServer struct {
	cur atomic.Pointer[harness.RedisServer]
}

func (s *redisServer) addr() string { return s.cur.Load().Addr() }

// startRedis starts a redis-server on a free port, with extra options.
func startRedis(extra ...string) (*redisServer, error) {
	rs, err := harness.StartRedis(harness.RedisOptions{Args: append([]string{"--maxmemory-policy", "noeviction"}, extra...)})
	if err != nil {
		return nil, err
	}
	s := &redisServer{}
	s.cur.Store(rs)
	return s, nil
}

// pid returns the running server's process ID (the last one started),
// safe from any goroutine.
func (s *redisServer) pid() int { return s.cur.Load().PID() }

// kill stops the server with SIGKILL: what it held is gone.
func (s *redisServer) kill() { s.cur.Load().Kill() }

// restart kills the server and starts it again on the same port after
// down: from its last SAVE's dump when fromDump, else empty.
func (s *redisServer) restart(down time.Duration, fromDump bool) error {
	rs := s.cur.Load()
	rs.Kill()
	if !fromDump {
		// A SAVE, or the replica that this server was, left a dump.
		if err := os.Remove(rs.Dir() + "/dump.rdb"); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	time.Sleep(down)
	var err error
	for range 50 { // the port may take a moment to be free
		if err = rs.Restart(); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// become makes s the server that r is (a promoted replica); s's old
// process must be dead and r no longer used on its own.
func (s *redisServer) become(r *redisServer) {
	s.cur.Swap(r.cur.Load()).Stop()
}

// head returns the soak's partition's epoch and head, "epoch-head" (as
// a message ID), or "none". One HMGET reads both, so that a publish
// between two reads cannot pair an epoch with another epoch's head.
func (s *redisServer) head() string {
	return headID(s.cur.Load().Do("HMGET", "{soak:0}:meta", "e", "h"))
}

// headID writes an HMGET reply of a partition's epoch and head as
// "epoch-head", or "none" when it holds no epoch.
func headID(reply any, err error) string {
	f, ok := reply.([]any)
	if err != nil || !ok || len(f) != 2 {
		return "none"
	}
	e, _ := harness.Text(f[0], nil)
	h, _ := harness.Text(f[1], nil)
	if e == "" {
		return "none"
	}
	return e + "-" + h
}

func (s *redisServer) stop() { s.cur.Load().Stop() }

// do sends one command and returns the reply as text (see harness.Text).
func (s *redisServer) do(args ...string) (string, error) { return s.cur.Load().Text(args...) }
