// Shared test helpers: a raw WebSocket peer (wsPeer) that writes and reads
// frames byte for byte, and what tests expect of it (wsExpect).

package fanout_test

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// The raw WebSocket client of the conformance suite: a masked-frame writer
// and a frame reader over a bare net.Conn, written from RFC 6455, so that
// every byte the server sends is seen as it is, and every byte the client
// sends is the test's choice (reserved bits, opcodes, fragments, bad
// masks, lengths). No WebSocket library runs on the client side.

// Frame bits and opcodes (RFC 6455, 5.2).
const (
	wsFin    = 0x80
	wsRSV1   = 0x40
	wsRSV2   = 0x20
	wsRSV3   = 0x10
	wsCont   = 0x0
	wsText   = 0x1
	wsBinary = 0x2
	wsClose  = 0x8
	wsPing   = 0x9
	wsPong   = 0xA
)

// wsMaskKey is the masking key of every client frame: fixed, so failures
// reproduce, and with no zero byte, so a server that forgot to unmask
// could not pass by accident.
var wsMaskKey = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// cframe returns a masked client frame: first is its first byte (FIN, RSV
// bits, opcode), and the length is encoded minimally.
func cframe(first byte, payload []byte) []byte {
	b := wsLength([]byte{first}, 0x80, len(payload))
	b = append(b, wsMaskKey[:]...)
	for i, c := range payload {
		b = append(b, c^wsMaskKey[i%4])
	}
	return b
}

// cframeUnmasked returns a client frame without a mask, which a server
// must refuse (RFC 6455, 5.1).
func cframeUnmasked(first byte, payload []byte) []byte {
	return append(wsLength([]byte{first}, 0, len(payload)), payload...)
}

// wsLength appends the second byte of a header (maskBit ORed in) and the
// extended payload length, minimally encoded.
func wsLength(b []byte, maskBit byte, n int) []byte {
	switch {
	case n <= 125:
		return append(b, maskBit|byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, maskBit|126), uint16(n))
	default:
		return binary.BigEndian.AppendUint64(append(b, maskBit|127), uint64(n))
	}
}

// sframe returns the exact bytes of the frame a server sends for a whole
// message or a control frame: FIN set, no reserved bit, no mask, the
// minimal length.
func sframe(op byte, payload []byte) []byte {
	return append(wsLength([]byte{wsFin | op}, 0, len(payload)), payload...)
}

// closeBody returns a close frame's body: the status code, then reason.
func closeBody(code uint16, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, code), reason...)
}

// wsPeer is one raw client connection.
type wsPeer struct {
	t    testing.TB
	conn net.Conn
	br   *bufio.Reader
}

// dialPeer opens a WebSocket to url (ws://host/path?query) with a
// handshake written by hand, checks the server's answer (RFC 6455, 4.2.2)
// and returns the connection, closed when the test ends.
func dialPeer(t testing.TB, url string) *wsPeer {
	t.Helper()
	p, err := dialPeerErr(url, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.conn.Close() })
	p.t = t
	return p
}

// dialPeerErr is dialPeer for fuzzers and goroutines: it reports instead of
// failing a test. extra is added to the request's head (whole lines).
func dialPeerErr(url, extra string) (*wsPeer, error) {
	conn, br, resp, err := wsHandshake(url, extra)
	if err != nil {
		return nil, err
	}
	if ext := resp.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
		_ = conn.Close()
		return nil, fmt.Errorf("an extension nobody offered: %q", ext)
	}
	return &wsPeer{conn: conn, br: br}, nil
}

// wsHandshake opens a TCP connection to url's host (ws://host/path?query)
// and sends a WebSocket opening handshake written by hand, with extra
// added to the request's head (whole lines). It checks the server's
// answer (RFC 6455, 4.2.2: 101, Upgrade, Sec-WebSocket-Accept) and returns
// it, with the connection (no deadline set) and the reader of its frames;
// on failure it closes the connection.
func wsHandshake(url, extra string) (net.Conn, *bufio.Reader, *http.Response, error) {
	host, path, _ := strings.Cut(strings.TrimPrefix(url, "ws://"), "/")
	conn, err := net.DialTimeout("tcp", host, waitTimeout)
	if err != nil {
		return nil, nil, nil, err
	}
	const key = "dGhlIHNhbXBsZSBub25jZQ=="
	req := "GET /" + path + " HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n" + extra + "\r\n"
	_ = conn.SetDeadline(time.Now().Add(waitTimeout))
	br := bufio.NewReader(conn)
	resp, err := func() (*http.Response, error) {
		if _, err := io.WriteString(conn, req); err != nil {
			return nil, err
		}
		return http.ReadResponse(br, nil)
	}()
	if err != nil {
		_ = conn.Close()
		return nil, nil, nil, fmt.Errorf("handshake: %w", err)
	}
	_ = conn.SetDeadline(time.Time{})
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	switch {
	case resp.StatusCode != http.StatusSwitchingProtocols:
		err = fmt.Errorf("handshake answered %s", resp.Status)
	case !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket"):
		err = fmt.Errorf("Upgrade: %q", resp.Header.Get("Upgrade"))
	case resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]):
		err = fmt.Errorf("Sec-WebSocket-Accept: %q", resp.Header.Get("Sec-WebSocket-Accept"))
	}
	if err != nil {
		_ = conn.Close()
		return nil, nil, nil, err
	}
	return conn, br, resp, nil
}

