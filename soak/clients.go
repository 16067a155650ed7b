package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fanout-go/fanout"
)

// kind is how a client connects.
type kind uint8

const (
	kWSResume kind = iota // raw WebSocket, fanout.resume.v2: resumes with ?lastEventId=
	kWSPacked             // raw WebSocket, fanout.packed.v2: no IDs, a new baseline per connection
	kWSPlain              // raw WebSocket, one frame per message: likewise
	kSSE                  // raw SSE: resumes with Last-Event-ID
	kGoWS                 // package client, WebSocket (ModeResume), every node's URL in turn
	kGoSSE                // package client, SSE, likewise
	kGoMix                // package client, WebSocket and SSE URLs of every node, in turn
	numKinds
)

var kindNames = [numKinds]string{"ws-resume", "ws-packed", "ws-plain", "sse", "go-ws", "go-sse", "go-mix"}

func (k kind) String() string { return kindNames[k] }

// reading is how a client reads.
type reading uint8

const (
	readFast  reading = iota // as fast as it can
	readSlow                 // with pauses of up to 1.5s
	readNever                // never: the node's policy must close it
)

var readingNames = [...]string{"fast", "slow", "never"}

// churn is what a client does to its connection now and then.
type churn uint8

const (
	churnNone      churn = iota
	churnReconnect       // closes it and comes back, to a random node, with its last ID
	churnReset           // resets it (SO_LINGER 0) at a random moment, mid-frame or not, and comes back
)

var churnNames = [...]string{"steady", "reconnect", "reset"}

// spec describes one client.
type spec struct {
	kind  kind
	read  reading
	churn churn
	joins bool // joins and leaves topics live ("join T" / "leave T" to the node's OnMessage)
	drop  bool // the PolicyDrop group
}

func (s spec) String() string {
	n := s.kind.String() + "/" + readingNames[s.read] + "/" + churnNames[s.churn]
	if s.joins {
		n += "/joins"
	}
	if s.drop {
		n += "/drop"
	}
	return n
}

// soakClient is one client of the run, in the parent process.
type soakClient struct {
	id   string
	spec spec
	sys  *system
	home int // the node of its first connection
	r    *runState
	rng  *lockedRand // shared by the client's goroutines

	mu     sync.Mutex // the checker and topics, shared with the behaviour goroutine
	chk    *checker
	base   []string // topics it always has
	topics []string // what it has now: base and those joined live
	lastID string

	latFrom  int64 // CLOCK_MONOTONIC before which its latencies are not counted (a fresh or resumed connection's backlog)
	connects int
	ends     map[string]int // why connections ended
	closed   bool           // a drop client whose connection ended: it stops
}

func (c *soakClient) endedBy(why string) {
	c.mu.Lock()
	c.ends[why]++
	c.mu.Unlock()
}

