package fanoutprom_test

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/internal/testkit"
)

// waitTimeout bounds every wait: a deadline against hangs, never a
// performance assertion.
const waitTimeout = 15 * time.Second

// recv receives one value from ch, failing t if none arrives in time.
func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	return testkit.Recv(t, ch, waitTimeout, what)
}

// gateListener hands the test the server side of each connection it
// accepts, in accept order, wrapped so that one of its writes can be held.
type gateListener struct {
	net.Listener
	conns chan *gateConn
}

func (l *gateListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	gc := &gateConn{Conn: c, closed: make(chan struct{})}
	select {
	case l.conns <- gc:
	default: // more than a test tracks
	}
	return gc, nil
}

// gateConn is a real TCP connection whose next Write can be held, to stall
// a subscriber's writer at a known point while its client keeps reading.
type gateConn struct {
	net.Conn
	gate      testkit.Gate
	closed    chan struct{}
	closeOnce sync.Once
}

// hold makes the next Write wait until release is called (or the
// connection closes); entered is closed once that Write waits.
func (c *gateConn) hold() (entered <-chan struct{}, release func()) { return c.gate.Hold() }

func (c *gateConn) Write(p []byte) (int, error) {
	if err := c.gate.Pass(c.closed); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

func (c *gateConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// gatedServer serves h on loopback with a gateListener. It is closed when
// the test ends.
func gatedServer(t testing.TB, h http.Handler) (*httptest.Server, *gateListener) {
	srv := httptest.NewUnstartedServer(h)
	ln := &gateListener{Listener: srv.Listener, conns: make(chan *gateConn, 64)}
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, ln
}

// wsClient is a WebSocket client that reads every message into a channel
// until its connection ends.
type wsClient struct {
	conn *websocket.Conn
	msgs chan string
	done chan struct{}
}

// dialWS connects to url (http://…), offering subprotocols.
func dialWS(t testing.TB, url string, subprotocols ...string) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: subprotocols})
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	c := &wsClient{conn: conn, msgs: make(chan string, 1024), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			_, data, err := conn.Read(context.Background())
			if err != nil {
				return
			}
			c.msgs <- string(data)
		}
	}()
	t.Cleanup(func() {
		_ = conn.CloseNow()
		<-c.done
	})
	return c
}

func (c *wsClient) next(t testing.TB) string {
	t.Helper()
	return recv(t, c.msgs, "WebSocket message")
}

// sseEvent is one event an sseClient read.
type sseEvent struct{ event, id, data string }

// sseClient reads an event stream into a channel until it ends.
type sseClient struct {
	events     chan sseEvent
	positioned chan struct{} // closed once the stream's position event is read
	done       chan struct{}
}

// openSSE opens an event stream at url, sending lastID as Last-Event-ID
// when set. Its position event is not among its events: it closes
// positioned.
func openSSE(t testing.TB, url, lastID string) *sseClient {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	tr := &http.Transport{}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	c := &sseClient{events: make(chan sseEvent, 1024), positioned: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		var data []string
		for sc.Scan() {
			line := sc.Text()
			if line == "" {
				if len(data) > 0 || ev.event != "" {
					ev.data = strings.Join(data, "\n")
					if ev.event == fanout.PositionEvent {
						close(c.positioned)
					} else {
						c.events <- ev
					}
				}
				ev, data = sseEvent{}, nil
				continue
			}
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "event":
				ev.event = value
			case "id":
				ev.id = value
			case "data":
				data = append(data, value)
			}
		}
	}()
	t.Cleanup(func() {
		_ = resp.Body.Close()
		<-c.done
		tr.CloseIdleConnections()
	})
	return c
}

func (c *sseClient) next(t testing.TB) sseEvent {
	t.Helper()
	return recv(t, c.events, "SSE event")
}

// scrape GETs url and parses the text exposition.
func scrape(t testing.TB, url string) exposition {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET %s: %s, %s", url, resp.Status, resp.Header.Get("Content-Type"))
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing %s: %v", url, err)
	}
	return exposition(mfs)
}

// exposition is a scrape, by metric family name.
type exposition map[string]*dto.MetricFamily

// value returns the value of the counter or gauge name whose labels
// include labels (name, value pairs), summed over every match, and
// whether there was one.
func (e exposition) value(name string, labels ...string) (float64, bool) {
	mf, ok := e[name]
	if !ok {
		return 0, false
	}
	var v float64
	found := false
	for _, m := range mf.GetMetric() {
		if !hasLabels(m, labels) {
			continue
		}
		found = true
		switch mf.GetType() {
		case dto.MetricType_COUNTER:
			v += m.GetCounter().GetValue()
		case dto.MetricType_GAUGE:
			v += m.GetGauge().GetValue()
		case dto.MetricType_UNTYPED:
			v += m.GetUntyped().GetValue()
		}
	}
	return v, found
}

// histogram returns the count and sum of histogram name, summed over
// every label set that includes labels.
func (e exposition) histogram(name string, labels ...string) (count uint64, sum float64, ok bool) {
	mf, ok := e[name]
	if !ok || mf.GetType() != dto.MetricType_HISTOGRAM {
		return 0, 0, false
	}
	for _, m := range mf.GetMetric() {
		if hasLabels(m, labels) {
			count += m.GetHistogram().GetSampleCount()
			sum += m.GetHistogram().GetSampleSum()
		}
	}
	return count, sum, true
}

func hasLabels(m *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		found := false
		for _, lp := range m.GetLabel() {
			if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}
