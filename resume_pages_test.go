package fanout_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"testing"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
)

// copyStore is a ReplayStore that, like every persistent one (bbolt,
// Redis), hands each Read fresh copies of the messages it reads: what a
// resuming subscriber holds of them is its own. It keeps them in a Ring.
type copyStore struct{ *fanout.Ring }

func (s copyStore) Read(ctx context.Context, from fanout.Position, topics []string) ([]*fanout.Message, fanout.Position, error) {
	msgs, upTo, err := s.Ring.Read(ctx, from, topics)
	for i, m := range msgs {
		data := append([]byte(nil), m.Data()...)
		c := fanout.NewMessage(data)
		if m.Type() == fanout.Binary {
			c = fanout.NewBinaryMessage(data)
		}
		if m.Event() != "" {
			c = c.WithEvent(m.Event())
		}
		msgs[i] = c.Stored(m.Topic(), m.Position())
	}
	return msgs, upTo, err
}

// rawResumer opens a subscription that resumes after lastID and then
// never reads: a raw TCP connection that completes the WebSocket handshake
// with ResumeSubprotocol and ?lastEventId= (ws), or the SSE request with
// Last-Event-ID (sse), with a small receive buffer.
func rawResumer(t testing.TB, addr, kind, topic, lastID string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	require.NoError(t, conn.(*net.TCPConn).SetReadBuffer(4096))
	q := url.Values{"topic": {topic}}
	var req string
	switch kind {
	case "ws":
		q.Set("lastEventId", lastID)
		req = "GET /ws?" + q.Encode() + " HTTP/1.1\r\nHost: fanout\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
			"Sec-WebSocket-Protocol: " + fanout.ResumeSubprotocol + "\r\n\r\n"
	case "sse":
		req = "GET /sse?" + q.Encode() + " HTTP/1.1\r\nHost: fanout\r\nLast-Event-ID: " + lastID + "\r\n\r\n"
	}
	_, err = conn.Write([]byte(req))
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 16), nil) // reads little past the header
	require.NoError(t, err)
	require.Contains(t, []int{http.StatusSwitchingProtocols, http.StatusOK}, resp.StatusCode)
	return conn
}

// heapInuse returns the bytes of in-use heap spans after a collection.
func heapInuse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// TestResume_NonReadingResumersPinAPage: a client that resumes from the
// start of a long history and then does not read pins a page of it, not
// the whole: the history is read in pages, the next when the writer has
// taken the previous one. The store hands out copies, as persistent ones
// do, so each resumer's replay is its own memory.
func TestResume_NonReadingResumersPinAPage(t *testing.T) {
	const (
		history  = 4000
		size     = 1024
		resumers = 8
		batch    = 16 // MaxBatch: a page holds 4 batches, 64 messages
	)
	for _, kind := range []string{"ws", "sse"} {
		t.Run(kind, func(t *testing.T) {
			ring := fanout.NewRing(&fanout.RingOptions{Size: 2 * history})
			env := rsServer(t, nil, false, func(ho *fanout.HubOptions, _ *fanout.BrokerOptions) {
				ho.Replay = copyStore{ring}
				ho.MaxBatch = batch
				ho.WriteTimeout = -1 // they stay stalled while measured
				ho.PingInterval = -1
				ho.SendBufferSize = 4096 // the kernel takes little of the history (the Broker inherits it)
			})
			ctx := context.Background()
			data := strings.Repeat("x", size)
			for range history {
				env.publish(t, "t", data)
			}
			head, err := ring.Head(ctx)
			require.NoError(t, err)
			from := fanout.Position{Epoch: head.Epoch, Offset: head.Offset - history}.ID()

			before := heapInuse()
			addr := strings.TrimPrefix(env.srv.URL, "http://")
			for range resumers {
				rawResumer(t, addr, kind, "t", from)
			}
			subs := make([]*fanout.Subscriber, resumers)
			for i := range subs {
				subs[i] = recv(t, env.subs, "a resumer")
			}
			// Wait for their writers to stall: nothing taken or written
			// for a while.
			last, still := -1, 0
			eventually(t, func() bool {
				n := 0
				for _, s := range subs {
					n += s.QueueLen() + int(s.Delivered())
				}
				if n == last {
					still++
				} else {
					still = 0
				}
				last = n
				return still >= 100
			}, waitTimeout, "the resumers' writers stalled")
			per := (int64(heapInuse()) - int64(before)) / resumers
			t.Logf("%s: heap per non-reading resumer: %d KiB (history %d KiB; %d messages queued or delivered in all)",
				kind, per>>10, history*size>>10, last)
			require.Less(t, per, int64(1<<20), "heap per non-reading resumer; a page is %d KiB of data", 4*batch*size>>10)
		})
	}
}

