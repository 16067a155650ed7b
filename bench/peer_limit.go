package main

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"sync"

	"github.com/fanout-go/fanout/internal/harness"
)

// limitHub is the "limit" row: the least a coalescing WebSocket fan-out can
// do. Each message is framed once at publish; each subscriber has a slice
// of pending frames and a writer goroutine that takes all of them at once,
// copies them into one buffer and writes it with one Write, and a reader
// goroutine that notices the client going away. There is nothing else:
// no pings, no close handshake, no write timeout, no slow-client policy (a
// full queue drops the message), no topics. The handshake is written by
// hand and client frames are discarded unread.
type limitHub struct {
	queue int

	mu   sync.Mutex
	subs map[*limitSub]struct{}

	done    chan struct{}
	once    sync.Once
	writers sync.WaitGroup
}

type limitSub struct {
	conn net.Conn
	wake chan struct{} // holds a token while pending is non-empty

	mu      sync.Mutex
	pending [][]byte
}

func newLimit(o peerOptions) server {
	h := &limitHub{queue: o.Queue, subs: make(map[*limitSub]struct{}), done: make(chan struct{})}
	if h.queue <= 0 {
		h.queue = 256
	}
	return h
}

func (h *limitHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Sec-WebSocket-Key")
	if key == "" {
		http.Error(w, "not a websocket handshake", http.StatusBadRequest)
		return
	}
	sum := sha1.Sum([]byte(key + harness.WSGUID))
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		base64.StdEncoding.EncodeToString(sum[:]) + "\r\n\r\n"
	if _, err := io.WriteString(conn, resp); err != nil {
		conn.Close()
		return
	}
	s := &limitSub{conn: conn, wake: make(chan struct{}, 1)}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	h.writers.Add(1)
	gone := make(chan struct{})
	go func() { // discard what the client sends; its end ends the subscriber
		b := make([]byte, 128)
		for {
			if _, err := conn.Read(b); err != nil {
				break
			}
		}
		close(gone)
	}()
	// ServeHTTP returns, so that net/http's buffers for the request go.
	go func() {
		defer h.writers.Done()
		h.write(s, gone)
		h.mu.Lock()
		delete(h.subs, s)
		h.mu.Unlock()
		conn.Close()
		<-gone
	}()
}

// write drains s: every wake-up takes everything pending and writes it in
// one Write.
func (h *limitHub) write(s *limitSub, gone <-chan struct{}) {
	var buf []byte
	var spare [][]byte
	for {
		select {
		case <-s.wake:
		case <-gone:
			return
		case <-h.done:
			return
		}
		s.mu.Lock()
		batch := s.pending
		s.pending = spare[:0]
		s.mu.Unlock()
		if len(batch) == 0 { // a token left by a publish this drain already took
			spare = batch
			continue
		}
		buf = buf[:0]
		for _, f := range batch {
			buf = append(buf, f...)
		}
		clear(batch)
		spare = batch
		if _, err := s.conn.Write(buf); err != nil {
			return
		}
	}
}

func (h *limitHub) Publish(b []byte) error {
	frame := textFrame(b)
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		s.mu.Lock()
		if len(s.pending) < h.queue {
			s.pending = append(s.pending, frame)
			if len(s.pending) == 1 {
				select {
				case s.wake <- struct{}{}:
				default:
				}
			}
		}
		s.mu.Unlock()
	}
	return nil
}

// textFrame returns an unmasked, final text frame carrying b.
func textFrame(b []byte) []byte {
	var hdr []byte
	switch n := len(b); {
	case n < 126:
		hdr = []byte{0x81, byte(n)}
	case n <= 0xffff:
		hdr = []byte{0x81, 126, 0, 0}
		binary.BigEndian.PutUint16(hdr[2:], uint16(n))
	default:
		hdr = make([]byte, 10)
		hdr[0], hdr[1] = 0x81, 127
		binary.BigEndian.PutUint64(hdr[2:], uint64(n))
	}
	f := make([]byte, 0, len(hdr)+len(b))
	return append(append(f, hdr...), b...)
}

func (h *limitHub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

func (h *limitHub) Close() {
	h.once.Do(func() { close(h.done) })
	h.writers.Wait()
}
