package redis_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"

	"github.com/coder/websocket"
	"github.com/redis/rueidis"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/redis"
)

// Two nodes share one Redis: a client connected to node B receives what
// node A publishes. In an application each process makes one node; here
// both run in one process, on loopback servers.
func Example() {
	addr := exampleRedisAddr // "localhost:6379" in an application

	newNode := func() (*fanout.Hub, *httptest.Server, func()) {
		client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}})
		if err != nil {
			panic(err)
		}
		eng, err := redis.New(client, &redis.Options{Prefix: "example"})
		if err != nil {
			panic(err)
		}
		hub := fanout.NewHub(&fanout.HubOptions{Engine: eng}) // the Hub closes the engine
		srv := httptest.NewServer(hub)
		return hub, srv, func() { _ = hub.Close(); srv.Close(); client.Close() }
	}
	hubA, _, closeA := newNode()
	defer closeA()
	_, srvB, closeB := newNode()
	defer closeB()

	ctx := context.Background()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srvB.URL, "http")+"?topic=prices", nil)
	if err != nil {
		panic(err)
	}
	defer conn.CloseNow()

	if err := hubA.Publish(ctx, "prices", fanout.NewMessage([]byte("AAPL 187.12"))); err != nil {
		panic(err)
	}
	_, msg, err := conn.Read(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(msg))
	// Output: AAPL 187.12
}