// TestResume_PagedExactlyOnce: a client that resumes from far back, while
// publishers go on, gets every message after its ID exactly once, in
// order, with no resync, however many pages its history takes: over a
// Ring (which reads pages itself) and over a store that reads everything
// (whose Read the in-process engine cuts into pages), on both transports,
// with messages of another topic and broadcasts in between.
func TestResume_PagedExactlyOnce(t *testing.T) {
	const (
		history = 1500
		live    = 600
	)
	for _, store := range []string{"ring", "copy"} {
		for _, kind := range []string{"ws", "sse"} {
			t.Run(store+"/"+kind, func(t *testing.T) {
				t.Parallel()
				ring := fanout.NewRing(&fanout.RingOptions{Size: 4 * (history + live)})
				env := rsServer(t, nil, false, func(ho *fanout.HubOptions, _ *fanout.BrokerOptions) {
					ho.Replay = ring
					if store == "copy" {
						ho.Replay = copyStore{ring}
					}
					ho.MaxBatch = 4 // pages of 16 messages
				})
				ctx := context.Background()
				data := func(i int) string { return fmt.Sprintf("m%05d-%s", i, strings.Repeat("p", 100)) }
				publish := func(i int) error {
					m := fanout.NewMessage([]byte(data(i)))
					switch i % 3 {
					case 0:
						return env.hub.Publish(ctx, "a", m)
					case 1:
						return env.hub.Publish(ctx, "b", m) // not the client's topic
					}
					return env.hub.Broadcast(ctx, m)
				}
				var want []string
				for i := range history + live {
					if i%3 != 1 {
						want = append(want, data(i))
					}
				}
				head, err := ring.Head(ctx)
				require.NoError(t, err)
				for i := range history {
					require.NoError(t, publish(i))
				}
				var f *rsFeed
				if kind == "ws" {
					f = env.rsOpenWS(t, []string{"a"}, head.ID(), true, fanout.ResumeSubprotocol)
				} else {
					f = env.rsOpenSSE(t, []string{"a"}, head.ID(), false)
				}
				errs := make(chan error, 1)
				go func() { // live publishes during the replay
					for i := history; i < history+live; i++ {
						if err := publish(i); err != nil {
							errs <- err
							return
						}
					}
					errs <- nil
				}()
				got := make([]string, 0, len(want))
				for len(got) < len(want) {
					r := f.next(t)
					require.False(t, r.resync, "a resync after %d messages: %s", len(got), r.data)
					got = append(got, r.data)
				}
				require.NoError(t, <-errs)
				require.Equal(t, want, got)
				require.Empty(t, env.resyncs)
			})
		}
	}
}

// TestResume_PageEvicted: when a later page of a resuming client's
// history was evicted while the client read the earlier ones, the client
// gets the pages it had, then the resync signal and the position its
// stream goes on from, and OnResync is called with the ID it had reached:
// a gap is never silent. The client does not read while the history is
// evicted, so its writer is stalled inside the first page.
func TestResume_PageEvicted(t *testing.T) {
	t.Parallel()
	const (
		size  = 16 << 10
		batch = 1 // pages of 4 messages: 64 KiB, more than the kernel takes with these buffers
	)
	ring := fanout.NewRing(&fanout.RingOptions{Size: 64})
	connected, subs := connectHook()
	resyncs := make(chan string, 4)
	s := newServer(t, &fanout.HubOptions{
		Replay: ring, OnConnect: connected, PingInterval: -1, SendBufferSize: 4096,
		DeliveryOptions: fanout.DeliveryOptions{MaxBatch: batch, WriteTimeout: -1},
		OnResync: func(_ *fanout.Subscriber, lastID string, err error) {
			if errors.Is(err, fanout.ErrUnknownID) {
				resyncs <- lastID
			}
		},
	})
	ctx := context.Background()
	start, err := ring.Head(ctx)
	require.NoError(t, err)
	payload := func(i int) []byte { return []byte(fmt.Sprintf("%03d%s", i, strings.Repeat("e", size-3))) }
	for i := range 40 {
		require.NoError(t, s.hub.Publish(ctx, "t", fanout.NewMessage(payload(i))))
	}

	var tcp *net.TCPConn // the client's
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			tcp = c.(*net.TCPConn)
			_ = tcp.SetReadBuffer(4096)
		}
		return c, err
	}}}
	t.Cleanup(client.CloseIdleConnections)
	conn := dialCoder(t, s.url("topic=t&lastEventId="+url.QueryEscape(start.ID())),
		&websocket.DialOptions{HTTPClient: client, Subprotocols: []string{fanout.ResumeSubprotocol}})
	sub := recv(t, subs, "the resumer")
	for i := 40; i < 120; i++ { // evicts all but the last 64: the second page is gone
		require.NoError(t, s.hub.Publish(ctx, "t", fanout.NewMessage(payload(i))))
	}
	require.Empty(t, resyncs, "resynced before the client read its first page")
	require.NoError(t, tcp.SetReadBuffer(1<<20)) // reading through 4 KiB windows is slow

	var got []rsRecord
	readCtx, cancel := context.WithTimeout(ctx, waitTimeout)
	defer cancel()
	require.NoError(t, rsReadWS(readCtx, conn, func(r rsRecord) bool {
		got = append(got, r)
		return !r.position
	}))
	require.Len(t, got, 4+2, "the first page, the resync signal, the position")
	for i, r := range got[:4] {
		require.True(t, r.data == string(payload(i)), "message %d is %.8q", i, r.data)
	}
	require.True(t, got[4].resync, "then the resync signal")
	require.Equal(t, "unknown", got[4].data)
	head, err := ring.Head(ctx)
	require.NoError(t, err)
	require.Equal(t, head.ID(), got[5].id, "then the head: the stream goes on from there")
	require.Equal(t, got[3].id, recv(t, resyncs, "OnResync"), "OnResync gets the ID the client had reached")

	require.NoError(t, s.hub.Publish(ctx, "t", fanout.NewMessage([]byte("live"))))
	require.NoError(t, rsReadWS(readCtx, conn, func(r rsRecord) bool {
		require.Equal(t, "live", r.data, "%.8q", r.data)
		return false
	}))
	require.Zero(t, sub.Dropped())
}

