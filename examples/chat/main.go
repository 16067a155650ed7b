// Command chat is a browser chat room served by a fanout Hub over
// WebSocket and, through a Broker attached to the same Hub, over
// Server-Sent Events: the server of package room, on a listener of its own.
//
//	go run ./examples/chat            # then open http://localhost:8080
//	go run ./examples/chat -addr :9000
//	go run ./examples/chat -compress  # permessage-deflate for browsers that offer it
//
// Each browser tab shows the room named by ?topic= (default "lobby") twice,
// side by side: over a WebSocket at /ws and over an EventSource at /events.
// See package room for the page's options and the endpoints.
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/fanout-go/fanout/examples/chat/room"
)

func main() {
	addr := flag.String("addr", "localhost:8080", "address to listen on")
	compress := flag.Bool("compress", false, "compress messages of 512 bytes and more (permessage-deflate) for browsers that offer it")
	flag.Parse()
	options.Compression = *compress

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr); err != nil {
		log.Fatal(err)
	}
}

// run serves the chat on addr until ctx ends, then shuts down gracefully.
func run(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return serve(ctx, ln)
}

// options configures the chat that serve serves.
var options room.Options

// serve serves the chat on ln until ctx ends, then shuts down gracefully.
func serve(ctx context.Context, ln net.Listener) error {
	chat := room.New(&options)
	srv := &http.Server{Handler: chat, ReadHeaderTimeout: 10 * time.Second}
	log.Printf("chat: serving http://%s", ln.Addr())

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		_ = chat.Close() // the SSE streams too
		return err
	case <-ctx.Done():
	}

	log.Print("chat: shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// The chat first: it refuses new subscribers (503), flushes every
	// queue, closes each WebSocket with 1001 (going away) and ends each SSE
	// stream. http.Server does not track hijacked connections, and its
	// Shutdown would wait for SSE handlers still streaming.
	herr := chat.Shutdown(sctx)
	serr := srv.Shutdown(sctx)
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		serr = errors.Join(serr, err)
	}
	return errors.Join(herr, serr)
}
