package fanout_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/coder/websocket"
	"github.com/fanout-go/fanout"
)

// Account is an application's idea of who a subscriber is.
type Account struct {
	Name  string
	Admin bool
}

// Authorize decides, before the upgrade, who a request is and what it may
// hear. The Grant's Identity is there for every hook, filter and Send path
// afterwards, typed with IdentityOf.
func ExampleHubOptions_authorize() {
	accounts := map[string]*Account{"t-ann": {Name: "ann", Admin: true}, "t-bob": {Name: "bob"}}
	connected := make(chan struct{}, 2)
	hub := fanout.NewHub(&fanout.HubOptions{
		Authorize: func(r *http.Request) (fanout.Grant, error) {
			acct, ok := accounts[r.URL.Query().Get("token")]
			if !ok {
				return fanout.Grant{}, fanout.ErrUnauthorized // 401
			}
			return fanout.Grant{Topics: []string{"user:" + acct.Name, "news"}, Identity: acct, Group: acct.Name}, nil
		},
		OnConnect: func(s *fanout.Subscriber) {
			acct, _ := fanout.IdentityOf[*Account](s)
			fmt.Printf("connected: %s on %v\n", acct.Name, s.Topics())
			connected <- struct{}{}
		},
	})
	srv := httptest.NewServer(hub)
	defer srv.Close()
	defer hub.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, resp, err := websocket.Dial(ctx, srv.URL+"?token=nope", nil); err != nil {
		fmt.Println("no token:", resp.StatusCode)
	}
	ann := exampleDial(ctx, srv.URL+"?token=t-ann", nil)
	defer ann.CloseNow()
	<-connected
	bob := exampleDial(ctx, srv.URL+"?token=t-bob", nil)
	defer bob.CloseNow()
	<-connected

	admins := func(s *fanout.Subscriber) bool {
		acct, ok := fanout.IdentityOf[*Account](s)
		return ok && acct.Admin
	}
	_ = hub.BroadcastFilter(ctx, fanout.NewMessage([]byte("for admins")), admins)
	_ = hub.Publish(ctx, "user:bob", fanout.NewMessage([]byte("for bob")))
	exampleRead(ctx, ann, "ann got:", 1)
	exampleRead(ctx, bob, "bob got:", 1)
	// Output:
	// no token: 401
	// connected: ann on [user:ann news]
	// connected: bob on [user:bob news]
	// ann got: for admins
	// bob got: for bob
}

// A Refusal answers with the status, headers and body of your choice, on
// the Hub and the Broker alike: here 429 with Retry-After, and Limits'
// own 429 once a user has two connections.
func ExampleRefusal() {
	authorize := func(r *http.Request) (fanout.Grant, error) {
		user := r.URL.Query().Get("user")
		if user == "spammer" {
			return fanout.Grant{}, &fanout.Refusal{
				Status: http.StatusTooManyRequests,
				Header: http.Header{"Retry-After": {"60"}},
				Body:   "slow down",
			}
		}
		return fanout.Grant{Topics: []string{"chat"}, Group: user}, nil
	}
	hub := fanout.NewHub(&fanout.HubOptions{
		Authorize: authorize,
		Limits:    fanout.Limits{MaxPerGroup: 2}, // tabs per user
	})
	srv := httptest.NewServer(hub)
	defer srv.Close()
	defer hub.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var open []*websocket.Conn // kept open: they count against the limit
	defer func() {
		for _, c := range open {
			c.CloseNow()
		}
	}()
	status := func(user string) {
		conn, resp, err := websocket.Dial(ctx, srv.URL+"?user="+user, nil)
		if err != nil {
			fmt.Println(user+":", resp.StatusCode, resp.Header.Get("Retry-After"))
			return
		}
		fmt.Println(user+":", resp.StatusCode)
		open = append(open, conn)
	}
	status("spammer")
	status("ann")
	status("ann")
	status("ann") // a third tab
	// Output:
	// spammer: 429 60
	// ann: 101
	// ann: 101
	// ann: 429 5
}

