package main

import (
	"net/http"

	"github.com/olahol/melody"
)

// melodyPeer is olahol/melody as its README shows it: HandleRequest in the
// handler and Broadcast to send. melody runs a hub goroutine and, per
// session, a write pump (one gorilla frame and write per message) fed by a
// buffered channel (MessageBufferSize, 256 by default); a message that
// finds the buffer full is dropped for that session.
type melodyPeer struct {
	m *melody.Melody
}

func newMelody(o peerOptions) server {
	m := melody.New()
	if o.Queue > 0 {
		m.Config.MessageBufferSize = o.Queue
	}
	return &melodyPeer{m: m}
}

func (p *melodyPeer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = p.m.HandleRequest(w, r)
}

func (p *melodyPeer) Publish(b []byte) error { return p.m.Broadcast(b) }

func (p *melodyPeer) Subscribers() int { return p.m.Len() }

func (p *melodyPeer) Close() { _ = p.m.Close() }
