package main

import (
	"fmt"
	"net/http"
	"strings"
)

// server is one peer under test: the http.Handler its subscribers connect
// to, and the way its library publishes.
type server interface {
	http.Handler
	// Publish sends b to every subscriber, the way the library's README or
	// examples do it. It may block if the library does (go-sse's Joe).
	Publish(b []byte) error
	// Subscribers returns how many subscribers the server holds.
	Subscribers() int
	// Close ends every subscription and stops the library's goroutines.
	Close()
}

// writeCounter is implemented by servers whose socket writes the counting
// listener cannot see (see countingListener).
type writeCounter interface {
	Writes() uint64
}

type transport uint8

const (
	ws transport = iota
	sse
)

func (t transport) String() string {
	if t == sse {
		return "sse"
	}
	return "ws"
}

// peerOptions is what every peer is given. Queue is the per-subscriber
// queue depth for peers that have one; 0 keeps the library's own default.
type peerOptions struct {
	Topic      string
	Queue      int
	QueueBytes int
	// MaxBatch overrides the default of the coalescing fanout rows (0:
	// the library's default); for experiments, never for the published
	// table.
	MaxBatch int
}

// peer describes one row of the table.
type peer struct {
	Name      string
	Transport transport
	// PerMessage peers write each message with its own socket write by
	// design; the targets compare fanout against the best of them.
	PerMessage bool
	// Bare asks for an unwrapped listener (see countingListener).
	Bare bool
	// Idle is false for a variant whose idle cost is its sibling's.
	Idle bool
	// Named is true for a variant run only when -peers names it: it is
	// not part of the published tables ("all").
	Named bool
	New   func(peerOptions) server
}

// allPeers is the order of the table; runs rotate it per repeat.
var allPeers = []peer{
	{Name: "go-sse", Transport: sse, PerMessage: true, Idle: true, New: newGoSSE},
	{Name: "gorilla", Transport: ws, PerMessage: true, Idle: true, New: newGorilla},
	{Name: "coder", Transport: ws, PerMessage: true, Idle: true, New: newCoderChat},
	{Name: "melody", Transport: ws, PerMessage: true, Idle: true, New: newMelody},
	{Name: "limit", Transport: ws, Idle: true, New: newLimit},
	{Name: "fanout-hub", Transport: ws, Bare: true, Idle: true, New: newFanoutHub(0)},
	{Name: "fanout-hub-b1", Transport: ws, Bare: true, New: newFanoutHub(1)},
	{Name: "fanout-broker", Transport: sse, Bare: true, Idle: true, New: newFanoutBroker(0)},
	{Name: "fanout-broker-b1", Transport: sse, Bare: true, New: newFanoutBroker(1)},
	{Name: "fanout-broker-rw", Transport: sse, Bare: true, Idle: true, Named: true, New: newFanoutBrokerRW},
	{Name: "fanout-hub-lean", Transport: ws, Bare: true, Idle: true, Named: true, New: newFanoutHubLean},
	{Name: "fanout-broker-lean", Transport: sse, Bare: true, Idle: true, Named: true, New: newFanoutBrokerLean},
}

// selectPeers returns the peers named in list (comma-separated), in table
// order; "" or "all" selects every peer.
func selectPeers(list string) ([]peer, error) {
	if list == "" || list == "all" {
		var out []peer
		for _, p := range allPeers {
			if !p.Named {
				out = append(out, p)
			}
		}
		return out, nil
	}
	want := map[string]bool{}
	for name := range strings.SplitSeq(list, ",") {
		want[strings.TrimSpace(name)] = true
	}
	var out []peer
	for _, p := range allPeers {
		if want[p.Name] {
			out = append(out, p)
			delete(want, p.Name)
		}
	}
	for name := range want {
		return nil, fmt.Errorf("unknown peer %q (have %s)", name, peerNames())
	}
	return out, nil
}

func peerNames() string {
	names := make([]string, len(allPeers))
	for i, p := range allPeers {
		names[i] = p.Name
	}
	return strings.Join(names, ",")
}
