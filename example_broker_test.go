package fanout_test

import (
	"context"
	"fmt"
	"iter"
	"net/http"
	"net/http/httptest"
	"net/url"
	"time"

	"github.com/coder/websocket"
	"github.com/fanout-go/fanout"
	sse "github.com/tmaxmax/go-sse"
)

// exampleStream opens an SSE stream, resuming after lastEventID if set,
// and returns a function that reads its next event (with go-sse's parser).
// Headers are flushed as soon as the client is subscribed, so this returns
// once it is.
func exampleStream(ctx context.Context, url, lastEventID string) (next func() sse.Event, stop func()) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	pull, stopPull := iter.Pull2(sse.Read(resp.Body, nil))
	next = func() sse.Event {
		for {
			ev, err, ok := pull()
			if err != nil || !ok {
				return sse.Event{Data: fmt.Sprint("stream ended: ", err)}
			}
			if ev.Type == fanout.PositionEvent {
				continue // the stream's position, which browsers dispatch to no onmessage handler
			}
			return ev
		}
	}
	return next, func() { stopPull(); resp.Body.Close() }
}

func ExampleBroker() {
	broker := fanout.NewBroker(nil) // nil: defaults
	mux := http.NewServeMux()
	mux.Handle("/events", broker) // new EventSource("/events?topic=news")
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer broker.Close() // before srv.Close, which waits for open streams

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	next, stop := exampleStream(ctx, srv.URL+"/events?topic=news", "")
	defer stop()

	_ = broker.Publish(ctx, "news", fanout.NewMessage([]byte("hello\nworld")))
	_ = broker.Publish(ctx, "news", fanout.NewMessage([]byte("42")).WithEvent("answer"))
	for range 2 {
		ev := next()
		fmt.Printf("event=%q data=%q\n", ev.Type, ev.Data)
	}
	// Output:
	// event="" data="hello\nworld"
	// event="answer" data="42"
}

// A client that reconnects with the last ID it received gets exactly what
// it missed. EventSource does this by itself, sending Last-Event-ID.
func ExampleNewRing() {
	broker := fanout.NewBroker(&fanout.BrokerOptions{
		Replay: fanout.NewRing(&fanout.RingOptions{Size: 4096}),
	})
	srv := httptest.NewServer(broker)
	defer srv.Close()
	defer broker.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	next, stop := exampleStream(ctx, srv.URL+"?topic=news", "")
	_ = broker.Publish(ctx, "news", fanout.NewMessage([]byte("one")))
	last := next()
	fmt.Println("received:", last.Data)
	stop() // the client goes away; meanwhile:
	_ = broker.Publish(ctx, "news", fanout.NewMessage([]byte("two")))
	_ = broker.Publish(ctx, "sports", fanout.NewMessage([]byte("not subscribed")))
	_ = broker.Publish(ctx, "news", fanout.NewMessage([]byte("three")))

	next, stop = exampleStream(ctx, srv.URL+"?topic=news", last.LastEventID)
	defer stop()
	fmt.Println("replayed:", next().Data)
	fmt.Println("replayed:", next().Data)

	// An ID the store cannot resume from gets a resync signal instead.
	next, stop = exampleStream(ctx, srv.URL+"?topic=news", "from-another-server")
	defer stop()
	ev := next()
	fmt.Println(ev.Type, ev.Data)
	// Output:
	// received: one
	// replayed: two
	// replayed: three
	// fanout.resync unknown
}

// A Broker attached to a Hub serves the Hub's topics over SSE: one Publish
// reaches WebSocket and SSE subscribers alike, with one ID.
func ExampleBrokerOptions_hub() {
	onConnect, connected := exampleConnected(1)
	hub := fanout.NewHub(&fanout.HubOptions{
		OnConnect: onConnect,
		Replay:    fanout.NewRing(nil),
	})
	broker := fanout.NewBroker(&fanout.BrokerOptions{Hub: hub})
	mux := http.NewServeMux()
	mux.Handle("/ws", hub)
	mux.Handle("/events", broker)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer hub.Close() // closes the Broker too

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws := exampleDial(ctx, srv.URL+"/ws?topic=room", &websocket.DialOptions{
		Subprotocols: []string{fanout.ResumeSubprotocol}, // to receive IDs
	})
	defer ws.CloseNow()
	<-connected
	next, stop := exampleStream(ctx, srv.URL+"/events?topic=room", "")
	defer stop()

	_ = hub.Publish(ctx, "room", fanout.NewMessage([]byte("hi, both of you")))

	var wsID string
	for wsID == "" {
		_, frame, _ := ws.Read(ctx)
		_ = fanout.UnpackRecords(frame, func(r fanout.Record) error {
			if !r.Position { // the stream's first record is its position
				fmt.Println("websocket:", string(r.Data))
				wsID = r.ID
			}
			return nil
		})
	}
	ev := next()
	fmt.Println("sse:", ev.Data)
	fmt.Println("same id:", ev.LastEventID == wsID)
	// Output:
	// websocket: hi, both of you
	// sse: hi, both of you
	// same id: true
}

// A WebSocket client that opts in to ResumeSubprotocol receives each
// message's ID, and resumes like an EventSource: by reconnecting with the
// last ID it received.
func ExampleResumeSubprotocol() {
	onConnect, connected := exampleConnected(2)
	hub := fanout.NewHub(&fanout.HubOptions{
		OnConnect: onConnect,
		Replay:    fanout.NewRing(nil),
	})
	srv := httptest.NewServer(hub)
	defer srv.Close()
	defer hub.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resume := &websocket.DialOptions{Subprotocols: []string{fanout.ResumeSubprotocol}}
	var lastID string
	read := func(conn *websocket.Conn) { // until a message arrives
		for got := false; !got; {
			_, frame, _ := conn.Read(ctx) // one packed frame per batch
			_ = fanout.UnpackRecords(frame, func(r fanout.Record) error {
				if !r.Position { // a message; a new stream starts with its position
					fmt.Println("got:", string(r.Data))
					got = true
				}
				lastID = r.ID // where to resume from, position or message
				return nil
			})
		}
	}

	conn := exampleDial(ctx, srv.URL+"?topic=news", resume)
	<-connected
	_ = hub.Publish(ctx, "news", fanout.NewMessage([]byte("one")))
	read(conn)
	conn.CloseNow() // the client goes away; meanwhile:
	_ = hub.Publish(ctx, "news", fanout.NewMessage([]byte("two")))

	conn = exampleDial(ctx, srv.URL+"?topic=news&lastEventId="+url.QueryEscape(lastID), resume)
	defer conn.CloseNow()
	<-connected
	read(conn)
	// Output:
	// got: one
	// got: two
}
