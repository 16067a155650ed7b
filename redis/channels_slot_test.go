package redis_test

import (
	"strconv"
	"strings"
	"testing"

	fredis "github.com/fanout-go/fanout/redis"
	"github.com/fanout-go/fanout/redis/internal/redistest"
)

// moveSlot moves slot, with its keys, from master from to master to
// (CLUSTER SETSLOT … IMPORTING / MIGRATING, MIGRATE, then SETSLOT … NODE
// on every master), as a resharding does.
func moveSlot(t *testing.T, c *redistest.Cluster, slot string, from, to *redistest.Server) {
	t.Helper()
	id := func(s *redistest.Server) string {
		v, err := redistest.String(s.Do("CLUSTER", "MYID"))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	fromID, toID := id(from), id(to)
	must := func(s *redistest.Server, args ...string) any {
		t.Helper()
		v, err := s.Do(args...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return v
	}
	must(to, "CLUSTER", "SETSLOT", slot, "IMPORTING", fromID)
	must(from, "CLUSTER", "SETSLOT", slot, "MIGRATING", toID)
	host, port, _ := strings.Cut(to.Addr(), ":")
	for {
		keys, _ := must(from, "CLUSTER", "GETKEYSINSLOT", slot, "100").([]any)
		if len(keys) == 0 {
			break
		}
		args := []string{"MIGRATE", host, port, "", "0", "5000", "KEYS"}
		for _, k := range keys {
			args = append(args, k.(string))
		}
		must(from, args...)
	}
	must(to, "CLUSTER", "SETSLOT", slot, "NODE", toID)
	must(from, "CLUSTER", "SETSLOT", slot, "NODE", toID)
	for _, m := range c.Masters {
		if m != from && m != to {
			must(m, "CLUSTER", "SETSLOT", slot, "NODE", toID)
		}
	}
}

// TestFault_SlotMoved: a partition's slot moves to another master of a
// Cluster while a node follows two of its topics: the old master drops
// the node's shard channels (sunsubscribe), which the node tells from
// the unsubscribes it asks for itself. It subscribes again on the new
// master, and its subscribers get what another node publishes there:
// after the resync signal, since a slot that changes master starts a new
// epoch (see Histories that go back), never a silent gap.
func TestFault_SlotMoved(t *testing.T) {
	c := redistest.StartCluster(t)
	ev := &nodeEvents{}
	opts := fastChecks
	opts.Prefix = newPrefix()
	sub := startNode(t, "sub", &opts, ev, c.Addrs()...)
	pub := startNode(t, "pub", &opts, ev, c.Addrs()...)
	part := sub.eng.Partition("a")
	other := "" // a second topic of a's partition
	for i := 0; other == ""; i++ {
		if topic := "b" + strconv.Itoa(i); sub.eng.Partition(topic) == part {
			other = topic
		}
	}
	feeds := []*feed{openFeed(t, sub, kindWS, []string{"a"}, ""), openFeed(t, sub, kindSSERaw, []string{other}, "")}
	publishAll(t, pub, "a", "1", "2")
	publishAll(t, pub, other, "x1")
	feeds[0].expect(t, "1", "2")
	feeds[1].expect(t, "x1")

	key := fredis.MetaKey(sub.eng, part)
	slot, err := c.Masters[0].Do("CLUSTER", "KEYSLOT", key)
	if err != nil {
		t.Fatal(err)
	}
	from := c.MasterOf(t, key)
	to := c.Masters[0]
	if to == from {
		to = c.Masters[1]
	}
	before := sub.eng.Stats().Reconnects
	moveSlot(t, c, strconv.FormatInt(slot.(int64), 10), from, to)
	eventually(t, func() bool { st := sub.eng.Stats(); return st.Reconnects > before && st.Following == 1 },
		"the node noticed its channels dropped and subscribed again")
	for _, f := range feeds {
		f.expectResync(t)
	}
	publishAll(t, pub, "a", "3", "4")
	publishAll(t, pub, other, "x2")
	feeds[0].expect(t, "3", "4")
	feeds[1].expect(t, "x2")
}
