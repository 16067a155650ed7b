package fanout

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// sseSink writes a subscriber's events to its SSE response: each batch's
// events, then ONE flush. The response stays open while the Broker's
// ServeHTTP runs the writer, so ending the subscription ends the response.
type sseSink struct {
	w  http.ResponseWriter
	rc *http.ResponseController

	heartbeat time.Duration
	lastWrite time.Time // writer only

	mu      sync.Mutex // orders abort against the writer's deadline changes
	aborted bool
}

func newSSESink(w http.ResponseWriter, heartbeat time.Duration) *sseSink {
	return &sseSink{w: w, rc: http.NewResponseController(w), heartbeat: heartbeat}
}

// deadline sets (or, with a zero t, clears) the write deadline, unless the
// sink was aborted. Writers that cannot set a deadline simply have none.
func (k *sseSink) deadline(t time.Time) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.aborted {
		return errAborted
	}
	_ = k.rc.SetWriteDeadline(t)
	return nil
}

func (k *sseSink) write(batch []*Message, timeout time.Duration) (sent, writes, bytes int, err error) {
	if timeout > 0 {
		if err := k.deadline(time.Now().Add(timeout)); err != nil {
			return 0, 0, 0, err
		}
		defer func() { _ = k.deadline(time.Time{}) }()
	}
	for _, m := range batch {
		ev, err := m.sseEvent()
		if err != nil { // validated at publish: unreachable
			continue
		}
		n, err := k.w.Write(ev)
		bytes += n
		if err != nil {
			return 0, 1, bytes, err
		}
	}
	if err := k.rc.Flush(); err != nil {
		return 0, 1, bytes, err
	}
	k.lastWrite = time.Now()
	return len(batch), 1, bytes, nil
}

// keepalive writes a heartbeat comment, unless the stream carried data
// within the last heartbeat interval. An SSE peer does not answer, so a
// dead one is found by a write failing (or timing out).
func (k *sseSink) keepalive(_ context.Context, timeout time.Duration) error {
	if time.Since(k.lastWrite) < k.heartbeat {
		return nil
	}
	if timeout > 0 {
		if err := k.deadline(time.Now().Add(timeout)); err != nil {
			return err
		}
		defer func() { _ = k.deadline(time.Time{}) }()
	}
	if _, err := k.w.Write(sseHeartbeat); err != nil {
		return err
	}
	k.lastWrite = time.Now()
	return k.rc.Flush()
}

// abort makes a blocked write fail by moving the deadline into the past.
func (k *sseSink) abort() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.aborted = true
	_ = k.rc.SetWriteDeadline(time.Unix(1, 0))
}

// kill is abort: a handler cannot close its connection, but a failed write
// makes net/http close it once ServeHTTP returns.
func (k *sseSink) kill() { k.abort() }

// close ends the subscription; the Broker's ServeHTTP then returns, which
// ends the response. EventSource reconnects by itself (with Last-Event-ID),
// unless the Broker is shutting down, which answers 503.
func (k *sseSink) close(endReason) {}

// canFlush reports whether w, or a ResponseWriter it wraps (found through
// Unwrap, as http.ResponseController does), can flush. It asks without
// flushing, so a writer that cannot stream still gets a proper error.
func canFlush(w http.ResponseWriter) bool {
	for {
		switch t := w.(type) {
		case http.Flusher, interface{ FlushError() error }:
			return true
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return false
		}
	}
}
