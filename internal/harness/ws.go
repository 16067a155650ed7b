//go:build linux

package harness

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// The raw clients of bench/ and soak/ speak just enough HTTP/1.1 and
// WebSocket to read every message at a fraction of a full client's cost;
// what they read (in place, reassembled, checked) is theirs. These are
// the lines they share.

// WSGUID is RFC 6455's key suffix, from which Sec-WebSocket-Accept is
// computed.
const WSGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// RequestHead writes req, a request's head, to conn and reads the
// response's head through a reader of bufSize bytes, within d; it closes
// conn when that fails. The deadline stays for the caller to clear.
func RequestHead(conn net.Conn, req string, bufSize int, d time.Duration) (*bufio.Reader, *http.Response, error) {
	_ = conn.SetDeadline(time.Now().Add(d))
	if _, err := io.WriteString(conn, req); err != nil {
		conn.Close()
		return nil, nil, err
	}
	br := bufio.NewReaderSize(conn, bufSize)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return br, resp, nil
}

// HandshakeWS sends a WebSocket opening handshake for path on conn, with
// header (more header lines, each ending in "\r\n": a subprotocol, an
// extension offer), and checks the server's answer (101, Upgrade,
// Sec-WebSocket-Accept), within d. Frames are then read through the
// returned reader, of bufSize bytes; the response tells what the server
// selected. It closes conn on failure, and clears its deadline on
// success.
func HandshakeWS(conn net.Conn, addr, path, header string, bufSize int, d time.Duration) (*bufio.Reader, *http.Response, error) {
	var k [16]byte
	_, _ = rand.Read(k[:])
	key := base64.StdEncoding.EncodeToString(k[:])
	req := "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n" + header + "\r\n"
	br, resp, err := RequestHead(conn, req, bufSize, d)
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		conn.Close()
		return nil, nil, fmt.Errorf("handshake: %s", resp.Status)
	}
	sum := sha1.Sum([]byte(key + WSGUID))
	if resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) ||
		!strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") {
		conn.Close()
		return nil, nil, errors.New("handshake: bad accept")
	}
	_ = conn.SetDeadline(time.Time{})
	return br, resp, nil
}

// ClientFrame returns a final client frame of opcode op carrying p,
// which must be shorter than 126 bytes (a control frame, a short
// command). A client's frames are masked; the key 0 leaves the payload
// as it is.
func ClientFrame(op byte, p []byte) []byte {
	f := make([]byte, 0, 6+len(p))
	f = append(f, 0x80|op, 0x80|byte(len(p)), 0, 0, 0, 0)
	return append(f, p...)
}
