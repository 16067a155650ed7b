package main

import (
	"context"
	"net/http"

	"github.com/fanout-go/fanout"
)

// The fanout rows: the Hub (WebSocket) and the Broker (SSE) with their
// defaults, and each again with MaxBatch 1, which turns coalescing off (one
// socket write per message) and leaves everything else alone: the A/B.

func deliveryOptions(o peerOptions, maxBatch int) fanout.DeliveryOptions {
	if maxBatch == 0 {
		maxBatch = o.MaxBatch // 0 still: the library's default
	}
	return fanout.DeliveryOptions{QueueSize: o.Queue, QueueBytes: o.QueueBytes, MaxBatch: maxBatch}
}

// fanoutEndpoint is what a Hub and a Broker both offer.
type fanoutEndpoint interface {
	http.Handler
	Publish(ctx context.Context, topic string, m *fanout.Message) error
	Len() int
	Close() error
	Stats() fanout.Stats
}

// fanoutPeer is a Hub or a Broker publishing on one topic.
type fanoutPeer struct {
	fanoutEndpoint
	topic string
}

func newFanoutHub(maxBatch int) func(peerOptions) server {
	return func(o peerOptions) server {
		h := fanout.NewHub(&fanout.HubOptions{DeliveryOptions: deliveryOptions(o, maxBatch)})
		return &fanoutPeer{h, o.Topic}
	}
}

// newFanoutHubLean is the Hub with ForgetRequest: what an idle subscriber
// costs when nothing needs its request after OnConnect.
func newFanoutHubLean(o peerOptions) server {
	h := fanout.NewHub(&fanout.HubOptions{DeliveryOptions: deliveryOptions(o, 0), ForgetRequest: true})
	return &fanoutPeer{h, o.Topic}
}

func newFanoutBroker(maxBatch int) func(peerOptions) server {
	return func(o peerOptions) server {
		b := fanout.NewBroker(&fanout.BrokerOptions{DeliveryOptions: deliveryOptions(o, maxBatch)})
		return &fanoutPeer{b, o.Topic}
	}
}

// newFanoutBrokerRW is the Broker with ThroughResponseWriter: over HTTP/1
// too, each stream goes through net/http's ResponseWriter, and ServeHTTP
// runs as long as it. It is the cost of letting middleware see the stream.
func newFanoutBrokerRW(o peerOptions) server {
	b := fanout.NewBroker(&fanout.BrokerOptions{DeliveryOptions: deliveryOptions(o, 0), ThroughResponseWriter: true})
	return &fanoutPeer{b, o.Topic}
}

// newFanoutBrokerLean is the Broker with ForgetRequest.
func newFanoutBrokerLean(o peerOptions) server {
	b := fanout.NewBroker(&fanout.BrokerOptions{DeliveryOptions: deliveryOptions(o, 0), ForgetRequest: true})
	return &fanoutPeer{b, o.Topic}
}

func (p *fanoutPeer) Publish(b []byte) error {
	return p.fanoutEndpoint.Publish(context.Background(), p.topic, fanout.NewMessage(b))
}

func (p *fanoutPeer) Subscribers() int { return p.Len() }

func (p *fanoutPeer) Close() { _ = p.fanoutEndpoint.Close() }

// Writes counts the socket writes (see countingListener): over HTTP/1 the
// Broker takes each connection over and writes a batch with one writev,
// as the Hub does.
func (p *fanoutPeer) Writes() uint64 { return p.Stats().Writes }
