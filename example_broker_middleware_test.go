package fanout_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/fanout-go/fanout"
)

// accessLog is the logging middleware of a service: it writes one line per
// request once the handler returned. Its writer implements Unwrap, so that
// http.ResponseController (and the Broker) reach the Flush beneath it.
func accessLog(next http.Handler, logf func(format string, args ...any)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lw := &accessLogWriter{ResponseWriter: w}
		next.ServeHTTP(lw, r)
		logf("%s %s %03d %dB", r.Method, r.URL.RequestURI(), lw.status, lw.bytes)
	})
}

type accessLogWriter struct {
	http.ResponseWriter
	status, bytes int
}

func (w *accessLogWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *accessLogWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += n
	return n, err
}

func (w *accessLogWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// With ThroughResponseWriter, the stream goes through the middleware's
// writer and its handler returns when the stream ends, so the access log
// shows its status and bytes (and a tracing span would last as long as it,
// and gzip middleware would compress it). Without it, over HTTP/1, the
// Broker takes the connection over: the line would read "000 0B", logged
// as soon as the client subscribed.
func ExampleBrokerOptions_throughResponseWriter() {
	broker := fanout.NewBroker(&fanout.BrokerOptions{ThroughResponseWriter: true})
	logged := make(chan string, 1)
	srv := httptest.NewServer(accessLog(broker, func(format string, args ...any) {
		logged <- fmt.Sprintf(format, args...)
	}))
	defer srv.Close()
	defer broker.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	next, stop := exampleStream(ctx, srv.URL+"/events?topic=news", "")
	defer stop()
	_ = broker.Publish(ctx, "news", fanout.NewMessage([]byte("hello")))
	fmt.Println(next().Data)

	_ = broker.Shutdown(ctx) // ends the stream: its handler returns
	fmt.Println(<-logged)
	// Output:
	// hello
	// GET /events?topic=news 200 13B
}
