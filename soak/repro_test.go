package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fanout-go/fanout"
)

// TestRepro_SSEPolicyCloseLeavesOrphan reproduces what the soak found:
// an SSE client that never reads, closed by PolicyClose while its
// writer is not in a write (the queue filled by a burst before the
// writer ran), is closed normally (rawConn.Close resets only after a
// failed write, during one, or with checkAcked, which only the WebSocket
// close sets), so its FIN waits behind the unsent events in the kernel:
// the client never learns that it was closed, and the machine keeps an
// orphaned socket with its unsent data (up to tcp_wmem's 4 MiB). A
// WebSocket client in the same spot is reset. It is a report for the
// library, not a check of the soak: it runs with FANOUT_REPRO=1.
func TestRepro_SSEPolicyCloseLeavesOrphan(t *testing.T) {
	if os.Getenv("FANOUT_REPRO") == "" {
		t.Skip("a reproduction for the library: FANOUT_REPRO=1 runs it")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1)) // the burst fills the queue before the writer runs
	gone := make(chan error, 1)
	broker := fanout.NewBroker(&fanout.BrokerOptions{
		DeliveryOptions: fanout.DeliveryOptions{QueueSize: 8, QueueBytes: 1 << 20},
		OnDisconnect:    func(_ *fanout.Subscriber, err error) { gone <- err },
	})
	defer broker.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: broker}
	go srv.Serve(ln)
	defer srv.Close()
	conn, err := dialSSE(context.Background(), ln.Addr().String(), "/?topic=t", "", 4<<10) // it never reads
	if err != nil {
		t.Fatal(err)
	}
	defer conn.tc.Close()
	ctx := context.Background()
	ev := fanout.NewMessage([]byte(strings.Repeat("x", 2000)))
	for range 200 { // 400 KB the kernel takes and cannot send: the client reads nothing
		if err := broker.Publish(ctx, "t", ev); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	for range 64 { // a burst: the queue (8) fills before the writer wakes
		_ = broker.Publish(ctx, "t", ev)
	}
	select {
	case err := <-gone:
		t.Logf("the Broker ended the subscriber (%v); stats %+v", err, broker.Stats())
	case <-time.After(10 * time.Second):
		t.Fatalf("not closed by the policy; stats %+v", broker.Stats())
	}
	time.Sleep(2 * time.Second)
	st, err := tcpState(conn.tc)
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ss, _ := exec.Command("ss", "-tnoi", "sport = :"+port).CombinedOutput()
	t.Logf("server side of the connection (ss):\n%s", ss)
	if st == tcpEstablished {
		t.Errorf("2s after the Broker ended it, the client's connection is still established: closed normally behind unsent data, not reset")
	}
}
