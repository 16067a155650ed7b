package enginetest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/fanout-go/fanout"
)

// testNodes: with several nodes on one backend, every node's feed carries
// every node's publishes, in one order per partition, with the same
// positions; reads and heads agree across nodes.
func testNodes(t *testing.T, h Harness) {
	if h.Nodes < 2 {
		t.Skip("one node per backend")
	}
	nodes := start(t, h, h.Nodes)
	ctx := ctxFor(t, h)
	for _, n := range nodes {
		subscribe(t, ctx, n, "a", "b")
	}
	const each = 30
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() {
			for k := range each {
				if err := n.Publish(ctx, []string{"a", "b"}[k%2], fanout.NewMessage(fmt.Appendf(nil, "%d/%d", i, k))); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	total := each * len(nodes)
	first := byPartition(nodes[0].feed.Wait(t, total, h.Timeout))
	checkDense(t, nodes[0].feed.Deliveries())
	for i, n := range nodes[1:] {
		got := byPartition(n.feed.Wait(t, total, h.Timeout))
		for p, ds := range got {
			for k := range ds {
				if k >= len(first[p]) || ds[k].Message.ID() != first[p][k].Message.ID() || string(ds[k].Message.Data()) != string(first[p][k].Message.Data()) {
					t.Fatalf("node %d's delivery %d of partition %d is %s %q, not node 0's: one order for all", i+1, k, p,
						ds[k].Message.ID(), ds[k].Message.Data())
				}
			}
		}
	}
	for p, ds := range first {
		last := ds[len(ds)-1].Message.Position()
		for i, n := range nodes {
			head, err := n.Head(ctx, p)
			if err != nil || head.Offset < last.Offset || !head.SameLog(last) {
				t.Errorf("node %d: Head = %s, %v; the last delivery was at %s", i, head.ID(), err, last.ID())
			}
		}
	}
}

// byPartition splits ds by partition, keeping their order.
func byPartition(ds []Delivery) map[int][]Delivery {
	m := map[int][]Delivery{}
	for _, d := range ds {
		p := d.Message.Position().Partition
		m[p] = append(m[p], d)
	}
	return m
}
