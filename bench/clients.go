package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// A fleet is one run's subscribers: real clients on loopback, in this
// process. WebSocket clients are coder/websocket connections reading each
// message into a reused buffer; SSE clients are plain net/http requests
// whose bodies are read line by line. Neither allocates per message (see
// TestClients_DoNotAllocate), so the run's allocation counts are the
// server's, plus the publisher's one payload per message.
type fleet struct {
	transport transport
	raw       bool // -wsclient raw
	size      int
	want      int64 // measured messages each client expects
	clients   []*client
	httpc     *http.Client
	ctx       context.Context
	cancel    context.CancelFunc

	tallies
	readers sync.WaitGroup

	mu    sync.Mutex
	conns []io.Closer
}

// client is one subscriber's receiving end.
type client struct {
	tally
	next int // next expected sequence number; reader only
}

// newFleet prepares n clients; samples provides their latency buffers.
func newFleet(t transport, n, size, want int, samples []int64) *fleet {
	ctx, cancel := context.WithCancel(context.Background())
	f := &fleet{
		transport: t, size: size, want: int64(want),
		clients: make([]*client, n),
		httpc: &http.Client{Transport: &http.Transport{
			DisableCompression:  true,
			MaxIdleConnsPerHost: -1,
		}},
		ctx: ctx, cancel: cancel,
	}
	members := make([]*tally, n)
	for i := range f.clients {
		f.clients[i] = &client{tally: tally{lat: samples[i*want : i*want : (i+1)*want]}}
		members[i] = &f.clients[i].tally
	}
	f.init(members)
	return f
}

// connect starts every client, dialing at most par at a time, and returns
// once every dial was sent (WebSocket: handshake done; SSE: request
// written, since go-sse answers only with its first event).
func (f *fleet) connect(url string, par int) error {
	sem := make(chan struct{}, par)
	errs := make(chan error, len(f.clients))
	var started sync.WaitGroup
	for _, c := range f.clients {
		sem <- struct{}{}
		started.Add(1)
		var once sync.Once
		release := func() { once.Do(func() { <-sem; started.Done() }) }
		f.readers.Add(1)
		go func() {
			defer f.readers.Done()
			defer f.finish(&c.tally)
			var err error
			if f.transport == ws {
				err = f.readWS(url, c, release)
			} else {
				err = f.readSSE(url, c, release)
			}
			release()
			if err != nil {
				errs <- err
			}
		}()
	}
	started.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

func (f *fleet) readWS(url string, c *client, dialed func()) error {
	if f.raw {
		return f.readRawWS(url, c, dialed)
	}
	ctx, cancel := context.WithTimeout(f.ctx, 30*time.Second)
	conn, _, err := websocket.Dial(ctx, "ws"+url, &websocket.DialOptions{HTTPClient: f.httpc})
	cancel()
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	conn.SetReadLimit(int64(f.size) + 1024)
	f.keep(closeNow{conn})
	dialed()
	buf := make([]byte, f.size+1)
	bg := context.Background() // no Done channel: coder sets no timer per read
	for {
		_, r, err := conn.Reader(bg)
		if err != nil {
			return nil
		}
		n, err := io.ReadFull(r, buf)
		switch err {
		case io.ErrUnexpectedEOF, io.EOF:
			c.receive(f, buf[:n])
		case nil: // longer than any payload
			c.malformed.Add(1)
			if _, err := io.Copy(io.Discard, r); err != nil {
				return nil
			}
		default:
			return nil
		}
	}
}

func (f *fleet) readRawWS(url string, c *client, dialed func()) error {
	addr, path, _ := strings.Cut(strings.TrimPrefix(url, "://"), "/")
	conn, err := dialRawWS(addr, "/"+path)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	f.keep(conn.conn)
	dialed()
	buf := make([]byte, f.size+1)
	for {
		p, err := conn.next(buf)
		if err != nil {
			return nil
		}
		c.receive(f, p)
	}
}

// closeNow closes a coder/websocket connection without a handshake.
type closeNow struct{ c *websocket.Conn }

func (c closeNow) Close() error { return c.c.CloseNow() }

// keep remembers a connection for close.
func (f *fleet) keep(c io.Closer) {
	f.mu.Lock()
	f.conns = append(f.conns, c)
	f.mu.Unlock()
}

func (f *fleet) readSSE(url string, c *client, wrote func()) error {
	trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { wrote() }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(f.ctx, trace), http.MethodGet, "http"+url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := f.httpc.Do(req)
	if err != nil {
		if f.ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("sse request: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("sse request: %s", resp.Status)
	}
	br := bufio.NewReaderSize(resp.Body, 32<<10)
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return nil
		}
		data, ok := bytes.CutPrefix(line, []byte("data:"))
		if !ok {
			continue // blank line, comment, id, event, retry
		}
		data = bytes.TrimPrefix(data, []byte(" "))
		data = bytes.TrimRight(data, "\r\n")
		c.receive(f, data)
	}
}

// receive handles one message's payload.
func (c *client) receive(f *fleet, b []byte) {
	d, ok := c.take(b)
	if !ok {
		return
	}
	if d.warm {
		c.warmUp(d.seq)
		return
	}
	t := now()
	if d.seq < c.next {
		c.misorder.Add(1)
	}
	c.next = d.seq + 1
	if c.measured(t, d.due, f.want) {
		f.finish(&c.tally)
	}
}

// close drops every connection and waits for the readers.
func (f *fleet) close() {
	f.cancel()
	f.mu.Lock()
	for _, c := range f.conns {
		_ = c.Close()
	}
	f.mu.Unlock()
	waitAtMost(&f.readers, 10*time.Second)
	f.httpc.CloseIdleConnections()
}
