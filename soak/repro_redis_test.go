package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/client"
	"github.com/fanout-go/fanout/redis"
)

// TestRepro_RedisFailedPublishStoredLater reproduces what the soak found
// under CPU starvation: a Publish on the Redis engine that fails with its
// context's deadline can still be stored and delivered, after a later
// Publish of the same goroutine that succeeded. rueidis queues each
// command on one of its pipelined connections at random (2 on a 2-core
// machine); a deadline abandons the wait, not the command, which is
// written and run when its connection moves again. Here the connection
// that carries the first message is frozen (by a proxy) until the next
// Publish, on the other connection, has succeeded. Subscribers then get
// the second message before the first, whose Publish said it failed. It
// runs with FANOUT_REPRO=1.
func TestRepro_RedisFailedPublishStoredLater(t *testing.T) {
	if os.Getenv("FANOUT_REPRO") == "" {
		t.Skip("a reproduction for the library: FANOUT_REPRO=1 runs it")
	}
	rs, err := startRedis()
	if err != nil {
		t.Skip(err)
	}
	defer rs.stop()
	fp := startFreezeProxy(t, rs.addr(), []byte("FIRST"))
	rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{fp.ln.Addr().String()}, PipelineMultiplex: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	eng, err := redis.New(rc, nil)
	if err != nil {
		t.Fatal(err)
	}
	hub := fanout.NewHub(&fanout.HubOptions{Engine: eng})
	defer hub.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go http.Serve(ln, hub)
	sub, err := client.New("ws://"+ln.Addr().String()+"/?topic=t", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	for hub.Len() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	publish := func(s string, d time.Duration) error {
		ctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		return hub.Publish(ctx, "t", fanout.NewMessage([]byte(s)))
	}
	if err := publish("before", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	errFirst := publish("FIRST", 300*time.Millisecond) // its connection freezes: the deadline passes
	t.Logf("Publish(FIRST): %v", errFirst)
	if !errors.Is(errFirst, context.DeadlineExceeded) {
		t.Fatalf("want the deadline: %v", errFirst)
	}
	var second string
	for i := range 20 { // the same goroutine goes on; a message that takes the other connection is stored
		s := "second-" + string(rune('a'+i))
		if err := publish(s, 300*time.Millisecond); err == nil {
			second = s
			break
		}
	}
	if second == "" {
		t.Skip("no Publish took the other connection")
	}
	fp.thaw()
	if err := publish("after", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	var got []string
	wait := 10 * time.Second
	for { // until "after", then whatever comes within 500ms
		rctx, cancel := context.WithTimeout(ctx, wait)
		m, err := sub.Next(rctx)
		cancel()
		if err != nil {
			if slices.Contains(got, "after") {
				break
			}
			t.Fatalf("after %v: %v", got, err)
		}
		got = append(got, string(m.Data))
		if string(m.Data) == "after" {
			wait = 500 * time.Millisecond
		}
	}
	t.Logf("received, in order: %v", got)
	for i, s := range got {
		if s == "FIRST" {
			t.Errorf("FIRST, whose Publish failed (%v), was delivered, at %d of %v, after %s", errFirst, i, got, second)
		}
	}
}

// freezeProxy forwards to a server and freezes, until thaw, the
// connection on which the client sends marker.
type freezeProxy struct {
	ln     net.Listener
	frozen atomic.Bool
	mu     sync.Mutex
	cond   *sync.Cond
}

func startFreezeProxy(t *testing.T, target string, marker []byte) *freezeProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &freezeProxy{ln: ln}
	p.cond = sync.NewCond(&p.mu)
	t.Cleanup(func() { ln.Close(); p.thaw() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			go p.pipe(c, s, marker)
			go p.pipe(s, c, nil)
		}
	}()
	return p
}

func (p *freezeProxy) thaw() {
	p.mu.Lock()
	p.frozen.Store(false)
	p.cond.Broadcast()
	p.mu.Unlock()
}

func (p *freezeProxy) pipe(src, dst net.Conn, marker []byte) {
	defer src.Close()
	defer dst.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && marker != nil && bytes.Contains(buf[:n], marker) {
			p.frozen.Store(true)
			p.mu.Lock()
			for p.frozen.Load() {
				p.cond.Wait()
			}
			p.mu.Unlock()
		}
		if n > 0 {
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