// TestResume_ShutdownMidReplay: a Hub shut down while a resuming client is
// still paging through its history writes the pages it read, and nothing
// of the log that follows them: not the message of a topic the client
// joined meanwhile (whose ID would make it resume past the rest of its
// history). The client's last ID is the end of what it got in order, and
// resuming from it on the Hub that replaces this one gets the rest.
func TestResume_ShutdownMidReplay(t *testing.T) {
	t.Parallel()
	const size = 16 << 10
	ring := fanout.NewRing(&fanout.RingOptions{Size: 1000})
	connected, subs := connectHook()
	opts := &fanout.HubOptions{
		Replay: ring, OnConnect: connected, PingInterval: -1, SendBufferSize: 4096,
		DeliveryOptions: fanout.DeliveryOptions{MaxBatch: 1, WriteTimeout: -1}, // pages of 4 messages
	}
	hub := fanout.NewHub(opts)
	srv := httptest.NewServer(hub)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { _ = hub.Close() })
	ctx := context.Background()
	start, err := ring.Head(ctx)
	require.NoError(t, err)
	payload := func(i int) string { return fmt.Sprintf("%03d%s", i, strings.Repeat("s", size-3)) }
	for i := range 40 {
		require.NoError(t, hub.Publish(ctx, "a", fanout.NewMessage([]byte(payload(i)))))
	}

	var tcp *net.TCPConn // the client's
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			tcp = c.(*net.TCPConn)
			_ = tcp.SetReadBuffer(4096)
		}
		return c, err
	}}}
	t.Cleanup(hc.CloseIdleConnections)
	u := "ws" + strings.TrimPrefix(srv.URL, "http") + "/?topic=a&lastEventId=" + url.QueryEscape(start.ID())
	conn := dialCoder(t, u, &websocket.DialOptions{HTTPClient: hc, Subprotocols: []string{fanout.ResumeSubprotocol}})
	sub := recv(t, subs, "the resumer")
	require.NoError(t, sub.Subscribe(ctx, "b"))
	require.NoError(t, hub.Publish(ctx, "b", fanout.NewMessage([]byte("joined"))))

	shut := make(chan error, 1)
	go func() { shut <- hub.Shutdown(ctx) }()
	eventually(t, func() bool { return errors.Is(sub.Subscribe(ctx, "c"), fanout.ErrNotSubscribed) }, waitTimeout, "the subscriber draining")
	require.NoError(t, tcp.SetReadBuffer(1<<20))
	var got []rsRecord
	err = rsReadWS(ctx, conn, func(r rsRecord) bool { got = append(got, r); return true })
	require.Equal(t, websocket.StatusGoingAway, websocket.CloseStatus(err), "%v", err)
	require.NoError(t, <-shut)
	require.NotEmpty(t, got)
	require.Less(t, len(got), 40, "the whole history was written: nothing was left to abandon")
	for i, r := range got {
		require.True(t, r.data == payload(i), "record %d is %.8q, want message %d", i, r.data, i)
	}

	next := fanout.NewHub(opts) // over the same Ring: it is handed over
	srv2 := httptest.NewServer(next)
	t.Cleanup(srv2.Close)
	t.Cleanup(func() { require.NoError(t, next.Close()) })
	u = "ws" + strings.TrimPrefix(srv2.URL, "http") + "/?topic=a&topic=b&lastEventId=" + url.QueryEscape(got[len(got)-1].id)
	rest := dialCoder(t, u, &websocket.DialOptions{Subprotocols: []string{fanout.ResumeSubprotocol}})
	var more []string
	readCtx, cancel := context.WithTimeout(ctx, waitTimeout)
	defer cancel()
	require.NoError(t, rsReadWS(readCtx, rest, func(r rsRecord) bool {
		require.False(t, r.resync)
		if !r.position {
			more = append(more, r.data)
		}
		return len(got)+len(more) < 41
	}))
	for i, d := range more[:len(more)-1] {
		require.True(t, d == payload(len(got)+i), "resumed record %d is %.8q", i, d)
	}
	require.Equal(t, "joined", more[len(more)-1])
}
