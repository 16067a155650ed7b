package fanout_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/coder/websocket"
	gws "github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/internal/testkit/payload"
)

// deflateAnswer is the extension a Hub with Compression accepts, as
// coder/websocket words it: without context takeover on either side.
const deflateAnswer = "permessage-deflate; client_no_context_takeover; server_no_context_takeover"

// publishAll publishes ms to topic.
func publishAll(t *testing.T, hub *fanout.Hub, topic string, ms []*fanout.Message) {
	t.Helper()
	for _, m := range ms {
		require.NoError(t, hub.Publish(context.Background(), topic, m))
	}
}

// plainWireSize is what ms take on the wire uncompressed.
func plainWireSize(ms []*fanout.Message) int {
	n := 0
	for _, m := range ms {
		n += len(m.WireFrame())
	}
	return n
}

// TestCompression_Clients: each client library that offers
// permessage-deflate reads, on one connection, three rounds of text and
// binary messages, small and large, compressed and not, each exactly as
// published; and what the Hub wrote to it is well under their plain size.
func TestCompression_Clients(t *testing.T) {
	t.Parallel()
	clients := []struct {
		name string
		dial func(t *testing.T, url string) (*collector, http.Header)
	}{
		{"coder", func(t *testing.T, url string) (*collector, http.Header) {
			c, resp := dialCoderResp(t, url, &websocket.DialOptions{CompressionMode: websocket.CompressionNoContextTakeover})
			return collectCoder(t, c), resp.Header
		}},
		// coder/websocket offering context takeover gets none, and reads
		// each message with its own window.
		{"coder_context_takeover", func(t *testing.T, url string) (*collector, http.Header) {
			c, resp := dialCoderResp(t, url, &websocket.DialOptions{CompressionMode: websocket.CompressionContextTakeover})
			return collectCoder(t, c), resp.Header
		}},
		{"gorilla", func(t *testing.T, url string) (*collector, http.Header) {
			d := &gws.Dialer{EnableCompression: true, HandshakeTimeout: waitTimeout}
			c, resp, err := d.Dial(url, nil)
			require.NoError(t, err)
			t.Cleanup(func() { _ = c.Close() })
			return collectGorilla(t, c), resp.Header
		}},
	}
	for _, cl := range clients {
		t.Run(cl.name, func(t *testing.T) {
			t.Parallel()
			s := newCountingServer(t, &fanout.HubOptions{Compression: true, PingInterval: -1})
			col, h := cl.dial(t, s.url("topic=t"))
			assert.Equal(t, deflateAnswer, h.Get("Sec-WebSocket-Extensions"))
			cc := s.nextConn(t)
			eventually(t, func() bool { return s.hub.Len() == 1 }, waitTimeout, "subscribed")

			ms, _ := deflateMessages(3)
			before := cc.bytes.Load()
			publishAll(t, s.hub, "t", ms)
			assertSameMsgs(t, asMsgs(ms), col.waitN(t, len(ms)))
			wrote, plain := int(cc.bytes.Load()-before), plainWireSize(ms)
			t.Logf("%d messages: %d bytes on the wire, %d plain", len(ms), wrote, plain)
			assert.Less(t, wrote, plain/4, "compressed on the wire")
			assert.Equal(t, uint64(wrote), s.hub.Stats().Bytes, "Stats.Bytes counts the compressed bytes")
		})
	}
}

// dialCoderResp is dialCoder that also returns the handshake's response.
func dialCoderResp(t testing.TB, url string, opts *websocket.DialOptions) (*websocket.Conn, *http.Response) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, url, opts)
	require.NoError(t, err)
	c.SetReadLimit(-1)
	t.Cleanup(func() { _ = c.CloseNow() })
	return c, resp
}