// send writes b, in one write, or in writes of chop bytes when chop > 0
// (Autobahn's "in chops"): the server must not care how frames are cut.
func (p *wsPeer) send(b []byte, chop int) error {
	_ = p.conn.SetWriteDeadline(time.Now().Add(waitTimeout))
	if chop <= 0 {
		_, err := p.conn.Write(b)
		return err
	}
	for len(b) > 0 {
		n := min(chop, len(b))
		if _, err := p.conn.Write(b[:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// wsFrame is one frame the server sent, with its header bytes as they were.
type wsFrame struct {
	raw     []byte // the whole frame: header, then payload
	op      byte
	fin     bool
	payload []byte
}

func (f wsFrame) String() string {
	if len(f.raw) > 40 {
		return fmt.Sprintf("% x… (%d bytes)", f.raw[:40], len(f.raw))
	}
	return fmt.Sprintf("% x", f.raw)
}

// errEnded is what next reports when the connection has ended: EOF at a
// frame boundary, or a reset anywhere (it discards what was in flight).
var errEnded = errors.New("connection ended")

// next reads the next frame within waitTimeout. It checks what RFC 6455
// requires of every server frame (no mask, no reserved bit without an
// extension, the minimal length, control frames final and short) with the
// reference parser of packed_fuzz_test.go. It returns errEnded when the server
// closed the connection before a frame began, or reset it.
func (p *wsPeer) next() (wsFrame, error) {
	_ = p.conn.SetReadDeadline(time.Now().Add(waitTimeout))
	head := make([]byte, 2, 14)
	if _, err := io.ReadFull(p.br, head); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return wsFrame{}, fmt.Errorf("no frame and no end within %v", waitTimeout)
		}
		if errors.Is(err, io.EOF) || isReset(err) {
			return wsFrame{}, errEnded
		}
		return wsFrame{}, err
	}
	switch head[1] & 0x7f {
	case 126:
		head = head[:4]
	case 127:
		head = head[:10]
	}
	if _, err := io.ReadFull(p.br, head[2:]); err != nil {
		return wsFrame{}, fmt.Errorf("header % x cut: %w", head, err)
	}
	h, err := fuzzParseFrameHeader(head)
	if err != nil {
		return wsFrame{}, fmt.Errorf("server frame header % x: %w", head, err)
	}
	raw := make([]byte, len(head)+int(h.length))
	copy(raw, head)
	if _, err := io.ReadFull(p.br, raw[len(head):]); err != nil {
		if isReset(err) {
			return wsFrame{}, errEnded // a reset discards what was in flight
		}
		return wsFrame{}, fmt.Errorf("payload of % x cut: %w", head, err)
	}
	return wsFrame{raw: raw, op: h.opcode, fin: h.fin, payload: raw[len(head):]}, nil
}

// isReset reports whether err is a connection reset.
func isReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe"))
}

// wsExpect is one thing the server must do next.
type wsExpect struct {
	frame    []byte // exactly this frame
	code     int    // a close frame with this status (any valid reason), then the end
	end      bool   // the end of the connection, with no (further) frame
	optional bool   // the server may skip it (see maybe)
}

// exact expects exactly frame (built with sframe).
func exact(frame []byte) wsExpect { return wsExpect{frame: frame} }

// echo expects the server's frame for a whole message of opcode op.
func echo(op byte, payload []byte) wsExpect { return exact(sframe(op, payload)) }

// closed expects a close frame with status code, then the end: the
// connection failed (RFC 6455, 7.1.7) or the server closed it.
func closed(code int) wsExpect { return wsExpect{code: code} }

// ended expects the connection to end without a (further) frame.
func ended() wsExpect { return wsExpect{end: true} }

// maybe makes e optional: the server may send it or not. A message the
// client sent right before a frame that fails the connection is published
// by OnMessage, and so written by the subscriber's writer, while the
// reader, going on, may fail the connection first; the RFC lets it stop
// sending once it has.
func maybe(e wsExpect) wsExpect { e.optional = true; return e }

// expect reads the server's answer and checks it against want, in order;
// a close or an end must be the last expectation.
func (p *wsPeer) expect(t testing.TB, want ...wsExpect) {
	t.Helper()
	i := 0
	for i < len(want) {
		f, err := p.next()
		if err != nil && !errors.Is(err, errEnded) {
			t.Fatalf("expectation %d: %v", i, err)
		}
		for ; i < len(want) && want[i].optional && !want[i].matches(f, err); i++ {
		}
		if i == len(want) {
			t.Fatalf("got %v (err %v) after every expectation was met or skipped", f, err)
		}
		w := want[i]
		if !w.matches(f, err) {
			t.Fatalf("expectation %d: want %s, got frame %v (err %v)", i, w, f, err)
		}
		if w.code != 0 {
			if reason := f.payload[2:]; !utf8.Valid(reason) {
				t.Errorf("close reason %q is not UTF-8", reason)
			}
			// Answer as a client must (RFC 6455, 5.5.1): a server that
			// closes with the handshake waits for it; one that failed
			// the connection may have gone already.
			_ = p.send(cframe(wsFin|wsClose, f.payload[:2]), 0)
			if f, err := p.next(); !errors.Is(err, errEnded) {
				t.Fatalf("after the close frame: frame %v (err %v), want the end", f, err)
			}
		}
		i++
	}
}

func (w wsExpect) matches(f wsFrame, err error) bool {
	switch {
	case w.end:
		return errors.Is(err, errEnded)
	case err != nil:
		return false
	case w.code != 0:
		return f.op == wsClose && len(f.payload) >= 2 && int(binary.BigEndian.Uint16(f.payload)) == w.code
	default:
		return bytes.Equal(f.raw, w.frame)
	}
}

func (w wsExpect) String() string {
	switch {
	case w.end:
		return "the end of the connection"
	case w.code != 0:
		return fmt.Sprintf("a close frame with status %d", w.code)
	}
	return wsFrame{raw: w.frame}.String()
}
