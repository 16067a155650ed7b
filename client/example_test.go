package client_test

import (
	"context"
	"fmt"
	"log"
	"net/http/httptest"
	"strings"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/client"
)

// A client of a Hub: it offers the resume subprotocol, so each message
// comes with its ID, event type and topic, and the client would resume
// from the last one after a disconnection.
func Example() {
	ctx := context.Background()
	hub := fanout.NewHub(&fanout.HubOptions{Replay: fanout.NewRing(nil)})
	defer hub.Close()
	srv := httptest.NewServer(hub)
	defer srv.Close()

	connected := make(chan string, 1)
	c, err := client.New("ws"+strings.TrimPrefix(srv.URL, "http")+"?topic=prices", &client.Options{
		OnConnect: func(url, subprotocol string) { connected <- subprotocol },
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	fmt.Println("connected with", <-connected) // subscribed: what is published now reaches it

	_ = hub.Publish(ctx, "prices", fanout.NewMessage([]byte(`{"bid":101}`)).WithEvent("quote"))
	m, err := c.Next(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Event, m.Topic, string(m.Data), m.ID == c.LastEventID())
	// Output:
	// connected with fanout.resume.v2
	// quote prices {"bid":101} true
}

// A client of a Broker, over Server-Sent Events: the same API; events
// carry their ID and event type, but no topic.
func Example_sse() {
	ctx := context.Background()
	broker := fanout.NewBroker(&fanout.BrokerOptions{Replay: fanout.NewRing(nil)})
	defer broker.Close()
	srv := httptest.NewServer(broker)
	defer srv.Close()

	connected := make(chan struct{}, 1)
	c, err := client.New(srv.URL+"?topic=news", &client.Options{
		OnConnect: func(string, string) { connected <- struct{}{} },
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	<-connected

	_ = broker.Publish(ctx, "news", fanout.NewMessage([]byte("hello")))
	_ = broker.Publish(ctx, "news", fanout.NewMessage([]byte("line one\nline two")).WithEvent("story"))
	for range 2 {
		m, err := c.Next(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%q %q (an ID: %v)\n", m.Event, m.Data, m.ID != "")
	}
	// Output:
	// "" "hello" (an ID: true)
	// "story" "line one\nline two" (an ID: true)
}

// A client that resumes from an ID the server no longer knows (evicted,
// or from before a restart) gets a resync, then live messages: the
// application reloads its state rather than miss messages silently.
func Example_resync() {
	ctx := context.Background()
	hub := fanout.NewHub(&fanout.HubOptions{Replay: fanout.NewRing(nil)})
	defer hub.Close()
	srv := httptest.NewServer(hub)
	defer srv.Close()

	connected := make(chan struct{}, 1)
	c, err := client.New("ws"+strings.TrimPrefix(srv.URL, "http")+"?topic=room", &client.Options{
		LastEventID: "gone-42", // saved by an earlier run
		OnConnect:   func(string, string) { connected <- struct{}{} },
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	<-connected

	_ = hub.Publish(ctx, "room", fanout.NewMessage([]byte("live")))
	for range 2 {
		m, err := c.Next(ctx)
		if err != nil {
			log.Fatal(err)
		}
		if m.Resync {
			fmt.Println("resync:", string(m.Data)) // reload the state here
			continue
		}
		fmt.Println(string(m.Data))
	}
	// Output:
	// resync: unknown
	// live
}

// An application that saves LastEventID, and starts its next client with
// it, misses nothing while it is away.
func ExampleClient_LastEventID() {
	ctx := context.Background()
	hub := fanout.NewHub(&fanout.HubOptions{Replay: fanout.NewRing(nil)})
	defer hub.Close()
	srv := httptest.NewServer(hub)
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "?topic=room"

	connected := make(chan struct{}, 1)
	c, err := client.New(url, &client.Options{OnConnect: func(string, string) { connected <- struct{}{} }})
	if err != nil {
		log.Fatal(err)
	}
	<-connected
	_ = hub.Publish(ctx, "room", fanout.NewMessage([]byte("one")))
	m, err := c.Next(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("first run:", string(m.Data))
	saved := c.LastEventID()
	c.Close()

	_ = hub.Publish(ctx, "room", fanout.NewMessage([]byte("two"))) // while no client runs

	c, err = client.New(url, &client.Options{LastEventID: saved})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	m, err = c.Next(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("next run:", string(m.Data))
	// Output:
	// first run: one
	// next run: two
}
