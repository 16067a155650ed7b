package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// The clients of -nodes, in this process: rawWS connections (see
// rawws.go), each read by one goroutine that parses what its side sends,
// reading each payload in place, without allocating per message:
//
//   - fanout: the ResumeSubprotocol's packed frames, records of a 5-byte
//     header (kind, big-endian length) and a payload: a message's ID
//     record, then its text record.
//   - centrifuge: its protobuf protocol ("centrifuge-protobuf"): after
//     the connect command, frames of varint-length-prefixed Replies; a
//     publication is Reply.push (field 4) → Push.pub (4) →
//     Publication.data (4), next to its offset; an empty Reply is a ping,
//     answered with an empty Command (pong).
//
// Both read a few header bytes per message and the same 64-byte payload,
// so the two sides' clients cost about the same per message; the clients'
// CPU time is measured to show it.

// nodeFleet is one run's clients.
type nodeFleet struct {
	side         nodeSide
	want         int64 // measured messages each subscriber expects
	burst, nodes int
	subs         []*nodeSub
	bystanders   []*nodeSub // on the other topic, at the bystander node

	remaining atomic.Int64
	allDone   chan struct{}
	readers   sync.WaitGroup

	mu    sync.Mutex
	conns []net.Conn
}

// nodeSub is one subscriber.
type nodeSub struct {
	lat  []int64 // latency samples, ns; preallocated, owned by the reader
	next []int   // per (publishing node, lane): the next sequence number expected; reader only

	got       atomic.Int64 // measured messages received
	last      atomic.Int64 // when the last arrived (CLOCK_MONOTONIC ns)
	warm      atomic.Int64 // 1 + the highest warm-up sequence number seen
	misorder  atomic.Int64 // out of order or duplicated
	malformed atomic.Int64
	resyncs   atomic.Int64 // resync records (fanout) or error replies (centrifuge)
	finished  atomic.Bool
	bystander bool // on the other topic: counts what it gets, and should get nothing
}

func newNodeFleet(side nodeSide, subs, bystanders int, cfg config, nodes int, samples []int64) *nodeFleet {
	f := &nodeFleet{side: side, want: int64(cfg.Msgs), burst: cfg.Burst, nodes: nodes, allDone: make(chan struct{})}
	f.remaining.Store(int64(subs))
	for i := range subs {
		f.subs = append(f.subs, &nodeSub{lat: samples[i*cfg.Msgs : i*cfg.Msgs : (i+1)*cfg.Msgs], next: make([]int, nodes*cfg.Burst)})
	}
	for range bystanders {
		f.bystanders = append(f.bystanders, &nodeSub{bystander: true})
	}
	return f
}

// connect dials every subscriber (sub i to addrs[i mod len(addrs)]) and
// every bystander (to bystander), at most par at a time, and returns once
// all have done their handshake.
func (f *nodeFleet) connect(addrs []string, bystander string, par int) error {
	sem := make(chan struct{}, par)
	errs := make(chan error, len(f.subs)+len(f.bystanders))
	var dialed sync.WaitGroup
	start := func(s *nodeSub, addr, topic string, measured bool) {
		sem <- struct{}{}
		dialed.Add(1)
		f.readers.Go(func() {
			if measured {
				defer f.finish(s)
			}
			ws, err := f.dial(addr, topic)
			<-sem
			dialed.Done()
			if err != nil {
				errs <- err
				return
			}
			f.read(ws, s)
		})
	}
	for i, s := range f.subs {
		start(s, addrs[i%len(addrs)], benchTopic, true)
	}
	for _, s := range f.bystanders {
		start(s, bystander, bystanderTopic, false)
	}
	dialed.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// connectCommand is centrifuge's Command{id: 1, connect: {}}, with its
// varint length in front.
var connectCommand = []byte{4, 0x08, 0x01, 0x22, 0x00}

func (f *nodeFleet) dial(addr, topic string) (*rawWS, error) {
	conn, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		return nil, err
	}
	ws, err := handshakeRawWS(conn, addr, f.side.Path+"?topic="+topic, 32<<10, f.side.Protocol)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.side.Name, err)
	}
	f.mu.Lock()
	f.conns = append(f.conns, conn)
	f.mu.Unlock()
	if f.side.Name == "centrifuge" {
		if err := ws.write(0x2, connectCommand); err != nil {
			conn.Close()
			return nil, err
		}
	}
	return ws, nil
}

