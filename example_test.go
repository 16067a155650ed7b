package fanout_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/fanout-go/fanout"
)

// exampleDial connects a WebSocket client to url (http:// works as ws://).
func exampleDial(ctx context.Context, url string, opts *websocket.DialOptions) *websocket.Conn {
	conn, _, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		panic(err)
	}
	return conn
}

// exampleRead reads n messages from conn and prints them with prefix.
func exampleRead(ctx context.Context, conn *websocket.Conn, prefix string, n int) {
	for range n {
		_, data, err := conn.Read(ctx)
		if err != nil {
			fmt.Println(prefix, "error:", err)
			return
		}
		fmt.Println(prefix, string(data))
	}
}

// exampleConnected returns an OnConnect hook and a channel it signals once
// per new subscriber, so an example publishes only once its clients are
// subscribed.
func exampleConnected(n int) (func(*fanout.Subscriber), <-chan struct{}) {
	ch := make(chan struct{}, n)
	return func(*fanout.Subscriber) { ch <- struct{}{} }, ch
}

func ExampleHub() {
	onConnect, connected := exampleConnected(1)
	hub := fanout.NewHub(&fanout.HubOptions{OnConnect: onConnect})

	mux := http.NewServeMux()
	mux.Handle("/ws", hub) // clients connect to /ws?topic=news
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer hub.Close() // before srv.Close: the server does not track WebSockets

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn := exampleDial(ctx, srv.URL+"/ws?topic=news", nil)
	defer conn.CloseNow()
	<-connected

	_ = hub.Publish(context.Background(), "news", fanout.NewMessage([]byte("hello")))
	_ = hub.Publish(context.Background(), "news", fanout.NewMessage([]byte("world")))
	exampleRead(ctx, conn, "client got:", 2)
	// Output:
	// client got: hello
	// client got: world
}

func ExampleHub_Publish() {
	onConnect, connected := exampleConnected(2)
	hub := fanout.NewHub(&fanout.HubOptions{OnConnect: onConnect})
	srv := httptest.NewServer(hub)
	defer srv.Close()
	defer hub.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	alice := exampleDial(ctx, srv.URL+"?topic=sports&topic=weather", nil)
	defer alice.CloseNow()
	bob := exampleDial(ctx, srv.URL+"?topic=weather", nil)
	defer bob.CloseNow()
	<-connected
	<-connected

	// A Message is prepared once, whatever the number of subscribers.
	_ = hub.Publish(context.Background(), "sports", fanout.NewMessage([]byte("goal!")))
	_ = hub.Publish(context.Background(), "weather", fanout.NewMessage([]byte("rain at noon")))
	fmt.Println("weather subscribers:", hub.NumSubscribers("weather"))

	exampleRead(ctx, alice, "alice:", 2)
	exampleRead(ctx, bob, "bob:", 1)
	// Output:
	// weather subscribers: 2
	// alice: goal!
	// alice: rain at noon
	// bob: rain at noon
}

func ExampleHub_BroadcastFilter() {
	onConnect, connected := exampleConnected(2)
	hub := fanout.NewHub(&fanout.HubOptions{OnConnect: onConnect})
	srv := httptest.NewServer(hub)
	defer srv.Close()
	defer hub.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin := exampleDial(ctx, srv.URL+"?role=admin", nil)
	defer admin.CloseNow()
	guest := exampleDial(ctx, srv.URL+"?role=guest", nil)
	defer guest.CloseNow()
	<-connected
	<-connected

	isAdmin := func(s *fanout.Subscriber) bool {
		return s.Request().URL.Query().Get("role") == "admin"
	}
	_ = hub.BroadcastFilter(context.Background(), fanout.NewMessage([]byte("deploy at 5pm")), isAdmin)
	_ = hub.Broadcast(context.Background(), fanout.NewMessage([]byte("maintenance tonight")))

	exampleRead(ctx, admin, "admin:", 2)
	exampleRead(ctx, guest, "guest:", 1)
	// Output:
	// admin: deploy at 5pm
	// admin: maintenance tonight
	// guest: maintenance tonight
}

func ExampleSubscriber_Send() {
	connected := make(chan struct{}, 1)
	hub := fanout.NewHub(&fanout.HubOptions{
		// Greet each client alone, before anything published reaches it.
		OnConnect: func(s *fanout.Subscriber) {
			hello := fmt.Sprintf("welcome to %s", strings.Join(s.Topics(), ", "))
			_ = s.Send(fanout.NewMessage([]byte(hello)))
			connected <- struct{}{}
		},
	})
	srv := httptest.NewServer(hub)
	defer srv.Close()
	defer hub.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn := exampleDial(ctx, srv.URL+"?topic=room-42", nil)
	defer conn.CloseNow()
	<-connected

	_ = hub.Publish(context.Background(), "room-42", fanout.NewMessage([]byte("bob: hi all")))
	exampleRead(ctx, conn, "got:", 2)
	// Output:
	// got: welcome to room-42
	// got: bob: hi all
}

