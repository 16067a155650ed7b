package main

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"

	gosse "github.com/tmaxmax/go-sse"
)

// goSSE is tmaxmax/go-sse's Server with its default provider (Joe), as its
// README sets it up: OnSession picks the topics from the request, and each
// publish is a Message with its data appended. Joe sends and flushes each
// message to each subscriber in turn, on its one goroutine.
type goSSE struct {
	srv   *gosse.Server
	topic string
	n     atomic.Int64
}

func newGoSSE(o peerOptions) server {
	p := &goSSE{topic: o.Topic}
	p.srv = &gosse.Server{
		OnSession: func(_ http.ResponseWriter, r *http.Request) ([]string, bool) {
			topics := r.URL.Query()["topic"]
			return topics, len(topics) > 0
		},
	}
	return p
}

// ServeHTTP counts sessions around go-sse's handler: Joe has no count, and
// go-sse sends no response headers before the first event, so the client
// cannot tell either.
func (p *goSSE) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.n.Add(1)
	defer p.n.Add(-1)
	p.srv.ServeHTTP(w, r)
}

func (p *goSSE) Publish(b []byte) error {
	m := &gosse.Message{}
	m.AppendData(string(b))
	return p.srv.Publish(m, p.topic)
}

func (p *goSSE) Subscribers() int { return int(p.n.Load()) }

func (p *goSSE) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = p.srv.Shutdown(ctx)
}
