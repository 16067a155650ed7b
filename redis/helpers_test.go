package redis_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/internal/testkit"
	fredis "github.com/fanout-go/fanout/redis"
)

// waitTimeout bounds every wait for a condition in these tests.
const waitTimeout = 30 * time.Second

var prefixes atomic.Int64

// newPrefix returns a key prefix no other test uses, so tests can share
// a server.
func newPrefix() string { return fmt.Sprintf("t%d", prefixes.Add(1)) }

// newClient returns a rueidis client of addrs (a cluster client when
// they are a cluster's), named name (for CLIENT KILL), closed when t ends.
func newClient(t testing.TB, name string, addrs ...string) rueidis.Client {
	t.Helper()
	c, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress:  addrs,
		ClientName:   name,
		DisableCache: true,
	})
	if err != nil {
		t.Fatalf("rueidis.NewClient(%v): %v", addrs, err)
	}
	t.Cleanup(c.Close)
	return c
}

// newEngine returns an engine on a new client of addrs, closed (with its
// client) when t ends.
func newEngine(t testing.TB, name string, opts *fredis.Options, addrs ...string) *fredis.Engine {
	t.Helper()
	c := newClient(t, name, addrs...)
	e, err := fredis.New(c, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

// eventually waits up to waitTimeout for cond, failing t with what.
func eventually(t testing.TB, cond func() bool, what string) {
	t.Helper()
	testkit.Eventually(t, waitTimeout, cond, "%s", what)
}

var _ fanout.Engine = (*fredis.Engine)(nil)