// run connects, reads, and reconnects until ctx ends.
func (c *soakClient) run(ctx context.Context) {
	node := c.home
	fails := 0
	for ctx.Err() == nil {
		var err error
		switch {
		case c.spec.read == readNever:
			err = c.neverSession(ctx, c.sys.addr(node))
		case c.spec.kind == kSSE:
			err = c.sseSession(ctx, c.sys.addr(node))
		default:
			err = c.wsSession(ctx, c.sys.addr(node))
		}
		if ctx.Err() != nil {
			return
		}
		why := endReason(err)
		c.endedBy(why)
		if errors.Is(err, errQuiet) { // a client that never reads stops at the end
			<-ctx.Done()
			return
		}
		if c.spec.drop {
			if c.spec.read != readNever {
				c.mu.Lock()
				c.closed = true
				c.chk.event("ended: %v", err)
				c.r.rec.violation(c.chk, "drop-ended", "a PolicyDrop client's connection ended before the run did (%v): its count cannot be compared", err)
				c.mu.Unlock()
				return
			}
		}
		if why == "dial" {
			fails++
		} else {
			fails = 0
		}
		node = c.rng.IntN(len(c.sys.nodes)) // another node (any, in the cluster), with its last ID
		if c.spec.drop {
			node = c.home
		}
		wait := time.Duration(50+c.rng.IntN(150)) * time.Millisecond * time.Duration(min(1<<fails, 16))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// plainResync returns the reason of a plain WebSocket client's resync: a
// close with fanout.StatusResync and "fanout.resync: " and the reason.
func plainResync(err error) (string, bool) {
	var ce *closeError
	if !errors.As(err, &ce) || ce.code != int(fanout.StatusResync) {
		return "", false
	}
	return strings.CutPrefix(ce.reason, fanout.ResyncEvent+": ")
}

// endReason sorts why a connection ended.
func endReason(err error) string {
	var ce *closeError
	switch {
	case errors.As(err, &ce):
		return fmt.Sprintf("close %d", ce.code)
	case errors.Is(err, errChurn):
		return "churn"
	case errors.Is(err, errDialed):
		return "dial"
	case errors.Is(err, errNeverClosed):
		return "never-closed"
	case errors.Is(err, errQuiet):
		return "quiet"
	case errors.Is(err, errNodeKilled):
		return "node killed"
	}
	return "conn"
}

var (
	errChurn       = errors.New("closed by its own churn")
	errDialed      = errors.New("dial failed")
	errNeverClosed = errors.New("closed by the node")
	errQuiet       = errors.New("the run is quiet")
	errNodeKilled  = errors.New("its node was killed")
)

// query returns the connection's query: its topics, its ID and group.
func (c *soakClient) query() url.Values {
	q := url.Values{"topic": c.topics, "cid": {c.id}}
	if c.spec.drop {
		q.Set("group", "drop")
	}
	return q
}

// connected starts a connection's checking: with its last ID it goes on,
// otherwise it starts over from now. Called with c.mu held.
func (c *soakClient) connected(addr string, resumed bool) {
	now := monoNow()
	c.connects++
	if resumed {
		c.chk.event("resume at %s from %s", addr, c.lastID)
		for t, at := range c.chk.joinT0 { // a join not acknowledged: the new connection has the topic
			if at == 0 {
				c.chk.joining(t)
				c.chk.joined(t, now)
			}
		}
	} else {
		c.chk.event("connect to %s", addr)
		c.chk.restart(now)
	}
	c.latFrom = now + int64(2*time.Second)
	if c.spec.read != readFast {
		c.latFrom = 1<<63 - 1
	}
}

// handle checks one message or ack (p), received at now. c.mu is held.
func (c *soakClient) handle(p []byte, now int64) {
	if len(p) > len(ackPrefix) && string(p[:len(ackPrefix)]) == ackPrefix {
		c.chk.joined(string(p[len(ackPrefix):]), now)
		return
	}
	if c.chk.message(p, now) && now >= c.latFrom {
		if f, err := parsePayload(p); err == nil {
			c.r.lat.add(time.Duration(now - f.stamp))
		}
	}
	c.r.lastRecv.Store(now)
}

// pause sleeps now and then, for a slow reader: up to 1.5s, or 1.5 to
// 5s in the PolicyDrop group, so that its queue fills at the single
// node's lower rate (but no write of the node's waits as long as its
// WriteTimeout, 10s, which would close it).
func (c *soakClient) pause(last *time.Time) {
	if c.spec.read != readSlow || c.r.quiet.Load() || time.Since(*last) < 700*time.Millisecond {
		return
	}
	switch {
	case c.spec.drop:
		time.Sleep(time.Duration(1500+c.rng.IntN(3500)) * time.Millisecond)
	case c.rng.IntN(3) == 0:
		time.Sleep(time.Duration(100+c.rng.IntN(1400)) * time.Millisecond)
	}
	*last = time.Now()
}

// behave runs a connection's churn and live joins until stop, or until
// it has cut the connection (cut is called then).
func (c *soakClient) behave(stop <-chan struct{}, cut func(churn), join func(verb, topic string) error) {
	var churnC <-chan time.Time
	if c.spec.churn != churnNone {
		churnC = time.After(time.Duration(2000+c.rng.IntN(18000)) * time.Millisecond)
	}
	var joinC <-chan time.Time
	next := func() {
		if c.spec.joins {
			joinC = time.After(time.Duration(500+c.rng.IntN(3000)) * time.Millisecond)
		}
	}
	next()
	for {
		select {
		case <-stop:
			return
		case <-churnC:
			if c.r.quiet.Load() {
				churnC = nil
				continue
			}
			cut(c.spec.churn)
			return
		case <-joinC:
			next()
			if c.r.quiet.Load() {
				continue
			}
			t := topicName(c.rng.IntN(c.sys.topics))
			c.mu.Lock()
			if slices.Contains(c.base, t) {
				c.mu.Unlock()
				continue
			}
			verb := "join"
			if slices.Contains(c.topics, t) {
				verb = "leave"
				c.topics = slices.DeleteFunc(c.topics, func(x string) bool { return x == t })
				c.chk.event("leave %s", t)
			} else {
				c.topics = append(c.topics, t)
				c.chk.joining(t)
				c.chk.event("join %s", t)
			}
			c.mu.Unlock()
			if join(verb, t) != nil {
				return
			}
		}
	}
}