// TestCompression_Wire reads the frames themselves: a message at or over
// the threshold that deflate shrinks has RSV1 set and a payload that a
// fresh decompressor (no window from earlier messages) inflates to the
// message, without the 0x00 0x00 0xff 0xff tail; every other message is
// the plain frame, byte for byte. Frames of both kinds share a batch's
// one socket write.
func TestCompression_Wire(t *testing.T) {
	t.Parallel()
	onConnect, subs := connectHook()
	s := newCountingServer(t, &fanout.HubOptions{
		Compression:     true,
		DeliveryOptions: fanout.DeliveryOptions{MaxBatchBytes: 4 << 20},
		OnConnect:       onConnect,
		PingInterval:    -1,
	})
	c := dialRawWS(t, s.url("topic=t"), "", deflateOffer)
	assert.Equal(t, deflateAnswer, c.extensions())
	cc := s.nextConn(t)
	sub := recv(t, subs, "subscriber")

	ms, cases := deflateMessages(2)
	ms = append([]*fanout.Message{fanout.NewMessage([]byte("first"))}, ms...)
	cases = append([]deflateCase{{ms[0], false}}, cases...)
	writes0 := cc.writes.Load()
	release := queueBehindHeldWrite(t, s, cc, sub, ms...)
	release()
	for i, dc := range cases {
		got, f := c.message(t)
		assert.Equal(t, dc.compressed, f.rsv1, "message %d (%d bytes): compressed", i, dc.m.Len())
		assert.Equal(t, dc.m.Type() == fanout.Binary, got.binary, "message %d: type", i)
		assert.True(t, bytes.Equal(dc.m.Data(), got.data), "message %d (%d bytes): payload", i, dc.m.Len())
		if f.rsv1 {
			assert.Less(t, len(f.payload), dc.m.Len(), "message %d: compressed is smaller", i)
		}
	}
	assert.Equal(t, writes0+2, cc.writes.Load(), "the blocked message, then one write for the other %d (%s)", len(ms)-1, sizes(ms))
}

// TestCompression_Threshold: CompressionThreshold sets the smallest
// message compressed; negative compresses any that deflate shrinks.
func TestCompression_Threshold(t *testing.T) {
	t.Parallel()
	small := fanout.NewMessage(bytes.Repeat([]byte("ab"), 40)) // 80 bytes that deflate shrinks
	cases := []struct {
		name      string
		threshold int
		compress  map[int]bool // message size: compressed
	}{
		{"default", 0, map[int]bool{80: false, 511: false, 512: true, 4096: true}},
		{"4096", 4096, map[int]bool{80: false, 512: false, 4095: false, 4096: true}},
		{"negative", -1, map[int]bool{80: true, 511: true, 512: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, &fanout.HubOptions{Compression: true, CompressionThreshold: tc.threshold, PingInterval: -1})
			c := dialRawWS(t, s.url("topic=t"), "", deflateOffer)
			eventually(t, func() bool { return s.hub.Len() == 1 }, waitTimeout, "subscribed")
			for _, n := range []int{80, 511, 512, 4095, 4096} {
				want, ok := tc.compress[n]
				if !ok {
					continue
				}
				m := fanout.NewMessage(payload.JSON(n, 9))
				if n == 80 {
					m = small
				}
				require.NoError(t, s.hub.Publish(context.Background(), "t", m))
				got, f := c.message(t)
				assert.Equal(t, want, f.rsv1, "%d bytes: compressed", n)
				assert.Equal(t, m.Data(), got.data)
			}
		})
	}
}

