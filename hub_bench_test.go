// Benchmarks of the Hub (hub.go, publish.go), of preparing a Message
// (prepared.go) and of decoding packed records (packed.go).

package fanout_test

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/internal/testkit"
)

// The benchmarks and allocation tests run a real Hub behind
// httptest.NewServer with real loopback TCP clients. Each client is a
// benchClient: it does the WebSocket opening handshake itself (RFC 6455,
// 4.1) and then only reads raw bytes from the socket into a fixed buffer
// and throws them away. It parses no frame and allocates nothing per read,
// so what the benchmarks and allocation tests measure is the Hub's work
// (publish, enqueue, the writers, their socket writes), not a client
// library's. It never answers pings (the Hub under test has them off); at
// the end the fixture closes the Hub, then the clients' sockets.

// benchTopic is the topic every benchmark client subscribes to.
const benchTopic = "bench"

// benchPayload is the 64-byte payload the benchmarks publish.
var benchPayload = bytes.Repeat([]byte("0123456789abcdef"), 4)

// benchClient is one reading client.
type benchClient = testkit.Discarder

// benchDial opens a WebSocket to url (an http:// URL), offering
// subprotocol when it is not empty, and starts the read-and-discard loop.
func benchDial(url, subprotocol string) (*benchClient, error) {
	return benchDialExt(url, subprotocol, "")
}

// benchDialExt is benchDial offering the WebSocket extensions ext too
// ("" for none): the server must accept an extension where one is offered.
// The client reads compressed frames as it reads any: it does not inflate.
func benchDialExt(url, subprotocol, ext string) (*benchClient, error) {
	const key = "dGhlIHNhbXBsZSBub25jZQ==" // any 16 bytes, base64: the RFC's sample
	var h strings.Builder
	h.WriteString("Upgrade: websocket\r\nConnection: Upgrade\r\n")
	h.WriteString("Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n")
	if subprotocol != "" {
		h.WriteString("Sec-WebSocket-Protocol: " + subprotocol + "\r\n")
	}
	if ext != "" {
		h.WriteString("Sec-WebSocket-Extensions: " + ext + "\r\n")
	}
	return benchRequest(url, h.String(), func(resp *http.Response) error {
		sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		switch {
		case resp.StatusCode != http.StatusSwitchingProtocols:
			return fmt.Errorf("handshake: %s", resp.Status)
		case resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]):
			return errors.New("handshake: bad Sec-WebSocket-Accept")
		case resp.Header.Get("Sec-WebSocket-Protocol") != subprotocol:
			return fmt.Errorf("handshake: subprotocol %q, want %q",
				resp.Header.Get("Sec-WebSocket-Protocol"), subprotocol)
		case (ext != "") != (resp.Header.Get("Sec-WebSocket-Extensions") != ""):
			return fmt.Errorf("handshake: extensions %q, offered %q",
				resp.Header.Get("Sec-WebSocket-Extensions"), ext)
		}
		return nil
	})
}

// benchRequest sends a GET for url with the extra header lines, checks the
// response head with check, and then reads and discards the connection's
// bytes until it is closed.
func benchRequest(url, header string, check func(*http.Response) error) (*benchClient, error) {
	return testkit.DialDiscard(url, header, check)
}

// benchFixture is a Hub (or Broker) behind a loopback server with subs
// reading clients subscribed to benchTopic.
type benchFixture struct {
	hub     benchTarget
	clients []*benchClient
	payload []byte // what publish publishes: benchPayload if nil
}

// benchTarget is what the benchmarks publish to: a Hub or a Broker.
type benchTarget interface {
	http.Handler
	Publish(ctx context.Context, topic string, m *fanout.Message) error
	Stats() fanout.Stats
	Len() int
	Close() error
}

// benchStart starts a fixture with subs clients, all registered when it
// returns, and registers its teardown with tb.Cleanup. opts.PingInterval is
// forced off: the clients never answer pings. It skips tb when the process
// may not open the 2*subs file descriptors the connections need.
func benchStart(tb testing.TB, subs int, opts fanout.HubOptions, subprotocol string) *benchFixture {
	tb.Helper()
	opts.PingInterval = -1
	return benchServe(tb, subs, fanout.NewHub(&opts), func(url string) (*benchClient, error) {
		return benchDial(url, subprotocol)
	})
}

