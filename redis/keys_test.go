package redis_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fanout-go/fanout"
	fredis "github.com/fanout-go/fanout/redis"
	"github.com/fanout-go/fanout/redis/internal/redistest"
)

// TestKeys_EveryKeyBounded: after publishes, a broadcast, subscriptions
// and presence on 4 partitions, every key the engine created expires:
// within PresenceTTL, except each partition's meta hash, stream and
// topic index (whose number is fixed and whose size HistorySize
// bounds), within HistoryAge and a quarter. The MEMORY USAGE of each
// kind of key is logged.
func TestKeys_EveryKeyBounded(t *testing.T) {
	srv := redistest.Start(t)
	prefix := newPrefix()
	e, _ := started(t, &fredis.Options{Prefix: prefix, Partitions: 4, PresenceTTL: 5 * time.Second}, srv.Addr())
	ctx := context.Background()
	var topics []string
	for i := range 20 {
		topics = append(topics, fmt.Sprintf("topic%d", i))
	}
	if err := e.Subscribe(ctx, topics); err != nil {
		t.Fatal(err)
	}
	defer e.Unsubscribe(topics)
	for i, topic := range topics {
		for range 10 {
			if err := e.Publish(ctx, topic, fanout.NewMessage([]byte("0123456789"))); err != nil {
				t.Fatal(err)
			}
		}
		e.Join(topic, fanout.Member{Subscriber: uint64(i + 1), Group: "user", Transport: "websocket"})
	}
	if err := e.Publish(ctx, "", fanout.NewMessage([]byte("all"))); err != nil {
		t.Fatal(err)
	}
	if m, err := e.Presence(ctx, topics[0]); err != nil || len(m) != 1 {
		t.Fatalf("Presence: %v, %v", m, err)
	}

	keys := prefixKeys(t, srv, prefix)
	partition := 0
	logged := map[string]bool{}
	for k, ttl := range keys {
		if partitionKey(k) {
			partition++
			if life := (30 * time.Hour).Milliseconds(); ttl <= 0 || ttl > life {
				t.Errorf("key %s: PTTL %d ms; want an expiry within HistoryAge and a quarter (%d ms)", k, ttl, life)
			}
		} else if ttl <= 0 || ttl > (5*time.Second).Milliseconds() {
			t.Errorf("key %s: PTTL %d ms; want an expiry within PresenceTTL", k, ttl)
		}
		_, kind, _ := strings.Cut(k, "}:")
		kind, _, _ = strings.Cut(kind, ":")
		if !logged[kind] {
			logged[kind] = true
			n, _ := srv.Do("MEMORY", "USAGE", k)
			t.Logf("%s (e.g. %s): PTTL %d ms, MEMORY USAGE %v bytes", kind, k, ttl, n)
		}
	}
	if partition > 4*4 {
		t.Errorf("%d partition keys; want at most a meta hash, a stream and an index's two sets per partition (16)", partition)
	}
}
