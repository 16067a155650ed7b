package fanoutprom_test

import (
	"bufio"
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/fanout-go/fanout"
	fanoutprom "github.com/fanout-go/fanout/prometheus"
)

// A Hub serving WebSocket subscribers at /ws and its metrics at /metrics.
// The Observer goes into the Hub's options before NewHub; the Collector,
// registered once the Hub exists, exports the Hub's Stats, its
// subscribers and what the Observer measured.
func Example() {
	obs := fanoutprom.NewObserver(nil)
	hub := fanout.NewHub(&fanout.HubOptions{
		DeliveryOptions: fanout.DeliveryOptions{Observer: obs},
	})
	reg := prometheus.NewRegistry()
	reg.MustRegister(fanoutprom.NewCollector(hub, obs))

	mux := http.NewServeMux()
	mux.Handle("/ws", hub)
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	ctx := context.Background()
	conn, _, err := websocket.Dial(ctx, srv.URL+"/ws?topic=news", nil)
	if err != nil {
		log.Fatal(err)
	}
	if err := hub.Publish(ctx, "news", fanout.NewMessage([]byte("hello"))); err != nil {
		log.Fatal(err)
	}
	_, data, err := conn.Read(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(data))
	_ = conn.Close(websocket.StatusNormalClosure, "")
	// Shutdown returns once the Hub's goroutines have: every write counted.
	if err := hub.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}

	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		for _, name := range []string{
			"fanout_messages_published_total", "fanout_messages_delivered_total",
			`fanout_messages_per_write_count{transport="websocket"}`, `fanout_subscribers{transport="websocket"}`,
		} {
			if strings.HasPrefix(line, name+" ") {
				fmt.Println(line)
			}
		}
	}
	// Output:
	// hello
	// fanout_messages_delivered_total 1
	// fanout_messages_per_write_count{transport="websocket"} 1
	// fanout_messages_published_total 1
	// fanout_subscribers{transport="websocket"} 0
}