// benchServe serves target on loopback and connects subs clients with dial.
func benchServe(tb testing.TB, subs int, target benchTarget, dial func(url string) (*benchClient, error)) *benchFixture {
	tb.Helper()
	if limit, ok := benchFDLimit(); ok && limit < 2*subs+64 {
		tb.Skipf("%d subscribers need about %d file descriptors; the limit is %d (ulimit -n)",
			subs, 2*subs+64, limit)
	}
	f := &benchFixture{hub: target}
	srv := httptest.NewServer(f.hub)
	tb.Cleanup(func() {
		_ = f.hub.Close() // writes close frames, then cuts the connections
		for _, c := range f.clients {
			c.Close()
		}
		srv.Close()
	})
	url := srv.URL + "/?topic=" + benchTopic
	for range subs {
		c, err := dial(url)
		if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
			tb.Skipf("out of file descriptors after %d of %d connections (ulimit -n): %v",
				len(f.clients), subs, err)
		}
		if err != nil {
			tb.Fatalf("dial %d: %v", len(f.clients), err)
		}
		f.clients = append(f.clients, c)
	}
	benchWaitFor(tb, "subscribers to register", func() bool { return f.hub.Len() == subs })
	return f
}

// benchFDLimit returns the process's open-file limit where the platform
// tells it (Linux, through /proc); elsewhere the dial errors tell instead.
func benchFDLimit() (int, bool) {
	b, err := os.ReadFile("/proc/self/limits")
	if err != nil {
		return 0, false
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "Max open files"); ok {
			fields := strings.Fields(rest)
			if len(fields) == 0 {
				return 0, false
			}
			n, err := strconv.Atoi(fields[0]) // the soft limit
			return n, err == nil
		}
	}
	return 0, false
}

// benchWaitFor polls cond until it holds, failing tb after 30s, without
// sleeping (see testkit.Spin).
func benchWaitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	testkit.Spin(tb, 30*time.Second, cond, what)
}

// publish publishes n fresh messages of f.payload (64 bytes by default)
// to benchTopic and waits until the writers have delivered every one of
// them to every client (Delivered reaches target). It fails tb if any
// subscriber fell behind.
func (f *benchFixture) publish(tb testing.TB, n int, target uint64) {
	p := f.data()
	for range n {
		if err := f.hub.Publish(context.Background(), benchTopic, fanout.NewMessage(p)); err != nil {
			tb.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := f.hub.Stats()
		if st.Delivered >= target {
			return
		}
		if st.Dropped != 0 || st.Closed != 0 || st.Removed != 0 {
			tb.Fatalf("subscribers fell behind: %+v", st)
		}
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for delivery: %+v, want Delivered %d", st, target)
		}
		runtime.Gosched()
	}
}

// data returns the payload f publishes.
func (f *benchFixture) data() []byte {
	if f.payload == nil {
		return benchPayload
	}
	return f.payload
}

// BenchmarkHub_Publish measures one publish (op) of a fresh 64-byte message
// to every subscriber, including the writers' work: each burst of messages
// is published back to back, then the benchmark waits until every
// subscriber's writer has written all of them to its socket. Messages that
// arrive while a writer is busy leave in its next write, so larger bursts
// show the coalescing.
//
// Metrics: msgs/s is deliveries (messages times subscribers) per second,
// writes/msg is socket writes per delivery (1 without coalescing),
// wireB/msg is bytes written per delivery, framing included, and
// allocs/pub/sub is the whole process's allocations (writers and clients
// included) per publish, divided by the number of subscribers. allocs/op
// is what preparing each fresh message costs; while nothing is allocated
// per subscriber, allocs/pub/sub is allocs/op over subs, falling tenfold
// from one row to the next.
func BenchmarkHub_Publish(b *testing.B) {
	benchHub(b, fanout.HubOptions{}, "")
}

// BenchmarkHub_PublishMaxBatch1 is BenchmarkHub_Publish with coalescing
// disabled (MaxBatch 1: one socket write per message), for an A/B.
func BenchmarkHub_PublishMaxBatch1(b *testing.B) {
	benchHub(b, fanout.HubOptions{DeliveryOptions: fanout.DeliveryOptions{MaxBatch: 1}}, "")
}

// BenchmarkHub_PublishPacked is BenchmarkHub_Publish with clients that
// negotiated PackedSubprotocol: each batch is one packed frame.
func BenchmarkHub_PublishPacked(b *testing.B) {
	benchHub(b, fanout.HubOptions{Packing: true}, fanout.PackedSubprotocol)
}

