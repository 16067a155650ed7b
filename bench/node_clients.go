package main

import (
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The clients of -nodes, in this process: rawWS connections (see
// rawws.go), each read by one goroutine that parses its side's protocol
// (node_protocols.go). When the server ends a connection before the run
// is over, the client reconnects to the same node with its position, as
// each library's clients do, at most maxReconnects times.

// nodeFleet is one run's clients.
type nodeFleet struct {
	side       nodeSide
	w          nodeWorkload
	subs       []*nodeSub
	bystanders []*nodeSub // on other topics, at the bystander node

	// dropAt, when positive, has each subscriber close its connection
	// once, after that many measured messages, and reconnect (-nodes-drop).
	dropAt int64

	tallies
	readers sync.WaitGroup

	closing atomic.Bool
	mu      sync.Mutex
	conns   []net.Conn
}

// maxReconnects bounds the reconnections of one subscriber in a run.
const maxReconnects = 20

// nodeSub is one subscriber.
type nodeSub struct {
	tally           // its times are CLOCK_MONOTONIC ns
	next   []int    // per publishing goroutine (lane) and run topic: the next sequence number expected; reader only
	ks     []int    // with -topics, the indexes of its run topics
	want   int64    // measured messages it is to receive
	topics []string // what it follows (and, when measured, benchTopic for the warm-ups)

	resyncs    atomic.Int64 // resync records (fanout), error replies or failed recoveries (centrifuge)
	reconnects atomic.Int64
	bystander  bool // on the other topic: counts what it gets, and should get nothing
	dropped    bool // it closed its connection for dropAt; reader only

	// Its position, for reconnecting; reader only.
	lastID [maxIDLen]byte // fanout: the last ID received
	idLen  int
	epoch  string // centrifuge: the stream's epoch and the last offset received
	offset uint64
}

func newNodeFleet(side nodeSide, w nodeWorkload, subs, bystanders int, samples []int64) *nodeFleet {
	f := &nodeFleet{side: side, w: w}
	members := make([]*tally, subs)
	at := int64(0)
	for i := range subs {
		topics, want := w.subTopics(i, subs)
		s := &nodeSub{tally: tally{lat: samples[at:at:min(at+want, int64(len(samples)))]}, next: make([]int, w.lanes()*len(topics)), want: want, topics: topics}
		at += want
		if w.Topics > 0 {
			for _, t := range topics {
				k, _ := strconv.Atoi(t[1:])
				s.ks = append(s.ks, k)
			}
			s.topics = append(topics, benchTopic)
		}
		f.subs = append(f.subs, s)
		members[i] = &s.tally
	}
	f.init(members)
	for _, topics := range w.bystanderTopics(subs, bystanders) {
		f.bystanders = append(f.bystanders, &nodeSub{bystander: true, topics: topics})
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
	start := func(s *nodeSub, addr string, measured bool) {
		sem <- struct{}{}
		dialed.Add(1)
		f.readers.Go(func() {
			if measured {
				defer f.finish(&s.tally)
				if s.want == 0 {
					f.finish(&s.tally)
				}
			}
			ws, err := f.dialNode(addr, s)
			<-sem
			dialed.Done()
			if err != nil {
				errs <- err
				return
			}
			for {
				f.read(ws, s)
				if f.closing.Load() || s.finished.Load() || s.reconnects.Load() == maxReconnects {
					return
				}
				s.reconnects.Add(1)
				if ws, err = f.dialNode(addr, s); err != nil {
					return
				}
			}
		})
	}
	for i, s := range f.subs {
		start(s, addrs[i%len(addrs)], true)
	}
	for _, s := range f.bystanders {
		start(s, bystander, false)
	}
	dialed.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// keep remembers a connection for close, or closes it if the fleet is
// closing.
func (f *nodeFleet) keep(c net.Conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closing.Load() {
		_ = c.Close()
		return
	}
	f.conns = append(f.conns, c)
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
		if f.dropAt > 0 && !s.dropped && s.got.Load() >= f.dropAt {
			s.dropped = true
			_ = ws.conn.Close()
		}
	}
}

// receive handles one message's payload.
func (f *nodeFleet) receive(s *nodeSub, b []byte) {
	d, ok := s.take(b)
	switch {
	case !ok:
		return
	case s.bystander:
		s.got.Add(1)
		return
	case d.warm:
		s.warmUp(d.seq)
		return
	}
	t := mono()
	// Messages of one publishing goroutine (a lane) to one topic arrive
	// in order; lanes, nodes and topics interleave freely.
	lane := f.w.lane(d.seq)
	if len(s.ks) > 0 {
		lane = lane*len(s.ks) + max(slices.Index(s.ks, d.seq%f.w.Topics), 0)
	}
	if d.seq < s.next[lane] {
		s.misorder.Add(1)
	}
	s.next[lane] = d.seq + 1
	if s.measured(t, d.due, s.want) {
		f.finish(&s.tally)
	}
}

// close drops every connection and waits for the readers.
func (f *nodeFleet) close() {
	f.mu.Lock()
	f.closing.Store(true)
	for _, c := range f.conns {
		_ = c.Close()
	}
	f.mu.Unlock()
	waitAtMost(&f.readers, 10*time.Second)
}
