// Command server is the live server that the JavaScript client's tests
// (js/test/*.test.js) run against: a fanout Hub with Packing and a Ring,
// and a Broker attached to it, behind endpoints with which a test
// publishes, drops connections, holds reconnections, refuses requests,
// restarts the store and closes subscribers with a code.
//
//	GET  /ws?topic=T[&topic=U]       the Hub (topic "t" by default); what a
//	                                 client sends is published to its topics
//	GET  /events?topic=T             the Broker (Retry: 50ms)
//	POST /publish?topic=T&n=N        publish N messages "1", "2", ... (numbered
//	                                 across the server's life); or one message
//	                                 &data=D [&event=E] [&binary=1]; "" topic:
//	                                 a broadcast
//	POST /drop?transport=ws|sse      end those subscribers (1000; the end of
//	                                 the stream), once they are gone
//	POST /closewith?transport=ws|sse&code=C&reason=R
//	                                 Subscriber.CloseWith(C, R)
//	POST /restart                    a new Hub, Broker and Ring (a new epoch):
//	                                 the old Hub is closed (1001)
//	POST /hold, POST /unhold         make requests that resume wait, or not
//	POST /refuse?path=P&status=S&n=N refuse the next N requests to P with S
//	GET  /requests                   the requests to /ws and /events so far
//	GET  /stats                      hub.Stats()
//
// It prints its base URL (http://127.0.0.1:PORT) on its first line, and
// exits when its standard input closes: it does not outlive the test.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/internal/testkit"
)

func main() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	s := newServer()
	srv := &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("http://%s\n", ln.Addr())
	go func() { _ = srv.Serve(ln) }()
	_, _ = io.Copy(io.Discard, os.Stdin)
	s.current().hub.Close()
	_ = srv.Close()
}

// gen is one generation of the server's state: a restart makes a new one.
type gen struct {
	hub    *fanout.Hub
	broker *fanout.Broker
}

// request is a request to /ws or /events, as the server saw it: what
// GET /requests answers with.
type request struct {
	Path        string `json:"path"`
	LastEventID string `json:"lastEventIdHeader"` // the Last-Event-ID header
	QueryID     string `json:"lastEventIdQuery"`  // ?lastEventId=
	Protocols   string `json:"protocols"`         // Sec-WebSocket-Protocol
	Held        bool   `json:"held"`
	Refused     int    `json:"refused"` // the status it was refused with
}

type server struct {
	gate *testkit.Gatekeeper // records, holds and refuses /ws and /events

	mu  sync.Mutex
	gen *gen
	seq int // the last numbered message published
}

func newServer() *server {
	return &server{gate: testkit.NewGatekeeper("/ws", "/events"), gen: newGen()}
}

func newGen() *gen {
	authorize := func(r *http.Request) (fanout.Grant, error) {
		topics := r.URL.Query()["topic"]
		if len(topics) == 0 {
			topics = []string{"t"}
		}
		return fanout.Grant{Topics: topics}, nil
	}
	var hub *fanout.Hub
	hub = fanout.NewHub(&fanout.HubOptions{
		Authorize: authorize,
		// What a client sends is published to its topics, as the chat demo does.
		OnMessage: func(ctx context.Context, sub *fanout.Subscriber, m *fanout.Message) {
			for _, topic := range sub.Topics() {
				_ = hub.Publish(ctx, topic, m)
			}
		},
		Packing: true,
		Replay:  fanout.NewRing(&fanout.RingOptions{Size: 4096}),
	})
	broker := fanout.NewBroker(&fanout.BrokerOptions{Hub: hub, Authorize: authorize, Retry: 50 * time.Millisecond})
	return &gen{hub: hub, broker: broker}
}

func (s *server) current() *gen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen
}

func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		s.current().hub.ServeHTTP(w, r)
	})
	mux.HandleFunc("/events", func(w http.ResponseWriter, r *http.Request) {
		s.current().broker.ServeHTTP(w, r)
	})
	mux.HandleFunc("POST /publish", s.publish)
	mux.HandleFunc("POST /drop", s.drop)
	mux.HandleFunc("POST /closewith", s.drop)
	mux.HandleFunc("POST /restart", func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		old := s.gen
		s.gen = newGen()
		s.mu.Unlock()
		old.hub.Close() // its WebSockets get 1001, its streams end
		reply(w, map[string]any{})
	})
	mux.HandleFunc("POST /hold", func(w http.ResponseWriter, _ *http.Request) {
		s.gate.Hold()
		reply(w, map[string]any{})
	})
	mux.HandleFunc("POST /unhold", func(w http.ResponseWriter, _ *http.Request) {
		s.gate.Release()
		reply(w, map[string]any{})
	})
	mux.HandleFunc("POST /refuse", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		status, _ := strconv.Atoi(q.Get("status"))
		n, _ := strconv.Atoi(q.Get("n"))
		for range n {
			s.gate.Refuse(q.Get("path"), status)
		}
		reply(w, map[string]any{})
	})
	mux.HandleFunc("GET /requests", func(w http.ResponseWriter, _ *http.Request) {
		reqs := []request{}
		for _, r := range s.gate.Requests() {
			req := request{Path: r.Path, LastEventID: r.LastEventID, QueryID: r.QueryID, Protocols: r.Protocols, Held: r.Held}
			if r.Refused {
				req.Refused = r.Status
			}
			reqs = append(reqs, req)
		}
		reply(w, reqs)
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		reply(w, s.current().hub.Stats())
	})
	return s.gate.Wrap(mux)
}

func (s *server) publish(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	topic := q.Get("topic")
	hub := s.current().hub
	var msgs []*fanout.Message
	if q.Has("data") {
		m := fanout.NewMessage([]byte(q.Get("data")))
		if q.Get("binary") == "1" {
			m = fanout.NewBinaryMessage([]byte(q.Get("data")))
		}
		if e := q.Get("event"); e != "" {
			m = m.WithEvent(e)
		}
		msgs = append(msgs, m)
	} else {
		n, _ := strconv.Atoi(q.Get("n"))
		s.mu.Lock()
		for range n {
			s.seq++
			msgs = append(msgs, fanout.NewMessage([]byte(strconv.Itoa(s.seq))))
		}
		s.mu.Unlock()
	}
	for _, m := range msgs {
		var err error
		if topic == "" {
			err = hub.Broadcast(r.Context(), m)
		} else {
			err = hub.Publish(r.Context(), topic, m)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	reply(w, map[string]any{"published": len(msgs)})
}

// drop ends the subscribers of one transport: with Close (/drop) or
// CloseWith (/closewith), and answers once they are gone.
func (s *server) drop(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	tr := map[string]string{"sse": "sse", "ws": "websocket"}[q.Get("transport")]
	code, _ := strconv.Atoi(q.Get("code"))
	var dropped []*fanout.Subscriber
	for _, sub := range s.current().hub.Subscribers() {
		if sub.Transport() != tr {
			continue
		}
		var err error
		if r.URL.Path == "/closewith" {
			err = sub.CloseWith(fanout.StatusCode(code), q.Get("reason"))
		} else {
			err = sub.Close()
		}
		if err == nil {
			dropped = append(dropped, sub)
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	for _, sub := range dropped {
		select {
		case <-sub.Done():
		case <-ctx.Done():
		}
	}
	reply(w, map[string]any{"dropped": len(dropped)})
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
