package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/redis/rueidis"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/redis"
)

// -resumers N: what a client that resumes from far back and then does not
// read costs the server. A fanout Hub (with a Broker attached) in this
// process keeps -resume-history messages of -resume-size bytes; N raw
// WebSocket clients (the resume subprotocol, ?lastEventId=) and then N raw
// SSE clients (Last-Event-ID) resume from the start of it, with a 4 KiB
// receive buffer, and never read. Once their writers have stalled, the
// heap they hold is measured (HeapInuse after a GC, minus before they
// connected), per resumer. Then one client that reads resumes the same
// way and must get the whole history, once, with no resync. Over a Ring
// (whose messages every resumer shares) and over the Redis engine on a
// redis-server started for the run (whose every read is a copy, as any
// persistent store's).

type resumeResult struct {
	Engine, Transport string
	PerResumer        int64         // heap bytes per non-reading resumer
	ReadAll           time.Duration // how long the reading client took to get the history
}

func runResume(o options, stdout, progress io.Writer) error {
	fmt.Fprintf(stdout, "%d non-reading resumers per transport, history of %d messages of %d B (%d KiB); %s, GOMAXPROCS=%d\n\n",
		o.resumers, o.resumeHistory, o.resumeSize, o.resumeHistory*o.resumeSize>>10, runtime.Version(), runtime.GOMAXPROCS(0))
	var results []resumeResult
	for _, name := range []string{"ring", "redis"} {
		rs, err := resumeEngine(o, name, progress)
		if errors.Is(err, errNoRedis) {
			fmt.Fprintf(stdout, "%s: skipped (%v)\n", name, err)
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		results = append(results, rs...)
	}
	fmt.Fprintf(stdout, "| engine | transport | heap per non-reading resumer | a reading resumer gets the history in |\n| --- | --- | --- | --- |\n")
	for _, r := range results {
		fmt.Fprintf(stdout, "| %s | %s | %s | %s |\n", r.Engine, r.Transport, fmtBytes(float64(r.PerResumer)), fmtSeconds(r.ReadAll.Seconds()))
	}
	return nil
}

// resumeEngine measures both transports over one engine.
func resumeEngine(o options, name string, progress io.Writer) ([]resumeResult, error) {
	ho := &fanout.HubOptions{
		PingInterval:   -1,
		SendBufferSize: 4096, // the kernel takes little of what a client does not read
		// They stay stalled while measured; the reading client must keep
		// up with its replay, not with a burst of publishes.
		DeliveryOptions: fanout.DeliveryOptions{WriteTimeout: -1},
	}
	var eng fanout.Engine // for its head
	switch name {
	case "ring":
		ring := fanout.NewRing(&fanout.RingOptions{Size: o.resumeHistory})
		ho.Replay, eng = ring, fanout.NewLocalEngine(ring) // not started: Head only
	case "redis":
		srv, err := startRedis()
		if err != nil {
			return nil, err
		}
		defer srv.Stop()
		client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr()}})
		if err != nil {
			return nil, err
		}
		defer client.Close()
		re, err := redis.New(client, &redis.Options{HistorySize: o.resumeHistory})
		if err != nil {
			return nil, err
		}
		ho.Engine, eng = re, re
	}
	subs := make(chan *fanout.Subscriber, 2*o.resumers+1)
	ho.OnConnect = func(s *fanout.Subscriber) { subs <- s }
	hub := fanout.NewHub(ho)
	defer hub.Close()
	broker := fanout.NewBroker(&fanout.BrokerOptions{Hub: hub, OnConnect: ho.OnConnect, Heartbeat: -1})
	mux := http.NewServeMux()
	mux.Handle("/ws", hub)
	mux.Handle("/sse", broker)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	ctx := context.Background()
	start, err := eng.Head(ctx, 0)
	if err != nil {
		return nil, err
	}
	data := []byte(strings.Repeat("h", o.resumeSize))
	for range o.resumeHistory {
		if err := hub.Publish(ctx, "t", fanout.NewMessage(data)); err != nil {
			return nil, err
		}
	}
	addr := srv.Listener.Addr().String()
	var out []resumeResult
	for _, transport := range []string{"ws", "sse"} {
		before := readMem(0).HeapInuse
		var conns []net.Conn
		var held []*fanout.Subscriber
		for range o.resumers {
			c, err := dialResumer(addr, transport, start.ID())
			if err != nil {
				return nil, err
			}
			conns = append(conns, c)
			held = append(held, <-subs)
		}
		if err := awaitStall(held, 30*time.Second); err != nil {
			return nil, err
		}
		after := readMem(0).HeapInuse
		per := (int64(after) - int64(before)) / int64(o.resumers)
		for _, c := range conns {
			_ = c.Close()
		}
		for _, s := range held {
			<-s.Done()
		}
		took, err := readHistory(srv.URL, transport, start.ID(), o.resumeHistory)
		if err != nil {
			return nil, fmt.Errorf("%s: the reading resumer: %w", transport, err)
		}
		<-subs
		fmt.Fprintf(progress, "  %s %s: %s per non-reading resumer; a reading one took %s\n", name, transport, fmtBytes(float64(per)), took)
		out = append(out, resumeResult{Engine: name, Transport: transport, PerResumer: per, ReadAll: took})
	}
	return out, nil
}

