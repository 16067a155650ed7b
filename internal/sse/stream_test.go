package sse_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/fanout-go/fanout/internal/sse"
)

// TestResponseHead: the head net/http's client reads as a 200 event
// stream without length or chunking, keeping the headers set before it
// and dropping those that would describe another body; prelude follows.
func TestResponseHead(t *testing.T) {
	h := http.Header{}
	sse.Header(h)
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Content-Encoding", "gzip")
	h.Set("Content-Length", "12")
	head, err := sse.ResponseHead(h, []byte(": hi\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(head)), nil)
	if err != nil {
		t.Fatalf("ReadResponse: %v\n%s", err, head)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	switch {
	case resp.StatusCode != 200 || resp.ContentLength != -1 || len(resp.TransferEncoding) != 0:
		t.Fatalf("status %d, length %d, transfer %v; want 200, -1, none", resp.StatusCode, resp.ContentLength, resp.TransferEncoding)
	case resp.Header.Get("Content-Type") != "text/event-stream" || resp.Header.Get("Cache-Control") != "no-cache":
		t.Fatalf("headers %v", resp.Header)
	case resp.Header.Get("Access-Control-Allow-Origin") != "*" || resp.Header.Get("Content-Encoding") != "":
		t.Fatalf("headers %v: want CORS kept, Content-Encoding dropped", resp.Header)
	case string(body) != ": hi\n\n":
		t.Fatalf("body %q, want the prelude", body)
	}
	if h.Get("Content-Length") != "12" {
		t.Fatal("ResponseHead changed the caller's header")
	}
}

// TestWatchClient: a client that sends up to MaxClientBytes is watched
// until it goes away (its read error); one that sends more is ended.
func TestWatchClient(t *testing.T) {
	small := strings.NewReader(strings.Repeat("x", sse.MaxClientBytes))
	if err := sse.WatchClient(small); err != io.EOF {
		t.Fatalf("WatchClient(%d bytes) = %v, want io.EOF", sse.MaxClientBytes, err)
	}
	big := strings.NewReader(strings.Repeat("x", sse.MaxClientBytes+1))
	if err := sse.WatchClient(big); !errors.Is(err, sse.ErrClientSends) {
		t.Fatalf("WatchClient(%d bytes) = %v, want ErrClientSends", sse.MaxClientBytes+1, err)
	}
}