// OnMessage receives what clients send, on each connection's reader, in
// order; here a chat relays each line to the room it came from, with who
// said it.
func ExampleHubOptions_onMessage() {
	onConnect, connected := exampleConnected(2)
	var hub *fanout.Hub
	hub = fanout.NewHub(&fanout.HubOptions{
		Authorize: func(r *http.Request) (fanout.Grant, error) {
			name := r.URL.Query().Get("name")
			return fanout.Grant{Topics: []string{"room"}, Identity: name}, nil
		},
		OnConnect: onConnect,
		OnMessage: func(ctx context.Context, s *fanout.Subscriber, m *fanout.Message) {
			name, _ := fanout.IdentityOf[string](s)
			line := name + ": " + string(m.Data())
			_ = hub.Publish(ctx, "room", fanout.NewMessage([]byte(line)))
		},
	})
	srv := httptest.NewServer(hub)
	defer srv.Close()
	defer hub.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ann := exampleDial(ctx, srv.URL+"?name=ann", nil)
	defer ann.CloseNow()
	bob := exampleDial(ctx, srv.URL+"?name=bob", nil)
	defer bob.CloseNow()
	<-connected
	<-connected
	_ = ann.Write(ctx, websocket.MessageText, []byte("hi bob"))
	exampleRead(ctx, bob, "bob reads", 1)
	// Output:
	// bob reads ann: hi bob
}

// A live subscriber's topics change with Subscribe and Unsubscribe, and
// OnJoin and OnLeave follow every change: enough to show who is here.
// Presence lists a topic's members (of every node, with a distributed
// engine that knows them).
func ExampleSubscriber_Subscribe() {
	events := make(chan string, 8)
	subs := make(chan *fanout.Subscriber, 1)
	hub := fanout.NewHub(&fanout.HubOptions{
		Authorize: func(r *http.Request) (fanout.Grant, error) {
			return fanout.Grant{Topics: []string{"lobby"}, Group: r.URL.Query().Get("user")}, nil
		},
		OnConnect: func(s *fanout.Subscriber) { subs <- s },
		OnJoin:    func(s *fanout.Subscriber, topic string) { events <- s.Group() + " joined " + topic },
		OnLeave:   func(s *fanout.Subscriber, topic string) { events <- s.Group() + " left " + topic },
	})
	srv := httptest.NewServer(hub)
	defer srv.Close()
	defer hub.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn := exampleDial(ctx, srv.URL+"?user=ann", nil)
	defer conn.CloseNow()
	s := <-subs
	fmt.Println(<-events)

	_ = s.Subscribe(ctx, "game-7")
	fmt.Println(<-events)
	s.Unsubscribe("lobby")
	fmt.Println(<-events)
	members, _ := hub.Presence(ctx, "game-7")
	for _, m := range members {
		fmt.Println("in game-7:", m.Group, m.Transport)
	}
	fmt.Println("topics:", hub.Topics())
	// Output:
	// ann joined lobby
	// ann joined game-7
	// ann left lobby
	// in game-7: ann websocket
	// topics: map[game-7:1]
}

// CloseWith ends one subscriber with a close status and reason of the
// application's own (4000 to 4999), which the client reads from the close
// frame; an SSE client gets them in a CloseEvent.
func ExampleSubscriber_CloseWith() {
	subs := make(chan *fanout.Subscriber, 1)
	hub := fanout.NewHub(&fanout.HubOptions{OnConnect: func(s *fanout.Subscriber) { subs <- s }})
	srv := httptest.NewServer(hub)
	defer srv.Close()
	defer hub.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn := exampleDial(ctx, srv.URL+"?topic=news", nil)
	defer conn.CloseNow()
	s := <-subs

	_ = s.CloseWith(4001, "session expired")
	_, _, err := conn.Read(ctx)
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		fmt.Println(int(ce.Code), ce.Reason)
	}
	// Output:
	// 4001 session expired
}

// Limits.MessageRate bounds what one client may send; over it, a message
// is dropped and counted (RateDrop) or the client is closed with 1008.
func ExampleLimits() {
	got := make(chan string, 8)
	onConnect, connected := exampleConnected(1)
	hub := fanout.NewHub(&fanout.HubOptions{
		Limits:    fanout.Limits{MessageRate: 1, MessageBurst: 2, OverRate: fanout.RateClose},
		OnConnect: onConnect,
		OnMessage: func(_ context.Context, _ *fanout.Subscriber, m *fanout.Message) { got <- string(m.Data()) },
	})
	srv := httptest.NewServer(hub)
	defer srv.Close()
	defer hub.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn := exampleDial(ctx, srv.URL, nil)
	defer conn.CloseNow()
	<-connected
	for _, m := range []string{"one", "two", "three", "four", "five"} {
		_ = conn.Write(ctx, websocket.MessageText, []byte(m))
	}
	_, _, err := conn.Read(ctx)
	fmt.Println("closed:", websocket.CloseStatus(err))
	fmt.Println("heard:", <-got, <-got) // the burst
	// Output:
	// closed: StatusPolicyViolation
	// heard: one two
}
