package redis_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
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

// infoField returns a numeric field of INFO section.
func infoField(t testing.TB, srv *redistest.Server, section, field string) float64 {
	t.Helper()
	info, err := redistest.String(srv.Do("INFO", section))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("no %s in INFO %s", field, section)
	return 0
}

// commandStat returns field (calls, usec, usec_per_call, ...) of command
// in srv's INFO commandstats, and whether Redis has run the command.
func commandStat(t testing.TB, srv *redistest.Server, command, field string) (float64, bool) {
	t.Helper()
	info, err := redistest.String(srv.Do("INFO", "commandstats"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		v, ok := strings.CutPrefix(line, "cmdstat_"+command+":")
		if !ok {
			continue
		}
		for _, kv := range strings.Split(v, ",") {
			if k, n, _ := strings.Cut(kv, "="); k == field {
				f, err := strconv.ParseFloat(n, 64)
				return f, err == nil
			}
		}
	}
	return 0, false
}

// redisCPU returns the CPU time redis-server has used.
func redisCPU(t testing.TB, srv *redistest.Server) time.Duration {
	sec := infoField(t, srv, "cpu", "used_cpu_sys") + infoField(t, srv, "cpu", "used_cpu_user")
	return time.Duration(sec * float64(time.Second))
}

// TestPresence_Cost measures what presence costs Redis for a node with
// members on 100,000 topics: memory per topic and per member, and the
// CPU of the node's periodic rewrite. It runs only when
// FANOUT_REDIS_MEASURE is set (it takes about a minute); the figures are
// in the package documentation.
func TestPresence_Cost(t *testing.T) {
	if os.Getenv("FANOUT_REDIS_MEASURE") == "" {
		t.Skip("set FANOUT_REDIS_MEASURE=1 to measure")
	}
	const topics = 100_000
	const presenceTTL = 30 * time.Second
	srv := redistest.Start(t)
	eng := newEngine(t, "cost", &fredis.Options{Prefix: newPrefix(), PresenceTTL: presenceTTL}, srv.Addr())
	ctx := context.Background()
	base := infoField(t, srv, "memory", "used_memory")

	start := time.Now()
	cpu := redisCPU(t, srv)
	for i := range topics {
		eng.Join(fmt.Sprintf("topic%d", i), fanout.Member{Subscriber: uint64(i + 1), Group: "user" + strconv.Itoa(i), Transport: "websocket"})
	}
	if m, err := eng.Presence(ctx, "topic0"); err != nil || len(m) != 1 {
		t.Fatalf("Presence: %v, %v", m, err)
	}
	t.Logf("%d joins written in %v, Redis CPU %v", topics, time.Since(start), redisCPU(t, srv)-cpu)
	perTopic := (infoField(t, srv, "memory", "used_memory") - base) / topics
	usage := func(key string) int64 {
		n, err := srv.Do("MEMORY", "USAGE", key)
		if err != nil {
			t.Fatal(err)
		}
		return n.(int64)
	}
	var index, hash string
	keys, err := srv.Do("KEYS", "*topic7")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys.([]any) {
		if strings.Contains(k.(string), ":pnodes:") {
			index = k.(string)
		} else if strings.Contains(k.(string), ":pmembers:") {
			hash = k.(string)
		}
	}
	t.Logf("one member per topic: used_memory %.0f bytes per topic; MEMORY USAGE index %d, hash %d", perTopic, usage(index), usage(hash))

	before := infoField(t, srv, "memory", "used_memory")
	for i := range topics {
		eng.Join(fmt.Sprintf("topic%d", i), fanout.Member{Subscriber: uint64(topics + i + 1), Group: "user" + strconv.Itoa(topics+i), Transport: "sse"})
	}
	if m, err := eng.Presence(ctx, "topic0"); err != nil || len(m) != 2 {
		t.Fatalf("Presence: %v, %v", m, err)
	}
	t.Logf("a second member per topic: used_memory %.0f bytes per member; MEMORY USAGE hash %d",
		(infoField(t, srv, "memory", "used_memory")-before)/topics, usage(hash))

	// A window of three rewrites (one every PresenceTTL/3).
	cpu = redisCPU(t, srv)
	calls := infoCalls(t, srv)
	window := presenceTTL
	time.Sleep(window) // the measurement window itself
	rewrites := infoCalls(t, srv) - calls
	used := redisCPU(t, srv) - cpu
	t.Logf("periodic rewrite: %d script calls in %v, Redis CPU %v (%.1f%% of a core; %.1f µs per topic rewritten)",
		rewrites, window, used, 100*used.Seconds()/window.Seconds(), float64(used.Microseconds())/float64(max(rewrites, 1)))
}

// infoCalls returns how many EVALSHA calls the server has run.
func infoCalls(t *testing.T, srv *redistest.Server) int64 {
	t.Helper()
	info, err := redistest.String(srv.Do("INFO", "commandstats"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "cmdstat_evalsha:calls="); ok {
			n, _ := strconv.ParseInt(v[:strings.IndexByte(v, ',')], 10, 64)
			return n
		}
	}
	return 0
}
