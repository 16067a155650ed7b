package redis_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	fredis "github.com/fanout-go/fanout/redis"
	"github.com/fanout-go/fanout/redis/internal/redistest"
)

// TestCluster_PartitionSlots: on a 3-master Cluster (slots split in
// equal ranges by redis-cli --cluster create), the partitions of the
// default 16, and of 64, are spread within one of even over the masters
// (their hash tags {fanout:p} used to cluster: 8, 5 and 3), whatever the
// prefix; the engine's CRC16 agrees with CLUSTER KEYSLOT; and each
// partition's keys are where the engine says (Head writes its meta hash
// there).
func TestCluster_PartitionSlots(t *testing.T) {
	c := redistest.StartCluster(t)
	t.Run("KeySlot", func(t *testing.T) {
		keys := []string{"", "a", "123456789", "{fanout:0}:meta", "{fanout:15}:log", "{}x", "x{}", "{a", "a}", "{}{a}", "a{b}c{d}", "{{a}}", "{fanout:3.17}:t:x"}
		for range 2000 {
			b := make([]byte, rand.IntN(24))
			for i := range b {
				b[i] = "ab{}:.0123456789\x00\xff"[rand.IntN(18)]
			}
			keys = append(keys, string(b))
		}
		for _, k := range keys {
			got, err := c.Masters[0].Do("CLUSTER", "KEYSLOT", k)
			if err != nil {
				t.Fatalf("CLUSTER KEYSLOT %q: %v", k, err)
			}
			if mine := fredis.KeySlot(k); int64(mine) != got.(int64) {
				t.Errorf("slot of %q: %d; CLUSTER KEYSLOT says %d", k, mine, got)
			}
		}
	})
	for parts, prefixes := range map[int][]string{0: {"", "app", "t8"}, 64: {"fanout64", "app64", "t5"}} {
		for _, prefix := range prefixes {
			t.Run(fmt.Sprintf("%s/%d", prefix, parts), func(t *testing.T) {
				e := newEngine(t, "spread", &fredis.Options{Prefix: prefix, Partitions: parts}, c.Addrs()...)
				n := e.Partitions()
				per := map[int]int{}
				for p := range n {
					per[c.MasterOf(t, fredis.MetaKey(e, p)).Port()]++
				}
				lo, hi := n/len(c.Masters), (n+len(c.Masters)-1)/len(c.Masters)
				for _, m := range c.Masters {
					if k := per[m.Port()]; k < lo || k > hi {
						t.Errorf("%d partitions over 3 masters: %v by port; want %d to %d each", n, per, lo, hi)
						break
					}
				}
				for p := range n {
					slot, err := c.Masters[0].Do("CLUSTER", "KEYSLOT", fredis.MetaKey(e, p))
					if want := (2*p + 1) * 16384 / (2 * n); err != nil || slot != int64(want) {
						t.Errorf("partition %d of %d: %s in slot %v (%v); want %d, the middle of its 1/%d of the slots", p, n, fredis.MetaKey(e, p), slot, err, want, n)
					}
					if _, err := e.Head(context.Background(), p); err != nil {
						t.Fatal(err)
					}
					if ok, err := c.MasterOf(t, fredis.MetaKey(e, p)).Do("EXISTS", fredis.MetaKey(e, p)); err != nil || ok != int64(1) {
						t.Fatalf("partition %d's meta hash %q is not on its master: %v %v", p, fredis.MetaKey(e, p), ok, err)
					}
				}
			})
		}
	}
}

// BenchmarkPartitionTags: what New spends on a Cluster computing the
// tags of all the partitions (the default 16, and the most, 1000).
func BenchmarkPartitionTags(b *testing.B) {
	for _, n := range []int{16, 1000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				for p := range n {
					fredis.PartitionTag("fanout", p, n, true)
				}
			}
		})
	}
}

// TestPartitionTag: a Cluster partition's tag is {prefix:p.N} with the
// smallest N whose slot is the middle of the partition's 1/n of the
// slots (found here by computing each candidate's CRC in full); a
// standalone one's is {prefix:p}.
func TestPartitionTag(t *testing.T) {
	for _, c := range []struct {
		prefix string
		p, n   int
	}{{"fanout", 0, 16}, {"fanout", 15, 16}, {"app", 7, 64}, {"", 3, 5}, {"x:y", 999, 1000}, {"fanout", 0, 1}} {
		want := (2*c.p + 1) * 16384 / (2 * c.n)
		tag := ""
		for i := 0; ; i++ {
			if tag = fmt.Sprintf("{%s:%d.%d}", c.prefix, c.p, i); fredis.KeySlot(tag) == want {
				break
			}
		}
		if got := fredis.PartitionTag(c.prefix, c.p, c.n, true); got != tag {
			t.Errorf("PartitionTag(%q, %d, %d) = %s; want %s", c.prefix, c.p, c.n, got, tag)
		}
	}
	if got := fredis.PartitionTag("fanout", 3, 16, false); got != "{fanout:3}" {
		t.Errorf("standalone tag %s; want {fanout:3}", got)
	}
}