// BenchmarkHub_PublishPackedV2 is BenchmarkHub_PublishPacked with clients
// that negotiated PackedSubprotocolV2: each message has a topic record too.
func BenchmarkHub_PublishPackedV2(b *testing.B) {
	benchHub(b, fanout.HubOptions{Packing: true}, fanout.PackedSubprotocolV2)
}

func benchHub(b *testing.B, opts fanout.HubOptions, subprotocol string) {
	for _, subs := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("subs=%d", subs), func(b *testing.B) {
			// One fixture for all bursts: a parent benchmark runs once,
			// its sub-benchmarks once per b.N tried.
			f := benchStart(b, subs, opts, subprotocol)
			for _, burst := range []int{1, 10, 100} {
				b.Run(fmt.Sprintf("burst=%d", burst), func(b *testing.B) {
					benchPublish(b, f, burst)
				})
			}
		})
	}
}

func benchPublish(b *testing.B, f *benchFixture, burst int) {
	subs := uint64(len(f.clients))
	b.ReportAllocs()
	b.SetBytes(int64(len(f.data())))
	// Warm up, so that each subscriber's queue and write scratch buffers
	// have grown to this burst size before the measurement: the benchmark
	// measures the steady state.
	for range 3 {
		f.publish(b, burst, f.hub.Stats().Delivered+uint64(burst)*subs)
	}
	before := f.hub.Stats()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	b.ResetTimer()
	for i := 0; i < b.N; {
		n := min(burst, b.N-i)
		i += n
		f.publish(b, n, before.Delivered+uint64(i)*subs)
	}
	b.StopTimer()
	runtime.ReadMemStats(&m1)
	after := f.hub.Stats()
	delivered := float64(after.Delivered - before.Delivered)
	b.ReportMetric(delivered/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(after.Writes-before.Writes)/delivered, "writes/msg")
	b.ReportMetric(float64(after.Bytes-before.Bytes)/delivered, "wireB/msg")
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/float64(b.N)/float64(subs), "allocs/pub/sub")
}

// BenchmarkMessage_Prepare measures what a publish prepares once for every
// subscriber: the Message and its complete WebSocket frame.
func BenchmarkMessage_Prepare(b *testing.B) {
	for _, size := range []int{64, 4 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			data := bytes.Repeat([]byte{'x'}, size)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				m := fanout.NewMessage(data)
				if len(m.WireFrame()) <= size {
					b.Fatal("frame shorter than its payload")
				}
			}
		})
	}
}

// BenchmarkUnpack measures splitting a packed frame of records of 64 bytes.
func BenchmarkUnpack(b *testing.B) {
	for _, records := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("records=%d", records), func(b *testing.B) {
			batch := make([]*fanout.Message, records)
			for i := range batch {
				batch[i] = fanout.NewMessage(benchPayload)
			}
			frame := fanout.AppendRecords(nil, batch, fanout.FramingPacked)
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			for b.Loop() {
				n := 0
				err := fanout.Unpack(frame, func(_ fanout.MessageType, data []byte) error {
					n += len(data)
					return nil
				})
				if err != nil || n != records*len(benchPayload) {
					b.Fatalf("Unpack: %d bytes, %v", n, err)
				}
			}
		})
	}
}

// BenchmarkUnpackRecords measures reading a resume frame of 64-byte
// messages with an ID, in v1, and with an event type and a topic too, in
// v2: each record's ID, event type and topic is a string of its own.
func BenchmarkUnpackRecords(b *testing.B) {
	for _, fr := range []struct {
		name string
		f    fanout.Framing
	}{{"v1", fanout.FramingResume}, {"v2", fanout.FramingResumeV2}} {
		b.Run(fr.name, func(b *testing.B) {
			batch := make([]*fanout.Message, 10)
			for i := range batch {
				batch[i] = fanout.NewMessage(benchPayload).WithID(fmt.Sprintf("k1-%d", i)).WithEvent("price").OnTopic(benchTopic)
			}
			frame := fanout.AppendRecords(nil, batch, fr.f)
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			for b.Loop() {
				n := 0
				err := fanout.UnpackRecords(frame, func(r fanout.Record) error {
					n += len(r.Data)
					return nil
				})
				if err != nil || n != len(batch)*len(benchPayload) {
					b.Fatalf("UnpackRecords: %d bytes, %v", n, err)
				}
			}
		})
	}
}
