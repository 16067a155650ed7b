package main

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// coderChat is coder/websocket's chat example: subscribers in a map under a
// mutex, each with a buffered channel (16 messages in the example) drained
// by its handler goroutine with one Write per message, each under a 5s
// timeout context; a subscriber whose channel is full is closed with
// StatusPolicyViolation. The example's publish rate limiter guards its HTTP
// publish endpoint, which the benchmark does not have, so it is left out.
type coderChat struct {
	queue int

	mu   sync.Mutex
	subs map[*coderSub]struct{}

	done     chan struct{}
	handlers sync.WaitGroup
	once     sync.Once
}

type coderSub struct {
	msgs      chan []byte
	closeSlow func()
}

func newCoderChat(o peerOptions) server {
	cs := &coderChat{queue: o.Queue, subs: make(map[*coderSub]struct{}), done: make(chan struct{})}
	if cs.queue <= 0 {
		cs.queue = 16
	}
	return cs
}

func (cs *coderChat) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cs.handlers.Add(1)
	defer cs.handlers.Done()
	_ = cs.subscribe(r.Context(), w, r)
}

func (cs *coderChat) subscribe(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	var mu sync.Mutex
	var c *websocket.Conn
	var closed bool
	s := &coderSub{
		msgs: make(chan []byte, cs.queue),
		closeSlow: func() {
			mu.Lock()
			defer mu.Unlock()
			closed = true
			if c != nil {
				c.Close(websocket.StatusPolicyViolation, "connection too slow to keep up with messages")
			}
		},
	}
	cs.add(s)
	defer cs.remove(s)

	c2, err := websocket.Accept(w, r, nil)
	if err != nil {
		return err
	}
	mu.Lock()
	if closed {
		mu.Unlock()
		return net.ErrClosed
	}
	c = c2
	mu.Unlock()
	defer c.CloseNow()

	ctx = c.CloseRead(ctx)
	for {
		select {
		case msg := <-s.msgs:
			if err := coderWriteTimeout(ctx, 5*time.Second, c, msg); err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		case <-cs.done: // the benchmark's teardown; the example has none
			return net.ErrClosed
		}
	}
}

func coderWriteTimeout(ctx context.Context, timeout time.Duration, c *websocket.Conn, msg []byte) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return c.Write(ctx, websocket.MessageText, msg)
}

func (cs *coderChat) Publish(b []byte) error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for s := range cs.subs {
		select {
		case s.msgs <- b:
		default:
			go s.closeSlow()
		}
	}
	return nil
}

func (cs *coderChat) add(s *coderSub) {
	cs.mu.Lock()
	cs.subs[s] = struct{}{}
	cs.mu.Unlock()
}

func (cs *coderChat) remove(s *coderSub) {
	cs.mu.Lock()
	delete(cs.subs, s)
	cs.mu.Unlock()
}

func (cs *coderChat) Subscribers() int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return len(cs.subs)
}

func (cs *coderChat) Close() {
	cs.once.Do(func() { close(cs.done) })
	cs.handlers.Wait()
}
