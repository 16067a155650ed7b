package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/fanout-go/fanout/internal/harness"
)

// The raw clients speak just enough WebSocket and SSE to check every
// message, at a fraction of a full client's cost per message, so the
// nodes, not the clients, use most of the machine.

// dialTCP dials addr; a positive rcvbuf sets SO_RCVBUF before the
// connection is made (so the window it advertises stays small: a client
// that reads slowly, or not at all, is found slow sooner).
func dialTCP(ctx context.Context, addr string, rcvbuf int) (*net.TCPConn, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	if rcvbuf > 0 {
		d.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
			})
			if err != nil {
				return err
			}
			return serr
		}
	}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// resetConn closes c with a TCP reset (SO_LINGER 0): whatever the peer was
// writing is cut, wherever it was in a frame.
func resetConn(c *net.TCPConn) {
	_ = c.SetLinger(0)
	_ = c.Close()
}

// tcpState returns the kernel's state of c (tcpi_state of TCP_INFO: 1
// established, 7 closed, 8 close-wait), without reading from it.
func tcpState(c *net.TCPConn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var info [232]byte
	var serr error
	err = rc.Control(func(fd uintptr) {
		l := uint32(len(info))
		_, _, e := syscall.Syscall6(syscall.SYS_GETSOCKOPT, fd, syscall.IPPROTO_TCP, syscall.TCP_INFO,
			uintptr(unsafe.Pointer(&info[0])), uintptr(unsafe.Pointer(&l)), 0)
		if e != 0 {
			serr = e
		}
	})
	if err != nil {
		return 0, err
	}
	return int(info[0]), serr
}

const tcpEstablished = 1

// wsConn is a raw WebSocket client connection.
type wsConn struct {
	tc       *net.TCPConn
	br       *bufio.Reader
	protocol string // the subprotocol the server selected
	wmu      sync.Mutex
	buf      []byte
}

// dialWS opens a WebSocket to addr+path, offering protocol (if any).
func dialWS(ctx context.Context, addr, path, protocol string, rcvbuf int) (*wsConn, error) {
	tc, err := dialTCP(ctx, addr, rcvbuf)
	if err != nil {
		return nil, err
	}
	var header string
	if protocol != "" {
		header = "Sec-WebSocket-Protocol: " + protocol + "\r\n"
	}
	br, resp, err := harness.HandshakeWS(tc, addr, path, header, 64<<10, 10*time.Second)
	if err != nil {
		return nil, err
	}
	return &wsConn{tc: tc, br: br, protocol: resp.Header.Get("Sec-WebSocket-Protocol")}, nil
}

// closeError is a close frame from the server.
type closeError struct {
	code   int
	reason string
}

func (e *closeError) Error() string { return fmt.Sprintf("close %d %q", e.code, e.reason) }

// next returns the next data message (opcode and payload, which aliases
// an internal buffer until the next call), answering pings.
func (c *wsConn) next() (byte, []byte, error) {
	var op byte
	msg := c.buf[:0]
	for {
		var h [14]byte
		if _, err := io.ReadFull(c.br, h[:2]); err != nil {
			return 0, nil, err
		}
		fin, fop, masked := h[0]&0x80 != 0, h[0]&0x0f, h[1]&0x80 != 0
		if masked {
			return 0, nil, errors.New("masked server frame")
		}
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126:
			if _, err := io.ReadFull(c.br, h[2:4]); err != nil {
				return 0, nil, err
			}
			n = uint64(binary.BigEndian.Uint16(h[2:4]))
		case 127:
			if _, err := io.ReadFull(c.br, h[2:10]); err != nil {
				return 0, nil, err
			}
			n = binary.BigEndian.Uint64(h[2:10])
		}
		if n > 64<<20 {
			return 0, nil, errors.New("frame too large")
		}
		if fop >= 8 { // control frames: not fragmented, at most 125 bytes
			p := make([]byte, n)
			if _, err := io.ReadFull(c.br, p); err != nil {
				return 0, nil, err
			}
			switch fop {
			case 0x8:
				ce := &closeError{code: 1005}
				if len(p) >= 2 {
					ce.code, ce.reason = int(binary.BigEndian.Uint16(p)), string(p[2:])
				}
				return 0, nil, ce
			case 0x9:
				if err := c.write(0xA, p); err != nil {
					return 0, nil, err
				}
			}
			continue
		}
		if fop != 0 {
			op = fop
		}
		start := len(msg)
		msg = append(msg, make([]byte, n)...)
		if _, err := io.ReadFull(c.br, msg[start:]); err != nil {
			return 0, nil, err
		}
		if fin {
			c.buf = msg
			return op, msg, nil
		}
	}
}

// write writes a client frame of fewer than 126 bytes.
func (c *wsConn) write(op byte, p []byte) error {
	f := harness.ClientFrame(op, p)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.tc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := c.tc.Write(f)
	return err
}

// closeNormally sends a close frame (1000) and closes the connection.
func (c *wsConn) closeNormally() {
	_ = c.write(0x8, []byte{0x03, 0xe8})
	_ = c.tc.Close()
}

// sseConn is a raw SSE client connection.
type sseConn struct {
	tc *net.TCPConn
	br *bufio.Reader
}

// dialSSE opens an event stream at addr+path, resuming from lastID if
// any (Last-Event-ID, as an EventSource does).
func dialSSE(ctx context.Context, addr, path, lastID string, rcvbuf int) (*sseConn, error) {
	tc, err := dialTCP(ctx, addr, rcvbuf)
	if err != nil {
		return nil, err
	}
	req := "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nAccept: text/event-stream\r\n"
	if lastID != "" {
		req += "Last-Event-ID: " + lastID + "\r\n"
	}
	req += "\r\n"
	br, resp, err := harness.RequestHead(tc, req, 64<<10, 10*time.Second)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		tc.Close()
		return nil, fmt.Errorf("SSE: %s", resp.Status)
	}
	if resp.TransferEncoding != nil || resp.ContentLength >= 0 {
		tc.Close()
		return nil, fmt.Errorf("SSE: unexpected framing %v %d", resp.TransferEncoding, resp.ContentLength)
	}
	_ = tc.SetDeadline(time.Time{})
	return &sseConn{tc: tc, br: br}, nil
}

// sseEvent is one event; its slices alias buffers until the next call.
type sseEvent struct {
	id, event, data []byte
	hasID           bool
}

// next returns the next event (comments and retry fields are skipped).
func (c *sseConn) next(ev *sseEvent) error {
	ev.id, ev.event, ev.data, ev.hasID = ev.id[:0], ev.event[:0], ev.data[:0], false
	empty := true
	for {
		line, err := c.br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			return errors.New("SSE line too long")
		}
		if err != nil {
			return err
		}
		line = line[:len(line)-1]
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if len(line) == 0 {
			if empty {
				continue
			}
			return nil
		}
		if line[0] == ':' {
			continue
		}
		name, val := line, []byte(nil)
		if i := indexByte(line, ':'); i >= 0 {
			name, val = line[:i], line[i+1:]
			if len(val) > 0 && val[0] == ' ' {
				val = val[1:]
			}
		}
		switch string(name) {
		case "id":
			ev.id, ev.hasID = append(ev.id, val...), true
			empty = false
		case "event":
			ev.event = append(ev.event, val...)
			empty = false
		case "data":
			if len(ev.data) > 0 {
				ev.data = append(ev.data, '\n')
			}
			ev.data = append(ev.data, val...)
			empty = false
		}
	}
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}