// dialResumer opens a subscription to topic t that resumes after lastID
// and never reads, with a 4 KiB receive buffer.
func dialResumer(addr, transport, lastID string) (net.Conn, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	_ = conn.(*net.TCPConn).SetReadBuffer(4096)
	q := url.Values{"topic": {"t"}}
	var req string
	if transport == "ws" {
		q.Set("lastEventId", lastID)
		req = "GET /ws?" + q.Encode() + " HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
			"Sec-WebSocket-Protocol: " + fanout.ResumeSubprotocol + "\r\n\r\n"
	} else {
		req = "GET /sse?" + q.Encode() + " HTTP/1.1\r\nHost: bench\r\nLast-Event-ID: " + lastID + "\r\n\r\n"
	}
	if _, err := conn.Write([]byte(req)); err != nil {
		_ = conn.Close()
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 16), nil)
	if err == nil && resp.StatusCode != http.StatusSwitchingProtocols && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %s", resp.Status)
	}
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	return conn, nil
}

// awaitStall waits until the subscribers' writers have taken and written
// nothing for half a second.
func awaitStall(subs []*fanout.Subscriber, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	last, since := -1, time.Now()
	for time.Since(since) < 500*time.Millisecond {
		if time.Now().After(deadline) {
			return errors.New("the resumers' writers did not stall")
		}
		n := 0
		for _, s := range subs {
			n += s.QueueLen() + int(s.Delivered())
		}
		if n != last {
			last, since = n, time.Now()
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// readHistory resumes after lastID and reads until it got want messages,
// checking that none repeats and no resync comes; it returns how long it
// took.
func readHistory(base, transport, lastID string, want int) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	started := time.Now()
	seen := make(map[string]bool, want)
	got := func(id string, resync bool) error {
		if resync {
			return errors.New("a resync")
		}
		if seen[id] {
			return fmt.Errorf("message %s twice", id)
		}
		seen[id] = true
		return nil
	}
	q := url.Values{"topic": {"t"}, "lastEventId": {lastID}}
	if transport == "ws" {
		conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/ws?"+q.Encode(),
			&websocket.DialOptions{Subprotocols: []string{fanout.ResumeSubprotocol}})
		if err != nil {
			return 0, err
		}
		defer conn.CloseNow()
		conn.SetReadLimit(-1)
		for len(seen) < want {
			_, frame, err := conn.Read(ctx)
			if err != nil {
				return 0, err
			}
			err = fanout.UnpackRecords(frame, func(r fanout.Record) error {
				if r.Position {
					return nil
				}
				return got(r.ID, r.Resync)
			})
			if err != nil {
				return 0, err
			}
		}
		return time.Since(started), nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/sse?"+q.Encode(), nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var id string
	for len(seen) < want && sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "id:"):
			id = strings.TrimSpace(strings.TrimPrefix(line, "id:"))
		case strings.HasPrefix(line, "event: "+fanout.ResyncEvent):
			return 0, errors.New("a resync")
		case strings.HasPrefix(line, "data:"):
			if err := got(id, false); err != nil {
				return 0, err
			}
		}
	}
	if len(seen) < want {
		return 0, fmt.Errorf("%d of %d messages: %v", len(seen), want, sc.Err())
	}
	return time.Since(started), nil
}
