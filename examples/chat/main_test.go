package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/fanout-go/fanout"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestChat runs the demo on loopback: a message a client sends comes back
// to every client of the room, a burst arrives complete and in order (one
// frame per message, or packed), /stats reports the deliveries, and
// cancelling the context shuts the server down with 1001 for the clients.
func TestChat(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serve(ctx, ln) }()
	defer func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()

	rctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	dial := func(opts *websocket.DialOptions) *websocket.Conn {
		t.Helper()
		c, _, err := websocket.Dial(rctx, "ws"+strings.TrimPrefix(base, "http")+"/ws?topic=room", opts)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	plain := dial(nil)
	defer plain.CloseNow()
	packed := dial(&websocket.DialOptions{Subprotocols: []string{fanout.PackedSubprotocol}})
	defer packed.CloseNow()
	if packed.Subprotocol() != fanout.PackedSubprotocol {
		t.Fatalf("packed mode not negotiated: %q", packed.Subprotocol())
	}

	// Both clients are subscribed once a message from one reaches the other.
	if err := plain.Write(rctx, websocket.MessageText, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	want := []string{"hello"}
	for i := 1; i <= 50; i++ {
		want = append(want, fmt.Sprintf("burst: message %d of 50", i))
	}
	readPlain := func(n int) []string {
		var got []string
		for range n {
			_, b, err := plain.Read(rctx)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, string(b))
		}
		return got
	}
	readPacked := func(n int) []string {
		var got []string
		for len(got) < n {
			_, frame, err := packed.Read(rctx)
			if err != nil {
				t.Fatal(err)
			}
			err = fanout.Unpack(frame, func(_ fanout.MessageType, b []byte) error {
				got = append(got, string(b))
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		return got
	}
	if got := readPacked(1); got[0] != "hello" {
		t.Fatalf("packed client got %q, want hello", got)
	}
	if got := readPlain(1); got[0] != "hello" {
		t.Fatalf("sender got %q back, want hello", got)
	}

	resp, err := http.Post(base+"/burst?topic=room&n=50", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("burst: %s", resp.Status)
	}
	for name, got := range map[string][]string{"plain": readPlain(50), "packed": readPacked(50)} {
		if strings.Join(got, "\n") != strings.Join(want[1:], "\n") {
			t.Errorf("%s client got %q", name, got)
		}
	}

	// The server counts a delivery once its write returns, which can be
	// after the client has read it: poll until the counts settle.
	var st fanout.Stats
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err = http.Get(base + "/stats")
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if st.Delivered == 102 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
	if st.Subscribers != 2 || st.Published != 51 || st.Delivered != 102 || st.Writes == 0 || st.Writes > st.Delivered {
		t.Errorf("stats: %+v", st)
	}

	// Clients keep reading during the shutdown, as real ones do: the
	// closing handshake needs their reply.
	closed := make(chan error, 2)
	for _, c := range []*websocket.Conn{plain, packed} {
		go func() {
			_, _, err := c.Read(rctx)
			closed <- err
		}()
	}
	stop()
	if err := <-served; err != nil {
		t.Fatalf("serve: %v", err)
	}
	served <- nil // for the deferred check
	for range 2 {
		if err := <-closed; websocket.CloseStatus(err) != websocket.StatusGoingAway {
			t.Errorf("after shutdown a client got %v, want going away (1001)", err)
		}
	}
}
