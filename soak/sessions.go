package main

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fanout-go/fanout"
)

// wsSession is one raw WebSocket connection.
func (c *soakClient) wsSession(ctx context.Context, addr string) error {
	proto := map[kind]string{kWSResume: fanout.ResumeSubprotocolV2, kWSPacked: fanout.PackedSubprotocolV2}[c.spec.kind]
	c.mu.Lock()
	q := c.query()
	resumed := c.spec.kind == kWSResume && c.lastID != ""
	if resumed {
		q.Set("lastEventId", c.lastID)
	}
	c.mu.Unlock()
	conn, err := dialWS(ctx, addr, "/ws?"+q.Encode(), proto, c.rcvbuf())
	if err != nil {
		return fmt.Errorf("%w: %v", errDialed, err)
	}
	if conn.protocol != proto {
		conn.tc.Close()
		c.r.rec.other("protocol", "%s: the node selected %q, not %q", c.id, conn.protocol, proto)
		return errDialed
	}
	c.mu.Lock()
	c.connected(addr, resumed)
	c.mu.Unlock()
	churned, end := c.behaveDuring(ctx, conn.tc, conn.closeNormally,
		func(verb, topic string) error { return conn.write(0x1, []byte(verb+" "+topic)) })
	defer end()
	lastPause := time.Now()
	for {
		_, p, err := conn.next()
		if err != nil {
			if churned.Load() {
				return errChurn
			}
			if why, ok := plainResync(err); ok && c.spec.kind == kWSPlain {
				c.mu.Lock()
				c.chk.resync(why+" (plain: close 1012)", monoNow())
				c.mu.Unlock()
			}
			return err
		}
		now := monoNow()
		c.mu.Lock()
		if c.spec.kind == kWSPlain {
			c.handle(p, now)
		} else {
			err = fanout.UnpackRecords(p, func(r fanout.Record) error {
				switch {
				case r.Position:
					c.lastID = r.ID
				case r.Resync:
					c.chk.resync(string(r.Data), now)
				default:
					c.handle(r.Data, now)
					if r.ID != "" {
						c.lastID = r.ID
					}
				}
				return nil
			})
			if err != nil {
				c.r.rec.violation(c.chk, "malformed", "frame: %v", err)
			}
		}
		c.mu.Unlock()
		c.pause(&lastPause)
	}
}

// sseSession is one raw SSE connection.
func (c *soakClient) sseSession(ctx context.Context, addr string) error {
	c.mu.Lock()
	q := c.query()
	lastID := c.lastID
	c.mu.Unlock()
	conn, err := dialSSE(ctx, addr, "/events?"+q.Encode(), lastID, c.rcvbuf())
	if err != nil {
		return fmt.Errorf("%w: %v", errDialed, err)
	}
	c.mu.Lock()
	c.connected(addr, lastID != "")
	c.mu.Unlock()
	churned, end := c.behaveDuring(ctx, conn.tc, func() { _ = conn.tc.Close() }, nil)
	defer end()
	lastPause := time.Now()
	var ev sseEvent
	for {
		if err := conn.next(&ev); err != nil {
			if churned.Load() {
				return errChurn
			}
			return err
		}
		now := monoNow()
		c.mu.Lock()
		switch string(ev.event) {
		case "":
			c.handle(ev.data, now)
			if ev.hasID && len(ev.id) > 0 {
				c.lastID = string(ev.id)
			}
		case fanout.PositionEvent:
			c.lastID = string(ev.id)
		case fanout.ResyncEvent:
			c.chk.resync(string(ev.data), now)
		case fanout.CloseEvent:
			c.mu.Unlock()
			return fmt.Errorf("fanout.close %s", ev.data)
		}
		c.mu.Unlock()
		c.pause(&lastPause)
	}
}

// rcvbuf is the receive buffer a session's socket asks for: a slow
// reader's is small, so that what it does not read backs up to the node
// soon (0: the system's default).
func (c *soakClient) rcvbuf() int {
	if c.spec.read == readSlow {
		return 16 << 10
	}
	return 0
}

// behaveDuring runs c.behave while a session reads from tc: its churn
// ends the connection (a reset, or closeConn), and so does ctx's end. It
// returns whether the churn ended it, and end, which the session defers:
// it stops the behaviour, waits for it, and closes tc.
func (c *soakClient) behaveDuring(ctx context.Context, tc *net.TCPConn, closeConn func(), join func(verb, topic string) error) (churned *atomic.Bool, end func()) {
	churned = new(atomic.Bool)
	stop := make(chan struct{})
	var bg sync.WaitGroup
	bg.Go(func() {
		c.behave(stop, func(how churn) {
			churned.Store(true)
			if how == churnReset {
				resetConn(tc)
			} else {
				closeConn()
			}
		}, join)
	})
	stopCtx := context.AfterFunc(ctx, closeConn)
	return churned, func() {
		stopCtx()
		close(stop)
		bg.Wait()
		_ = tc.Close()
	}
}
