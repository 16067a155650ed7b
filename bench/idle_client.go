package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"

	"github.com/coder/websocket"
	"github.com/fanout-go/fanout/internal/harness"
)

// clientHello is a client child's first line, once every dial is done.
type clientHello struct {
	Connected int    `json:"connected"`
	Failed    int    `json:"failed"`
	Err       string `json:"err,omitempty"` // the first failure
}

// idleClient is the client child of -idle: it opens n connections to url
// (ws://, wss://, http:// or https://), keeps them open, reading (so that
// pings are answered), reports how many it opened, and exits when its
// standard input closes. WebSocket clients are coder/websocket's; SSE
// clients are net/http requests. Over TLS neither verifies the server's
// certificate (it is made up on the spot; see selfSignedTLS).
func idleClient(url string, n int) error {
	if msg := raiseFileLimit(uint64(n) + 256); msg != "" {
		return harness.Reply(clientHello{Err: msg})
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	httpc := &http.Client{Transport: &http.Transport{
		DisableCompression: true,
		TLSClientConfig:    &tls.Config{InsecureSkipVerify: true}, // a certificate made up by the server child
	}}
	sem := make(chan struct{}, 64)
	var mu sync.Mutex
	hello := clientHello{}
	done := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if err == nil {
			hello.Connected++
			return
		}
		hello.Failed++
		if hello.Err == "" {
			hello.Err = err.Error()
		}
	}
	for range n {
		sem <- struct{}{}
		if strings.HasPrefix(url, "ws") {
			go func() {
				defer func() { <-sem }()
				c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: httpc})
				done(err)
				if err == nil {
					c.CloseRead(ctx)
				}
			}()
			continue
		}
		go func() {
			// go-sse answers only with its first event: the next dial goes
			// once this request is on the wire, and it counts as connected
			// then.
			var once sync.Once
			release := func(err error) { once.Do(func() { done(err); <-sem }) }
			trace := &httptrace.ClientTrace{WroteRequest: func(i httptrace.WroteRequestInfo) { release(i.Err) }}
			req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, url, nil)
			req.Header.Set("Accept", "text/event-stream")
			resp, err := httpc.Do(req)
			if err != nil {
				release(err)
				return
			}
			release(nil)
			if resp.StatusCode != http.StatusOK {
				resp.Body.Close()
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}()
	}
	for range cap(sem) {
		sem <- struct{}{}
	}
	mu.Lock()
	h := hello
	mu.Unlock()
	if err := harness.Reply(h); err != nil {
		return err
	}
	return harness.ServeCommands(func(cmd string, _ []string) any {
		return map[string]string{"err": fmt.Sprintf("unknown command %s", cmd)}
	})
}
