package main

import (
	"fmt"
	"net"
	"strconv"
	"syscall"
	"time"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/internal/harness"
	"github.com/fanout-go/fanout/internal/testkit/payload"
)

// The server child of -deflate: it serves one of deflatePeers on
// 127.0.0.1, prints its address, and answers the parent's commands:
//
//	count          {"subscribers": n}
//	prepare SIZE   makes -deflate-msgs JSON payloads of SIZE bytes, each its own
//	rusage         {"cpu": ns}: the CPU time this process has used
//	publish        publishes the prepared payloads, back to back
//
// The payloads are made before the parent reads the CPU time, so that
// what it measures is publishing and delivering them.

// deflatePeer is one row of the -deflate table.
type deflatePeer struct {
	Name     string
	Compress bool // negotiates permessage-deflate with clients that offer it
	New      func(o peerOptions) server
}

// deflatePeers are the rows of -deflate: the fanout Hub and the gorilla
// hub (prepared messages, as in the main table) without and with
// compression, and melody with compression, which compresses each
// message for each connection (gorilla's WriteMessage), as a hub that
// does not prepare messages does.
var deflatePeers = []deflatePeer{
	{"fanout-hub", false, newDeflateFanout(false)},
	{"fanout-hub-deflate", true, newDeflateFanout(true)},
	{"gorilla", false, func(o peerOptions) server { return newGorillaHub(o, false) }},
	{"gorilla-deflate", true, func(o peerOptions) server { return newGorillaHub(o, true) }},
	{"melody-deflate", true, newMelodyDeflate},
}

func newDeflateFanout(compress bool) func(peerOptions) server {
	return func(o peerOptions) server {
		h := fanout.NewHub(&fanout.HubOptions{
			DeliveryOptions: fanout.DeliveryOptions{QueueSize: o.Queue, QueueBytes: o.QueueBytes},
			Compression:     compress,
		})
		return &fanoutPeer{h, o.Topic}
	}
}

// newMelodyDeflate is the melody row with its upgrader's EnableCompression:
// each session's write pump compresses every message it writes. Its
// WriteWait is raised from 10 s to a minute: the deadline is set before
// the message is compressed, and with a thousand write pumps compressing
// at once on two cores a session's first write of 16 KiB or more took
// longer than 10 s, so melody closed every client before it got a
// message, and the row had no figures.
func newMelodyDeflate(o peerOptions) server {
	p := newMelody(o).(*melodyPeer)
	p.m.Upgrader.EnableCompression = true
	p.m.Config.WriteWait = time.Minute
	return p
}

func findDeflatePeer(name string) (deflatePeer, error) {
	for _, p := range deflatePeers {
		if p.Name == name {
			return p, nil
		}
	}
	return deflatePeer{}, fmt.Errorf("unknown -deflate peer %q", name)
}

func deflateServerChild(o options) error {
	if msg := raiseFileLimit(uint64(o.deflateSubs + 256)); msg != "" {
		return harness.Reply(serverHello{Err: msg})
	}
	p, err := findDeflatePeer(o.deflateServer)
	if err != nil {
		return harness.Reply(serverHello{Err: err.Error()})
	}
	// Queues deep enough for the whole run: every message is published
	// back to back, and every peer must deliver them all.
	maxSize := 64 << 10
	for _, n := range mustInts(o.deflateSizes) {
		maxSize = max(maxSize, n)
	}
	srv := p.New(peerOptions{Topic: benchTopic, Queue: o.deflateMsgs + 64, QueueBytes: (o.deflateMsgs + 1) * maxSize})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	var payloads [][]byte
	return serveChild(srv, srv.Close, ln, func(cmd string, args []string) any {
		switch cmd {
		case "count":
			return memSnapshot{Subscribers: srv.Subscribers()}
		case "prepare":
			size := 0
			if len(args) == 1 {
				size, _ = strconv.Atoi(args[0])
			}
			if size < 16 {
				return map[string]string{"err": "usage: prepare SIZE (at least 16)"}
			}
			payloads = payloads[:0]
			for i := range o.deflateMsgs {
				payloads = append(payloads, payload.JSON(size, uint64(i)+1))
			}
			return map[string]string{}
		case "rusage":
			var ru syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
			return map[string]int64{"cpu": ru.Utime.Nano() + ru.Stime.Nano()}
		case "publish":
			for _, b := range payloads {
				if err := srv.Publish(b); err != nil {
					return map[string]string{"err": err.Error()}
				}
			}
			return map[string]string{}
		}
		return map[string]string{"err": "unknown command " + cmd}
	})
}
