package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fanout-go/fanout/internal/harness"
)

// nodeRedis is the Redis that -nodes runs on: one redis-server, or, with
// -cluster, a Redis Cluster of three masters (harness.StartCluster, the
// slots in three equal ranges, no replicas). Its readings are the sums
// over its servers.
type nodeRedis struct {
	servers []redisServer
	cluster *harness.RedisCluster // nil for one redis-server
}

// clusterMasters is how many masters -cluster starts.
const clusterMasters = 3

func startNodeRedis(cluster bool) (nodeRedis, error) {
	if !cluster {
		rs, err := startRedis()
		return nodeRedis{servers: []redisServer{rs}}, err
	}
	c, err := harness.StartCluster(harness.ClusterOptions{Masters: clusterMasters})
	if err != nil {
		return nodeRedis{}, err
	}
	r := nodeRedis{cluster: c}
	for _, s := range c.Masters {
		r.servers = append(r.servers, redisServer{s})
	}
	return r, nil
}

// Stop stops every server.
func (r nodeRedis) Stop() {
	for _, s := range r.servers {
		s.Stop()
	}
}

// addr returns the servers' addresses, comma-separated (-node-redis).
func (r nodeRedis) addr() string {
	addrs := make([]string, len(r.servers))
	for i, s := range r.servers {
		addrs[i] = s.Addr()
	}
	return strings.Join(addrs, ",")
}

// describe says what Redis this is, for the report's heading.
func (r nodeRedis) describe() string {
	m, _ := r.servers[0].info("server")
	if r.cluster == nil {
		return "one redis-server " + m["redis_version"]
	}
	return fmt.Sprintf("a Redis Cluster of %d masters (redis-server %s, the slots in %d equal ranges, no replicas)",
		len(r.servers), m["redis_version"], len(r.servers))
}

// each sends one command to every server.
func (r nodeRedis) each(args ...string) error {
	for _, s := range r.servers {
		if _, err := s.Do(args...); err != nil {
			return fmt.Errorf("%s: %w", strings.Join(args, " "), err)
		}
	}
	return nil
}

// cpu returns the CPU time the servers have used, in all (see
// redisServer.cpu).
func (r nodeRedis) cpu() (time.Duration, error) {
	var sum time.Duration
	for _, s := range r.servers {
		c, err := s.cpu()
		if err != nil {
			return 0, err
		}
		sum += c
	}
	return sum, nil
}

// commandStats returns INFO commandstats summed over the servers, most
// time first.
func (r nodeRedis) commandStats() ([]cmdStat, error) {
	var lists [][]cmdStat
	for _, s := range r.servers {
		l, err := s.commandStats()
		if err != nil {
			return nil, err
		}
		lists = append(lists, l)
	}
	return sumCmdStats(lists...), nil
}

// sumCmdStats adds up lists of commandstats by command, most time first.
func sumCmdStats(lists ...[]cmdStat) []cmdStat {
	byName := map[string]int{}
	var out []cmdStat
	for _, l := range lists {
		for _, c := range l {
			i, ok := byName[c.Name]
			if !ok {
				i = len(out)
				byName[c.Name] = i
				out = append(out, cmdStat{Name: c.Name})
			}
			out[i].Calls += c.Calls
			out[i].Usec += c.Usec
		}
	}
	slices.SortFunc(out, func(a, b cmdStat) int {
		if a.Usec != b.Usec {
			return int(b.Usec - a.Usec)
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

// pids returns the servers' process IDs, comma-separated (perf -p).
func (r nodeRedis) pids() string {
	ids := make([]string, len(r.servers))
	for i, s := range r.servers {
		ids[i] = strconv.Itoa(s.PID())
	}
	return strings.Join(ids, ",")
}
