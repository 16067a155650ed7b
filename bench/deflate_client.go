package main

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fanout-go/fanout/internal/harness"
)

// deflateOffer is what -deflate's clients offer: what browsers offer.
const deflateOffer = "permessage-deflate; client_max_window_bits"

// deflateClient is one -deflate subscriber: it offers permessage-deflate,
// then reads frames, counting the data frames and their bytes (headers
// included) without inflating them, so that it costs little per byte and
// the same for every peer. One client per run (check) inflates each
// message and checks its size, so that a run of a peer that sent
// something unreadable fails.
type deflateClient struct {
	conn  net.Conn
	br    *bufio.Reader
	check int // the size every message must have, or 0
	// negotiated: the server accepted permessage-deflate.
	negotiated bool
	frames     atomic.Int64
	bytes      atomic.Int64
	done       chan struct{}
	err        error // set before done is closed
}

func dialDeflateClient(addr string, check int) (*deflateClient, error) {
	conn, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		return nil, err
	}
	br, resp, err := harness.HandshakeWS(conn, addr, "/?topic="+benchTopic, "Sec-WebSocket-Extensions: "+deflateOffer+"\r\n", 64<<10, 30*time.Second)
	if err != nil {
		return nil, err
	}
	if ext := resp.Header.Get("Sec-WebSocket-Extensions"); ext != "" && !strings.HasPrefix(ext, "permessage-deflate") {
		conn.Close()
		return nil, fmt.Errorf("handshake: extensions %q", ext)
	}
	c := &deflateClient{conn: conn, br: br, check: check, done: make(chan struct{}),
		negotiated: resp.Header.Get("Sec-WebSocket-Extensions") != ""}
	go func() {
		defer close(c.done)
		c.err = c.read()
	}()
	return c, nil
}

// read reads frames until the connection ends. A message may come in
// several frames (gorilla/websocket writes a compressed one in frames of
// its write buffer's size): it counts once, when its last frame arrives.
func (c *deflateClient) read() error {
	var hdr [14]byte
	var buf, msg []byte
	var compressed bool
	for {
		if _, err := io.ReadFull(c.br, hdr[:2]); err != nil {
			return err
		}
		fin, op, rsv1 := hdr[0]&0x80 != 0, hdr[0]&0x0f, hdr[0]&0x40 != 0
		n, hl := int(hdr[1]&0x7f), 2
		switch n {
		case 126:
			if _, err := io.ReadFull(c.br, hdr[2:4]); err != nil {
				return err
			}
			n, hl = int(binary.BigEndian.Uint16(hdr[2:4])), 4
		case 127:
			if _, err := io.ReadFull(c.br, hdr[2:10]); err != nil {
				return err
			}
			n, hl = int(binary.BigEndian.Uint64(hdr[2:10])), 10
		}
		keep := c.check > 0 || op == 0x9
		if keep {
			if cap(buf) < n {
				buf = make([]byte, n)
			}
			buf = buf[:n]
			if _, err := io.ReadFull(c.br, buf); err != nil {
				return err
			}
		} else if _, err := c.br.Discard(n); err != nil {
			return err
		}
		switch op {
		case 0x0, 0x1, 0x2:
			if op != 0 {
				compressed, msg = rsv1, msg[:0]
			}
			if c.check > 0 {
				msg = append(msg, buf...)
			}
			c.bytes.Add(int64(hl + n))
			if !fin {
				continue
			}
			if c.check > 0 {
				if err := checkMessage(msg, compressed, c.check); err != nil {
					return err
				}
			}
			c.frames.Add(1)
		case 0x8:
			return io.EOF
		case 0x9: // a pong, masked with a zero key
			pong := append([]byte{0x8A, 0x80 | byte(len(buf)), 0, 0, 0, 0}, buf...)
			if _, err := c.conn.Write(pong); err != nil {
				return err
			}
		}
	}
}

// checkMessage checks that a message's payload p, inflated if compressed,
// has size bytes.
func checkMessage(p []byte, compressed bool, size int) error {
	if compressed {
		r := flate.NewReader(io.MultiReader(bytes.NewReader(p), bytes.NewReader([]byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff})))
		var err error
		if p, err = io.ReadAll(r); err != nil {
			return fmt.Errorf("inflating a message: %w", err)
		}
	}
	if len(p) != size {
		return fmt.Errorf("a message of %d bytes, want %d", len(p), size)
	}
	return nil
}

// deflateFleet is a run's clients.
type deflateFleet []*deflateClient

// connectDeflateFleet connects n clients to addr, par at a time; the first
// checks every message for size.
func connectDeflateFleet(addr string, n, par, size int) (deflateFleet, error) {
	f := make(deflateFleet, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, par)
	for i := range f {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			check := 0
			if i == 0 {
				check = size
			}
			c, err := dialDeflateClient(addr, check)
			if err != nil {
				errs <- err
				return
			}
			f[i] = c
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		f.close()
		return nil, err
	}
	return f, nil
}

// wait waits until every client has received want data frames, failing
// after stall without progress or when a client fails.
func (f deflateFleet) wait(want int64, stall time.Duration) error {
	last, since := int64(-1), time.Now()
	for {
		var got int64
		for _, c := range f {
			select {
			case <-c.done:
				return fmt.Errorf("a client ended after %d messages: %v", c.frames.Load(), c.err)
			default:
			}
			got += min(c.frames.Load(), want)
		}
		if got == want*int64(len(f)) {
			return nil
		}
		if got != last {
			last, since = got, time.Now()
		} else if time.Since(since) > stall {
			return fmt.Errorf("stalled at %d of %d deliveries", got, want*int64(len(f)))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// wireBytes is what the clients received in data frames.
func (f deflateFleet) wireBytes() int64 {
	var n int64
	for _, c := range f {
		n += c.bytes.Load()
	}
	return n
}

func (f deflateFleet) close() {
	for _, c := range f {
		if c != nil {
			_ = c.conn.Close()
			<-c.done
		}
	}
}

// negotiated reports whether the server accepted permessage-deflate from
// every client, or from none (and then false).
func (f deflateFleet) negotiated() (bool, error) {
	n := 0
	for _, c := range f {
		if c.negotiated {
			n++
		}
	}
	if n != 0 && n != len(f) {
		return false, fmt.Errorf("%d of %d clients negotiated permessage-deflate", n, len(f))
	}
	return n > 0, nil
}