// TestCompression_Negotiation: the extension is accepted only by a Hub
// with Compression, only from a client that offers it, and only in its
// no-context-takeover form; clients that did not negotiate it get plain
// frames, and so do packed and resume subscribers, which did, while the
// Hub compresses for others at the same time.
func TestCompression_Negotiation(t *testing.T) {
	t.Parallel()
	big := fanout.NewMessage(payload.JSON(8<<10, 3))
	cases := []struct {
		name        string
		compression bool
		subprotocol string
		offer       string
		answer      string
		compressed  bool
	}{
		{name: "off_offered", offer: deflateOffer},
		{name: "on_not_offered", compression: true},
		{name: "on_offered", compression: true, offer: deflateOffer, answer: deflateAnswer, compressed: true},
		{name: "on_offered_plainly", compression: true, offer: "permessage-deflate", answer: deflateAnswer, compressed: true},
		{name: "on_offered_no_context_takeover", compression: true,
			offer: "permessage-deflate; client_no_context_takeover; server_no_context_takeover", answer: deflateAnswer, compressed: true},
		// A window smaller than 32 KiB for the server's messages is not
		// something coder/websocket (nor compress/flate) can do: refused.
		{name: "on_offered_small_window", compression: true, offer: "permessage-deflate; server_max_window_bits=10"},
		{name: "on_offered_small_window_then_any", compression: true,
			offer: "permessage-deflate; server_max_window_bits=10, permessage-deflate", answer: deflateAnswer, compressed: true},
		{name: "on_other_extension", compression: true, offer: "x-webkit-deflate-frame"},
		{name: "on_packed", compression: true, subprotocol: fanout.PackedSubprotocol, offer: deflateOffer, answer: deflateAnswer, compressed: true},
		{name: "on_resume", compression: true, subprotocol: fanout.ResumeSubprotocolV2, offer: deflateOffer, answer: deflateAnswer, compressed: true},
		{name: "off_resume", subprotocol: fanout.ResumeSubprotocolV2, offer: deflateOffer},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, &fanout.HubOptions{Compression: tc.compression, Packing: true, PingInterval: -1})
			c := dialRawWS(t, s.url("topic=t"), tc.subprotocol, tc.offer)
			// One that compresses on the same Hub, for the mixed cases.
			other := dialRawWS(t, s.url("topic=t"), "", deflateOffer)
			assert.Equal(t, tc.answer, c.extensions())
			eventually(t, func() bool { return s.hub.Len() == 2 }, waitTimeout, "subscribed")
			require.NoError(t, s.hub.Publish(context.Background(), "t", big))
			f := c.next(t)
			for tc.subprotocol != "" && len(f.payload) < 128 {
				f = c.next(t) // a position record (ResumeSubprotocolV2), a few dozen bytes: the message follows
			}
			assert.Equal(t, tc.compressed, f.rsv1, "compressed")
			if tc.subprotocol == "" {
				got := f.payload
				if f.rsv1 {
					var err error
					got, err = inflate(f.payload)
					require.NoError(t, err)
				}
				assert.True(t, bytes.Equal(big.Data(), got), "the message")
			} else {
				payload := f.payload
				if f.rsv1 {
					var err error
					payload, err = inflate(f.payload)
					require.NoError(t, err)
				}
				var got []byte
				require.NoError(t, fanout.UnpackRecords(payload, func(r fanout.Record) error {
					if !r.Resync && !r.Position {
						got = append(got, r.Data...)
					}
					return nil
				}))
				assert.True(t, bytes.Equal(big.Data(), got), "the packed frame's message")
			}
			o, of := other.message(t)
			assert.Equal(t, tc.compression, of.rsv1, "the other client's frame compressed")
			assert.Equal(t, big.Data(), o.data)
		})
	}
}

