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

type fanoutHub struct {
	*fanout.Hub
	topic string
}

func newFanoutHub(maxBatch int) func(peerOptions) server {
	return func(o peerOptions) server {
		h := fanout.NewHub(&fanout.HubOptions{DeliveryOptions: deliveryOptions(o, maxBatch)})
		return &fanoutHub{Hub: h, topic: o.Topic}
	}
}

// newFanoutHubLean is the Hub with ForgetRequest: what an idle subscriber
// costs when nothing needs its request after OnConnect.
func newFanoutHubLean(o peerOptions) server {
	h := fanout.NewHub(&fanout.HubOptions{DeliveryOptions: deliveryOptions(o, 0), ForgetRequest: true})
	return &fanoutHub{Hub: h, topic: o.Topic}
}

func (h *fanoutHub) Publish(b []byte) error {
	return h.Hub.Publish(context.Background(), h.topic, fanout.NewMessage(b))
}

func (h *fanoutHub) Subscribers() int { return h.Hub.Len() }

func (h *fanoutHub) Close() { _ = h.Hub.Close() }

// Writes counts the Hub's socket writes (see countingListener).
func (h *fanoutHub) Writes() uint64 { return h.Hub.Stats().Writes }

type fanoutBroker struct {
	*fanout.Broker
	topic string
}

func newFanoutBroker(maxBatch int) func(peerOptions) server {
	return func(o peerOptions) server {
		b := fanout.NewBroker(&fanout.BrokerOptions{DeliveryOptions: deliveryOptions(o, maxBatch)})
		return &fanoutBroker{Broker: b, topic: o.Topic}
	}
}

// newFanoutBrokerRW is the Broker with ThroughResponseWriter: over HTTP/1
// too, each stream goes through net/http's ResponseWriter, and ServeHTTP
// runs as long as it. It is the cost of letting middleware see the stream.
func newFanoutBrokerRW(o peerOptions) server {
	b := fanout.NewBroker(&fanout.BrokerOptions{DeliveryOptions: deliveryOptions(o, 0), ThroughResponseWriter: true})
	return &fanoutBroker{Broker: b, topic: o.Topic}
}

// newFanoutBrokerLean is the Broker with ForgetRequest.
func newFanoutBrokerLean(o peerOptions) server {
	b := fanout.NewBroker(&fanout.BrokerOptions{DeliveryOptions: deliveryOptions(o, 0), ForgetRequest: true})
	return &fanoutBroker{Broker: b, topic: o.Topic}
}

func (b *fanoutBroker) ServeHTTP(w http.ResponseWriter, r *http.Request) { b.Broker.ServeHTTP(w, r) }

func (b *fanoutBroker) Publish(p []byte) error {
	return b.Broker.Publish(context.Background(), b.topic, fanout.NewMessage(p))
}

func (b *fanoutBroker) Subscribers() int { return b.Broker.Len() }

func (b *fanoutBroker) Close() { _ = b.Broker.Close() }

// Writes counts the Broker's socket writes: over HTTP/1 it takes each
// connection over and writes a batch with one writev, as the Hub does.
func (b *fanoutBroker) Writes() uint64 { return b.Broker.Stats().Writes }