func ExampleHub_Register() {
	onConnect, connected := exampleConnected(1)
	hub := fanout.NewHub(&fanout.HubOptions{OnConnect: onConnect})

	// The application accepts the WebSocket itself, then hands it over.
	mux := http.NewServeMux()
	mux.HandleFunc("/live", func(w http.ResponseWriter, r *http.Request) {
		conn, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		// Someone must keep reading for pings and closes to be handled;
		// the returned context ends when the connection does.
		ctx := conn.CloseRead(context.Background())
		if _, err := hub.Register(ctx, conn, fanout.Grant{Topics: []string{"news"}}); err != nil {
			conn.Close(websocket.StatusGoingAway, "")
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer hub.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn := exampleDial(ctx, srv.URL+"/live", nil)
	defer conn.CloseNow()
	<-connected

	_ = hub.Publish(context.Background(), "news", fanout.NewMessage([]byte("registered connections get topics too")))
	exampleRead(ctx, conn, "got:", 1)
	// Output:
	// got: registered connections get topics too
}

func ExampleUnpack() {
	onConnect, connected := exampleConnected(1)
	hub := fanout.NewHub(&fanout.HubOptions{
		OnConnect: onConnect,
		Packing:   true, // clients that offer PackedSubprotocol get packed frames
	})
	srv := httptest.NewServer(hub)
	defer srv.Close()
	defer hub.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn := exampleDial(ctx, srv.URL+"?topic=ticks", &websocket.DialOptions{
		Subprotocols: []string{fanout.PackedSubprotocol},
	})
	defer conn.CloseNow()
	<-connected
	fmt.Println("subprotocol:", conn.Subprotocol())

	_ = hub.Publish(context.Background(), "ticks", fanout.NewMessage([]byte("tick 1")))
	_ = hub.Publish(context.Background(), "ticks", fanout.NewMessage([]byte("tick 2")))
	_ = hub.Publish(context.Background(), "ticks", fanout.NewBinaryMessage([]byte{0xca, 0xfe}))

	// Messages that queued up together arrive in one frame; how many do
	// varies from run to run, so read frames until all three are in.
	for got := 0; got < 3; {
		_, frame, err := conn.Read(ctx)
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		err = fanout.Unpack(frame, func(typ fanout.MessageType, data []byte) error {
			got++
			if typ == fanout.Binary {
				fmt.Printf("%s %x\n", typ, data)
			} else {
				fmt.Printf("%s %s\n", typ, data)
			}
			return nil
		})
		if err != nil {
			fmt.Println("error:", err)
			return
		}
	}
	// Output:
	// subprotocol: fanout.packed.v1
	// text tick 1
	// text tick 2
	// binary cafe
}

func ExampleHubOptions() {
	hub := fanout.NewHub(&fanout.HubOptions{
		DeliveryOptions: fanout.DeliveryOptions{
			QueueSize:    1024,            // messages a subscriber may fall behind
			WriteTimeout: 5 * time.Second, // a batch write slower than this is slow
			Policy:       fanout.PolicyDrop,
			// Drop messages for a client whose queue is full, but close
			// one whose socket stopped taking writes.
			OnSlow: func(ev fanout.SlowEvent) fanout.Policy {
				if ev.Reason == fanout.SlowWriteTimeout {
					return fanout.PolicyClose
				}
				return ev.Policy
			},
		},
		AcceptOptions: &websocket.AcceptOptions{
			OriginPatterns: []string{"app.example.com"},
		},
		PingInterval: 15 * time.Second,
	})
	defer hub.Close()

	mux := http.NewServeMux()
	mux.Handle("/ws", hub)
}

func ExampleHub_Shutdown() {
	hub := fanout.NewHub(nil)
	srv := httptest.NewServer(hub)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Once Dial returns, the client receives everything published after.
	conn := exampleDial(ctx, srv.URL+"?topic=news", nil)
	defer conn.CloseNow()
	_ = hub.Publish(context.Background(), "news", fanout.NewMessage([]byte("last edition")))

	// Clients keep reading, as real ones do: what was queued is written,
	// then the close handshake (status 1001, going away) needs their reply.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			_, data, err := conn.Read(ctx)
			if err != nil {
				fmt.Println("client closed:", websocket.CloseStatus(err))
				return
			}
			fmt.Println("client got:", string(data))
		}
	}()

	// Shutdown drains every queue, closes every connection and waits for
	// the Hub's goroutines; ctx bounds how long it may take.
	if err := hub.Shutdown(ctx); err != nil {
		fmt.Println("shutdown:", err)
	}
	<-done
	fmt.Println("publish after shutdown:", hub.Publish(context.Background(), "news", fanout.NewMessage([]byte("late"))))
	// Output:
	// client got: last edition
	// client closed: StatusGoingAway
	// publish after shutdown: fanout: closed
}
