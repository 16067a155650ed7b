package redis_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/fanout-go/fanout"
	fredis "github.com/fanout-go/fanout/redis"
	"github.com/fanout-go/fanout/redis/internal/redistest"
)

// presenceNode is a Hub with an attached Broker on an engine of its own,
// whose subscribers are in the group named by ?user=.
type presenceNode struct {
	hub *fanout.Hub
	srv *httptest.Server
	eng *fredis.Engine
}

func startPresenceNode(t *testing.T, name string, opts *fredis.Options, addr string) *presenceNode {
	t.Helper()
	return startPresenceNodeWith(t, name, opts, addr, nil)
}

// startPresenceNodeWith is startPresenceNode with an OnLeave hook (nil:
// none).
func startPresenceNodeWith(t *testing.T, name string, opts *fredis.Options, addr string, onLeave func(*fanout.Subscriber, string)) *presenceNode {
	t.Helper()
	eng := newEngine(t, name, opts, addr)
	authorize := func(r *http.Request) (fanout.Grant, error) {
		q := r.URL.Query()
		return fanout.Grant{Topics: q["topic"], Group: q.Get("user")}, nil
	}
	hub := fanout.NewHub(&fanout.HubOptions{Engine: eng, Authorize: authorize, OnLeave: onLeave})
	mux := http.NewServeMux()
	mux.Handle("/ws", hub)
	mux.Handle("/sse", fanout.NewBroker(&fanout.BrokerOptions{Hub: hub, Authorize: authorize}))
	n := &presenceNode{hub: hub, srv: httptest.NewServer(mux), eng: eng}
	t.Cleanup(n.srv.Close)
	t.Cleanup(func() { _ = hub.Close() })
	return n
}

// groups returns the sorted "group/transport" of topic's members as node
// sees them.
func (n *presenceNode) groups(t *testing.T, topic string) []string {
	t.Helper()
	members, err := n.hub.Presence(context.Background(), topic)
	if err != nil {
		t.Fatalf("Presence(%q): %v", topic, err)
	}
	var out []string
	for _, m := range members {
		if m.Node == "" {
			t.Errorf("member %+v has no node", m)
		}
		out = append(out, m.Group+"/"+m.Transport)
	}
	slices.Sort(out)
	return out
}

// Presence aggregates over every node: members join on one node and are
// listed on all (the third node has no subscriber at all); a member that
// leaves is gone everywhere; a node that dies without a goodbye has its
// members dropped once its heartbeat expires; and after Redis restarted
// empty, the members of the living nodes come back.
func TestPresence_AcrossNodes(t *testing.T) {
	srv := redistest.Start(t)
	opts := &fredis.Options{Prefix: newPrefix(), CheckInterval: 100 * time.Millisecond}
	a := startPresenceNode(t, "a", opts, srv.Addr())
	b := startPresenceNode(t, "b", opts, srv.Addr())
	c := startPresenceNode(t, "c", opts, srv.Addr())
	ctx := context.Background()

	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(a.srv.URL, "http")+"/ws?topic=room&user=ann", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.srv.URL+"/sse?topic=room&topic=lobby&user=bob", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()

	want := []string{"ann/websocket", "bob/sse"}
	for _, n := range []*presenceNode{a, b, c} {
		eventually(t, func() bool { return slices.Equal(n.groups(t, "room"), want) }, "both members, on every node")
	}
	if got := c.groups(t, "lobby"); !slices.Equal(got, []string{"bob/sse"}) {
		t.Fatalf("lobby: %v", got)
	}

	_ = ws.Close(websocket.StatusNormalClosure, "")
	for _, n := range []*presenceNode{a, b, c} {
		eventually(t, func() bool { return slices.Equal(n.groups(t, "room"), []string{"bob/sse"}) }, "ann gone, on every node")
	}

	// Node d dies without a goodbye: it reaches Redis through a proxy
	// that goes away, so neither its leaves nor its heartbeat arrive any
	// more; once the heartbeat expires, the others drop its members.
	proxy := redistest.StartProxy(t, srv.Addr())
	d := startPresenceNode(t, "d", opts, proxy.Addr())
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(d.srv.URL, "http")+"/ws?topic=room&user=dee", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	eventually(t, func() bool { return slices.Contains(a.groups(t, "room"), "dee/websocket") }, "dee joins")
	proxy.Close()
	eventually(t, func() bool { return slices.Equal(c.groups(t, "room"), []string{"bob/sse"}) }, "dee's dead node dropped")

	// Redis restarts empty: each node writes its members again at its
	// next heartbeat.
	srv.Restart()
	eventually(t, func() bool {
		members, err := c.hub.Presence(ctx, "room")
		return err == nil && len(members) == 1 && members[0].Group == "bob"
	}, "bob again, after Redis lost everything")
}
