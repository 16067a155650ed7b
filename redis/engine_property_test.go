package redis_test

import (
	"testing"

	fredis "github.com/fanout-go/fanout/redis"
	"github.com/fanout-go/fanout/redis/internal/redistest"
)

// propHistory is the history the property tests keep: more than a run
// publishes, so that every resume is exact.
const propHistory = 1 << 17

// startNodes starts n nodes in the test's process on addrs, sharing a
// fresh prefix, and an engine to read the history with.
func startNodes(t *testing.T, n int, ev *nodeEvents, opts fredis.Options, addrs ...string) ([]*node, *fredis.Engine) {
	t.Helper()
	if opts.Prefix == "" {
		opts.Prefix = newPrefix()
	}
	if opts.HistorySize == 0 {
		opts.HistorySize = propHistory
	}
	var nodes []*node
	for i := range n {
		nodes = append(nodes, startNode(t, "node"+string(rune('0'+i)), &opts, ev, addrs...))
	}
	return nodes, newEngine(t, "reader", &opts, addrs...)
}

// TestNodes_Property: three nodes (Hubs with Brokers attached, each on
// its own server and engine), publishers on every node through the Hub
// and the Broker on several topics, clients of every kind; resuming
// clients reconnect to a random other node with their last ID at random
// moments. Every client ends with exactly the published sequence of its
// topics, with no resync. On a standalone Redis (one partition) and on a
// 3-master cluster (16 partitions), where a client's topics are in up to
// three partitions, which it resumes from one composite ID.
func TestNodes_Property(t *testing.T) {
	t.Run("standalone", func(t *testing.T) {
		srv := redistest.Start(t)
		ev := &nodeEvents{}
		nodes, reader := startNodes(t, 3, ev, fredis.Options{}, srv.Addr())
		runProperty(t, propConfig{
			nodes: nodes, pubNodes: nodes, groups: topicGroups(reader, 1, 3),
			publishers: 6, perPub: 300, budget: 60, clients: 1, reader: reader, events: ev,
		})
	})
	t.Run("cluster", func(t *testing.T) {
		c := redistest.StartCluster(t)
		ev := &nodeEvents{}
		nodes, reader := startNodes(t, 3, ev, fredis.Options{}, c.Addrs()...)
		runProperty(t, propConfig{
			nodes: nodes, pubNodes: nodes, groups: spanGroups(reader, 2, 3),
			publishers: 6, perPub: 300, budget: 60, clients: 1, reader: reader, events: ev,
		})
	})
}

// TestNodes_Processes: the same property with the three nodes in three
// child processes (this test binary, serving a node), publishers
// publishing through each of them over HTTP.
func TestNodes_Processes(t *testing.T) {
	srv := redistest.Start(t)
	prefix := newPrefix()
	var nodes []*node
	for i := range 3 {
		nodes = append(nodes, startChild(t, "child"+string(rune('0'+i)), prefix, srv.Addr()))
	}
	opts := &fredis.Options{Prefix: prefix, HistorySize: propHistory}
	reader := newEngine(t, "reader", opts, srv.Addr())
	ev := &nodeEvents{}
	runProperty(t, propConfig{
		nodes: nodes, pubNodes: nodes, groups: topicGroups(reader, 1, 3),
		publishers: 3, perPub: 200, budget: 50, clients: 1, reader: reader, events: ev,
	})
}
