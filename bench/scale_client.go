package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/fanout-go/fanout/internal/harness"
)

// A client child of -scale: it opens its share of the subscribers to the
// mixed server (WebSocket on /ws, SSE on /sse, by subscriber index), each
// from one of several loopback source addresses so that no address runs
// out of ephemeral ports, and records when each subscriber receives each
// broadcast. Its clients are lean, so that one process holds tens of
// thousands: a minimal WebSocket reader (rawWS) and a raw HTTP/1.1 SSE
// reader, each on one goroutine with a 1 KiB buffer.
//
// Commands:
//
//	await SEQ   waits (up to 60 s) until every open subscriber has received
//	            broadcast SEQ and answers with their latencies (arrival
//	            minus the stamp, CLOCK_MONOTONIC ns)

// scaleSub is one subscriber's receiving end.
type scaleSub struct {
	sse  bool
	open atomic.Bool
	seq  atomic.Int64 // the last broadcast received, 0 for none
	lat  atomic.Int64 // its latency, ns
}

// awaitReply answers "await".
type awaitReply struct {
	Open int     `json:"open"` // subscribers still connected
	Got  int     `json:"got"`  // of them, those that received it
	WS   []int64 `json:"ws"`   // latencies, ns
	SSE  []int64 `json:"sse"`
}

// scaleIsSSE says whether subscriber i (of all clients) is an SSE one:
// a share frac of them, spread evenly.
func scaleIsSSE(i int, frac float64) bool {
	return math.Floor(float64(i+1)*frac) > math.Floor(float64(i)*frac)
}

// scaleSource returns the loopback source address of subscriber i.
func scaleSource(i, sources int) net.IP { return net.IPv4(127, 0, 0, byte(2+i%sources)) }

func scaleClient(o options) error {
	n := o.scale
	if msg := raiseFileLimit(uint64(n) + 256); msg != "" {
		return harness.Reply(clientHello{Err: msg})
	}
	addr := o.scaleClient
	subs := make([]scaleSub, n)
	dl := newDials()
	for k := range subs {
		i := o.scaleFirst + k
		s := &subs[k]
		s.sse = scaleIsSSE(i, o.scaleSSE)
		dl.start()
		go func() {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: scaleSource(i, o.scaleSrcs)}, Timeout: 30 * time.Second}
			next, err := scaleDial(d, addr, s.sse)
			dl.count(err)
			dl.end()
			if err != nil {
				return
			}
			s.open.Store(true)
			defer s.open.Store(false)
			for {
				p, err := next()
				if err != nil {
					return
				}
				if d := decode(p); d.ok && !d.warm {
					s.lat.Store(monoNow() - int64(d.due))
					s.seq.Store(int64(d.seq))
				}
			}
		}()
	}
	if err := dl.reply(); err != nil {
		return err
	}
	return harness.ServeCommands(func(cmd string, args []string) any {
		if cmd != "await" || len(args) != 1 {
			return map[string]string{"err": "usage: await SEQ"}
		}
		seq, _ := strconv.ParseInt(args[0], 10, 64)
		return awaitBroadcast(subs, seq, 60*time.Second)
	})
}

// awaitBroadcast waits until every open subscriber has seq, or d passed.
func awaitBroadcast(subs []scaleSub, seq int64, d time.Duration) awaitReply {
	deadline := time.Now().Add(d)
	for {
		var r awaitReply
		for i := range subs {
			s := &subs[i]
			got := s.seq.Load() >= seq
			if !s.open.Load() && !got {
				continue
			}
			r.Open++
			if !got {
				continue
			}
			r.Got++
			if s.sse {
				r.SSE = append(r.SSE, s.lat.Load())
			} else {
				r.WS = append(r.WS, s.lat.Load())
			}
		}
		if r.Got == r.Open || time.Now().After(deadline) {
			return r
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// scaleDial connects one subscriber with d and returns its reader: each
// call returns the next message's payload (valid until the next call).
func scaleDial(d net.Dialer, addr string, sse bool) (func() ([]byte, error), error) {
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	if !sse {
		ws, err := handshakeRawWS(conn, addr, "/ws?topic="+benchTopic, 1<<10, "")
		if err != nil {
			return nil, err
		}
		buf := make([]byte, 0)
		return func() ([]byte, error) { return ws.next(buf) }, nil
	}
	req := "GET /sse?topic=" + benchTopic + " HTTP/1.1\r\nHost: " + addr + "\r\nAccept: text/event-stream\r\n\r\n"
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		conn.Close()
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 1<<10), nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		conn.Close()
		return nil, fmt.Errorf("sse: %s", resp.Status)
	}
	_ = conn.SetDeadline(time.Time{})
	br := bufio.NewReaderSize(resp.Body, 1<<10)
	return func() ([]byte, error) {
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				conn.Close()
				return nil, err
			}
			if data, ok := bytes.CutPrefix(line, []byte("data:")); ok {
				return bytes.TrimRight(bytes.TrimPrefix(data, []byte(" ")), "\r\n"), nil
			}
		}
	}, nil
}