// TestCompression_ClientSends: a client that negotiated the extension may
// send compressed messages: OnMessage gets them inflated, text and binary;
// ReadLimit bounds the inflated size, so a small compressed message that
// inflates past it closes the connection with 1009 (message too big).
func TestCompression_ClientSends(t *testing.T) {
	t.Parallel()
	got := make(chan msg, 16)
	s := newServer(t, &fanout.HubOptions{
		Compression: true,
		ReadLimit:   64 << 10,
		OnMessage: func(_ context.Context, _ *fanout.Subscriber, m *fanout.Message) {
			got <- msg{binary: m.Type() == fanout.Binary, data: bytes.Clone(m.Data())}
		},
		PingInterval: -1,
	})
	// coder/websocket compresses what it sends from 512 bytes on.
	c, _ := dialCoderResp(t, s.url("topic=t"), &websocket.DialOptions{CompressionMode: websocket.CompressionNoContextTakeover})
	col := collectCoder(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for i, p := range [][]byte{payload.JSON(4<<10, 1), []byte("small"), payload.JSON(60<<10, 2)} {
		typ := websocket.MessageText
		if i == 1 {
			typ = websocket.MessageBinary
		}
		require.NoError(t, c.Write(ctx, typ, p))
		m := recv(t, got, "the client's message")
		assert.Equal(t, typ == websocket.MessageBinary, m.binary)
		assert.True(t, bytes.Equal(p, m.data), "message %d (%d bytes) inflated intact", i, len(p))
	}

	require.NoError(t, c.Write(ctx, websocket.MessageBinary, make([]byte, 1<<20))) // about 1 KiB compressed
	err := col.closeErr(t)
	assert.Equal(t, int(websocket.StatusMessageTooBig), closeStatus(err), "close: %v", err)
	assert.Empty(t, got, "the inflated oversized message never reached OnMessage")
}

// TestCompression_SharedFrame: a Message's compressed frame is built once
// and then shared: later uses allocate nothing and return the same bytes.
func TestCompression_SharedFrame(t *testing.T) {
	m := fanout.NewMessage(payload.JSON(4<<10, 5))
	first := m.WireDeflateFrame()
	require.NotNil(t, first)
	if raceEnabled {
		return // the race detector changes what allocates
	}
	allocs := testing.AllocsPerRun(100, func() {
		if f := m.WireDeflateFrame(); &f[0] != &first[0] {
			t.Fatal("the compressed frame was built again")
		}
	})
	assert.Zero(t, allocs, "allocations per use of a compressed frame")
	assert.Nil(t, fanout.NewBinaryMessage(payload.Random(1000, 1)).WireDeflateFrame(), "an incompressible message has none")
	assert.True(t, strings.HasPrefix(string(first[:1]), "\xc1"), "FIN, RSV1 and the text opcode: %x", first[0])
}

// TestCompression_PackedFrames: on the resume and packed subprotocols a
// batch is one packed frame, compressed from each message's records,
// compressed once per publish and shared: coder/websocket and
// gorilla/websocket inflate the frame of a whole batch (written in one
// socket write) to the records published, with their topic on v2, and the
// wire carries a fraction of the plain bytes.
func TestCompression_PackedFrames(t *testing.T) {
	t.Parallel()
	type reader func() (binary bool, data []byte, err error)
	clients := []struct {
		name string
		dial func(t *testing.T, url, proto string) (reader, http.Header)
	}{
		{"coder", func(t *testing.T, url, proto string) (reader, http.Header) {
			c, resp := dialCoderResp(t, url, &websocket.DialOptions{
				CompressionMode: websocket.CompressionNoContextTakeover, Subprotocols: []string{proto}})
			return func() (bool, []byte, error) {
				typ, b, err := c.Read(context.Background())
				return typ == websocket.MessageBinary, b, err
			}, resp.Header
		}},
		{"gorilla", func(t *testing.T, url, proto string) (reader, http.Header) {
			d := &gws.Dialer{EnableCompression: true, HandshakeTimeout: waitTimeout, Subprotocols: []string{proto}}
			c, resp, err := d.Dial(url, nil)
			require.NoError(t, err)
			t.Cleanup(func() { _ = c.Close() })
			return func() (bool, []byte, error) {
				typ, b, err := c.ReadMessage()
				return typ == gws.BinaryMessage, b, err
			}, resp.Header
		}},
	}
	for _, cl := range clients {
		for _, proto := range []string{fanout.ResumeSubprotocolV2, fanout.ResumeSubprotocol, fanout.PackedSubprotocolV2, fanout.PackedSubprotocol} {
			t.Run(cl.name+"/"+proto, func(t *testing.T) {
				t.Parallel()
				onConnect, subs := connectHook()
				s := newCountingServer(t, &fanout.HubOptions{Compression: true, Packing: true, PingInterval: -1,
					Replay: fanout.NewRing(nil), OnConnect: onConnect,
					DeliveryOptions: fanout.DeliveryOptions{MaxBatchBytes: 4 << 20}})
				read, h := cl.dial(t, s.url("topic=t"), proto)
				assert.Equal(t, deflateAnswer, h.Get("Sec-WebSocket-Extensions"))
				cc := s.nextConn(t)
				sub := recv(t, subs, "subscriber")

				if strings.HasPrefix(proto, "fanout.resume") {
					// The position record goes first: read it, so that the
					// write held below is the first message's.
					_, frame, err := read()
					require.NoError(t, err)
					require.NoError(t, fanout.UnpackRecords(frame, func(r fanout.Record) error {
						require.True(t, r.Position, "the first frame is the position")
						return nil
					}))
				}
				ms, _ := deflateMessages(2)
				before, writes := cc.bytes.Load(), cc.writes.Load()
				release := queueBehindHeldWrite(t, s, cc, sub, ms...)
				release()
				var got []fanout.Record
				for len(got) < len(ms) {
					binary, frame, err := read()
					require.NoError(t, err)
					require.True(t, binary, "a packed frame is binary")
					require.NoError(t, fanout.UnpackRecords(frame, func(r fanout.Record) error {
						if !r.Position {
							r.Data = bytes.Clone(r.Data)
							got = append(got, r)
						}
						return nil
					}))
				}
				require.Len(t, got, len(ms))
				for i, m := range ms {
					assert.Equal(t, m.Type(), got[i].Type, "message %d: type", i)
					assert.True(t, bytes.Equal(m.Data(), got[i].Data), "message %d (%d bytes): payload", i, m.Len())
					if strings.HasSuffix(proto, "v2") {
						assert.Equal(t, "t", got[i].Topic, "message %d: topic", i)
					}
					if strings.HasPrefix(proto, "fanout.resume") {
						assert.NotEmpty(t, got[i].ID, "message %d: ID", i)
					}
				}
				wrote, plain := int(cc.bytes.Load()-before), plainWireSize(ms)
				t.Logf("%d messages in %d writes: %d bytes on the wire, %d plain", len(ms), cc.writes.Load()-writes, wrote, plain)
				assert.Less(t, wrote, plain/4, "compressed on the wire")
			})
		}
	}
}
