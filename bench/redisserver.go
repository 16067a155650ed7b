package main

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fanout-go/fanout/internal/harness"
)

// redisServer is the redis-server that -nodes and -resumers start for
// their runs (see harness.RedisServer: a free loopback port, no
// persistence, a temporary directory, killed with this process), with
// the INFO readings the reports need.
type redisServer struct{ *harness.RedisServer }

// errNoRedis is returned when redis-server is not installed.
var errNoRedis = harness.ErrNoRedis

func startRedis() (redisServer, error) {
	rs, err := harness.StartRedis(harness.RedisOptions{})
	return redisServer{rs}, err
}

// info returns the fields of an INFO section.
func (s redisServer) info(section string) (map[string]string, error) {
	text, err := s.Text("INFO", section)
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
func (s redisServer) cpu() (time.Duration, error) {
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
func (s redisServer) commandStats() ([]cmdStat, error) {
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
