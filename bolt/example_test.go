package bolt_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	sse "github.com/tmaxmax/go-sse"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/bolt"
)

// A client that reconnects after a restart with the ID of the last message
// it received gets what it missed: what was published before the restart,
// and after it, before the client came back.
func Example() {
	dir, err := os.MkdirTemp("", "fanout-bolt")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "fanout.db")
	ctx := context.Background()

	// The first life of the server.
	store, err := bolt.Open(path, nil)
	if err != nil {
		log.Fatal(err)
	}
	broker := fanout.NewBroker(&fanout.BrokerOptions{Replay: store})
	srv := httptest.NewServer(broker)
	resp := get(srv.URL+"/?topic=news", "")
	_ = broker.Publish(ctx, "news", fanout.NewMessage([]byte("one")))
	lastID := ""
	for ev := range events(resp, 1) {
		fmt.Println("first life:", ev.Data)
		lastID = ev.LastEventID
	}
	resp.Body.Close() // the client goes away
	_ = broker.Publish(ctx, "news", fanout.NewMessage([]byte("two")))
	_ = broker.Publish(ctx, "news", fanout.NewMessage([]byte("three")))
	_ = broker.Close()
	srv.Close()
	_ = store.Close()

	// The second life, on the same file.
	store, err = bolt.Open(path, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	broker = fanout.NewBroker(&fanout.BrokerOptions{Replay: store})
	defer broker.Close()
	srv = httptest.NewServer(broker)
	defer srv.Close()
	_ = broker.Publish(ctx, "news", fanout.NewMessage([]byte("four")))

	resp = get(srv.URL+"/?topic=news", lastID) // the client comes back
	defer resp.Body.Close()
	for ev := range events(resp, 3) {
		fmt.Println("resumed:", ev.Data)
	}
	// Output:
	// first life: one
	// resumed: two
	// resumed: three
	// resumed: four
}

// get opens an event stream at url, resuming after lastID if it is set.
func get(url, lastID string) *http.Response {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		log.Fatal(err)
	}
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	return resp
}

// events yields the next n messages of resp's stream, skipping the
// position event a new stream starts with.
func events(resp *http.Response, n int) func(yield func(sse.Event) bool) {
	return func(yield func(sse.Event) bool) {
		for ev, err := range sse.Read(resp.Body, nil) {
			if err != nil {
				log.Fatal(err)
			}
			if ev.Type == fanout.PositionEvent {
				continue
			}
			if !yield(ev) {
				return
			}
			if n--; n == 0 {
				return
			}
		}
	}
}
