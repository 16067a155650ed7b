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

// dials bounds the dials of a client child (64 at a time) and counts
// their outcomes for its hello.
type dials struct {
	sem   chan struct{}
	mu    sync.Mutex
	hello clientHello
}

func newDials() *dials { return &dials{sem: make(chan struct{}, 64)} }

// start waits for a free slot; the dial's goroutine calls end once the
// dial is done.
func (d *dials) start() { d.sem <- struct{}{} }

func (d *dials) end() { <-d.sem }

// count notes a dial's outcome.
func (d *dials) count(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err == nil {
		d.hello.Connected++
		return
	}
	d.hello.Failed++
	if d.hello.Err == "" {
		d.hello.Err = err.Error()
	}
}

// reply waits for every dial to end, then sends the hello.
func (d *dials) reply() error {
	for range cap(d.sem) {
		d.sem <- struct{}{}
	}
	d.mu.Lock()
	h := d.hello
	d.mu.Unlock()
	return harness.Reply(h)
}

// idleClient is the client child of -idle: it opens n connections to url
// (ws://, wss://, http:// or https://), keeps them open, reading (so that
// pings are answered), reports how many it opened, and exits when its
// standard input closes. WebSocket clients are coder/websocket's; SSE
// clients are net/http requests, over HTTP/2 with h2 (each on a
// connection of its own). Over TLS neither verifies the server's
// certificate (it is made up on the spot; see selfSignedTLS).
func idleClient(url string, n int, h2 bool) error {
	if msg := raiseFileLimit(uint64(n) + 256); msg != "" {
		return harness.Reply(clientHello{Err: msg})
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	newClient := func(h2 bool) *http.Client {
		return &http.Client{Transport: &http.Transport{
			DisableCompression: true,
			TLSClientConfig:    &tls.Config{InsecureSkipVerify: true}, // a certificate made up by the server child
			ForceAttemptHTTP2:  h2,                                    // with a TLSClientConfig of its own, only when forced
		}}
	}
	httpc := newClient(false) // WebSocket clients offer HTTP/1.1 only
	d := newDials()
	for range n {
		d.start()
		if strings.HasPrefix(url, "ws") {
			go func() {
				defer d.end()
				c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: httpc})
				d.count(err)
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
			release := func(err error) { once.Do(func() { d.count(err); d.end() }) }
			trace := &httptrace.ClientTrace{WroteRequest: func(i httptrace.WroteRequestInfo) { release(i.Err) }}
			req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, url, nil)
			req.Header.Set("Accept", "text/event-stream")
			c := httpc
			if h2 {
				// One connection per stream, as each browser has its own:
				// a shared Transport would put up to 250 streams on one.
				c = newClient(true)
			}
			resp, err := c.Do(req)
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
	if err := d.reply(); err != nil {
		return err
	}
	return harness.ServeCommands(func(cmd string, _ []string) any {
		return map[string]string{"err": fmt.Sprintf("unknown command %s", cmd)}
	})
}