// read reads s's frames until the connection ends.
func (f *nodeFleet) read(ws *rawWS, s *nodeSub) {
	parse := f.fanoutFrame
	if f.side.Name == "centrifuge" {
		parse = f.centrifugeFrame
	}
	for {
		p, err := ws.next(nil)
		if err != nil {
			return
		}
		if err := parse(ws, s, p); err != nil {
			s.malformed.Add(1)
			return
		}
	}
}

var errShortFrame = errors.New("short frame")

// fanoutFrame reads one packed frame of ResumeSubprotocol.
func (f *nodeFleet) fanoutFrame(_ *rawWS, s *nodeSub, p []byte) error {
	for len(p) > 0 {
		if len(p) < 5 {
			return errShortFrame
		}
		kind, n := p[0], int(binary.BigEndian.Uint32(p[1:5]))
		if n > len(p)-5 {
			return errShortFrame
		}
		switch kind {
		case 1, 2:
			f.receive(s, p[5:5+n])
		case 4:
			s.resyncs.Add(1)
		}
		p = p[5+n:]
	}
	return nil
}

// centrifugeFrame reads one frame of centrifuge's protobuf protocol.
func (f *nodeFleet) centrifugeFrame(ws *rawWS, s *nodeSub, p []byte) error {
	for len(p) > 0 {
		n, k := binary.Uvarint(p)
		if k <= 0 || n > uint64(len(p)-k) {
			return errShortFrame
		}
		reply := p[k : k+int(n)]
		p = p[k+int(n):]
		if len(reply) == 0 { // a ping
			if err := ws.write(0x2, []byte{0}); err != nil {
				return err
			}
			continue
		}
		if pbField(reply, 2) != nil {
			s.resyncs.Add(1) // an error reply
			continue
		}
		if push := pbField(reply, 4); push != nil {
			if pub := pbField(push, 4); pub != nil {
				if data := pbField(pub, 4); data != nil {
					f.receive(s, data)
				}
			}
		}
	}
	return nil
}

// pbField returns the bytes of the first length-delimited field num of a
// protobuf message, or nil.
func pbField(b []byte, num uint64) []byte {
	for len(b) > 0 {
		tag, k := binary.Uvarint(b)
		if k <= 0 {
			return nil
		}
		b = b[k:]
		switch tag & 7 {
		case 0: // varint
			_, k := binary.Uvarint(b)
			if k <= 0 {
				return nil
			}
			b = b[k:]
		case 1: // 64-bit
			if len(b) < 8 {
				return nil
			}
			b = b[8:]
		case 5: // 32-bit
			if len(b) < 4 {
				return nil
			}
			b = b[4:]
		case 2: // length-delimited
			n, k := binary.Uvarint(b)
			if k <= 0 || n > uint64(len(b)-k) {
				return nil
			}
			if tag>>3 == num {
				return b[k : k+int(n)]
			}
			b = b[k+int(n):]
		default:
			return nil
		}
	}
	return nil
}

// receive handles one message's payload.
func (f *nodeFleet) receive(s *nodeSub, b []byte) {
	d := decode(b)
	switch {
	case !d.ok:
		s.malformed.Add(1)
		return
	case s.bystander:
		s.got.Add(1)
		return
	case d.warm:
		if w := int64(d.seq) + 1; w > s.warm.Load() {
			s.warm.Store(w)
		}
		return
	}
	t := mono()
	// Messages of one publishing goroutine (a lane of a node) arrive in
	// order; lanes and nodes interleave freely.
	lane := (d.seq/f.burst%f.nodes)*f.burst + d.seq%f.burst
	if d.seq < s.next[lane] {
		s.misorder.Add(1)
	}
	s.next[lane] = d.seq + f.burst*f.nodes
	if len(s.lat) < cap(s.lat) {
		s.lat = append(s.lat, int64(t-d.due))
	}
	s.last.Store(int64(t))
	if s.got.Add(1) == f.want {
		f.finish(s)
	}
}

func (f *nodeFleet) finish(s *nodeSub) {
	if s.finished.CompareAndSwap(false, true) && f.remaining.Add(-1) == 0 {
		close(f.allDone)
	}
}

func (f *nodeFleet) delivered() int64 {
	var n int64
	for _, s := range f.subs {
		n += s.got.Load()
	}
	return n
}

func (f *nodeFleet) warmed(seq int) int {
	n := 0
	for _, s := range f.subs {
		if s.warm.Load() > int64(seq) {
			n++
		}
	}
	return n
}

// close drops every connection and waits for the readers.
func (f *nodeFleet) close() {
	f.mu.Lock()
	for _, c := range f.conns {
		_ = c.Close()
	}
	f.mu.Unlock()
	done := make(chan struct{})
	go func() { f.readers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
}
