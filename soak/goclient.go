package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/fanout-go/fanout/client"
)

// goSession runs a client of package client for the whole run: it
// reconnects and resumes by itself, going through every node's URL in
// turn (go-mix: WebSocket and SSE alternately). Its churn is done to the
// TCP connection under it, found through the HTTPClient's dialer: closed,
// or reset, at a random moment.
func (c *soakClient) goSession(ctx context.Context) {
	var live atomic.Pointer[net.TCPConn]
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := dialer.DialContext(ctx, network, addr)
			if err == nil {
				live.Store(conn.(*net.TCPConn))
			}
			return conn, err
		},
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	q := c.query().Encode()
	var urls []string
	for i := range c.sys.nodes {
		addr := c.sys.addr((c.home + i) % len(c.sys.nodes))
		ws, sse := "ws://"+addr+"/ws?"+q, "http://"+addr+"/events?"+q
		switch c.spec.kind {
		case kGoWS:
			urls = append(urls, ws)
		case kGoSSE:
			urls = append(urls, sse)
		default:
			if i%2 == 0 {
				urls = append(urls, ws, sse)
			} else {
				urls = append(urls, sse, ws)
			}
		}
	}
	var connectedAt atomic.Int64
	var connects atomic.Int64
	var lastURL atomic.Pointer[string]
	cl, err := client.New(urls[0], &client.Options{
		URLs:       urls[1:],
		HTTPClient: &http.Client{Transport: tr},
		MinBackoff: 50 * time.Millisecond,
		MaxBackoff: time.Second,
		OnConnect: func(u, _ string) {
			connectedAt.CompareAndSwap(0, monoNow())
			connects.Add(1)
			if pu, err := url.Parse(u); err == nil {
				h := pu.Scheme + "://" + pu.Host
				lastURL.Store(&h)
			}
		},
	})
	if err != nil {
		c.r.rec.other("client", "%s: %v", c.id, err)
		return
	}
	defer cl.Close()
	stop := make(chan struct{})
	defer close(stop)
	if c.spec.churn != churnNone {
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(time.Duration(2000+c.rng.IntN(18000)) * time.Millisecond):
				}
				conn := live.Load()
				if conn == nil || c.r.quiet.Load() {
					continue
				}
				c.endedBy("churn")
				if c.spec.churn == churnReset {
					resetConn(conn)
				} else {
					_ = conn.Close()
				}
			}
		}()
	}
	seen := int64(0)
	lastPause := time.Now()
	for {
		m, err := cl.Next(ctx)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, client.ErrClosed) {
				c.mu.Lock()
				c.r.rec.violation(c.chk, "client-stopped", "package client stopped: %v", err)
				c.mu.Unlock()
			}
			c.mu.Lock()
			c.connects = int(connects.Load())
			c.mu.Unlock()
			return
		}
		now := monoNow()
		c.mu.Lock()
		if n := connects.Load(); n != seen {
			u := ""
			if p := lastURL.Load(); p != nil {
				u = *p
			}
			if seen == 0 {
				c.chk.restart(connectedAt.Load())
				c.chk.event("connect to %s", u)
			} else {
				c.chk.event("reconnected (%d) to %s", n, u)
			}
			seen = n
			c.latFrom = now + int64(2*time.Second)
			if c.spec.read != readFast {
				c.latFrom = 1<<63 - 1
			}
		}
		if m.Resync {
			c.chk.resync(string(m.Data), now)
		} else {
			c.handle(m.Data, now)
		}
		c.lastID = cl.LastEventID()
		c.mu.Unlock()
		c.pause(&lastPause)
	}
}
