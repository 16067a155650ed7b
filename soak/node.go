package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"github.com/fanout-go/fanout/internal/harness"
	"github.com/redis/rueidis"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/client"
	"github.com/fanout-go/fanout/redis"
)

// nodeConfig is what the parent tells a node process (-node, as JSON).
type nodeConfig struct {
	System     string        `json:"system"` // "s" (the node alone) or "c" (the three on Redis)
	Name       string        `json:"name"`   // "s0", "c0", "c1", "c2"
	Inc        int           `json:"inc"`    // incarnation: 0, then 1, 2, ... after each restart
	Redis      string        `json:"redis"`  // the proxy's address; "" for the in-process engine
	Listen     string        `json:"listen"` // "" for a free port
	Ring       int           `json:"ring"`
	History    int           `json:"history"`
	Pubs       int           `json:"pubs"`
	Rate       float64       `json:"rate"` // messages per second, per publisher
	Burst      int           `json:"burst"`
	BurstEvery time.Duration `json:"burst_every"`
	Topics     int           `json:"topics"`
	QueueSize  int           `json:"queue_size"`
	QueueBytes int           `json:"queue_bytes"`
	SendBuffer int           `json:"send_buffer"`
	Timeout    time.Duration `json:"timeout"`   // each Publish's context
	DebugLog   string        `json:"debug_log"` // a file for the library's Debug log, when set
	Seed       uint64        `json:"seed"`      // the run's -seed: the publishers' draws derive from it
}

// node is one node process: a Hub with a Broker attached, on the
// in-process engine (a Ring) or the Redis engine, and its publishers.
type node struct {
	cfg    nodeConfig
	hub    *fanout.Hub
	broker *fanout.Broker
	eng    *redis.Engine
	rc     rueidis.Client
	obs    *nodeObserver
	addr   string

	canary *canary
	log    *slog.Logger

	mu   sync.Mutex
	gone []disconnect // since the last poll
	pubs *publishers
}

// disconnect is a subscriber that ended, as the node saw it.
type disconnect struct {
	CID       string `json:"cid"`
	Transport string `json:"transport"`
	Group     string `json:"group"`
	Delivered uint64 `json:"delivered"`
	Dropped   uint64 `json:"dropped"`
	Err       string `json:"err,omitempty"`
	At        int64  `json:"at"` // CLOCK_MONOTONIC
}

func topicName(i int) string { return fmt.Sprintf("t%d", i) }

func newNode(cfg nodeConfig) (*node, error) {
	n := &node{cfg: cfg, obs: newNodeObserver()}
	authorize := func(r *http.Request) (fanout.Grant, error) {
		q := r.URL.Query()
		topics := q["topic"]
		if len(topics) == 0 {
			return fanout.Grant{}, fanout.ErrInvalidTopic
		}
		return fanout.Grant{Topics: topics, Identity: q.Get("cid"), Group: q.Get("group")}, nil
	}
	logger := slog.New(slog.DiscardHandler)
	if cfg.DebugLog != "" {
		f, err := os.OpenFile(cfg.DebugLog, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return nil, err
		}
		logger = slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	n.log = logger
	opts := &fanout.HubOptions{
		DeliveryOptions: fanout.DeliveryOptions{
			Logger:     logger,
			QueueSize:  cfg.QueueSize,
			QueueBytes: cfg.QueueBytes,
			OnSlow:     onSlow,
			Observer:   n.obs,
		},
		Packing:        true,
		Authorize:      authorize,
		OnMessage:      n.onMessage,
		OnDisconnect:   n.onDisconnect,
		SendBufferSize: cfg.SendBuffer,
	}
	if cfg.Redis == "" {
		opts.Replay = fanout.NewRing(&fanout.RingOptions{Size: cfg.Ring})
	} else {
		rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{cfg.Redis}})
		if err != nil {
			return nil, err
		}
		eng, err := redis.New(rc, &redis.Options{Prefix: "soak", HistorySize: cfg.History})
		if err != nil {
			rc.Close()
			return nil, err
		}
		n.rc, n.eng, opts.Engine = rc, eng, eng
	}
	n.hub = fanout.NewHub(opts)
	n.broker = fanout.NewBroker(&fanout.BrokerOptions{Hub: n.hub, Authorize: authorize, OnDisconnect: n.onDisconnect})
	return n, nil
}

// onSlow keeps the Hub's PolicyClose for everyone but the "drop" group,
// whose subscribers have messages dropped when their queue is full; a
// write that times out closes them too (docs/slow-clients.md).
func onSlow(ev fanout.SlowEvent) fanout.Policy {
	if ev.Subscriber.Group() == "drop" && ev.Reason == fanout.SlowQueueFull {
		return fanout.PolicyDrop
	}
	return fanout.PolicyClose
}

// onMessage joins and leaves topics live: "join T" subscribes the client
// to T and, once it has, sends it "ack T"; "leave T" unsubscribes it.
func (n *node) onMessage(ctx context.Context, s *fanout.Subscriber, m *fanout.Message) {
	verb, topic, ok := strings.Cut(string(m.Data()), " ")
	if !ok || topic == "" {
		return
	}
	switch verb {
	case "join":
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := s.Subscribe(ctx, topic); err != nil {
			return // the client sees no ack, and keeps its topic unchecked
		}
		_ = s.Send(fanout.NewMessage([]byte(ackPrefix + topic)))
	case "leave":
		s.Unsubscribe(topic)
	}
}

