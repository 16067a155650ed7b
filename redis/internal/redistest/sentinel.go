package redistest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fanout-go/fanout/internal/harness"
)

// StartSentinel starts a Redis Sentinel (redis-server --sentinel) that
// monitors master under the name name, with a quorum of one: it declares
// the master down after a second without an answer and fails over to
// one of its replicas. It is killed when t ends.
func StartSentinel(t testing.TB, name string, master *Server) *Server {
	t.Helper()
	return start(t, harness.RedisOptions{Args: []string{"--sentinel"}, Conf: func(int) string {
		return fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 1\n"+
			"sentinel down-after-milliseconds %[1]s 1000\n"+
			"sentinel failover-timeout %[1]s 10000\n", name, master.Port())
	}})
}

// WaitReplicas waits until the sentinel s knows n replicas of the master
// name (it learns them from the master's INFO, every ten seconds at
// first), failing t after StartTimeout.
func (s *Server) WaitReplicas(t testing.TB, name string, n int) {
	t.Helper()
	deadline := time.Now().Add(StartTimeout)
	for {
		reply, err := s.Do("SENTINEL", "REPLICAS", name)
		if list, ok := reply.([]any); err == nil && ok && len(list) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("sentinel knows no %d replicas of %s within %v: %v %v", n, name, StartTimeout, reply, err)
		}
		time.Sleep(50 * time.Millisecond) // polling: the sentinel gives no signal
	}
}

// WaitMaster waits until the sentinel s names addr as the master name's
// address, failing t after timeout.
func (s *Server) WaitMaster(t testing.TB, name, addr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		reply, err := s.Do("SENTINEL", "GET-MASTER-ADDR-BY-NAME", name)
		got := fmt.Sprint(reply)
		if err == nil && strings.Join(strings.Fields(strings.Trim(got, "[]")), ":") == addr {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("sentinel does not name %s the master of %s within %v: %v %v", addr, name, timeout, reply, err)
		}
		time.Sleep(50 * time.Millisecond) // polling: the sentinel gives no signal
	}
}
