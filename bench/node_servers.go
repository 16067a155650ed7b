package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/centrifugal/centrifuge"
	"github.com/redis/rueidis"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/redis"
)

// The two sides of -nodes. Each node is a process of its own with its
// own HTTP server, serving its subscribers and publishing through its
// library's Redis integration on one shared redis-server, each with the
// library's defaults except what the workload needs (history on, queues
// deep enough for the run; see nodeSides).

// nodeServer is one node of one side.
type nodeServer interface {
	http.Handler
	// Publish publishes b on topic through the library's Redis
	// integration and returns once Redis has it.
	Publish(topic string, b []byte) error
	// Subscribers returns how many subscribers this node serves.
	Subscribers() int
	// Stats returns the integration's counters, if it has any.
	Stats() any
	Close()
}

// nodeSide is one row of the -nodes table.
type nodeSide struct {
	Name string
	// Path is where subscribers connect, with "?topic=" to follow;
	// Protocol the WebSocket subprotocol they offer.
	Path, Protocol string
	New            func(redisAddr string, o nodeOptions) (nodeServer, error)
}

// nodeOptions is what every node is given.
type nodeOptions struct {
	peerOptions
	Size int // bytes per message
	// Partitions is the fanout engine's Options.Partitions (0: its
	// default).
	Partitions int
	// Cluster: the Redis is a Redis Cluster, whose masters' addresses
	// New is given, comma-separated.
	Cluster bool
	// CentrifugeSharded is centrifuge's
	// RedisBrokerConfig.NumShardedPubSubPartitions (0: its default).
	CentrifugeSharded int
}

var nodeSides = []nodeSide{
	{Name: "fanout", Path: "/", Protocol: fanout.ResumeSubprotocol, New: newFanoutNode},
	{Name: "centrifuge", Path: "/connection/websocket", Protocol: "centrifuge-protobuf", New: newCentrifugeNode},
}

// History kept by both sides: each fanout partition's stream keeps
// redis.Options.HistorySize (default 10,000) messages for a day
// (HistoryAge, default 24 h); centrifuge is given the same per channel.
const (
	nodeHistorySize = 10000
	nodeHistoryAge  = 24 * time.Hour
)

// fanoutNode is a Hub on the Redis engine (rueidis with its defaults),
// as in redis/example_test.go. Clients opt in to resuming
// (ResumeSubprotocol): every message carries its ID, as centrifuge's
// publications carry their offset.
type fanoutNode struct {
	hub    *fanout.Hub
	eng    *redis.Engine
	client rueidis.Client
}

func newFanoutNode(addr string, o nodeOptions) (nodeServer, error) {
	// On a Cluster's addresses rueidis makes a cluster client, on which
	// the engine's default is 16 partitions.
	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: strings.Split(addr, ",")})
	if err != nil {
		return nil, err
	}
	eng, err := redis.New(client, &redis.Options{Prefix: "bench", Partitions: o.Partitions})
	if err != nil {
		client.Close()
		return nil, err
	}
	hub := fanout.NewHub(&fanout.HubOptions{Engine: eng, DeliveryOptions: deliveryOptions(o.peerOptions, 0)})
	return &fanoutNode{hub: hub, eng: eng, client: client}, nil
}

func (n *fanoutNode) ServeHTTP(w http.ResponseWriter, r *http.Request) { n.hub.ServeHTTP(w, r) }

func (n *fanoutNode) Publish(topic string, b []byte) error {
	return n.hub.Publish(context.Background(), topic, fanout.NewMessage(b))
}

func (n *fanoutNode) Subscribers() int { return n.hub.Len() }
func (n *fanoutNode) Stats() any       { return n.eng.Stats() }

func (n *fanoutNode) Close() {
	_ = n.hub.Close() // closes the engine
	n.client.Close()
}