func (n *node) onDisconnect(s *fanout.Subscriber, err error) {
	d := disconnect{Transport: s.Transport(), Group: s.Group(), Delivered: s.Delivered(), Dropped: s.Dropped(), At: monoNow()}
	d.CID, _ = fanout.IdentityOf[string](s)
	if err != nil {
		d.Err = err.Error()
	}
	n.log.Debug("soak: gone", "cid", d.CID, "subscriber", s.ID(), "err", d.Err)
	n.mu.Lock()
	n.gone = append(n.gone, d)
	n.mu.Unlock()
}

// serve listens and answers the parent's commands until stdin closes.
func (n *node) serve() error {
	addr := n.cfg.Listen
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	var err error
	for range 100 { // a restarted node takes its predecessor's port back
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	n.addr = ln.Addr().String()
	mux := http.NewServeMux()
	mux.Handle("/ws", n.hub)
	mux.Handle("/events", n.broker)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	defer func() {
		if n.pubs != nil {
			n.pubs.stop()
		}
		_ = n.hub.Close() // closes the engine
		_ = hs.Close()
		if n.rc != nil {
			n.rc.Close()
		}
	}()
	if err := harness.Reply(map[string]any{"addr": n.addr, "pid": os.Getpid()}); err != nil {
		return err
	}
	return harness.ServeCommands(n.command)
}

func (n *node) command(cmd string, args []string) any {
	fail := func(err error) any { return map[string]string{"err": err.Error()} }
	switch cmd {
	case "warm":
		if err := n.warm(); err != nil {
			return fail(err)
		}
		return map[string]string{}
	case "baseline":
		return readBaseline(n.hub.Len())
	case "start":
		n.pubs = startPublishers(n.cfg, n.hub)
		return map[string]string{}
	case "stop":
		if n.pubs == nil {
			return fail(errors.New("not publishing"))
		}
		return n.pubs.stop()
	case "poll":
		return n.poll()
	case "sub":
		// what the node knows of a client (by its cid), for a violation's report
		var out []map[string]any
		for _, sub := range n.hub.Subscribers() {
			if id, _ := fanout.IdentityOf[string](sub); len(args) == 1 && id == args[0] {
				out = append(out, map[string]any{"queue": sub.QueueLen(), "queue_bytes": sub.QueueBytes(),
					"delivered": sub.Delivered(), "dropped": sub.Dropped(), "topics": len(sub.Topics()), "transport": sub.Transport()})
			}
		}
		return map[string]any{"subs": out, "stats": n.hub.Stats()}
	case "stacks":
		var sb strings.Builder
		_ = pprof.Lookup("goroutine").WriteTo(&sb, 1)
		return map[string]string{"stacks": sb.String()}
	case "final":
		deadline := time.Now().Add(30 * time.Second)
		for n.hub.Len() > 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if err := n.fillRing(context.Background()); err != nil { // the Ring as at the baseline, not with the run's last messages
			return fail(err)
		}
		time.Sleep(2500 * time.Millisecond) // the engine stops following partitions one CheckInterval after their last subscriber
		b := readBaseline(n.hub.Len())
		var sb strings.Builder
		_ = pprof.Lookup("goroutine").WriteTo(&sb, 1)
		b.Stacks = sb.String()
		return b
	}
	return fail(fmt.Errorf("unknown command %q", cmd))
}

// warm has the node serve a WebSocket and an SSE client of its own for a
// moment (what starts lazily, the idle poller, the engine's subscription,
// is then started), and, with a Ring, fills it, so that the baseline is a
// node as it runs.
func (n *node) warm() error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var clients []*client.Client
	defer func() {
		for _, c := range clients {
			_ = c.Close()
		}
	}()
	for _, u := range []string{"ws://" + n.addr + "/ws?topic=warm", "http://" + n.addr + "/events?topic=warm"} {
		c, err := client.New(u, nil)
		if err != nil {
			return err
		}
		clients = append(clients, c)
	}
	for !n.subscribed(len(clients)) {
		if ctx.Err() != nil {
			return errors.New("warm-up clients did not connect")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for i := range 10 {
		if err := n.hub.Publish(ctx, "warm", fanout.NewMessage(fmt.Appendf(nil, "warm %d", i))); err != nil {
			return err
		}
	}
	for _, c := range clients {
		for range 10 {
			if _, err := c.Next(ctx); err != nil {
				return err
			}
		}
	}
	for _, c := range clients {
		_ = c.Close()
	}
	clients = nil
	for n.hub.Len() > 0 && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	if err := n.fillRing(ctx); err != nil {
		return err
	}
	time.Sleep(2500 * time.Millisecond) // past the engine's CheckInterval (1s), as at the end
	return nil
}

func (n *node) subscribed(want int) bool { return n.hub.Len() >= want }

// fillRing fills the Ring (with the in-process engine) with messages of
// 200 bytes on a topic nobody reads, so that what it holds at the
// baseline and at the end is the same.
func (n *node) fillRing(ctx context.Context) error {
	if n.cfg.Redis != "" {
		return nil
	}
	pad := strings.Repeat("x", 200)
	for i := range n.cfg.Ring {
		if err := n.hub.Publish(ctx, "warm", fanout.NewMessage(fmt.Appendf(nil, "warm %d %s", i, pad))); err != nil {
			return err
		}
	}
	return nil
}

// nodeMain runs a node process.
func nodeMain(spec string) error {
	var cfg nodeConfig
	if err := json.Unmarshal([]byte(spec), &cfg); err != nil {
		return err
	}
	n, err := newNode(cfg)
	if err != nil {
		return err
	}
	n.canary = startCanary(nil)
	return n.serve()
}
