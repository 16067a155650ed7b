// Shared test helpers for compression: deflate cases (payloads from
// internal/testkit/payload) and a raw
// WebSocket client that reads compressed frames.

package fanout_test

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/internal/testkit/payload"
)

// deflateOffer is what browsers and most clients offer.
const deflateOffer = "permessage-deflate; client_max_window_bits"

// deflateCase is a message of the compression tests, and whether a
// client that negotiated permessage-deflate receives it compressed from a
// Hub with the default threshold (512 bytes).
type deflateCase struct {
	m          *fanout.Message
	compressed bool
}

// deflateCases returns text and binary messages, small and large, on
// both sides of the threshold, and ones that deflate cannot shrink, each
// with its own content (seed).
func deflateCases(seed uint64) []deflateCase {
	text := func(n int) *fanout.Message { return fanout.NewMessage(payload.JSON(n, seed)) }
	bin := func(n int) *fanout.Message { return fanout.NewBinaryMessage(payload.JSON(n, seed+1)) }
	return []deflateCase{
		{fanout.NewMessage(nil), false},
		{fanout.NewMessage([]byte("hi")), false},
		{text(100), false},
		{text(511), false},                                        // below the threshold
		{text(512), true},                                         // at it
		{fanout.NewMessage(bytes.Repeat([]byte("é"), 300)), true}, // 600 bytes, two per rune
		{text(1 << 10), true},
		{bin(4 << 10), true},
		{fanout.NewBinaryMessage(payload.Random(4<<10, seed)), false}, // deflate adds bytes: sent plain
		{text(16 << 10), true},
		{bin(64 << 10), true},
		{text(70_000), true}, // a 64-bit length when plain
		{fanout.NewBinaryMessage(append([]byte{0xff, 0xfe}, bytes.Repeat([]byte{0}, 100_000)...)), true},
	}
}

// deflateMessages returns the messages of rounds rounds of deflateCases,
// each round with new content.
func deflateMessages(rounds int) ([]*fanout.Message, []deflateCase) {
	var ms []*fanout.Message
	var cs []deflateCase
	for r := range rounds {
		for _, c := range deflateCases(uint64(r) + 1) {
			ms = append(ms, c.m)
			cs = append(cs, c)
		}
	}
	return ms, cs
}

// rawWSClient is a WebSocket client for the wire tests: it offers an
// extension of the test's choosing and reads the server's frames as they
// are, RSV1 included, so a test sees which messages came compressed and
// inflates them itself.
type rawWSClient struct {
	conn net.Conn
	br   *bufio.Reader
	resp *http.Response
}

// rawFrame is one frame as the server sent it.
type rawFrame struct {
	fin, rsv1, rsv2, rsv3 bool
	opcode                byte
	payload               []byte
}

// dialRawWS opens a WebSocket to url (ws://), offering subprotocol and the
// extensions ext ("" for none). It is closed when the test ends.
func dialRawWS(t testing.TB, url, subprotocol, ext string) *rawWSClient {
	t.Helper()
	var extra string
	if subprotocol != "" {
		extra += "Sec-WebSocket-Protocol: " + subprotocol + "\r\n"
	}
	if ext != "" {
		extra += "Sec-WebSocket-Extensions: " + ext + "\r\n"
	}
	conn, br, resp, err := wsHandshake(url, extra)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return &rawWSClient{conn: conn, br: br, resp: resp}
}

// extensions returns the Sec-WebSocket-Extensions of the server's answer.
func (c *rawWSClient) extensions() string { return c.resp.Header.Get("Sec-WebSocket-Extensions") }

// next reads the next frame, within waitTimeout.
func (c *rawWSClient) next(t testing.TB) rawFrame {
	t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(waitTimeout))
	var h [2]byte
	_, err := io.ReadFull(c.br, h[:])
	require.NoError(t, err)
	f := rawFrame{
		fin: h[0]&0x80 != 0, rsv1: h[0]&0x40 != 0, rsv2: h[0]&0x20 != 0, rsv3: h[0]&0x10 != 0,
		opcode: h[0] & 0x0f,
	}
	require.Zero(t, h[1]&0x80, "a server frame is never masked")
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var l [2]byte
		_, err = io.ReadFull(c.br, l[:])
		n = uint64(binary.BigEndian.Uint16(l[:]))
		require.True(t, n >= 126, "length %d not minimally encoded", n)
	case 127:
		var l [8]byte
		_, err = io.ReadFull(c.br, l[:])
		n = binary.BigEndian.Uint64(l[:])
		require.True(t, n > 0xffff && n < 1<<32, "length %d", n)
	}
	require.NoError(t, err)
	f.payload = make([]byte, n)
	_, err = io.ReadFull(c.br, f.payload)
	require.NoError(t, err)
	return f
}

// message reads the next data frame (a whole message: the Hub never
// fragments) and returns it as the application sees it, inflated when
// RSV1 is set, with the frame.
func (c *rawWSClient) message(t testing.TB) (msg, rawFrame) {
	t.Helper()
	f := c.next(t)
	require.True(t, f.opcode == 1 || f.opcode == 2, "opcode %d: want a data frame", f.opcode)
	require.True(t, f.fin, "the Hub does not fragment")
	require.False(t, f.rsv2 || f.rsv3, "RSV2 and RSV3 are never set")
	data := f.payload
	if f.rsv1 {
		var err error
		data, err = inflate(f.payload)
		require.NoError(t, err)
	}
	return msg{binary: f.opcode == 2, data: data}, f
}

// inflate decompresses one message's payload as RFC 7692 says (section
// 7.2.2): the tail the sender removed is added back. It uses a fresh
// decompressor, with no window from earlier messages: it succeeds only
// for a message compressed without context takeover. A final empty block
// ends the stream, so that a payload cut short is an error, not a silent
// end.
func inflate(p []byte) ([]byte, error) {
	if bytes.HasSuffix(p, []byte{0, 0, 0xff, 0xff}) {
		return nil, fmt.Errorf("payload ends with the tail the sender must remove: %x", p[len(p)-4:])
	}
	r := flate.NewReader(io.MultiReader(bytes.NewReader(p), bytes.NewReader([]byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff})))
	defer r.Close()
	return io.ReadAll(r)
}

// sizes returns the sizes of ms, for failure messages.
func sizes(ms []*fanout.Message) string {
	var b strings.Builder
	for i, m := range ms {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(m.Len()))
	}
	return b.String()
}
