package redis_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	sse "github.com/tmaxmax/go-sse"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/redis/internal/redistest"
)

// feed is one connection's incoming records, read on their own goroutine
// until the connection ends.
type feed struct {
	name string
	ch   chan record
	done chan struct{}
	stop func()
}

// openFeed connects to n as k (kindWS or kindSSERaw) for topics, resuming
// after lastID, and reads what comes. It is subscribed when it returns,
// and closed when t ends.
func openFeed(t *testing.T, n *node, k kind, topics []string, lastID string) *feed {
	t.Helper()
	q := url.Values{"topic": topics}
	ctx, cancel := context.WithCancel(context.Background())
	f := &feed{name: fmt.Sprintf("%s on %s", k, n.name), ch: make(chan record, 1<<12), done: make(chan struct{}), stop: cancel}
	var read func() error
	switch k {
	case kindWS:
		opts := &websocket.DialOptions{Subprotocols: []string{fanout.ResumeSubprotocol}, HTTPHeader: http.Header{}}
		if lastID != "" {
			opts.HTTPHeader.Set("Last-Event-ID", lastID)
		}
		conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(n.url, "http")+"/ws?"+q.Encode(), opts)
		if err != nil {
			cancel()
			t.Fatalf("%s: dial: %v", f.name, err)
		}
		read = func() error {
			defer func() { _ = conn.CloseNow() }()
			for {
				_, frame, err := conn.Read(ctx)
				if err != nil {
					return err
				}
				err = fanout.UnpackRecords(frame, func(r fanout.Record) error {
					f.ch <- record{id: r.ID, data: string(r.Data), resync: r.Resync, position: r.Position}
					return nil
				})
				if err != nil {
					return err
				}
			}
		}
	case kindSSERaw:
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, n.url+"/sse?"+q.Encode(), nil)
		if lastID != "" {
			req.Header.Set("Last-Event-ID", lastID)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			cancel()
			t.Fatalf("%s: %v %v", f.name, resp, err)
		}
		read = func() error {
			defer func() { _ = resp.Body.Close() }()
			for ev, err := range sse.Read(resp.Body, nil) {
				if err != nil {
					return err
				}
				f.ch <- sseRecord(ev)
			}
			return errors.New("stream ended")
		}
	default:
		t.Fatalf("openFeed: kind %v", k)
	}
	go func() {
		defer close(f.done)
		_ = read()
	}()
	t.Cleanup(func() {
		cancel()
		<-f.done
	})
	return f
}

// next returns the next record that is not a position, failing t if none
// comes within waitTimeout or the connection ends.
func (f *feed) next(t *testing.T) record {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		select {
		case r := <-f.ch:
			if !r.position {
				return r
			}
		case <-f.done:
			t.Fatalf("%s: the connection ended", f.name)
		case <-timer.C:
			t.Fatalf("%s: no record within %v", f.name, waitTimeout)
		}
	}
}

// expect reads the next records, which must be the messages data, in
// order, and returns the last one's ID.
func (f *feed) expect(t *testing.T, data ...string) string {
	t.Helper()
	var id string
	for _, d := range data {
		r := f.next(t)
		if r.resync || r.data != d {
			t.Fatalf("%s: got %+v, want message %q", f.name, r, d)
		}
		id = r.id
	}
	return id
}

// expectResync reads the next record, which must be the resync signal.
func (f *feed) expectResync(t *testing.T) {
	t.Helper()
	if r := f.next(t); !r.resync {
		t.Fatalf("%s: got %+v, want the resync signal", f.name, r)
	}
}

// alive reports whether the connection is still open.
func (f *feed) alive() bool {
	select {
	case <-f.done:
		return false
	default:
		return true
	}
}

// killClients kills every connection of srv whose client is named name
// (CLIENT KILL), and returns how many.
func killClients(t *testing.T, srv *redistest.Server, name string) int {
	t.Helper()
	list, err := redistest.String(srv.Do("CLIENT", "LIST"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(list, "\n") {
		var id string
		named := false
		for _, field := range strings.Fields(line) {
			k, v, _ := strings.Cut(field, "=")
			switch {
			case k == "id":
				id = v
			case k == "name" && v == name:
				named = true
			}
		}
		if named {
			if _, err := srv.Do("CLIENT", "KILL", "ID", id); err == nil {
				n++
			}
		}
	}
	return n
}

// publishAll publishes each of data on topic through n, failing t on an
// error.
func publishAll(t *testing.T, n *node, topic string, data ...string) {
	t.Helper()
	for _, d := range data {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		err := n.publish(ctx, topic, []byte(d), false)
		cancel()
		if err != nil {
			t.Fatalf("publish %q on %s: %v", d, n.name, err)
		}
	}
}
