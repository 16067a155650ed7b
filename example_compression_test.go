package fanout_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/coder/websocket"
	"github.com/fanout-go/fanout"
)

// A Hub with Compression compresses each message of 512 bytes or more
// once per publish for every client that offered permessage-deflate;
// smaller ones go out as they are. Stats.Bytes counts what was written.
func ExampleHubOptions_compression() {
	hub := fanout.NewHub(&fanout.HubOptions{Compression: true})
	srv := httptest.NewServer(hub)
	defer srv.Close()
	defer hub.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Browsers offer the extension by themselves; coder/websocket and
	// gorilla/websocket clients ask for it.
	conn, resp, err := websocket.Dial(ctx, srv.URL+"/?topic=quotes", &websocket.DialOptions{
		CompressionMode: websocket.CompressionNoContextTakeover,
	})
	if err != nil {
		panic(err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(1 << 20)
	fmt.Println(resp.Header.Get("Sec-WebSocket-Extensions"))

	big := bytes.Repeat([]byte(`{"symbol":"ACME","price":42.5},`), 1000) // 31,000 bytes
	_ = hub.Publish(ctx, "quotes", fanout.NewMessage(big))
	_ = hub.Publish(ctx, "quotes", fanout.NewMessage([]byte("small")))
	for range 2 {
		_, data, err := conn.Read(ctx)
		if err != nil {
			panic(err)
		}
		fmt.Println(len(data), "bytes read")
	}
	for hub.Stats().Delivered < 2 && ctx.Err() == nil { // counted once the write returned
		time.Sleep(time.Millisecond)
	}
	st := hub.Stats()
	fmt.Println("written: under 1 KB:", st.Bytes < 1000)
	// Output:
	// permessage-deflate; client_no_context_takeover; server_no_context_takeover
	// 31000 bytes read
	// 5 bytes read
	// written: under 1 KB: true
}
