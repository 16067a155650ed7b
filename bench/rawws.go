package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/fanout-go/fanout/internal/harness"
)

// rawWS is the -wsclient raw client: a WebSocket client reduced to what a
// fan-out benchmark needs (RFC 6455 handshake, unmasked server frames read
// in place from a bufio.Reader, pings answered). It costs a fraction of a
// library client per message, so with it the servers, not the clients, set
// the ceiling on the 2-core machine. The default client is coder/websocket.
type rawWS struct {
	conn net.Conn
	br   *bufio.Reader
}

func dialRawWS(addr, path string) (*rawWS, error) {
	conn, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		return nil, err
	}
	return handshakeRawWS(conn, addr, path, 32<<10, "")
}

// handshakeRawWS makes conn a rawWS: it sends the opening handshake, checks
// the server's answer, and reads frames through a buffer of bufSize bytes
// (payloads up to that size are read in place). A protocol other than ""
// is offered as the only subprotocol, and the server must select it. It
// closes conn on failure.
func handshakeRawWS(conn net.Conn, addr, path string, bufSize int, protocol string) (*rawWS, error) {
	var header string
	if protocol != "" {
		header = "Sec-WebSocket-Protocol: " + protocol + "\r\n"
	}
	br, resp, err := harness.HandshakeWS(conn, addr, path, header, bufSize, 30*time.Second)
	if err != nil {
		return nil, err
	}
	if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != protocol {
		conn.Close()
		return nil, fmt.Errorf("handshake: subprotocol %q, not %q", got, protocol)
	}
	return &rawWS{conn: conn, br: br}, nil
}

var errFragmented = errors.New("fragmented message")

// next returns the payload of the next data frame; it aliases the reader's
// buffer (or buf, for a payload larger than that) until the next call.
func (c *rawWS) next(buf []byte) ([]byte, error) {
	for {
		h, err := c.br.Peek(2)
		if err != nil {
			return nil, err
		}
		fin, op, masked := h[0]&0x80 != 0, h[0]&0x0f, h[1]&0x80 != 0
		n, hl := int(h[1]&0x7f), 2
		switch n {
		case 126:
			if h, err = c.br.Peek(4); err != nil {
				return nil, err
			}
			n, hl = int(binary.BigEndian.Uint16(h[2:])), 4
		case 127:
			if h, err = c.br.Peek(10); err != nil {
				return nil, err
			}
			n, hl = int(binary.BigEndian.Uint64(h[2:])), 10
		}
		if masked {
			return nil, errors.New("masked server frame")
		}
		if _, err := c.br.Discard(hl); err != nil {
			return nil, err
		}
		var p []byte
		if n <= c.br.Size() {
			if p, err = c.br.Peek(n); err != nil {
				return nil, err
			}
			_, _ = c.br.Discard(n)
		} else {
			if n > len(buf) {
				buf = make([]byte, n)
			}
			if _, err := io.ReadFull(c.br, buf[:n]); err != nil {
				return nil, err
			}
			p = buf[:n]
		}
		switch op {
		case 0x1, 0x2:
			if !fin {
				return nil, errFragmented
			}
			return p, nil
		case 0x8:
			return nil, io.EOF
		case 0x9:
			if err := c.write(0xA, p); err != nil {
				return nil, err
			}
		case 0x0:
			return nil, errFragmented
		}
	}
}

// write writes a client frame of fewer than 126 bytes: a control
// frame, or a short command.
func (c *rawWS) write(op byte, p []byte) error {
	_, err := c.conn.Write(harness.ClientFrame(op, p))
	return err
}
