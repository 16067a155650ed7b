package client_test

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// rawServer accepts each request, as a Hub (101) or a Broker (200, an
// event stream) would, and then either says nothing more, holding the
// connection until the test ends (silent), or closes it at once.
type rawServer struct {
	http     *httptest.Server
	requests atomic.Int64

	mu     sync.Mutex
	closed bool
	quit   chan struct{} // closed when the test ends: a silent handler returns
	wg     sync.WaitGroup
}

func newRawServer(t testing.TB, silent bool) *rawServer {
	s := &rawServer{quit: make(chan struct{})}
	s.http = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return
		}
		s.wg.Add(1)
		s.mu.Unlock()
		defer s.wg.Done()
		if r.Header.Get("Upgrade") == "" {
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			if silent {
				select {
				case <-s.quit:
				case <-r.Context().Done():
				}
			}
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		writeSwitch(brw, r.Header.Get("Sec-WebSocket-Key"))
		if silent {
			<-s.quit
		}
		_ = conn.Close()
	}))
	t.Cleanup(s.http.Close)
	t.Cleanup(func() {
		s.mu.Lock()
		s.closed = true
		close(s.quit)
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

// writeSwitch answers a WebSocket handshake with 101, selecting no
// subprotocol.
func writeSwitch(w *bufio.ReadWriter, key string) {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	_, _ = w.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + base64.StdEncoding.EncodeToString(h[:]) + "\r\n\r\n")
	_ = w.Flush()
}

func (s *rawServer) wsURL() string {
	return "ws" + strings.TrimPrefix(s.http.URL, "http") + "/ws?topic=room"
}
func (s *rawServer) sseURL() string { return s.http.URL + "/events?topic=room" }