// centrifugeNode is a centrifuge Node with its RedisBroker (one shard,
// RedisShardConfig with its defaults, see redisShardConfig) and its
// WebSocket handler. Each
// topic in the query becomes a server-side subscription with recovery on
// (ConnectReply.Subscriptions, EnableRecovery), so a client sends one
// connect command and receives publications, each with its offset.
// Publications go to history (WithHistory), which recovery needs.
// Presence is off (no EmitPresence), as is centrifuge's default.
type centrifugeNode struct {
	node    *centrifuge.Node
	ws      *centrifuge.WebsocketHandler
	publish []centrifuge.PublishOption
}

type topicKey struct{}

func newCentrifugeNode(addr string, o nodeOptions) (nodeServer, error) {
	cfg := centrifuge.Config{
		LogLevel: centrifuge.LogLevelError,
		LogHandler: func(e centrifuge.LogEntry) {
			fmt.Fprintf(os.Stderr, "centrifuge: %s %v %v\n", e.Message, e.Fields, e.Error)
		},
	}
	if o.Queue > 0 {
		// ClientQueueMaxSize is in bytes of encoded messages (default
		// 1 MiB): room for the whole run, as the other peers get.
		cfg.ClientQueueMaxSize = max(o.Queue*(o.Size+64), 1<<20)
	}
	node, err := centrifuge.New(cfg)
	if err != nil {
		return nil, err
	}
	node.OnConnecting(func(ctx context.Context, _ centrifuge.ConnectEvent) (centrifuge.ConnectReply, error) {
		topics, _ := ctx.Value(topicKey{}).([]string)
		subs := make(map[string]centrifuge.SubscribeOptions, len(topics))
		for _, t := range topics {
			subs[t] = centrifuge.SubscribeOptions{EnableRecovery: true}
		}
		return centrifuge.ConnectReply{Credentials: &centrifuge.Credentials{}, Subscriptions: subs}, nil
	})
	node.OnConnect(func(*centrifuge.Client) {})
	shard, err := centrifuge.NewRedisShard(node, redisShardConfig(addr, o.Cluster))
	if err != nil {
		return nil, err
	}
	broker, err := centrifuge.NewRedisBroker(node, centrifuge.RedisBrokerConfig{Prefix: "bench", Shards: []*centrifuge.RedisShard{shard},
		NumShardedPubSubPartitions: o.CentrifugeSharded})
	if err != nil {
		shard.Close()
		return nil, err
	}
	node.SetBroker(broker)
	if err := node.Run(); err != nil {
		shard.Close()
		return nil, err
	}
	return &centrifugeNode{
		node:    node,
		ws:      centrifuge.NewWebsocketHandler(node, centrifuge.WebsocketConfig{}),
		publish: []centrifuge.PublishOption{centrifuge.WithHistory(nodeHistorySize, nodeHistoryAge)},
	}, nil
}

// ServeHTTP hands the topics to OnConnecting through the request's
// context, as centrifuge's examples hand over credentials.
func (n *centrifugeNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := context.WithValue(r.Context(), topicKey{}, r.URL.Query()["topic"])
	n.ws.ServeHTTP(w, r.WithContext(ctx))
}

func (n *centrifugeNode) Publish(topic string, b []byte) error {
	_, err := n.node.Publish(topic, b, n.publish...)
	return err
}

func (n *centrifugeNode) Subscribers() int { return n.node.Hub().NumClients() }
func (n *centrifugeNode) Stats() any       { return nil }

func (n *centrifugeNode) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = n.node.Shutdown(ctx) // closes the broker
}

// redisShardConfig is centrifuge's RedisShardConfig for one redis-server
// (Address) or a Redis Cluster (ClusterAddresses, the masters' addresses
// comma-separated in addr), the rest its defaults. On a Cluster the
// RedisBroker, whose NumShardedPubSubPartitions is left at its default
// (0), publishes with PUBLISH, which the Cluster relays to every master,
// and keeps each channel's history under a hash tag of the channel.
func redisShardConfig(addr string, cluster bool) centrifuge.RedisShardConfig {
	if cluster {
		return centrifuge.RedisShardConfig{ClusterAddresses: strings.Split(addr, ",")}
	}
	return centrifuge.RedisShardConfig{Address: addr}
}
